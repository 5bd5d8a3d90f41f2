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
  InvalidInputError,
  NotYetAppliedError,
  type OffboardError,
  RateLimitedError,
  RecordChangedError,
  UnavailableError,
  UserNeedsReviewError,
} from '../../shared/errors';
import { HttpClient, type HttpResponse, type RequestOptions, sameEmail } from '../../shared/http';
import {
  assertSamePerson,
  lookupResult,
  parseVendorBody,
  restorableRecord,
} from '../../shared/vendor-answer';
import type {
  BatchDeactivatingConnector,
  BatchWriteResult,
  DeactivatingConnector,
  DirectoryConnector,
  LookupResult,
  ReactivatingConnector,
  UserRecord,
} from '../types';
import { type BearerSource, ClientCredentialsBearer, StaticBearer } from './token';

/** RFC 7644 §3.1: the media type of SCIM requests and answers. */
export const SCIM_MEDIA_TYPE = 'application/scim+json';
export const PATCH_OP_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
/** RFC 7644 §3.7: the schema of a `POST /Bulk` body. */
export const BULK_REQUEST_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:BulkRequest';

/** Rows asked for per page (`count`). Servers may answer fewer; paging follows what came back. */
export const SCIM_PAGE_SIZE = 100;
/** A server that ignores the filter would page through everyone; stop somewhere sane. */
const MAX_LOOKUP_PAGES = 200;

/**
 * Rows asked for per page of a directory read: the service's `filter.maxResults` when its
 * ServiceProviderConfig gives one, never more than this. A thousand full User resources stay
 * far below what HttpClient reads in one answer (32 MiB) and inside its 10-second timeout,
 * groups and extensions included; a larger page would save a request in a thousand users and
 * risk both.
 */
export const SCIM_DIRECTORY_PAGE_SIZE = 1000;
/**
 * A directory read never loops: every page must bring users not read before, and the total
 * may not move. This bounds it anyway (a million users at 100 a page).
 */
const MAX_DIRECTORY_PAGES = 10_000;
/** A user list that changed while it was read (someone joined or left) is read once more, then refused. */
const DIRECTORY_READS = 2;

/**
 * Room left in the estimate of one bulk operation for the user's id (percent-encoded, in the
 * path) and its version, when `batchLimit` caps the operations by `bulk.maxPayloadSize`
 * before any id is known. An operation longer than this is not sent (see `deactivateUsers`).
 */
const BULK_ID_ALLOWANCE = 128;
const BULK_VERSION_ALLOWANCE = 64;

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
  /**
   * The ServiceProviderConfig and when it was read: kept for CONFIG_KEPT_MS, so that the steps
   * of a bulk run (a new connector each, and each retry) do not read it again and again.
   */
  config?: { read: Promise<ServiceConfig>; at: number };
  /** Set when `/Bulk` refused a request its ServiceProviderConfig allows: batches stop here. */
  bulkRefused?: boolean;
}

/** How long a ServiceProviderConfig read is trusted: a service's settings change rarely. */
const CONFIG_KEPT_MS = 15 * 60_000;
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

/** A count the service gives (maxResults, maxOperations, maxPayloadSize); anything else is "not said". */
const countSaid = z.number().int().positive().optional().catch(undefined);

/**
 * RFC 7643 §5, the parts we use. The ServiceProviderConfig is advice about the service, not
 * data we act on: a part that is missing or malformed is read as "not said" (no `/Bulk`, the
 * default page size), never as an error.
 */
const serviceProviderConfigSchema = z.looseObject({
  bulk: z
    .looseObject({ supported: z.unknown(), maxOperations: countSaid, maxPayloadSize: countSaid })
    .optional()
    .catch(undefined),
  filter: z.looseObject({ maxResults: countSaid }).optional().catch(undefined),
});

/**
 * RFC 7644 §3.7.3: one operation of a BulkResponse. `status` is a string per the RFC ("200");
 * a number, or SCIM 1.1's `{ "code": "200" }`, is read the same way.
 */
const bulkResponseOperationSchema = z.looseObject({
  bulkId: z.unknown().optional(),
  location: z.unknown().optional(),
  status: z.unknown().optional(),
  response: z.unknown().optional(),
});
const bulkResponseSchema = z.looseObject({ Operations: z.array(bulkResponseOperationSchema) });
type BulkResponseOperation = z.infer<typeof bulkResponseOperationSchema>;

/** What a service said of itself that we use (see {@link serviceProviderConfigSchema}). */
interface ServiceConfig {
  /** `filter.maxResults`: the most users one page holds. */
  maxResults?: number;
  /** Present when `bulk.supported` is true and `bulk.maxOperations` is given. */
  bulk?: { maxOperations: number; maxPayloadSize?: number };
}

/**
 * Statuses that mean the service has no such endpoint: a service without a
 * ServiceProviderConfig (or without `/Bulk`) answers one of these, and that is an answer.
 */
const NO_SUCH_ENDPOINT = [400, 404, 405, 501];

/**
 * A user list whose pages moved while they were read (a user joined or left between two
 * pages): read it again. `Vendor.Unavailable` (retried) when it keeps moving.
 */
class ListMovedError extends BadResponseError {}

/**
 * A SCIM 2.0 service provider (RFC 7643/7644): `GET /Users?filter=…` to look up, `GET
 * /Users/{id}` to read, `PATCH /Users/{id}` to switch `active` off (and on again). For bulk
 * runs and the audit, `GET /Users` pages through every user (`readDirectory`), and `POST
 * /Bulk` switches many off at once where the ServiceProviderConfig says it is supported
 * (`batchLimit`, `deactivateUsers`). Bearer auth: a static token or an OAuth
 * client-credentials token.
 */
export class ScimConnector
  implements DeactivatingConnector, ReactivatingConnector, DirectoryConnector, BatchDeactivatingConnector
{
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
  /** Users a page of the last directory read held (see {@link ScimConnector.directoryPageSize}). */
  #directoryPageSize: number | undefined;

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
   * A list answer carries each User as `GET /Users/{id}` does: RFC 7644 §3.4 returns the same
   * attributes ("returned" always or default, RFC 7643 §2.4) to both, so a write may be
   * planned from a directory record.
   */
  readonly directoryComplete = true;

  /**
   * Every user of the service: `GET /Users` without a filter, 1-based `startIndex`, `count` =
   * the service's `filter.maxResults` (at most {@link SCIM_DIRECTORY_PAGE_SIZE}; that many when
   * it says nothing), stepping by what each page held, as a lookup pages. Each user is mapped
   * as `getUser` maps it, plus `secondaryEmails`: the entries of `emails[]` that are not its
   * primary one, so that `findInDirectory` asks for a review where `lookupUser` does.
   *
   * Never partial: a page that is empty before `totalResults`, users that repeat, or a count
   * that does not add up to `totalResults` throw `Vendor.BadResponse`. A list that moved
   * between pages (someone joined or left meanwhile) is read once more first. Costs
   * ceil(users / page size) requests, and one for the ServiceProviderConfig (once per
   * connection and process, shared with `batchLimit`).
   */
  async readDirectory(): Promise<UserRecord[]> {
    const { maxResults } = await this.#serviceConfig();
    const count = Math.min(maxResults ?? SCIM_DIRECTORY_PAGE_SIZE, SCIM_DIRECTORY_PAGE_SIZE);
    for (let read = 1; ; read++) {
      const users: ScimUser[] = [];
      let pages = 0;
      let largest = 0;
      try {
        await this.#pages(
          undefined,
          'read the user list',
          count,
          (page) => {
            pages++;
            largest = Math.max(largest, page.length);
            users.push(...page);
          },
          { whole: true, maxPages: MAX_DIRECTORY_PAGES },
        );
        // One page held everyone: the service would have given as many as were asked.
        this.#directoryPageSize = pages <= 1 ? count : largest;
        return users.map((user) => {
          const secondaryEmails = secondaryEmailsOf(user);
          return { ...toRecord(user), ...(secondaryEmails.length > 0 ? { secondaryEmails } : {}) };
        });
      } catch (error) {
        if (!(error instanceof ListMovedError)) throw error;
        if (read >= DIRECTORY_READS) {
          // As the other connectors' lists (readWholeList): a list that keeps moving is an
          // outage of the moment, retried by the state machine; nothing was changed.
          throw new UnavailableError(
            `${error.message}, ${DIRECTORY_READS} times in a row; nothing was changed; it is read again when the step is retried`,
          );
        }
      }
    }
  }

  /**
   * Users one page of `readDirectory` held, as the service answered the last read (it may
   * give fewer than asked); undefined before the first read.
   */
  get directoryPageSize(): number | undefined {
    return this.#directoryPageSize;
  }

  /**
   * How many users one `POST /Bulk` may switch off: the ServiceProviderConfig's
   * `bulk.maxOperations` when `bulk.supported` is true, lowered so that a request of that many
   * operations fits in `bulk.maxPayloadSize`; 1 (no batch: `deactivateUser` each) when the
   * service has no ServiceProviderConfig, does not support `/Bulk`, or refused a bulk request
   * it said it would take. One request the first time (the ServiceProviderConfig), none after.
   */
  async batchLimit(): Promise<number> {
    const bulk = await this.#bulkConfig();
    return bulk ? bulk.limit : 1;
  }

  /**
   * Switches these users off in one `POST /Bulk` (RFC 7644 §3.7): one PATCH operation a user,
   * the same PatchOp `deactivateUser` sends (the form this service took last), with the
   * record's `version` as the operation's `version` (the bulk form of `If-Match`), and
   * `failOnErrors` as large as the batch, so that one refusal does not stop the others.
   *
   * The answer is read one operation at a time, matched by `bulkId` or else by `location`:
   * 2xx is written; 412 is `Record.Changed`; 404 is `Vendor.BadRequest` (no such user); a 400
   * that may be about the PatchOp's form is `Vendor.BadRequest` saying to write that user on
   * its own (`deactivateUser` then tries the other form); an operation the answer does not
   * account for is `Vendor.BadResponse` (it may or may not have been written: read it again).
   * A user whose operation would take the request past `bulk.maxPayloadSize` is not sent and
   * comes back `Vendor.BadRequest`.
   *
   * Refused with `Input.Invalid`, nothing sent, for more users than `batchLimit()`, the same
   * user twice, or a service without `/Bulk`. Throws, as `deactivateUser` does, when the
   * request as a whole fails (429, 5xx, 401/403, a body that is no BulkResponse, or a 413 or
   * 404 to `/Bulk`: batches stop for this connector then, `batchLimit()` says 1).
   */
  async deactivateUsers(records: readonly UserRecord[]): Promise<BatchWriteResult[]> {
    if (records.length === 0) return [];
    const action = `deactivate ${records.length} ${records.length === 1 ? 'user' : 'users'} in one bulk request`;
    const where = `${this.#label}: ${action}`;
    const bulk = await this.#bulkConfig();
    if (!bulk) {
      throw new InvalidInputError(
        `${where}: the service offers no /Bulk (its ServiceProviderConfig does not say bulk.supported, or it refused a bulk request); nothing was sent: deactivate each user on its own`,
      );
    }
    if (records.length > bulk.limit) {
      throw new InvalidInputError(
        `${where}: the service takes at most ${bulk.limit} operations a bulk request (batchLimit); nothing was sent: send at most ${bulk.limit} at a time`,
      );
    }
    const ids = records.map((record) => record.id);
    const twice = ids.filter((id, i) => ids.indexOf(id) !== i);
    if (twice.length > 0) {
      throw new InvalidInputError(
        `${where}: user ${[...new Set(twice)].join(', ')} is in the batch more than once; nothing was sent`,
      );
    }

    const form = this.#learned.patchForm ?? 'path';
    const sent: { record: UserRecord; bulkId: string }[] = [];
    const results = new Map<string, BatchWriteResult>();
    const operations: Record<string, unknown>[] = [];
    // The body is `{…"Operations":[op,op,…]}`: the envelope, each operation, a comma between.
    let size = byteLength(bulkEnvelope(records.length, []));
    for (const [i, record] of records.entries()) {
      const bulkId = `offboard-${i + 1}`;
      const operation = bulkPatch(bulkId, record.id, false, form, record.version);
      const added = byteLength(operation) + (operations.length > 0 ? 1 : 0);
      if (bulk.maxPayloadSize !== undefined && size + added > bulk.maxPayloadSize) {
        results.set(record.id, {
          id: record.id,
          ok: false,
          error: new BadRequestError(
            `${this.#label}: deactivate user ${record.id}: not sent: with it the bulk request would exceed the service's bulk.maxPayloadSize of ${bulk.maxPayloadSize} bytes; deactivate this user on its own`,
          ),
        });
        continue;
      }
      size += added;
      operations.push(operation);
      sent.push({ record, bulkId });
    }
    // Not one operation fits: there is nothing to send (every record already has its answer).
    if (operations.length === 0) return records.flatMap((record) => results.get(record.id) ?? []);

    const { status, body } = await this.#write('POST', '/Bulk', {
      action,
      body: bulkEnvelope(operations.length, operations),
      accept: [...NO_SUCH_ENDPOINT, 413],
    });
    if (status === 413 || status === 404 || status === 405 || status === 501) {
      // The ServiceProviderConfig promised what /Bulk does not take: stop batching here.
      this.#learned.bulkRefused = true;
      throw new BadRequestError(
        `${where}: HTTP ${status}${this.#http.vendorMessage(body)}: the service refused a bulk request its ServiceProviderConfig allows (bulk.maxOperations ${bulk.maxOperations}${bulk.maxPayloadSize === undefined ? '' : `, maxPayloadSize ${bulk.maxPayloadSize}`}); nothing was written: deactivate each user on its own`,
      );
    }
    if (status === 400) {
      throw new BadRequestError(`${where}: HTTP 400${this.#http.vendorMessage(body)}; nothing was written`);
    }
    const answer = parseVendorBody(bulkResponseSchema, body, where);
    const byBulkId = new Map(sent.map((entry) => [entry.bulkId, entry.record]));
    const byId = new Map(sent.map((entry) => [entry.record.id, entry.record]));
    let written = false;
    for (const operation of answer.Operations) {
      const record =
        (typeof operation.bulkId === 'string' ? byBulkId.get(operation.bulkId) : undefined) ??
        byId.get(idFromLocation(operation.location) ?? '');
      // The first answer about an operation counts; a service that answers twice is not believed twice.
      if (!record || results.has(record.id)) continue;
      const result = this.#bulkResult(record, operation, form);
      written ||= result.ok;
      results.set(record.id, result);
    }
    if (written) this.#learned.patchForm = form;
    return records.map(
      (record) =>
        results.get(record.id) ?? {
          id: record.id,
          ok: false,
          error: new BadResponseError(
            `${this.#label}: deactivate user ${record.id}: the bulk response says nothing of this operation; it may or may not have been written: read the user again`,
          ),
        },
    );
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
    return this.#write('PATCH', userPath(userId), {
      action,
      body: patchOp(active, form),
      ...(version !== undefined ? { headers: { 'if-match': version } } : {}),
      accept: [400, 404, 412],
    });
  }

  /** A write request: a 401/403 to it says what the service asks of a client that may write. */
  async #write(method: string, path: string, options: RequestOptions): Promise<HttpResponse> {
    try {
      return await this.#request(method, path, options);
    } catch (error) {
      // Reads work and the write is refused: the credential may read but not write users.
      if (error instanceof AuthFailedError && this.#preset.writeAuthHint) {
        throw new AuthFailedError(`${error.message}: ${this.#preset.writeAuthHint}`, { cause: error });
      }
      throw error;
    }
  }

  /**
   * One operation of a BulkResponse, read as the single PATCH's answer would be. Errors are
   * worded as `deactivateUser` words them, with "in the bulk request".
   */
  #bulkResult(record: UserRecord, operation: BulkResponseOperation, form: ScimPatchForm): BatchWriteResult {
    const id = record.id;
    const status = bulkStatus(operation.status);
    const where = `${this.#label}: deactivate user ${id}`;
    const fail = (error: Error): BatchWriteResult => ({ id, ok: false, error });
    if (status === undefined) {
      return fail(
        new BadResponseError(
          `${where}: the bulk response gives this operation no status (${JSON.stringify(operation.status) ?? 'none'}); it may or may not have been written: read the user again`,
        ),
      );
    }
    if (status >= 200 && status < 300) return { id, ok: true };
    const said = `${where}: HTTP ${status}${this.#http.vendorMessage(operation.response)} in the bulk request`;
    if (status === 412) {
      return fail(
        new RecordChangedError(
          `${said}: the user changed since it was read (version ${record.version}); nothing was written`,
        ),
      );
    }
    if (status === 404) {
      return fail(new BadRequestError(`${said}: the user no longer exists, or the token may not see it`));
    }
    if (status === 400 && FORM_REFUSALS.has(scimTypeOf(operation.response))) {
      return fail(
        new BadRequestError(
          `${said} to the PatchOp ${FORM_NAMES[form]}; nothing was written: deactivate this user on its own, which tries the other form`,
        ),
      );
    }
    if (status === 401 || status === 403) {
      const hint = this.#preset.writeAuthHint ? `: ${this.#preset.writeAuthHint}` : '';
      return fail(new AuthFailedError(`${said}${hint}`));
    }
    if (status === 429) return fail(this.#preset.rateLimited(said));
    if (status >= 500) return fail(new UnavailableError(said));
    return fail(new BadRequestError(said));
  }

  /**
   * The service's `/Bulk` as this connector may use it, or undefined when it may not: not
   * supported, no `maxOperations` said, room for fewer than one operation, or refused once.
   * `limit` is `maxOperations` lowered so that that many operations fit in `maxPayloadSize`,
   * each estimated with room for a long id and version.
   */
  async #bulkConfig(): Promise<
    { limit: number; maxOperations: number; maxPayloadSize?: number } | undefined
  > {
    const { bulk } = await this.#serviceConfig();
    if (!bulk || this.#learned.bulkRefused) return undefined;
    let limit = bulk.maxOperations;
    if (bulk.maxPayloadSize !== undefined) {
      const envelope = byteLength(bulkEnvelope(limit, []));
      const longest = (['path', 'value'] as const)
        .map((form) =>
          byteLength(
            bulkPatch(
              `offboard-${limit}`,
              'x'.repeat(BULK_ID_ALLOWANCE),
              false,
              form,
              `W/"${'x'.repeat(BULK_VERSION_ALLOWANCE)}"`,
            ),
          ),
        )
        .reduce((a, b) => Math.max(a, b));
      limit = Math.min(limit, Math.floor((bulk.maxPayloadSize - envelope + 1) / (longest + 1)));
    }
    return limit >= 1 ? { ...bulk, limit } : undefined;
  }

  /**
   * What the service says of itself (RFC 7644 §4, RFC 7643 §5), read once per connection in
   * this process (a warm Lambda, a local run) and kept for CONFIG_KEPT_MS, shared by
   * `readDirectory` and `batchLimit`; a failed read is not kept, so the next call asks again. A service without the endpoint (404, or 400/405/501) says nothing: the default
   * page size, no `/Bulk`.
   */
  #serviceConfig(): Promise<ServiceConfig> {
    const kept = this.#learned.config;
    if (kept && Date.now() - kept.at < CONFIG_KEPT_MS) return kept.read;
    const read = this.#readServiceConfig().catch((error: unknown) => {
      if (this.#learned.config?.read === read) this.#learned.config = undefined;
      throw error;
    });
    this.#learned.config = { read, at: Date.now() };
    return read;
  }

  async #readServiceConfig(): Promise<ServiceConfig> {
    const { status, body } = await this.#request('GET', '/ServiceProviderConfig', {
      action: 'read the ServiceProviderConfig',
      accept: NO_SUCH_ENDPOINT,
    });
    if (NO_SUCH_ENDPOINT.includes(status)) return {};
    const parsed = serviceProviderConfigSchema.safeParse(body);
    if (!parsed.success) return {};
    const { bulk, filter } = parsed.data;
    const supported = bulk?.supported === true || bulk?.supported === 'true';
    return {
      ...(filter?.maxResults !== undefined ? { maxResults: filter.maxResults } : {}),
      ...(supported && bulk?.maxOperations !== undefined
        ? {
            bulk: {
              maxOperations: bulk.maxOperations,
              ...(bulk.maxPayloadSize !== undefined ? { maxPayloadSize: bulk.maxPayloadSize } : {}),
            },
          }
        : {}),
    };
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
   * Pages through one filtered query and sorts the exact matches into `found`. With
   * `invalidFilterIsEmpty`, a service that refuses the filter itself (400 `invalidFilter`)
   * makes it return false, having read nothing. Any other 400 is an error.
   */
  async #search(
    filter: string | undefined,
    email: string,
    found: Found,
    options: { invalidFilterIsEmpty?: boolean } = {},
  ): Promise<boolean> {
    return this.#pages(
      filter,
      `look up ${email}`,
      SCIM_PAGE_SIZE,
      (users) => {
        for (const user of users) {
          const id = String(user.id);
          // The server's filter is a hint, not a promise: keep exact (case-insensitive) matches only.
          if (isOwnAddress(user, email)) found.matches.set(id, user);
          else if (listsAddress(user, email)) found.secondary.set(id, user);
        }
      },
      { ...options, maxPages: MAX_LOOKUP_PAGES },
    );
  }

  /**
   * Every page of one `GET /Users` query (with a filter, or every user), handed to `onPage`:
   * 1-based `startIndex`, `count` rows asked, stepping by what each page held (a server may
   * answer fewer than asked, RFC 7644 §3.4.2.4), until a page is empty or `totalResults` is
   * reached. A page of users all read before means the server ignores `startIndex`: an error,
   * as is more than `maxPages` pages. Returns false only for `invalidFilterIsEmpty` and a 400
   * `invalidFilter`.
   *
   * `whole` is for reading every user (`readDirectory`), where a missing user would be
   * answered "not found": the pages must add up to `totalResults` exactly, with no user twice
   * and no empty page before the end; `totalResults` may not move between pages.
   */
  async #pages(
    filter: string | undefined,
    action: string,
    count: number,
    onPage: (users: ScimUser[]) => void,
    options: { invalidFilterIsEmpty?: boolean; whole?: boolean; maxPages: number },
  ): Promise<boolean> {
    const where = `${this.#label}: ${action}`;
    const seen = new Set<string>();
    let startIndex = 1;
    let total: number | undefined;
    for (let page = 0; page < options.maxPages; page++) {
      const { status, body } = await this.#request('GET', '/Users', {
        action,
        query: {
          ...(filter === undefined ? {} : { filter }),
          startIndex: String(startIndex),
          count: String(count),
        },
        ...(options.invalidFilterIsEmpty ? { accept: [400] } : {}),
      });
      if (status === 400) {
        if (scimTypeOf(body) === 'invalidFilter') return false;
        throw new BadRequestError(`${where}: HTTP 400${this.#http.vendorMessage(body)}`);
      }
      const list = parseVendorBody(listResponseSchema, body, where);
      const resources = list.Resources ?? [];
      if (options.whole && total !== undefined && list.totalResults !== total) {
        throw new ListMovedError(
          `${where}: totalResults went from ${total} to ${list.totalResults} at startIndex ${startIndex}: the user list changed while it was read`,
        );
      }
      total = list.totalResults;
      let unseen = 0;
      for (const user of resources) {
        const id = String(user.id);
        if (!seen.has(id)) unseen++;
        seen.add(id);
      }
      onPage(resources);
      const at = startIndex;
      startIndex += resources.length;
      if (resources.length === 0 || startIndex > list.totalResults) {
        if (options.whole && resources.length === 0 && at <= total) {
          throw new BadResponseError(
            `${where}: the page at startIndex ${at} is empty, though totalResults is ${total}: the list cannot be read whole`,
          );
        }
        if (options.whole && seen.size !== total) {
          throw new ListMovedError(
            `${where}: the pages held ${seen.size} different users, though totalResults is ${total}: the list cannot be read whole`,
          );
        }
        return true;
      }
      if (unseen === 0) {
        throw new BadResponseError(
          `${where}: the page at startIndex ${at} repeats users already seen; the server seems to ignore startIndex`,
        );
      }
      if (options.whole && unseen < resources.length) {
        throw new ListMovedError(
          `${where}: the page at startIndex ${at} repeats ${resources.length - unseen} of the users already read: the user list changed while it was read`,
        );
      }
    }
    throw new BadResponseError(
      `${where}: more than ${options.maxPages} pages${filter === undefined ? '' : '; the filter seems ignored'}`,
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

/** The PatchOp that sets `active`, in the given form (see {@link ScimPatchForm}). */
function patchOp(active: boolean, form: ScimPatchForm): Record<string, unknown> {
  return { schemas: [PATCH_OP_SCHEMA], Operations: [PATCH_OPERATIONS[form](active)] };
}

/**
 * One PATCH operation of a bulk request (RFC 7644 §3.7): `path` relative to the service root,
 * `data` the PatchOp a single PATCH would send, `version` the ETag a single PATCH would send
 * as `If-Match`. `bulkId` is only required for POST; it is sent so the answer can name the
 * operation.
 */
function bulkPatch(
  bulkId: string,
  userId: string,
  active: boolean,
  form: ScimPatchForm,
  version: string | undefined,
): Record<string, unknown> {
  return {
    method: 'PATCH',
    bulkId,
    path: userPath(userId),
    ...(version !== undefined ? { version } : {}),
    data: patchOp(active, form),
  };
}

/**
 * A bulk request of these operations. `failOnErrors` as large as the batch: left out, the RFC
 * says every operation is tried, but a service that stops at the first error by default would
 * leave the rest unwritten and unanswered.
 */
function bulkEnvelope(size: number, operations: readonly Record<string, unknown>[]): Record<string, unknown> {
  return { schemas: [BULK_REQUEST_SCHEMA], failOnErrors: Math.max(size, 1), Operations: operations };
}

/** Bytes of a value sent as JSON, as `bulk.maxPayloadSize` counts them. */
function byteLength(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value));
}

/** An operation's status as a number: `"200"`, `200` or SCIM 1.1's `{ "code": "200" }`; else undefined. */
function bulkStatus(status: unknown): number | undefined {
  const code = status && typeof status === 'object' ? (status as { code?: unknown }).code : status;
  const text = typeof code === 'number' ? String(code) : code;
  return typeof text === 'string' && /^\d{3}$/.test(text.trim()) ? Number(text.trim()) : undefined;
}

/** The user id at the end of a bulk operation's `location` (`…/Users/{id}`), or undefined. */
function idFromLocation(location: unknown): string | undefined {
  if (typeof location !== 'string') return undefined;
  const at = location.lastIndexOf('/Users/');
  if (at < 0) return undefined;
  try {
    return decodeURIComponent(location.slice(at + '/Users/'.length).replace(/[?#].*$/, ''));
  } catch {
    return undefined;
  }
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

/**
 * The addresses the user lists besides its primary one (RFC 7643 §4.1.2 `emails[]`): an
 * address found only there makes a lookup ask for a review, never a match.
 */
function secondaryEmailsOf(user: ScimUser): string[] {
  const primary = primaryEmail(user);
  const values = (user.emails ?? [])
    .map((entry) => entry.value)
    .filter((value): value is string => typeof value === 'string' && value !== primary);
  return [...new Set(values)];
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
  // A userName with an '@' is kept among the account's own addresses even when it does not
  // look like a plain address (a quoted local part may hold a space): a lookup matches it by
  // userName, and the record must then say it is the person's, as a directory match reads it.
  const own = [user.userName.includes('@') ? user.userName : undefined, primaryEmail(user)].filter(
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
