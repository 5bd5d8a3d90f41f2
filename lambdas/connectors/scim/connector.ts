import { z } from 'zod';
import {
  type ConnectionRef,
  type ConnectionType,
  SECRET_EXAMPLES,
  secretSchemas,
  type TlsOptions,
} from '../../shared/connections';
import {
  AuthFailedError,
  BadRequestError,
  BadResponseError,
  ConfigError,
  HourlyRateLimitedError,
  NotYetAppliedError,
  type OffboardError,
  RateLimitedError,
  RecordChangedError,
  UserNeedsReviewError,
} from '../../shared/errors';
import { HttpClient, type HttpResponse, type RequestOptions, sameEmail } from '../../shared/http';
import {
  assertSamePerson,
  lookupResult,
  parseVendorBody,
  restorableRecord,
} from '../../shared/vendor-answer';
import type { DeactivatingConnector, LookupResult, ReactivatingConnector, UserRecord } from '../types';
import { type BearerSource, ClientCredentialsBearer, StaticBearer } from './token';

/** RFC 7644 §3.1: the media type of SCIM requests and answers. */
export const SCIM_MEDIA_TYPE = 'application/scim+json';
export const PATCH_OP_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

/** Rows asked for per page (`count`). Servers may answer fewer; paging follows what came back. */
export const SCIM_PAGE_SIZE = 100;
/** A server that ignores the filter would page through everyone; stop somewhere sane. */
const MAX_LOOKUP_PAGES = 200;

/** The connection types this connector serves: generic SCIM and the vendors' presets. */
export type ScimConnectionType = Extract<ConnectionType, 'scim' | 'insightly-scim' | 'gainsight-scim'>;

/** What differs between SCIM services: what to call them, what their 429 means, who may write. */
export interface ScimPreset {
  /** For messages to the operator: `Insightly SCIM`. */
  vendor: string;
  /** The error a 429 becomes; `message` is HttpClient's (`name: action: HTTP 429 (...)`). */
  rateLimited(message: string): OffboardError;
  /** Added to a 401/403 on a write: what the service asks of a client that may write. */
  writeAuthHint?: string;
}

export const SCIM_PRESETS: Record<ScimConnectionType, ScimPreset> = {
  scim: { vendor: 'SCIM', rateLimited: (message) => new RateLimitedError(message) },
  'insightly-scim': { vendor: 'Insightly SCIM', rateLimited: (message) => new RateLimitedError(message) },
  'gainsight-scim': {
    vendor: 'Gainsight SCIM',
    // Gainsight's user management APIs allow 100 requests an hour (fixed window): backing
    // off for seconds cannot help; the state machine waits for the next window.
    rateLimited: (message) =>
      new HourlyRateLimitedError(
        `${message}: Gainsight allows 100 user-management requests an hour; waiting for the next window`,
      ),
    // "Create, Update, and Patch APIs are available only to super admins" (vendor-contracts/gainsight).
    writeAuthHint:
      "Gainsight lets only super admins' API clients write through SCIM (Create, Update and Patch); " +
      'give this connection the client credentials or token of a super admin',
  },
};

/**
 * The two PatchOp forms of "set active" (RFC 7644 §3.5.2.3 allows both). `path` names the
 * attribute; `value` sends an object of attributes without a path, which is what Okta sends
 * and what some services take alone.
 */
export type ScimPatchForm = 'path' | 'value';

const PATCH_OPERATIONS: Record<ScimPatchForm, (active: boolean) => Record<string, unknown>> = {
  path: (active) => ({ op: 'replace', path: 'active', value: active }),
  value: (active) => ({ op: 'replace', value: { active } }),
};

const FORM_NAMES: Record<ScimPatchForm, string> = {
  path: '{"op":"replace","path":"active",…}',
  value: '{"op":"replace","value":{"active":…}}',
};

/**
 * A 400 that may be about how the operation is written, not about what it asks: no
 * `scimType`, or one about paths and syntax. `invalidValue`, `mutability` and the like say the
 * service refuses the change itself, which the other form would not change.
 */
const FORM_REFUSALS = new Set([undefined, 'invalidPath', 'noTarget', 'invalidSyntax']);

/** What a PATCH of `active` did: the form the service took, and a word for the operator when it matters. */
export interface ScimWriteResult {
  patchForm: ScimPatchForm;
  /** Set when the service refused the first form and took the other. */
  note?: string;
}

/**
 * What this process learned about each connection's service (kept while the Lambda is warm,
 * or for the whole of a local run): the PatchOp form it takes, and whether it refuses filters
 * on `emails.value`. Keyed by connection name and base URL.
 */
interface Learned {
  patchForm?: ScimPatchForm;
  emailFilterRefused?: boolean;
}
const LEARNED = new Map<string, Learned>();

/** Forgets what {@link LEARNED} holds: for tests that need a service met for the first time. */
export function forgetLearnedScimBehaviour(): void {
  LEARNED.clear();
}

const isScimType = (type: string): type is ScimConnectionType => Object.hasOwn(SCIM_PRESETS, type);

/**
 * The attributes we rely on (RFC 7643 §4.1). Everything else the service sends is kept as is
 * (`looseObject`): the record is the state the ledger would restore.
 */
const scimUserSchema = z.looseObject({
  // RFC 7643 says a string; a number is tolerated and read as its decimal string.
  id: z.union([z.string().min(1), z.number()]),
  userName: z.string(),
  // A boolean per RFC 7643; "true"/"false" strings are tolerated, never guessed at beyond that.
  active: z.union([z.boolean(), z.enum(['true', 'false', 'True', 'False'])]),
  emails: z
    .array(z.looseObject({ value: z.unknown().optional(), primary: z.unknown().optional() }))
    .nullable()
    .optional(),
  /** RFC 7644 §3.14: `version` is the resource's ETag when the service versions resources. */
  meta: z.looseObject({ version: z.unknown().optional() }).nullable().optional(),
});
type ScimUser = z.infer<typeof scimUserSchema>;

/** RFC 7644 §3.4.2. `Resources` may be left out when there are none. */
const listResponseSchema = z.looseObject({
  totalResults: z.number().int().nonnegative(),
  Resources: z.array(scimUserSchema).optional(),
});

/** RFC 7644 §3.12, the parts that go into a message. */
const scimErrorSchema = z.looseObject({
  scimType: z.string().min(1).optional(),
  detail: z.string().optional(),
});

/**
 * A SCIM 2.0 service provider (RFC 7643/7644): `GET /Users?filter=…` to look up, `GET
 * /Users/{id}` to read, `PATCH /Users/{id}` to switch `active` off (and on again). Bearer
 * auth: a static token or an OAuth client-credentials token.
 */
export class ScimConnector implements DeactivatingConnector, ReactivatingConnector {
  /**
   * The flag our PATCH changes, the metadata the service moves with every change, and
   * `groups`: read-only on a User (RFC 7643 §4.1.2: managed through /Groups), never written by
   * the PATCH, and returned in no fixed order by some services.
   */
  readonly volatileFields = ['active', 'meta.lastModified', 'meta.version', 'groups'] as const;
  readonly #label: string;
  readonly #bearer: BearerSource;
  readonly #preset: ScimPreset;
  /** The bearer token goes per request, so a renewed token needs no new client. */
  readonly #http: HttpClient;
  /** What was learned about this connection's service, shared by its connectors in this process. */
  readonly #learned: Learned;
  #lastWrite: ScimWriteResult | undefined;

  constructor(options: {
    label: string;
    baseUrl: string;
    preset: ScimPreset;
    bearer: BearerSource;
    tls?: TlsOptions;
    fetch?: typeof fetch;
  }) {
    this.#label = options.label;
    this.#bearer = options.bearer;
    this.#preset = options.preset;
    const key = `${options.label} ${options.baseUrl}`;
    this.#learned = LEARNED.get(key) ?? {};
    LEARNED.set(key, this.#learned);
    this.#http = new HttpClient({
      label: options.label,
      baseUrl: options.baseUrl,
      // Bodies go as application/scim+json (RFC 7644 §3.1; some services refuse plain JSON),
      // but plain JSON answers are SCIM too, and a service may only know that one.
      mediaType: SCIM_MEDIA_TYPE,
      headers: { accept: `${SCIM_MEDIA_TYPE}, application/json` },
      errorDetail: scimErrorText,
      classifyRateLimit: (_response, message) => options.preset.rateLimited(message),
      tls: options.tls,
      fetch: options.fetch,
    });
  }

  /** Requests this connector has sent, token requests included (benchmarks read it). */
  get requestCount(): number {
    return this.#http.requestCount + this.#bearer.requestCount;
  }

  /**
   * The account whose userName, or whose primary (or only) email, is the address. A user
   * listing it only among other addresses (`emails[]`, not primary) is not the leaver: it may
   * be a colleague who receives their mail. Such a match switches nobody off and is reported
   * for review (`User.NeedsReview`).
   */
  async lookupUser(email: string): Promise<LookupResult> {
    const found: Found = { matches: new Map(), secondary: new Map() };
    await this.#search(`userName eq ${scimString(email)}`, email, found);
    // userName is whatever the identity provider chose (`jdoe2`, an employee number), not
    // always the email: so the users are asked for by email address too, whatever the
    // userName query found. A second account whose primary email is the address (the
    // leaver's other account, or someone else's) must make the lookup ambiguous, not be
    // silently left on: one extra request a lookup. A service that cannot filter on emails
    // (400 invalidFilter) is not taken at its word that nobody has the address: when the
    // userName found nobody, the users are listed without a filter and matched here, so
    // someone whose userName is not their address is never silently missed.
    const searched =
      !this.#learned.emailFilterRefused &&
      (await this.#search(`emails.value eq ${scimString(email)}`, email, found, {
        invalidFilterIsEmpty: true,
      }));
    if (!searched) {
      this.#learned.emailFilterRefused = true;
      // Listing every user costs a page a hundred users: only when nobody was found.
      if (found.matches.size === 0) await this.#search(undefined, email, found);
    }
    if (found.matches.size === 0 && found.secondary.size > 0) {
      const ids = [...found.secondary.keys()];
      throw new UserNeedsReviewError(
        `${this.#label}: look up ${email}: ${ids.length === 1 ? 'user' : 'users'} ${ids.join(', ')} ` +
          'list this address only as a secondary email, not as userName or primary email; it may be someone ' +
          'else who receives their mail, so nobody was switched off: check by hand',
      );
    }
    return lookupResult(this.#label, [...found.matches.keys()], `the email ${email}`);
  }

  async getUser(userId: string): Promise<UserRecord> {
    return toRecord(await this.#read(userId, `get user ${userId}`));
  }

  /**
   * What the last write of this connector did: the PatchOp form the service took, and a note
   * for the operator when it refused the first one (a step's connector makes one write, so
   * the step can read it after the write and pass the note on).
   */
  get lastWrite(): ScimWriteResult | undefined {
    return this.#lastWrite;
  }

  async deactivateUser(record: UserRecord): Promise<void> {
    // PATCH, not PUT: a SCIM PUT replaces the whole resource, so every attribute it is not
    // sent (and every one the service holds but did not return, such as a password or
    // write-only extension fields) would be cleared. A PatchOp names only `active`.
    this.#lastWrite = await this.#patchActive(
      record.id,
      false,
      `deactivate user ${record.id}`,
      record.version,
    );
  }

  /**
   * PATCHes `active` back to its value in `before` (true). The deactivation's PatchOp
   * changed `active` only, so every other attribute is still as it was; a PUT of `before`
   * would risk clearing what the service holds but never returned. Two requests (and a token
   * request when no OAuth token is cached): the current user, for the email check, then the
   * PATCH.
   */
  async reactivateUser(before: UserRecord): Promise<void> {
    const action = `reactivate user ${before.id}`;
    const where = `${this.#label}: ${action}`;
    const was = restorableRecord(where, 'SCIM', before, scimUserSchema.safeParse(before.fields), toRecord);
    // One GET before the write: the id may have been reused (see assertSamePerson).
    const now = toRecord(await this.#read(before.id, action));
    assertSamePerson(where, now, was);
    this.#lastWrite = await this.#patchActive(before.id, was.active, action);
  }

  /**
   * One PatchOp that replaces `active` and nothing else. With `version` (the ETag read), the
   * PATCH is conditional (`If-Match`, RFC 7644 §3.14): a service that finds the user changed
   * since answers 412 and writes nothing, and the workflow reads the user again.
   *
   * Services differ on the form: most take `path: "active"`, some only the path-less form
   * Okta sends. The form this connection's service took last is sent first; when a 400 says
   * the form is what was refused (see {@link FORM_REFUSALS}), the other is sent once, with the
   * same `If-Match` (a refused PATCH wrote nothing, so the version still holds).
   */
  async #patchActive(
    userId: string,
    active: boolean,
    action: string,
    version?: string,
  ): Promise<ScimWriteResult> {
    const first = this.#learned.patchForm ?? 'path';
    let form = first;
    let { status, body } = await this.#patch(userId, active, action, version, form);
    let note: string | undefined;
    if (status === 400 && FORM_REFUSALS.has(scimTypeOf(body))) {
      const refusal = `HTTP 400${this.#http.vendorMessage(body)}`;
      form = first === 'path' ? 'value' : 'path';
      ({ status, body } = await this.#patch(userId, active, action, version, form));
      if (status === 400) {
        throw new BadRequestError(
          `${this.#label}: ${action}: HTTP 400${this.#http.vendorMessage(body)} to the PatchOp ${FORM_NAMES[form]}, ` +
            `after ${refusal} to ${FORM_NAMES[first]}: the service takes neither form; nothing was written`,
        );
      }
      note = `the service refused the PatchOp ${FORM_NAMES[first]} (${refusal}) and took ${FORM_NAMES[form]}; later PATCHes to it send that form first`;
    }
    if (status === 400) {
      throw new BadRequestError(`${this.#label}: ${action}: HTTP 400${this.#http.vendorMessage(body)}`);
    }
    if (status === 412) {
      throw new RecordChangedError(
        `${this.#label}: ${action}: HTTP 412${this.#http.vendorMessage(body)}: the user changed since it was read (version ${version}); nothing was written`,
      );
    }
    if (status === 404) {
      throw new BadRequestError(
        `${this.#label}: ${action}: HTTP 404${this.#http.vendorMessage(body)}: the user no longer exists, or the token may not see it`,
      );
    }
    // The answer (200 with the resource, or 204) is not trusted: verify reads afresh. The
    // form it took is the one to send first next time.
    this.#learned.patchForm = form;
    return { patchForm: form, ...(note ? { note } : {}) };
  }

  /** One PATCH of `active` in the given form; 400, 404 and 412 are the caller's to read. */
  async #patch(
    userId: string,
    active: boolean,
    action: string,
    version: string | undefined,
    form: ScimPatchForm,
  ): Promise<HttpResponse> {
    try {
      return await this.#request('PATCH', userPath(userId), {
        action,
        body: { schemas: [PATCH_OP_SCHEMA], Operations: [PATCH_OPERATIONS[form](active)] },
        ...(version !== undefined ? { headers: { 'if-match': version } } : {}),
        accept: [400, 404, 412],
      });
    } catch (error) {
      // Reads work and the write is refused: the credential may read but not write users.
      if (error instanceof AuthFailedError && this.#preset.writeAuthHint) {
        throw new AuthFailedError(`${error.message}: ${this.#preset.writeAuthHint}`, { cause: error });
      }
      throw error;
    }
  }

  async verifyDeactivated(userId: string): Promise<UserRecord> {
    const record = toRecord(await this.#read(userId, `verify user ${userId}`));
    if (record.active) {
      throw new NotYetAppliedError(`${this.#label}: verify user ${userId}: still active after the PATCH`);
    }
    return record;
  }

  async verifyReactivated(userId: string): Promise<UserRecord> {
    const record = toRecord(await this.#read(userId, `verify user ${userId}`));
    if (!record.active) {
      throw new NotYetAppliedError(`${this.#label}: verify user ${userId}: still inactive after the PATCH`);
    }
    return record;
  }

  /**
   * Pages through one filtered query (or, without a filter, every user) and sorts the exact
   * matches into `found`. With `invalidFilterIsEmpty`, a service that refuses the filter
   * itself (400 `invalidFilter`) makes it return false, having read nothing. Any other 400
   * is an error.
   */
  async #search(
    filter: string | undefined,
    email: string,
    found: Found,
    options: { invalidFilterIsEmpty?: boolean } = {},
  ): Promise<boolean> {
    const action = `look up ${email}`;
    const seen = new Set<string>();
    let startIndex = 1;
    for (let page = 0; page < MAX_LOOKUP_PAGES; page++) {
      const { status, body } = await this.#request('GET', '/Users', {
        action,
        query: {
          ...(filter === undefined ? {} : { filter }),
          startIndex: String(startIndex),
          count: String(SCIM_PAGE_SIZE),
        },
        ...(options.invalidFilterIsEmpty ? { accept: [400] } : {}),
      });
      if (status === 400) {
        if (scimTypeOf(body) === 'invalidFilter') return false;
        throw new BadRequestError(`${this.#label}: ${action}: HTTP 400${this.#http.vendorMessage(body)}`);
      }
      const list = parseVendorBody(listResponseSchema, body, `${this.#label}: ${action}`);
      const resources = list.Resources ?? [];
      let unseen = 0;
      for (const user of resources) {
        const id = String(user.id);
        if (!seen.has(id)) unseen++;
        seen.add(id);
        // The server's filter is a hint, not a promise: keep exact (case-insensitive) matches only.
        if (isOwnAddress(user, email)) found.matches.set(id, user);
        else if (listsAddress(user, email)) found.secondary.set(id, user);
      }
      // startIndex is 1-based; a server may answer fewer rows than `count`, so step by what came.
      startIndex += resources.length;
      if (resources.length === 0 || startIndex > list.totalResults) return true;
      if (unseen === 0) {
        throw new BadResponseError(
          `${this.#label}: ${action}: the page at startIndex ${startIndex - resources.length} repeats users already seen; ` +
            'the server seems to ignore startIndex',
        );
      }
    }
    throw new BadResponseError(
      `${this.#label}: ${action}: more than ${MAX_LOOKUP_PAGES} pages; the filter seems ignored`,
    );
  }

  async #read(userId: string, action: string): Promise<ScimUser> {
    const { status, body } = await this.#request('GET', userPath(userId), { action, accept: [404] });
    if (status === 404) {
      throw new BadRequestError(
        `${this.#label}: ${action}: HTTP 404${this.#http.vendorMessage(body)}: no such user, or the token may not see it`,
      );
    }
    return parseVendorBody(scimUserSchema, body, `${this.#label}: ${action}`);
  }

  /**
   * One SCIM request with the current bearer token. A cached OAuth token can be revoked or
   * expire early on the server: on a 401 it is dropped and the request sent once more with a
   * fresh token. A fresh token that is refused is a real auth failure.
   */
  async #request(method: string, path: string, options: RequestOptions): Promise<HttpResponse> {
    const send = (token: string, accept = options.accept) =>
      this.#http.request(method, path, {
        ...options,
        accept,
        headers: { ...options.headers, authorization: `Bearer ${token}` },
      });
    const token = await this.#bearer.token();
    if (!token.cached) return send(token.value);
    const first = await send(token.value, [...(options.accept ?? []), 401]);
    if (first.status !== 401) return first;
    this.#bearer.invalidate(token.value);
    return send((await this.#bearer.token()).value);
  }
}

/**
 * A SCIM filter string literal (RFC 7644 §3.4.2.2: a JSON string, RFC 7159): double quotes
 * around, `"` and `\` escaped. `o"neil@x.com` → `"o\"neil@x.com"`.
 */
export function scimString(value: string): string {
  return JSON.stringify(value);
}

function userPath(userId: string): string {
  return `/Users/${encodeURIComponent(userId)}`;
}

/** A lookup's exact matches: through the user's own address, and through a secondary one only. */
interface Found {
  matches: Map<string, ScimUser>;
  secondary: Map<string, ScimUser>;
}

const looksLikeEmail = (value: string) => /^[^\s@]+@[^\s@]+$/.test(value.trim());

/**
 * The user's primary email: the one marked `primary`, or the only one when there is just one
 * (RFC 7643 §4.1.2: at most one is primary). Undefined when several are listed and none is
 * marked: then none of them is the account's own.
 */
function primaryEmail(user: ScimUser): string | undefined {
  const emails = (user.emails ?? []).filter((entry) => typeof entry.value === 'string');
  const primary =
    emails.find((entry) => entry.primary === true || entry.primary === 'true') ??
    (emails.length === 1 ? emails[0] : undefined);
  return primary?.value as string | undefined;
}

/** True when `email` is the user's own: its userName, or its primary (or only) email. */
function isOwnAddress(user: ScimUser, email: string): boolean {
  return sameEmail(user.userName, email) || sameEmail(primaryEmail(user), email);
}

/** True when `email` is among the user's addresses at all (secondary ones included). */
function listsAddress(user: ScimUser, email: string): boolean {
  return (user.emails ?? []).some((entry) => sameEmail(entry.value, email));
}

/**
 * The address the account is known by: its userName when that is an email, else its
 * primary (or only) email.
 */
function addressOf(user: ScimUser): string {
  if (looksLikeEmail(user.userName)) return user.userName;
  return primaryEmail(user) ?? '';
}

function toRecord(user: ScimUser): UserRecord {
  const own = [looksLikeEmail(user.userName) ? user.userName : undefined, primaryEmail(user)].filter(
    (value): value is string => typeof value === 'string',
  );
  const version = user.meta?.version;
  return {
    id: String(user.id),
    email: addressOf(user),
    // The addresses that make the account its owner's: a lookup matched one of them. A
    // secondary address is deliberately not here: it never identifies the account.
    emails: [...new Set(own)],
    active: user.active === true || user.active === 'true' || user.active === 'True',
    fields: { ...user },
    ...(typeof version === 'string' && version !== '' ? { version } : {}),
  };
}

/** The `scimType` of a SCIM error body (RFC 7644 §3.12), or undefined when it has none. */
function scimTypeOf(body: unknown): string | undefined {
  const parsed = scimErrorSchema.safeParse(body);
  return parsed.success ? parsed.data.scimType : undefined;
}

/**
 * `invalidValue: …` from a SCIM error body (RFC 7644 §3.12), or undefined when it is not one
 * (HttpClient then falls back to `detail`/`message`).
 */
function scimErrorText(body: unknown): string | undefined {
  const parsed = scimErrorSchema.safeParse(body);
  if (!parsed.success) return undefined;
  const { scimType, detail } = parsed.data;
  return [scimType, detail?.replace(/\s+/g, ' ').trim()].filter(Boolean).join(': ') || undefined;
}

/**
 * Builds the connector for one `scim`, `insightly-scim` or `gainsight-scim` connection from
 * its secret JSON: `{ token }` or `{ clientId, clientSecret, tokenUrl }`.
 */
export function createScimConnector(
  connection: ConnectionRef,
  secret: unknown,
  fetchImpl?: typeof fetch,
): ScimConnector {
  const type = connection.type;
  if (!isScimType(type)) {
    throw new ConfigError(`${connection.name}: type ${type} is not a SCIM connection type`);
  }
  const preset = SCIM_PRESETS[type];
  const parsed = secretSchemas[type].safeParse(secret);
  if (!parsed.success) {
    throw new ConfigError(
      `${connection.name}: the ${preset.vendor} secret must be JSON like ${SECRET_EXAMPLES[type]}` +
        secretProblems(secret, parsed.error),
    );
  }
  const bearer =
    'token' in parsed.data
      ? new StaticBearer(parsed.data.token)
      : new ClientCredentialsBearer({
          label: connection.name,
          credentials: parsed.data,
          classifyRateLimit: (_response, message) => preset.rateLimited(message),
          // No `tls`: it vouches for the SCIM service, and the token endpoint is often
          // another host with a public certificate (a private CA would refuse it).
          fetch: fetchImpl,
        });
  return new ScimConnector({
    label: connection.name,
    baseUrl: connection.baseUrl,
    preset,
    bearer,
    tls: connection.tls,
    fetch: fetchImpl,
  });
}

/**
 * What is wrong with a secret, for the branch it was meant to be (a `token`, or client
 * credentials): field names and zod's words, never a value.
 */
function secretProblems(secret: unknown, error: z.ZodError): string {
  const keys = secret && typeof secret === 'object' ? Object.keys(secret) : [];
  const branch = keys.includes('token')
    ? 0
    : keys.some((key) => ['clientId', 'clientSecret', 'tokenUrl'].includes(key))
      ? 1
      : undefined;
  const issues = error.issues.flatMap((issue) =>
    issue.code === 'invalid_union' ? (branch === undefined ? [] : (issue.errors[branch] ?? [])) : [issue],
  );
  const text = issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`).join('; ');
  return text ? ` (${text})` : '';
}
