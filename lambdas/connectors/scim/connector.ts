import { z } from 'zod';
import {
  type ConnectionRef,
  type ConnectionType,
  SECRET_EXAMPLES,
  secretSchemas,
  type TlsOptions,
} from '../../shared/connections';
import {
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

/** What differs between SCIM services: what to call them, and what their 429 means. */
export interface ScimPreset {
  /** For messages to the operator: `Insightly SCIM`. */
  vendor: string;
  /** The error a 429 becomes; `message` is HttpClient's (`name: action: HTTP 429 (...)`). */
  rateLimited(message: string): OffboardError;
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
  },
};

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
  /** The flag our PATCH changes, and the metadata the service moves with every change. */
  readonly volatileFields = ['active', 'meta.lastModified', 'meta.version'] as const;
  readonly #label: string;
  readonly #bearer: BearerSource;
  /** The bearer token goes per request, so a renewed token needs no new client. */
  readonly #http: HttpClient;

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
    // always the email: when nobody matched, ask once more by email address. One extra
    // request, only for the people whose userName is not their email.
    if (found.matches.size === 0) await this.#search(`emails.value eq ${scimString(email)}`, email, found);
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

  async deactivateUser(record: UserRecord): Promise<void> {
    // PATCH, not PUT: a SCIM PUT replaces the whole resource, so every attribute it is not
    // sent (and every one the service holds but did not return, such as a password or
    // write-only extension fields) would be cleared. A PatchOp names only `active`.
    await this.#patchActive(record.id, false, `deactivate user ${record.id}`, record.version);
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
    await this.#patchActive(before.id, was.active, action);
  }

  /**
   * One PatchOp that replaces `active` and nothing else. With `version` (the ETag read), the
   * PATCH is conditional (`If-Match`, RFC 7644 §3.14): a service that finds the user changed
   * since answers 412 and writes nothing, and the workflow reads the user again.
   */
  async #patchActive(userId: string, active: boolean, action: string, version?: string): Promise<void> {
    const { status, body } = await this.#request('PATCH', userPath(userId), {
      action,
      body: {
        schemas: [PATCH_OP_SCHEMA],
        Operations: [{ op: 'replace', path: 'active', value: active }],
      },
      ...(version !== undefined ? { headers: { 'if-match': version } } : {}),
      accept: [404, 412],
    });
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
    // The answer (200 with the resource, or 204) is not trusted: verify reads afresh.
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

  /** Pages through one filtered query and sorts the exact matches into `found`. */
  async #search(filter: string, email: string, found: Found): Promise<void> {
    const action = `look up ${email}`;
    const seen = new Set<string>();
    let startIndex = 1;
    for (let page = 0; page < MAX_LOOKUP_PAGES; page++) {
      const { body } = await this.#request('GET', '/Users', {
        action,
        query: { filter, startIndex: String(startIndex), count: String(SCIM_PAGE_SIZE) },
      });
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
      if (resources.length === 0 || startIndex > list.totalResults) return;
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
