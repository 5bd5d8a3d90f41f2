/**
 * Insightly REST (`https://api.{pod}.insightly.com/v3.1`), as Insightly itself documents it
 * (vendor-contracts/insightly/README.md; where the seed guides disagree, the vendor wins):
 * Basic auth with the API key as the user name and an empty password; users found with
 * `GET /Users/Search` and paged with `skip`/`top`; switched off with `PUT /Users`, which the
 * vendor's own swagger does not offer at all (its users are read-only): a refused write hands
 * the step to a person.
 */
import { z } from 'zod';
import type { ConnectionRef, TlsOptions } from '../../shared/connections';
import { secretSchemas } from '../../shared/connections';
import { isPerson } from '../../shared/directory';
import {
  BadRequestError,
  BadResponseError,
  ConfigError,
  NotYetAppliedError,
  QuotaExhaustedError,
  UnavailableError,
  WriteRefusedError,
} from '../../shared/errors';
import { basicAuth, HttpClient } from '../../shared/http';
import {
  assertSamePerson,
  type ListPages,
  lookupResult,
  parseVendorBody,
  readWholeList,
  restorableRecord,
} from '../../shared/vendor-answer';
import type {
  DeactivatingConnector,
  DirectoryConnector,
  LookupResult,
  ReactivatingConnector,
  UserRecord,
} from '../types';

/**
 * Rows a lookup or the directory asks for a page: the cap the seed guide gives ("hard page
 * size cap of 500 records per request", shared/seeds/000), which Insightly's own material
 * (vendor-contracts/insightly/README.md) does not contradict. A server may answer fewer (one
 * that does not hear `top` answers its default 100), so the size of a page never decides that
 * the list has ended.
 */
export const INSIGHTLY_PAGE_SIZE = 500;
/** A server that ignores the filter pages through everyone; stop somewhere sane. */
const MAX_LOOKUP_PAGES = 1000;
/**
 * The header `count_total=true` is answered with, where the server sends one: Insightly names
 * none (vendor-contracts/insightly/README.md, "returns the total in a response header"); this
 * is the one a public Airbyte source reads.
 */
const COUNT_HEADER = 'x-total-count';
/** Statuses with which a server refuses a search it does not offer (no route, no such method, parameters it will not take). */
const SEARCH_REFUSED: readonly number[] = [400, 404, 405];
/** Statuses with which a server may refuse a user write; 400 only when its words say read-only. */
const WRITE_REFUSED: readonly number[] = [400, 403, 404, 405];
const READ_ONLY_WORDS = /read[\s-]?only/i;

/**
 * The fields we rely on. Everything else the vendor sends is kept as is (`looseObject`): the
 * write sends the record back as read, and the ledger keeps it as the state to restore.
 */
const insightlyUserSchema = z.looseObject({
  USER_ID: z.number().int(),
  EMAIL_ADDRESS: z.string().nullable().optional(),
  ACTIVE: z.boolean(),
});
type InsightlyUser = z.infer<typeof insightlyUserSchema>;

/** The key owner's id rarely changes; a warm Lambda asks once per key and base URL. */
const ownerCache = new Map<string, { userId: Promise<number>; until: number }>();
const OWNER_CACHE_MS = 15 * 60_000;

/** How one way of listing users is asked for a page. */
interface Listing {
  /** For messages: `GET /Users/Search`. */
  name: string;
  path: string;
  /** The query of the page starting at `skip`. */
  query(skip: number): Record<string, string>;
  /** Statuses that mean "not offered here, try the next way" (first page only). */
  refusedWith: readonly number[];
}

/** What a listing gave: every user it holds, or why it could not be used. */
type Scan = { usable: true; users: InsightlyUser[] } | { usable: false; why: string };

/** The paging of `GET /Users` and `/Users/Search` from `skip`, in the largest pages, with the total asked for. */
function pageFrom(skip: number): Record<string, string> {
  return { skip: String(skip), top: String(INSIGHTLY_PAGE_SIZE), count_total: 'true' };
}

/**
 * The ways of listing users in full, after the search: `GET /Users` with `skip`/`top` as the
 * vendor documents it, then the seed guide's OData form (with `$filter` on the email when
 * `email` is given; Insightly does not document it, so it is only reached on a server that
 * pages neither way the vendor documents).
 */
function listingsInFull(email?: string): Listing[] {
  return [
    { name: 'GET /Users', path: '/Users', query: pageFrom, refusedWith: [] },
    {
      name: `GET /Users with ${email === undefined ? '' : '$filter/'}$top/$skip`,
      path: '/Users',
      query: (skip) => ({
        ...(email === undefined ? {} : { $filter: `EMAIL_ADDRESS eq ${odataString(email)}` }),
        $top: String(INSIGHTLY_PAGE_SIZE),
        $skip: String(skip),
      }),
      refusedWith: [400],
    },
  ];
}

/**
 * The search parameters of the API version in `baseUrl`: `field_name`/`field_value` on v3.1
 * and later (and when the URL names no version), `email` on v2.x and v3.0.
 */
export function searchQueryFor(baseUrl: string, email: string): Record<string, string> {
  const version = /\/v(\d+)(?:\.(\d+))?(?=\/|\?|#|$)/i.exec(baseUrl);
  const [major, minor] = version ? [Number(version[1]), Number(version[2] ?? 0)] : [3, 1];
  return major > 3 || (major === 3 && minor >= 1)
    ? { field_name: 'EMAIL_ADDRESS', field_value: email }
    : { email };
}

/**
 * Insightly REST: find, read (one user, or every user at once), switch off (a `PUT /Users`
 * with the record as read, only `ACTIVE` changed), verify, and restore.
 */
export class InsightlyConnector implements DeactivatingConnector, ReactivatingConnector, DirectoryConnector {
  readonly #http: HttpClient;
  readonly #label: string;
  readonly #baseUrl: string;
  readonly #cacheKey: string;

  /** The active flag, and the timestamp Insightly moves on every change (our own write included). */
  readonly volatileFields = ['ACTIVE', 'DATE_UPDATED_UTC'] as const;
  // PUT /Users sends the whole user back.
  readonly writesWholeRecord = true;
  /** `GET /Users` rows are the very users `GET /Users/{id}` answers (the vendor's swagger: "same fields"). */
  readonly directoryComplete = true;
  readonly directoryPageSize = INSIGHTLY_PAGE_SIZE;

  constructor(options: {
    label: string;
    baseUrl: string;
    apiKey: string;
    tls?: TlsOptions;
    fetch?: typeof fetch;
  }) {
    this.#label = options.label;
    this.#baseUrl = options.baseUrl;
    this.#cacheKey = `${options.baseUrl}\u0000${options.apiKey}`;
    this.#http = new HttpClient({
      label: options.label,
      baseUrl: options.baseUrl,
      headers: { authorization: basicAuth(options.apiKey, '') },
      classifyRateLimit: (response, message) =>
        // Insightly answers 429 both for its 10 req/s limit and for the daily quota. With
        // the day's quota gone, backing off for seconds is pointless: fail clearly.
        response.headers.get('x-ratelimit-remaining') === '0'
          ? new QuotaExhaustedError(
              `${message}: the API key's daily request quota is used up; run again tomorrow`,
            )
          : undefined,
      tls: options.tls,
      fetch: options.fetch,
    });
  }

  /** Requests this connector has sent (benchmarks read it). */
  get requestCount(): number {
    return this.#http.requestCount;
  }

  /**
   * Asks `GET /Users/Search` first; where the server does not offer it, or cannot page it,
   * lists `GET /Users`; where that cannot be paged either, tries the seed guide's OData form
   * (`$filter`, `$top`, `$skip`), which Insightly does not document: it is only reached on a
   * server that pages neither way the vendor documents. Every filter is a hint: only exact
   * matches (ignoring case) count.
   *
   * @throws BadResponseError no way of listing could be paged (the server answers the same
   *   rows whatever `skip` says): nobody is reported missing on a guess.
   */
  async lookupUser(email: string): Promise<LookupResult> {
    const search: Listing = {
      name: 'GET /Users/Search',
      path: '/Users/Search',
      query: (skip) => ({ ...searchQueryFor(this.#baseUrl, email), ...pageFrom(skip) }),
      refusedWith: SEARCH_REFUSED,
    };
    return this.#firstUsable([search, ...listingsInFull(email)], `look up ${email}`, (users, listing) => {
      // Exact matches only (the filter is a hint), on the identity a record carries, so a
      // lookup and a match against the directory (`isPerson`) cannot disagree.
      const matches = users.filter((user) => isPerson(toRecord(user), email)).map((user) => user.USER_ID);
      // A search that found nobody is not taken at its word: whether Insightly's search ignores
      // case is not documented, and an address stored as Jane.Doe@… must not come back "not
      // found". The users are then read in full (the next listing) and matched here: a few
      // requests more, for the people who have no account only.
      if (listing === search && matches.length === 0) return undefined;
      return lookupResult(this.#label, matches, `the email ${email}`);
    });
  }

  /**
   * Every user of the instance: `GET /Users` in pages of `INSIGHTLY_PAGE_SIZE`, `skip` moved on
   * by the rows answered until an empty page (or the `count_total` reached), each mapped as
   * `getUser` maps it; on a server that cannot page it so, the seed guide's `$top`/`$skip`.
   *
   * @throws BadResponseError no way of listing could be paged: never part of the users.
   */
  async readDirectory(): Promise<UserRecord[]> {
    return this.#firstUsable(listingsInFull(), 'read the user list', (users) => users.map(toRecord));
  }

  /**
   * What `take` makes of the users of the first listing that can be paged to its end, in
   * order; `take` answers undefined to go on to the next listing. Throws when none can.
   */
  async #firstUsable<T>(
    listings: readonly Listing[],
    action: string,
    take: (users: InsightlyUser[], listing: Listing) => T | undefined,
  ): Promise<T> {
    const tried: string[] = [];
    for (const listing of listings) {
      const scan = await this.#scan(listing, action);
      if (!scan.usable) {
        tried.push(`${listing.name}: ${scan.why}`);
        continue;
      }
      const taken = take(scan.users, listing);
      if (taken !== undefined) return taken;
    }
    throw new BadResponseError(
      `${this.#label}: ${action}: no way of listing users could be paged (${tried.join('; ')}); ` +
        'nothing was changed',
    );
  }

  /**
   * Reads one listing to its end: `skip` moves on by the rows actually answered, and the list
   * has ended only at an empty page or at the total `count_total` reported. A short page
   * proves nothing: a server that does not hear `top` answers 100 rows however many are left.
   * The users come back once each (by USER_ID), in the order read.
   *
   * Rows are cut by position, so a user deleted or added between two pages moves the others
   * past the cut. A list that moved is read once more from the start, then the read throws
   * `Vendor.Unavailable` (see `readWholeList`). It shows as a `count_total` that changes
   * between pages, as users read that are not as many as the last count, or as a user read
   * twice (one added before the rows already read).
   *
   * What cannot be seen on a server that sends no count: a user deleted from a page already
   * read moves the first user of the next page back onto that page, so that user is never
   * read, and nothing (no count, no repeat) tells. A lookup that must read the list in full
   * there can answer "not found" of someone whose row moved during the read.
   *
   * @throws UnavailableError an empty page before the total the server reported: a page went
   *   missing, or the list changed while it was read; read again rather than answer with part.
   */
  async #scan(listing: Listing, action: string): Promise<Scan> {
    return readWholeList(`${this.#label}: ${action}: ${listing.name}`, (pages) =>
      this.#scanOnce(listing, action, pages),
    );
  }

  /** One read of a listing from `skip=0`, each page's count told to `pages`. */
  async #scanOnce(listing: Listing, action: string, pages: ListPages): Promise<Scan> {
    const users = new Map<number, InsightlyUser>();
    let skip = 0;
    let total: number | undefined;
    for (let page = 0; page < MAX_LOOKUP_PAGES; page++) {
      const { status, headers, body } = await this.#http.request('GET', listing.path, {
        action,
        query: listing.query(skip),
        accept: page === 0 ? [...listing.refusedWith] : [],
      });
      if (status >= 300) return { usable: false, why: `HTTP ${status}${this.#http.vendorMessage(body)}` };
      const rows = parseVendorBody(z.array(insightlyUserSchema), body, `${this.#label}: ${action}`);
      const counted = headers.get(COUNT_HEADER);
      const pageTotal = counted !== null && /^\d+$/.test(counted.trim()) ? Number(counted) : undefined;
      pages.total(pageTotal, `skip=${skip}`, 'count_total');
      // A page without a count keeps the last one a page gave.
      if (pageTotal !== undefined) total = pageTotal;
      if (rows.length === 0) {
        if (total !== undefined && skip < total) {
          throw new UnavailableError(
            `${this.#label}: ${action}: ${listing.name} answered no rows at skip=${skip}, though it counted ${total}; ` +
              'a page is missing or the list changed while it was read, so it stops rather than answer with part of the users',
          );
        }
        pages.end(users.size, 'count_total');
        return { usable: true, users: [...users.values()] };
      }
      // The same rows again: the server does not hear `skip`, and paging on would loop or,
      // worse, stop early and miss the person. This way of listing cannot be trusted.
      if (page > 0 && rows.every((user) => users.has(user.USER_ID))) {
        return { usable: false, why: `the page at skip=${skip} repeats rows already read (skip is ignored)` };
      }
      // Some rows again: users were added before `skip` since the last page, and as many
      // moved back onto rows already read (or the order changed): read it again.
      const again = rows.filter((user) => users.has(user.USER_ID)).length;
      if (again > 0) pages.moved(`the page at skip=${skip} repeats ${again} of the users already read`);
      for (const user of rows) users.set(user.USER_ID, user);
      skip += rows.length;
      if (total !== undefined && skip >= total) {
        pages.end(users.size, 'count_total');
        return { usable: true, users: [...users.values()] };
      }
    }
    throw new BadResponseError(
      `${this.#label}: ${action}: ${listing.name} still had rows after ${MAX_LOOKUP_PAGES} pages (${skip} rows); ` +
        'the filter seems ignored; nothing was changed',
    );
  }

  async getUser(userId: string): Promise<UserRecord> {
    return toRecord(await this.#read(userId, `get user ${userId}`));
  }

  /**
   * The instance's owner (`ACCOUNT_OWNER`) is never switched off automatically: the instance
   * and its billing hang on it. Nor is the user the API key belongs to (`/Users/Me`): the
   * integration would be cut off from every later run.
   */
  async protectedReason(record: UserRecord): Promise<string | undefined> {
    if (record.fields.ACCOUNT_OWNER === true) {
      return 'it is the account owner of this Insightly instance (ACCOUNT_OWNER); transfer ownership first';
    }
    if ((await this.#ownerId()) === Number(record.id)) {
      return 'it owns the API key this connection uses, and switching it off would cut the integration off; move the key to another administrator first';
    }
    return undefined;
  }

  /**
   * Sends the record as read with only `ACTIVE` changed. The seed guide says PUT replaces the
   * whole user (a field left out is reset); the vendor says v3.1 PUT is partial. This body is
   * safe under both readings.
   *
   * @throws WriteRefusedError the API does not let this key write users (405, 404 on the
   *   route, 403, or a 400 that says read-only): a person does it, and verification decides.
   */
  async deactivateUser(record: UserRecord): Promise<void> {
    await this.#put({ ...record.fields, ACTIVE: false }, record.id, `deactivate user ${record.id}`, 'off');
  }

  /**
   * PUTs `before.fields` as they are: the one body that brings back every field (ACTIVE among
   * them) whichever way the server reads a PUT. Two requests: the current record (for the
   * email check), then the PUT.
   */
  async reactivateUser(before: UserRecord): Promise<void> {
    const action = `reactivate user ${before.id}`;
    const where = `${this.#label}: ${action}`;
    const fields = before.fields;
    // The PUT goes to `/Users` and the body's USER_ID says which user it writes: without
    // one (or with another than before.id) the write would land on nobody, or on someone else.
    if (!Number.isInteger(fields.USER_ID)) {
      throw new BadRequestError(
        `${where}: the before-state has no USER_ID, so a PUT could not say which user it restores; nothing was written`,
      );
    }
    const was = restorableRecord(where, 'Insightly', before, insightlyUserSchema.safeParse(fields), toRecord);
    // One GET before the write: the id may have been reused (see assertSamePerson).
    const now = toRecord(await this.#read(before.id, action));
    assertSamePerson(where, now, was);
    await this.#put(fields, before.id, action, 'on');
  }

  /** One `PUT /Users` with `body`; a refusal of user writes told apart from a user gone. */
  async #put(
    body: Record<string, unknown>,
    userId: string,
    action: string,
    turn: 'off' | 'on',
  ): Promise<void> {
    const { status, body: answer } = await this.#http.request('PUT', '/Users', {
      action,
      body,
      accept: [...WRITE_REFUSED],
    });
    if (status < 300) {
      if (answer !== undefined) parseVendorBody(insightlyUserSchema, answer, `${this.#label}: ${action}`);
      return;
    }
    const words = this.#http.vendorMessage(answer);
    const said = `${this.#label}: ${action}: HTTP ${status}${words}`;
    if (status === 404) {
      // The user was read right before this write. A 404 now is either a write route this
      // API does not have, or the user deleted in between: a read tells which.
      const read = await this.#http.request('GET', `/Users/${userId}`, { action, accept: [404] });
      if (read.status === 404)
        throw new BadRequestError(`${said}: the user no longer exists; nothing was written`);
    } else if (status === 400 && !READ_ONLY_WORDS.test(words)) {
      throw new BadRequestError(said);
    }
    const why =
      status === 403
        ? "the API key's user may not update users (only an administrator may, where the API allows it at all)"
        : "this Insightly API does not let its keys write users (Insightly's own documentation lists users as read-only)";
    const todo = turn === 'off' ? 'deactivates the user' : 'reactivates the user';
    throw new WriteRefusedError(
      `${said}: ${why}; a person ${todo} in Insightly itself (System Settings, Users)`,
    );
  }

  async verifyDeactivated(userId: string): Promise<UserRecord> {
    const record = toRecord(await this.#read(userId, `verify user ${userId}`));
    if (record.active)
      throw new NotYetAppliedError(`${this.#label}: verify user ${userId}: still ACTIVE after the write`);
    return record;
  }

  async verifyReactivated(userId: string): Promise<UserRecord> {
    const record = toRecord(await this.#read(userId, `verify user ${userId}`));
    if (!record.active)
      throw new NotYetAppliedError(`${this.#label}: verify user ${userId}: still inactive after the write`);
    return record;
  }

  async #read(userId: string, action: string): Promise<InsightlyUser> {
    if (!/^\d+$/.test(userId))
      throw new BadRequestError(`${this.#label}: ${action}: '${userId}' is not an Insightly user id`);
    const { status, body } = await this.#http.request('GET', `/Users/${userId}`, { action, accept: [404] });
    if (status === 404) {
      throw new BadRequestError(
        `${this.#label}: ${action}: HTTP 404: no such user, or the API key may not see it`,
      );
    }
    return parseVendorBody(insightlyUserSchema, body, `${this.#label}: ${action}`);
  }

  async #ownerId(): Promise<number> {
    const cached = ownerCache.get(this.#cacheKey);
    if (cached && cached.until > Date.now()) return cached.userId;
    // The promise is cached, not the value: steps running at once (a bulk run in one
    // process) ask the vendor once between them, not once each.
    const userId = this.#askOwner();
    ownerCache.set(this.#cacheKey, { userId, until: Date.now() + OWNER_CACHE_MS });
    // A failed ask is not remembered: the next step asks again.
    userId.catch(() => ownerCache.delete(this.#cacheKey));
    return userId;
  }

  async #askOwner(): Promise<number> {
    const action = 'identify the API key owner';
    const { body } = await this.#http.request('GET', '/Users/Me', { action });
    return parseVendorBody(
      insightlyUserSchema.pick({ USER_ID: true }).loose(),
      body,
      `${this.#label}: ${action}`,
    ).USER_ID;
  }
}

/** An OData string literal: single quotes, and a quote inside doubled (`o''brien@x.com`). */
export function odataString(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

function toRecord(user: InsightlyUser): UserRecord {
  return {
    id: String(user.USER_ID),
    email: user.EMAIL_ADDRESS ?? '',
    active: user.ACTIVE,
    fields: { ...user },
  };
}

/** Builds the connector for one connection from its secret JSON. */
export function createInsightlyConnector(
  connection: ConnectionRef,
  secret: unknown,
  fetchImpl?: typeof fetch,
): InsightlyConnector {
  const parsed = secretSchemas.insightly.safeParse(secret);
  if (!parsed.success) {
    throw new ConfigError(
      `${connection.name}: the secret must be JSON like {"apiKey": "..."}: ${parsed.error.issues[0]?.message ?? 'invalid'}`,
    );
  }
  return new InsightlyConnector({
    label: connection.name,
    baseUrl: connection.baseUrl,
    apiKey: parsed.data.apiKey,
    ...(connection.tls ? { tls: connection.tls } : {}),
    fetch: fetchImpl,
  });
}
