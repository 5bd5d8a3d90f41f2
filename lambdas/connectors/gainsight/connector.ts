import { z } from 'zod';
import type { ConnectionRef, TlsOptions } from '../../shared/connections';
import { SECRET_EXAMPLES, secretSchemas } from '../../shared/connections';
import {
  BadRequestError,
  BadResponseError,
  ConfigError,
  HourlyRateLimitedError,
  NotYetAppliedError,
  type OffboardError,
  UnavailableError,
  UserMismatchError,
} from '../../shared/errors';
import { HttpClient, sameEmail } from '../../shared/http';
import {
  assertSamePerson,
  type ListPages,
  lookupResult,
  parseVendorBody,
  readWholeList,
  restorableRecord,
} from '../../shared/vendor-answer';
import type {
  BatchDeactivatingConnector,
  BatchWriteResult,
  DirectoryConnector,
  LookupResult,
  ReactivatingConnector,
  UserRecord,
} from '../types';

/**
 * Rows asked for per list page: the largest page known to be allowed. Gainsight's document
 * shows `"limit": N` and names no maximum; the seed guide (004) gives 1000 as the maximum
 * page size, and nothing in the vendor's document says otherwise. Large pages spend less of
 * the hourly budget (a directory of 5,000 users is 5 requests). A server that serves fewer is
 * read on by the rows it did serve.
 */
export const GAINSIGHT_PAGE_SIZE = 1000;
/**
 * A server that ignores both the filter and the end of its list would be read forever; 20
 * pages is 20,000 users and a fifth of the hourly request budget. The directory read stops
 * there too, loudly: a tenant larger than that is not read in part.
 */
export const GAINSIGHT_MAX_LOOKUP_PAGES = 20;
/** Gsids one status call may carry (the document: "up to 50 users per call"). */
export const GAINSIGHT_STATUS_BATCH = 50;

/**
 * The user fields a read asks for (`select`): every field the vendor's document names. The
 * record keeps whatever the answer holds, these and any other, as the before-state.
 */
export const GAINSIGHT_USER_FIELDS = [
  'Gsid',
  'Email',
  'Name',
  'FirstName',
  'LastName',
  'IsActiveUser',
  'LicenseType',
  'SystemType',
  'SFDCUserName',
  'SfdcUserId',
  'Manager',
  'Timezone',
  'Title',
  'Locale',
  'ModifiedDate',
] as const;
/** A lookup needs only who the row is and its address. */
const LOOKUP_FIELDS = ['Gsid', 'Email'] as const;
/** Every user, for `readDirectory`. */
const READ_DIRECTORY = 'read the user list';
/** A read by Gsid expects one row; a few more show a server that ignored the filter. */
const READ_LIMIT = 10;

/** Gainsight's rate-limit code: with HTTP 429, or with 200 and `result: false`. */
const TOO_MANY_REQUESTS = 'GU_2400';
/** "Unexpected" (HTTP 500): worth retrying. */
const UNEXPECTED = 'GU_1101';

/**
 * The fields we rely on. Everything else the vendor sends is kept as is (`looseObject`): the
 * record is the state the ledger keeps.
 */
const listedUserSchema = z.looseObject({
  Gsid: z.string().min(1),
  Email: z.string().nullable().optional(),
});
const gainsightUserSchema = listedUserSchema.extend({ IsActiveUser: z.boolean() });
type ListedUser = z.infer<typeof listedUserSchema>;
type GainsightUser = z.infer<typeof gainsightUserSchema>;

/** One row of a list as it came, with who it is and where it sat in the answer. */
interface ListedRow {
  user: ListedUser;
  row: unknown;
  at: string;
}

/** Every answer comes in this envelope; `result: false` is a refusal even with HTTP 200. */
const envelopeSchema = z.looseObject({
  result: z.boolean(),
  errorCode: z.string().nullable().optional(),
  errorDesc: z.string().nullable().optional(),
  requestId: z.string().nullable().optional(),
  data: z.unknown().optional(),
  message: z.string().nullable().optional(),
});
type Envelope = z.infer<typeof envelopeSchema>;

/** A list's `data`: the rows, as `{records, totalCount}` or as a bare list. */
const listDataSchema = z.union([
  z.array(z.unknown()),
  z.looseObject({
    records: z.array(z.unknown()),
    totalCount: z.number().int().nonnegative().optional(),
    total: z.number().int().nonnegative().optional(),
  }),
]);

/** One record a status call could not change, with the vendor's words. */
export interface GainsightStatusFailure {
  /** The Gsid the error names; when it names none, the only Gsid sent (else undefined). */
  gsid: string | undefined;
  errorCode: string | undefined;
  /** The vendor's description, or a summary of what the row said. */
  errorDesc: string;
}

/**
 * What a status call did, as its answer says: the records it refused and the Gsids it names
 * as set. A Gsid sent that is in neither was not accounted for (see `deactivateUsers`).
 */
export interface GainsightStatusOutcome {
  failed: GainsightStatusFailure[];
  /** Gsids sent that a row of `data` names without an error. */
  set: string[];
  requestId: string | undefined;
}

/**
 * Gainsight's User Management API (vendor-contracts/gainsight), under
 * `https://{domain}/v1/users/services` with a tenant `accesskey` header:
 *
 * - find: `POST /list` with a `where` on `Email`, the filter taken as a hint (exact matches
 *   are kept here, pages read on until the total or an empty page);
 * - read: the same list with a `where` on `Gsid`, every documented field selected; many
 *   users at once with `Gsid IN` (`getUsers`), or every user (`readDirectory`), paged as a
 *   lookup is;
 * - switch off and on: `PUT /status?status=false|true` with a JSON array of up to 50 Gsids,
 *   which writes nothing else of the user; verify by listing again.
 *
 * Every answer is an envelope: `result: false`, or per-record errors inside `data` of a
 * `result: true`, are failures with the vendor's `errorCode`/`errorDesc`; `GU_2400` is the
 * hourly limit (100 requests an hour, 1,000 a day, fixed windows).
 *
 * There is no `protectedReason`: the access key belongs to the tenant, not to a user, so no
 * account's deactivation can cut the integration off, and the API does not say who owns the
 * tenant.
 */
export class GainsightConnector
  implements BatchDeactivatingConnector, ReactivatingConnector, DirectoryConnector
{
  readonly #http: HttpClient;
  readonly #label: string;

  /** The flag the status call changes, and what Gainsight moves with it. */
  readonly volatileFields: readonly string[] = ['IsActiveUser', 'ModifiedDate', 'ModifiedBy'];

  /**
   * The directory selects the same fields as `getUser` and maps each row the same way, so a
   * write may be planned from it.
   */
  readonly directoryComplete = true;
  readonly directoryPageSize = GAINSIGHT_PAGE_SIZE;

  constructor(options: {
    label: string;
    baseUrl: string;
    accessKey: string;
    tls?: TlsOptions;
    fetch?: typeof fetch;
  }) {
    this.#label = options.label;
    this.#http = new HttpClient({
      label: options.label,
      baseUrl: `${tenantUrl(options.baseUrl)}/v1/users/services`,
      headers: { accesskey: options.accessKey },
      errorDetail: envelopeErrorText,
      // Gainsight limits the User Management APIs to 100 requests an hour and 1,000 a day,
      // in fixed windows. Backing off for seconds only burns retries: the state machine must
      // wait minutes, so every 429 here is the hourly kind.
      classifyRateLimit: (_response, message) => new HourlyRateLimitedError(`${message}${HOURLY_HINT}`),
      tls: options.tls,
      fetch: options.fetch,
    });
  }

  /** Requests this connector has sent (benchmarks read it). */
  get requestCount(): number {
    return this.#http.requestCount;
  }

  /**
   * The one user with this Email (exact, ignoring case). Asked with a `where` on `Email`;
   * when that finds nobody, the users are read whole and matched here, because whether
   * Gainsight's `EQ` ignores case is not documented, and an address stored as Jane.Doe@…
   * must not come back "not found". The extra reading costs requests (of the hourly 100) only
   * for people who have no account.
   */
  async lookupUser(email: string): Promise<LookupResult> {
    const action = `look up ${email}`;
    const matching = async (filter: Where | undefined) =>
      (await this.#listAll(LOOKUP_FIELDS, filter, action))
        // The server's filter is a hint, not a promise: keep exact (case-insensitive) matches only.
        .filter(({ user }) => sameEmail(user.Email, email))
        .map(({ user }) => user.Gsid);
    let matches = await matching(condition('Email', email.trim()));
    if (matches.length === 0) matches = await matching(undefined);
    return lookupResult(this.#label, matches, `the email ${email}`);
  }

  /**
   * Every user of the tenant, each with every field `getUser` selects and mapped as it maps
   * them, in pages of {@link GAINSIGHT_PAGE_SIZE}: 5,000 users are 5 requests (with the
   * total the list gives; one more, empty, when a server gives none). Throws
   * `Vendor.BadResponse` rather than answer part of the users (paging ignored, pages that do
   * not add up, more than {@link GAINSIGHT_MAX_LOOKUP_PAGES} pages).
   */
  async readDirectory(): Promise<UserRecord[]> {
    const where = `${this.#label}: ${READ_DIRECTORY}`;
    const rows = await this.#listAll(GAINSIGHT_USER_FIELDS, undefined, READ_DIRECTORY);
    return rows.map(({ row, at }) => toRecord(parseVendorBody(gainsightUserSchema, row, where, at)));
  }

  /**
   * Every row a list holds (with `where`, or of all users), each user once, read page by page
   * until the total or an empty page. Nothing is answered when the pages cannot be trusted
   * to hold everyone: matching against part of the users would say "not found" of someone
   * who has an account. Pages are cut by position, so a user deleted or added between two
   * pages moves the others past the cut: the `total` must stay as the first page gave it, and
   * the users read must be that many in the end. A list that moved is read once more from the
   * start, then the read throws `Vendor.Unavailable` (see `readWholeList`). Without a total,
   * a deletion between pages cannot be seen (the user moved back onto a page already read is
   * simply never read).
   */
  async #listAll(select: readonly string[], filter: Where | undefined, action: string): Promise<ListedRow[]> {
    return readWholeList(`${this.#label}: ${action}`, (pages) =>
      this.#listAllOnce(select, filter, action, pages),
    );
  }

  /** One read of every page of a list from page 0, each page's total told to `pages`. */
  async #listAllOnce(
    select: readonly string[],
    filter: Where | undefined,
    action: string,
    pages: ListPages,
  ): Promise<ListedRow[]> {
    const where = `${this.#label}: ${action}`;
    const read: ListedRow[] = [];
    const seen = new Set<string>();
    let page = 0;
    let limit = GAINSIGHT_PAGE_SIZE;
    for (let request = 1; ; request++) {
      if (request > GAINSIGHT_MAX_LOOKUP_PAGES) {
        throw new BadResponseError(
          `${where}: the user list did not end after ${GAINSIGHT_MAX_LOOKUP_PAGES} pages; nothing was changed`,
        );
      }
      const { rows, total } = await this.#list(
        {
          select: [...select],
          ...(filter ? { where: filter } : {}),
          limit,
          page,
          includeTotal: true,
        },
        action,
      );
      // Before the other checks: a list that moved can make a page look short or repeated.
      pages.total(total, `page ${page}`);
      if (rows.length === 0) break;
      const listed = rows.map((row, i) => {
        const at = `data.records.${i}`;
        return { user: parseVendorBody(listedUserSchema, row, where, at), row, at };
      });
      const before = seen.size;
      for (const entry of listed) {
        if (seen.has(entry.user.Gsid)) continue;
        seen.add(entry.user.Gsid);
        read.push(entry);
      }
      // A server that ignores `page` answers the first page again and again: without this,
      // the users on later pages would silently never be seen.
      if (seen.size === before) {
        throw new BadResponseError(
          `${where}: page ${page} repeats users already read; the server seems to ignore paging; nothing was changed`,
        );
      }
      if (total !== undefined && seen.size >= total) break;
      if (rows.length < limit) {
        // Fewer rows than asked, and (by the total, when there is one) more to come: the server
        // serves pages of its own size. Reading on by that size keeps every page where it
        // starts, whether the server counts pages by its size or by ours.
        if (seen.size % rows.length === 0) limit = rows.length;
        else if (total === undefined) break;
        else {
          throw new BadResponseError(
            `${where}: page ${page} held ${rows.length} users, ${seen.size} of ${total} read so far; ` +
              'the pages do not add up, so reading on could skip users; nothing was changed',
          );
        }
      }
      // A page that partly repeats earlier rows moves where the next one starts.
      if (seen.size % limit !== 0) {
        throw new BadResponseError(
          `${where}: page ${page} repeats some users already read; reading on could skip users; nothing was changed`,
        );
      }
      page = seen.size / limit;
    }
    pages.end(seen.size);
    return read;
  }

  async getUser(userId: string): Promise<UserRecord> {
    return toRecord(await this.#read(userId, `get user ${userId}`));
  }

  /**
   * These users, read afresh with one list whose `where` is `Gsid IN` them (one request with
   * the total the list gives), each mapped as `getUser` maps it, in the order asked. A Gsid
   * the tenant no longer has is absent. The filter is a hint here too: a server that ignores
   * it is read whole, and only the users asked for are kept.
   *
   * @throws Vendor.BadRequest before anything is sent, for more than 50 Gsids or an empty one.
   */
  async getUsers(userIds: readonly string[]): Promise<UserRecord[]> {
    if (userIds.length === 0) return [];
    const action = `get ${plural(new Set(userIds).size)}`;
    const where = `${this.#label}: ${action}`;
    const gsids = gsidBatch(where, userIds, 'a read');
    const filter: Where = {
      conditions: [{ name: 'Gsid', alias: 'A', operator: 'IN', value: gsids }],
      expression: 'A',
    };
    const rows = new Map(
      (await this.#listAll(GAINSIGHT_USER_FIELDS, filter, action)).map((entry) => [entry.user.Gsid, entry]),
    );
    return gsids.flatMap((gsid) => {
      const entry = rows.get(gsid);
      return entry ? [toRecord(parseVendorBody(gainsightUserSchema, entry.row, where, entry.at))] : [];
    });
  }

  /** The most users one status call may carry: the document's 50. */
  async batchLimit(): Promise<number> {
    return GAINSIGHT_STATUS_BATCH;
  }

  async deactivateUser(record: UserRecord): Promise<void> {
    const [result] = await this.deactivateUsers([record]);
    if (result && !result.ok) throw result.error;
  }

  /**
   * Switches up to 50 users off with one status call, and says for each whether it was set.
   * A user is set when a row of the answer names it without an error; a user the answer
   * refuses gets the vendor's words (`Vendor.BadRequest`, as one user's write); a user the
   * answer does not name at all is not ok either (`Vendor.BadResponse`): nothing says the
   * call reached it. An answer about a call of one Gsid is about that Gsid: `result: true`
   * with no error sets it, as the document reads. Throws, nothing assumed of anyone, when
   * the call failed whole: `result: false`, `GU_2400` or HTTP 429 (the hourly limit), an
   * outage, a refused key.
   *
   * @throws Vendor.BadRequest before anything is sent, for more than 50 users or an empty id.
   */
  async deactivateUsers(records: readonly UserRecord[]): Promise<BatchWriteResult[]> {
    if (records.length === 0) return [];
    const ids = records.map((record) => record.id);
    const unique = [...new Set(ids)];
    const action =
      unique.length === 1 ? `deactivate user ${unique[0]}` : `deactivate ${plural(unique.length)}`;
    return this.#switch(ids, false, action);
  }

  /**
   * Switches the account back on with `status=true`. The deactivation wrote nothing but the
   * status, so every other field is as `before` holds it, except what someone changed since,
   * which is left as they made it. Two requests (of the hourly 100): the current user, for
   * the email check, then the status call.
   */
  async reactivateUser(before: UserRecord): Promise<void> {
    const action = `reactivate user ${before.id}`;
    const where = `${this.#label}: ${action}`;
    const was = restorableRecord(
      where,
      'Gainsight',
      before,
      gainsightUserSchema.safeParse(before.fields),
      toRecord,
    );
    // One read before the write: the id may have been reused (see assertSamePerson).
    const now = toRecord(await this.#read(before.id, action));
    assertSamePerson(where, now, was);
    const [result] = await this.#switch([before.id], was.active, action);
    if (result && !result.ok) throw result.error;
  }

  /**
   * Sets the status of up to {@link GAINSIGHT_STATUS_BATCH} users in one call
   * (`PUT /v1/users/services/status?status=…` with their Gsids). Resolves with the records the
   * vendor refused inside an answer that says `result: true`, and those it names as set, so
   * that a batch can tell who was set; throws when the whole call failed (`result: false`, an
   * HTTP error).
   *
   * @param action what we are doing, for messages: `deactivate user 1P01…`.
   * @throws Vendor.BadRequest before anything is sent, for no Gsid or more than 50.
   */
  async setStatus(
    gsids: readonly string[],
    active: boolean,
    action?: string,
  ): Promise<GainsightStatusOutcome> {
    const doing = action ?? `set status=${active} of ${new Set(gsids).size} user(s)`;
    const unique = gsidBatch(`${this.#label}: ${doing}`, gsids, 'a status call');
    const { body } = await this.#http.request('PUT', '/status', {
      action: doing,
      query: { status: String(active) },
      body: unique,
    });
    const answer = this.#envelope(body, doing);
    const sent = new Set(unique);
    const { failed, set } = recordOutcomes(answer.data);
    return {
      failed: failed.map((failure) => ({
        ...failure,
        gsid: failure.gsid ?? (unique.length === 1 ? unique[0] : undefined),
      })),
      set: [...new Set(set)].filter((gsid) => sent.has(gsid)),
      requestId: answer.requestId ?? undefined,
    };
  }

  /**
   * One status call, and what it did to each Gsid sent, in the order sent: set, refused with
   * the vendor's words, or not accounted for (see `deactivateUsers`).
   */
  async #switch(gsids: readonly string[], active: boolean, action: string): Promise<BatchWriteResult[]> {
    const where = `${this.#label}: ${action}`;
    const outcome = await this.setStatus(gsids, active, action);
    const set = new Set(outcome.set);
    const unnamed = outcome.failed.filter((failure) => failure.gsid === undefined);
    const unique = [...new Set(gsids)];
    return unique.map((id): BatchWriteResult => {
      const failure = outcome.failed.find((candidate) => candidate.gsid === id);
      if (failure) {
        return {
          id,
          ok: false,
          error: codeError(
            failure.errorCode,
            `${where}: the API answered result: true but refused user ${id}` +
              `${vendorWords(failure.errorCode, failure.errorDesc, outcome.requestId)}; nothing was changed`,
            'badRequest',
          ),
        };
      }
      // The answer to a call of one Gsid is about that Gsid, as an error naming nobody is
      // (setStatus): `result: true` and no error is the document's success.
      if (set.has(id) || unique.length === 1) return { id, ok: true };
      const said = unnamed.map((failure) =>
        [failure.errorCode, failure.errorDesc].filter(Boolean).join(': '),
      );
      return {
        id,
        ok: false,
        error: new BadResponseError(
          `${where}: the API answered result: true but named user ${id} neither among those set nor among ` +
            `those refused${said.length > 0 ? ` (it refused some user without naming them: ${said.slice(0, 3).join('; ')})` : ''}` +
            `${vendorWords(undefined, undefined, outcome.requestId)}; read the user again to know its status`,
        ),
      };
    });
  }

  async verifyDeactivated(userId: string): Promise<UserRecord> {
    const record = toRecord(await this.#read(userId, `verify user ${userId}`));
    if (record.active) {
      throw new NotYetAppliedError(
        `${this.#label}: verify user ${userId}: still IsActiveUser after the status call`,
      );
    }
    return record;
  }

  async verifyReactivated(userId: string): Promise<UserRecord> {
    const record = toRecord(await this.#read(userId, `verify user ${userId}`));
    if (!record.active) {
      throw new NotYetAppliedError(
        `${this.#label}: verify user ${userId}: still inactive after the status call`,
      );
    }
    return record;
  }

  /** The one user with this Gsid, from a list filtered on it. */
  async #read(gsid: string, action: string): Promise<GainsightUser> {
    const where = `${this.#label}: ${action}`;
    const { rows } = await this.#list(
      { select: [...GAINSIGHT_USER_FIELDS], where: condition('Gsid', gsid), limit: READ_LIMIT, page: 0 },
      action,
    );
    const users = rows.map((row, i) => parseVendorBody(listedUserSchema, row, where, `data.records.${i}`));
    const own = users.filter((user) => user.Gsid === gsid);
    if (own.length === 0) {
      if (users.length === 0) throw new BadRequestError(`${where}: no user with Gsid ${gsid} in this tenant`);
      // The write goes to the id asked for; a record of someone else must never be read as
      // theirs: the same User.Mismatch as every connector's answer about another account.
      const others = [...new Set(users.map((user) => user.Gsid))];
      throw new UserMismatchError(
        `${where}: asked for user ${gsid}, the API answered user${others.length > 1 ? 's' : ''} ${others.slice(0, 3).join(', ')}` +
          `${others.length > 3 ? ', …' : ''} instead; nothing was changed`,
      );
    }
    if (own.length > 1) {
      throw new BadResponseError(
        `${where}: the API answered user ${gsid} ${own.length} times; nothing was changed`,
      );
    }
    const index = users.indexOf(own[0] as (typeof users)[number]);
    return parseVendorBody(gainsightUserSchema, rows[index], where, `data.records.${index}`);
  }

  /** One `POST /list`: its rows, and the total when the answer has one. */
  async #list(body: Record<string, unknown>, action: string): Promise<{ rows: unknown[]; total?: number }> {
    const where = `${this.#label}: ${action}`;
    const { body: answer } = await this.#http.request('POST', '/list', { action, body });
    const envelope = this.#envelope(answer, action);
    if (envelope.data === undefined || envelope.data === null) {
      throw new BadResponseError(`${where}: the answer holds no data`);
    }
    const data = parseVendorBody(listDataSchema, envelope.data, where, 'data');
    if (Array.isArray(data)) return { rows: data };
    const total = data.totalCount ?? data.total;
    return { rows: data.records, ...(total !== undefined ? { total } : {}) };
  }

  /** The envelope of a 2xx answer; `result: false` throws the error its code stands for. */
  #envelope(body: unknown, action: string): Envelope {
    const where = `${this.#label}: ${action}`;
    const envelope = parseVendorBody(envelopeSchema, body, where);
    if (envelope.result) return envelope;
    const code = envelope.errorCode ?? undefined;
    const desc = envelope.errorDesc ?? envelope.message ?? undefined;
    // A batch that failed whole may still say why, record by record.
    const records = recordOutcomes(envelope.data).failed.map(
      (failure) =>
        `user ${failure.gsid ?? '(unnamed)'}: ${failure.errorCode ? `${failure.errorCode}: ` : ''}${failure.errorDesc}`,
    );
    const message =
      `${where}: the API answered result: false${vendorWords(code, desc, envelope.requestId)}` +
      (records.length > 0 ? `: ${records.slice(0, 3).join('; ')}${records.length > 3 ? '; …' : ''}` : '');
    throw codeError(code, message, 'badResponse');
  }
}

const HOURLY_HINT =
  ': Gainsight allows 100 user-management requests an hour (1,000 a day); the next window opens within the hour';

/**
 * The error a vendor code stands for: `GU_2400` the hourly limit, `GU_1101` (unexpected) an
 * outage worth retrying, any other `GU_` code a refusal of the request as sent; without a
 * code, `fallback`.
 */
function codeError(
  code: string | undefined,
  message: string,
  fallback: 'badRequest' | 'badResponse',
): OffboardError {
  if (code === TOO_MANY_REQUESTS) return new HourlyRateLimitedError(`${message}${HOURLY_HINT}`);
  if (code === UNEXPECTED) return new UnavailableError(message);
  if (code !== undefined || fallback === 'badRequest') return new BadRequestError(message);
  return new BadResponseError(message);
}

/** ` (GU_2402: Bulk update failed; request 8c1…)`, or '' when the vendor said nothing. */
function vendorWords(
  code: string | undefined,
  desc: string | undefined,
  requestId: string | null | undefined,
): string {
  const said = [code, desc].filter(Boolean).join(': ');
  const words = [said, requestId ? `request ${requestId}` : ''].filter(Boolean).join('; ');
  return words ? ` (${words})` : '';
}

/** A list's `where`, in the documented shape: conditions, and an `expression` of their aliases. */
interface Where {
  conditions: Array<{ name: string; alias: string; operator: 'EQ' | 'IN'; value: string[] }>;
  expression: string;
}

/** A `where` of one `EQ` condition. */
function condition(name: string, value: string): Where {
  return { conditions: [{ name, alias: 'A', operator: 'EQ', value: [value] }], expression: 'A' };
}

/** `1 user`, `50 users`. */
const plural = (n: number): string => `${n} user${n === 1 ? '' : 's'}`;

/**
 * The Gsids of one batch call, each once: 1 to {@link GAINSIGHT_STATUS_BATCH} of them, none
 * empty, or `Vendor.BadRequest` before anything is sent.
 *
 * @param call what takes them, for the message: `a status call`.
 */
function gsidBatch(where: string, gsids: readonly string[], call: string): string[] {
  const unique = [...new Set(gsids)];
  if (unique.length === 0 || unique.length > GAINSIGHT_STATUS_BATCH || unique.includes('')) {
    throw new BadRequestError(
      `${where}: ${call} takes 1 to ${GAINSIGHT_STATUS_BATCH} Gsids, not ${unique.length}` +
        `${unique.includes('') ? ' (one is empty)' : ''}; nothing was sent`,
    );
  }
  return unique;
}

/** `GU_2402: Bulk update failed` from an envelope, for HttpClient's messages on HTTP errors. */
function envelopeErrorText(body: unknown): string | undefined {
  const parsed = envelopeSchema.safeParse(body);
  if (!parsed.success) return undefined;
  const { errorCode, errorDesc, message } = parsed.data;
  return [errorCode, errorDesc ?? message].filter(Boolean).join(': ') || undefined;
}

const text = (value: unknown): string | undefined =>
  typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;

/**
 * The per-record errors inside a status answer's `data`, and the Gsids it names as set. The
 * document says the errors are there without showing where: the entries of `data.errors`,
 * and any row of `data` or `data.records` that says `success: false` or carries an error,
 * count. Any other row of `data` or `data.records` that names a Gsid names it as set (the
 * verify that follows a write reads the status itself).
 */
function recordOutcomes(data: unknown): { failed: GainsightStatusFailure[]; set: string[] } {
  const failures: GainsightStatusFailure[] = [];
  const set: string[] = [];
  const read = (entry: unknown, listed: boolean) => {
    if (typeof entry === 'string') {
      if (listed) failures.push({ gsid: undefined, errorCode: undefined, errorDesc: entry });
      return;
    }
    if (typeof entry !== 'object' || entry === null) return;
    const row = entry as Record<string, unknown>;
    const nested = Array.isArray(row.errors) ? (row.errors as unknown[]) : [];
    const first = (nested[0] ?? {}) as Record<string, unknown>;
    const code = text(row.errorCode) ?? text(first.errorCode);
    const desc =
      text(row.errorDesc) ??
      text(row.errorMessage) ??
      text(first.errorDesc) ??
      text(first.errorMessage) ??
      text(first.message) ??
      (typeof nested[0] === 'string' ? nested[0] : undefined);
    const gsid = text(row.Gsid) ?? text(row.gsid) ?? text(row.id);
    const failed =
      listed || row.success === false || code !== undefined || desc !== undefined || nested.length > 0;
    if (!failed) {
      if (gsid !== undefined) set.push(gsid);
      return;
    }
    failures.push({ gsid, errorCode: code, errorDesc: desc ?? text(row.message) ?? 'no reason given' });
  };
  if (Array.isArray(data)) for (const row of data) read(row, false);
  else if (typeof data === 'object' && data !== null) {
    const { errors, records } = data as Record<string, unknown>;
    if (Array.isArray(errors)) for (const entry of errors) read(entry, true);
    if (Array.isArray(records)) for (const row of records) read(row, false);
  }
  return { failed: failures, set };
}

/**
 * The tenant URL (`https://{domain}`) the API path is added to. A base URL given with the API
 * version (`…/v1`) or the User Management path (`…/v1/users/services`) names the same tenant.
 */
function tenantUrl(baseUrl: string): string {
  return baseUrl
    .replace(/\/+$/, '')
    .replace(/\/v1\/users\/services$/i, '')
    .replace(/\/v1$/i, '');
}

function toRecord(user: GainsightUser): UserRecord {
  return { id: user.Gsid, email: user.Email ?? '', active: user.IsActiveUser, fields: { ...user } };
}

/** Builds the connector for one connection from its secret JSON (`{"accessKey": "..."}`). */
export function createGainsightConnector(
  connection: ConnectionRef,
  secret: unknown,
  fetchImpl?: typeof fetch,
): GainsightConnector {
  const parsed = secretSchemas.gainsight.safeParse(secret);
  if (!parsed.success) {
    throw new ConfigError(
      `${connection.name}: the secret must be JSON like ${SECRET_EXAMPLES.gainsight}: ${parsed.error.issues[0]?.message ?? 'invalid'}`,
    );
  }
  return new GainsightConnector({
    label: connection.name,
    baseUrl: connection.baseUrl,
    accessKey: parsed.data.accessKey,
    ...(connection.tls ? { tls: connection.tls } : {}),
    fetch: fetchImpl,
  });
}
