/**
 * A built-in Insightly REST sandbox: a real HTTP server on 127.0.0.1 that answers the Users
 * endpoints the way Insightly's own material describes them (vendor-contracts/insightly/
 * README.md). The demo, the tests and the benchmarks point the real connector at it instead
 * of `https://api.{pod}.insightly.com/v3.1`.
 *
 * By default it follows the vendor (the swagger of v2.2/v3.0, the v3.1 introduction):
 * - `GET /Users` and `GET /Users/Search` page with `skip`/`top` (no `$`): 100 rows when `top`
 *   is absent, never more than 500; `count_total=true` answers the total in `X-Total-Count`;
 * - a query parameter it does not know is ignored, not refused (so `$filter` filters nothing);
 * - `/Users/Search` takes `field_name`/`field_value` on v3.1 and later, one of `email`,
 *   `first_name`, `last_name`, `updated_after_utc` before (the version is the path prefix's);
 * - users carry the vendor's fields (`USER_CURRENCY`, `TASK_WEEK_START`, the email dropbox…);
 * - `PUT /Users` is partial ("PUT requests don't require all fields"; `null` clears a field);
 * - `userWrites: 'refused'` answers user writes as an API whose users are read-only would;
 * - errors are `{"Message": "..."}`; 429 carries no Retry-After.
 *
 * `dialect: 'odata'` is the seed guide's variant instead (shared/seeds/000): `$filter`,
 * `$top`, `$skip` on `GET /Users`, 500 rows by default and at most, no `/Users/Search`, and a
 * PUT that replaces the whole user (every writable field left out goes back to its default).
 */
import {
  type SandboxAnswer as Answer,
  basicCredentials,
  Faults,
  isObject,
  parseJson,
  type SandboxControls,
  type SandboxFault,
  type SandboxRequestRecord,
  StaleReads,
  sandboxControls,
  seedStore,
  startSandboxServer,
  TokenBucket,
} from './kit';

/** A User as Insightly answers it on `GET /Users/{id}`: the vendor's fields, in its order. */
export interface InsightlyUser {
  USER_ID: number;
  CONTACT_ID: number;
  FIRST_NAME: string | null;
  LAST_NAME: string | null;
  TIMEZONE_ID: string | null;
  EMAIL_ADDRESS: string;
  /** Identifier of the user's email mailbox; the address below is derived from it. */
  EMAIL_DROPBOX_IDENTIFIER: string;
  EMAIL_DROPBOX_ADDRESS: string;
  ADMINISTRATOR: boolean;
  /** The instance's owner (vendor-contracts/insightly): read-only; never switched off automatically. */
  ACCOUNT_OWNER: boolean;
  ACTIVE: boolean;
  DATE_CREATED_UTC: string;
  DATE_UPDATED_UTC: string;
  USER_CURRENCY: string | null;
  CONTACT_DISPLAY: string | null;
  CONTACT_ORDER: string | null;
  TASK_WEEK_START: number | null;
  INSTANCE_ID: number;
  PROFILE_ID: number | null;
  ROLE_ID: number | null;
}

/** An injected answer: the next `times` requests that match get it instead of the real one. */
export interface InsightlyFault extends SandboxFault {
  /** Raw response text, so malformed JSON can be served. Default `{"Message":"..."}`. */
  body?: string;
  /** Query parameters that must all be present with these values. */
  query?: Record<string, string>;
}

/** Statuses with which an API that keeps users read-only answers a user write. */
export type RefusedWriteStatus = 400 | 403 | 404 | 405;

/** How the sandbox starts and misbehaves. Every option defaults to a well-behaved server. */
export interface InsightlySandboxOptions {
  /** Initial users; missing fields get defaults, USER_ID is assigned from 1001. Default SAMPLE_USERS. */
  users?: ReadonlyArray<Partial<InsightlyUser> & { EMAIL_ADDRESS: string }>;
  /** API key -> USER_ID of its owner. Default `{ 'sandbox-api-key': <first user's id> }`. */
  apiKeys?: Record<string, number>;
  /**
   * `swagger` (default): as Insightly documents it (see the top of this file). `odata`: as
   * the seed guide describes it, `$filter`/`$top`/`$skip`, no search route, a PUT that
   * replaces the whole user.
   */
  dialect?: 'swagger' | 'odata';
  /** Rows a page holds when the request says nothing (or is not heard). Default 100 (odata: 500). */
  defaultPageSize?: number;
  /** The most rows a page ever holds, whatever the request asks. Default 500. */
  maxPageSize?: number;
  /** Accept the filter (search parameters, `$filter`) but answer every user, as a server that ignores it would. */
  ignoreFilter?: boolean;
  /** Accept `skip` (`$skip`) but start every page at the first row, as a server that ignores it would. */
  ignoreSkip?: boolean;
  /** Accept `count_total=true` but send no count, as a server that does not know it would. */
  omitCountTotal?: boolean;
  /** `/Users/Search` is not offered: it answers this status (404 no route, 405, 400). Default offered. */
  searchRefusedWith?: 400 | 404 | 405;
  /**
   * `/Users/Search` compares case-sensitively (whether the vendor's does is not documented).
   * Default: ignoring case.
   */
  caseSensitiveSearch?: boolean;
  /** `refused`: user writes (PUT, DELETE) are answered `refusedWriteStatus`, as a read-only users API would. Default `allowed`. */
  userWrites?: 'allowed' | 'refused';
  /** The status a refused user write gets. Default 405. */
  refusedWriteStatus?: RefusedWriteStatus;
  /** Token bucket (burst = rate); above it 429 without Retry-After. Default unlimited. */
  ratePerSecond?: number;
  /** After this many accepted requests, 429 with `X-RateLimit-Remaining: 0`. Default unlimited. */
  dailyQuota?: number;
  /** Fixed delay before every answer, in milliseconds. Default 0. */
  latencyMs?: number;
  /** After a PUT, the next N `GET /Users/{id}` of that user still answer the old record. */
  verifyLag?: number;
  faults?: InsightlyFault[];
  /** The API version's path; `/v2.2` and `/v3.0` search with `email`. Default '/v3.1'. */
  pathPrefix?: string;
}

/** One request as the sandbox saw it, with the status it answered. */
export type InsightlyRequestRecord = SandboxRequestRecord;

/** A running sandbox. */
export interface InsightlySandbox extends SandboxControls<InsightlyFault, InsightlyRequestRecord> {
  /** For example `http://127.0.0.1:PORT/v3.1`, without a trailing slash. */
  baseUrl: string;
  /** Live state: tests may read and change it between requests. */
  users: Map<number, InsightlyUser>;
  /**
   * What an administrator does in Insightly's own UI (System Settings, Users): switches the
   * user with this email (ignoring case) off. False when there is no such user. For the
   * person a read-only API hands the step to.
   */
  deactivateByHand(email: string): boolean;
}

/** The header `count_total=true` is answered with (the one a public Airbyte source reads; see SOURCE.md). */
export const INSIGHTLY_COUNT_HEADER = 'X-Total-Count';

const INSTANCE_ID = 876543;
const CREATED = '2023-01-16 09:30:00';
const MAX_PAGE = 500;

type UserSeed = Partial<InsightlyUser> & { EMAIL_ADDRESS: string };

/** Fills what a seed leaves out with the defaults a whole-record PUT also falls back to. */
function completeUser(seed: UserSeed, USER_ID: number): InsightlyUser {
  const dropbox = seed.EMAIL_DROPBOX_IDENTIFIER ?? `mbx${USER_ID}`;
  return {
    USER_ID,
    CONTACT_ID: seed.CONTACT_ID ?? 300000 + USER_ID,
    FIRST_NAME: seed.FIRST_NAME ?? null,
    LAST_NAME: seed.LAST_NAME ?? null,
    TIMEZONE_ID: seed.TIMEZONE_ID ?? null,
    EMAIL_ADDRESS: seed.EMAIL_ADDRESS,
    EMAIL_DROPBOX_IDENTIFIER: dropbox,
    EMAIL_DROPBOX_ADDRESS: seed.EMAIL_DROPBOX_ADDRESS ?? `${dropbox}@mailbox.insightly.example`,
    ADMINISTRATOR: seed.ADMINISTRATOR ?? false,
    ACCOUNT_OWNER: seed.ACCOUNT_OWNER ?? false,
    ACTIVE: seed.ACTIVE ?? true,
    DATE_CREATED_UTC: seed.DATE_CREATED_UTC ?? CREATED,
    DATE_UPDATED_UTC: seed.DATE_UPDATED_UTC ?? seed.DATE_CREATED_UTC ?? CREATED,
    USER_CURRENCY: seed.USER_CURRENCY ?? null,
    CONTACT_DISPLAY: seed.CONTACT_DISPLAY ?? null,
    CONTACT_ORDER: seed.CONTACT_ORDER ?? null,
    TASK_WEEK_START: seed.TASK_WEEK_START ?? null,
    INSTANCE_ID: seed.INSTANCE_ID ?? INSTANCE_ID,
    PROFILE_ID: seed.PROFILE_ID ?? null,
    ROLE_ID: seed.ROLE_ID ?? null,
  };
}

const SAMPLE_DEFAULTS = {
  PROFILE_ID: 3,
  TIMEZONE_ID: 'Eastern Standard Time',
  USER_CURRENCY: 'USD',
  CONTACT_DISPLAY: 'FirstLast',
  CONTACT_ORDER: 'LastFirst',
  TASK_WEEK_START: 1,
  DATE_UPDATED_UTC: '2024-05-02 14:12:45',
};
const sampleUser = (id: number, first: string, last: string, email: string, extra = {}) =>
  completeUser(
    { ...SAMPLE_DEFAULTS, FIRST_NAME: first, LAST_NAME: last, EMAIL_ADDRESS: email, ...extra },
    id,
  );

/**
 * The demo instance. The admin (1001) owns the instance and the default API key; jane.doe
 * (1002) is the leaver, with every optional field set so a careless write visibly wipes them.
 */
export const SAMPLE_USERS: ReadonlyArray<Readonly<InsightlyUser>> = [
  sampleUser(1001, 'Alex', 'Admin', 'admin@example.com', {
    ADMINISTRATOR: true,
    ACCOUNT_OWNER: true,
    PROFILE_ID: 1,
    ROLE_ID: 1,
  }),
  sampleUser(1002, 'Jane', 'Doe', 'jane.doe@example.com', {
    PROFILE_ID: 7,
    ROLE_ID: 12,
    TIMEZONE_ID: 'Pacific Standard Time',
    USER_CURRENCY: 'EUR',
    CONTACT_ORDER: 'FirstLast',
    TASK_WEEK_START: 0,
  }),
  sampleUser(1003, 'Gary', 'Gone', 'already.gone@example.com', { ACTIVE: false }),
  sampleUser(1004, 'Siobhan', "O'Brien", "o'brien@example.com", { TIMEZONE_ID: 'GMT Standard Time' }),
  sampleUser(1005, 'Marcus', 'Lee', 'marcus.lee@example.com'),
  sampleUser(1006, 'Priya', 'Natarajan', 'priya.natarajan@example.com', { USER_CURRENCY: 'INR' }),
];

/** What PUT may write, with the type it must have; `?` marks a nullable field. */
const WRITABLE = {
  FIRST_NAME: 'string?',
  LAST_NAME: 'string?',
  TIMEZONE_ID: 'string?',
  EMAIL_ADDRESS: 'string',
  ADMINISTRATOR: 'boolean',
  ACTIVE: 'boolean',
  USER_CURRENCY: 'string?',
  CONTACT_DISPLAY: 'string?',
  CONTACT_ORDER: 'string?',
  TASK_WEEK_START: 'integer?',
  PROFILE_ID: 'integer?',
  ROLE_ID: 'integer?',
} as const;
/** Sent back with the record, accepted, and never changed by a PUT. */
const READ_ONLY = new Set([
  'USER_ID',
  'CONTACT_ID',
  'EMAIL_DROPBOX_IDENTIFIER',
  'EMAIL_DROPBOX_ADDRESS',
  'ACCOUNT_OWNER',
  'DATE_CREATED_UTC',
  'DATE_UPDATED_UTC',
  'INSTANCE_ID',
]);

const JSON_TYPE = 'application/json; charset=utf-8';
const NO_RESOURCE = 'No HTTP resource was found that matches the request URI.';
/** What a read-only users API says to each refused write status. */
const REFUSED_WRITE_MESSAGES: Record<RefusedWriteStatus, string> = {
  400: 'Users are read only through the API.',
  403: 'You do not have permission to modify users through the API.',
  404: NO_RESOURCE,
  405: "The requested resource does not support http method '{method}'.",
};

const fail = (status: number, message: string): Answer => ({ status, body: { Message: message } });
const invalidQuery = (detail: string) => fail(400, `The request is invalid. ${detail}`);

/** Insightly writes UTC timestamps as `yyyy-MM-dd HH:mm:ss`, without a zone suffix. */
function insightlyNow(): string {
  return new Date().toISOString().slice(0, 19).replace('T', ' ');
}

function typeMatches(kind: string, value: unknown): boolean {
  if (value === null) return kind.endsWith('?');
  if (kind.startsWith('string')) return typeof value === 'string';
  if (kind.startsWith('integer')) return Number.isInteger(value);
  return typeof value === 'boolean';
}

/** The API key of a Basic header whose password is empty, as Insightly requires. */
function apiKeyOf(header: string | undefined): string | undefined {
  const given = basicCredentials(header);
  return given?.user && given.password === '' ? given.user : undefined;
}

/** True when the path's API version is v3.1 or later: search by `field_name`/`field_value`. */
function searchesByField(prefix: string): boolean {
  const version = /\/v(\d+)(?:\.(\d+))?$/i.exec(prefix);
  if (!version) return true;
  const [major, minor] = [Number(version[1]), Number(version[2] ?? 0)];
  return major > 3 || (major === 3 && minor >= 1);
}

/** Splits on ` and ` outside string literals; a doubled quote toggles twice, so it stays inside. */
function splitAnd(expression: string): string[] {
  const parts: string[] = [];
  const and = /\s+and\s+/y;
  let start = 0;
  let quoted = false;
  for (let i = 0; i < expression.length; i++) {
    if (expression[i] === "'") {
      quoted = !quoted;
      continue;
    }
    and.lastIndex = i;
    const match = quoted ? null : and.exec(expression);
    if (match) {
      parts.push(expression.slice(start, i));
      start = i + match[0].length;
      i = start - 1;
    }
  }
  parts.push(expression.slice(start));
  return parts.map((part) => part.trim());
}

type Predicate = (user: InsightlyUser) => boolean;

/** The OData subset the seed's dialect understands; anything else is named in a 400, never ignored. */
function parseFilter(expression: string): Predicate[] | Answer {
  const predicates: Predicate[] = [];
  for (const clause of splitAnd(expression)) {
    const email = /^EMAIL_ADDRESS\s+eq\s+'((?:[^']|'')*)'$/.exec(clause);
    const active = /^ACTIVE\s+eq\s+(true|false)$/.exec(clause);
    if (email) {
      const wanted = (email[1] ?? '').replaceAll("''", "'");
      predicates.push(equalsIgnoringCase('EMAIL_ADDRESS', wanted));
    } else if (active) {
      const wanted = active[1] === 'true';
      predicates.push((user) => user.ACTIVE === wanted);
    } else {
      return fail(
        400,
        `The query specified in the URI is not valid: unsupported $filter clause "${clause}". ` +
          "Supported: EMAIL_ADDRESS eq '...', ACTIVE eq true|false, joined by and.",
      );
    }
  }
  return predicates;
}

/** Insightly compares in a case-insensitive SQL collation. */
function equalsIgnoringCase(
  field: 'EMAIL_ADDRESS' | 'FIRST_NAME' | 'LAST_NAME',
  value: string,
  caseSensitive = false,
): Predicate {
  if (caseSensitive) return (user) => (user[field] ?? '') === value;
  const wanted = value.toLowerCase();
  return (user) => (user[field] ?? '').toLowerCase() === wanted;
}

/** Users updated after a date, for `updated_after_utc` (both sides read as UTC). */
function updatedAfter(value: string): Predicate | Answer {
  const after = Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(value) ? value : `${value}Z`);
  if (Number.isNaN(after)) return invalidQuery(`updated_after_utc=${value} is not a date.`);
  return (user) => Date.parse(`${user.DATE_UPDATED_UTC.replace(' ', 'T')}Z`) > after;
}

/** A non-negative integer query parameter, or its fallback when absent. */
function integerParameter(query: URLSearchParams, name: string, fallback: number): number | Answer {
  const value = query.get(name);
  if (value === null) return fallback;
  if (!/^\d+$/.test(value)) return invalidQuery(`The value '${value}' is not valid for ${name}.`);
  return Number(value);
}

/** Starts a sandbox on a random port of 127.0.0.1. */
export async function startInsightlySandbox(
  options: InsightlySandboxOptions = {},
): Promise<InsightlySandbox> {
  const users = seedStore(options.users ?? SAMPLE_USERS, {
    idOf: (seed) => seed.USER_ID,
    newId: (n) => n,
    first: 1001,
    complete: completeUser,
    label: 'insightly sandbox: duplicate USER_ID',
  });
  const firstId = users.keys().next().value;
  const apiKeys = new Map(
    Object.entries(options.apiKeys ?? (firstId === undefined ? {} : { 'sandbox-api-key': firstId })),
  );
  const prefix = (options.pathPrefix ?? '/v3.1').replace(/\/+$/, '');
  const odata = options.dialect === 'odata';
  const maxPage = options.maxPageSize ?? MAX_PAGE;
  const defaultPage = options.defaultPageSize ?? (odata ? MAX_PAGE : 100);
  const faults = new Faults(options.faults, (status, message) => fail(status, message).body);
  // USER_ID -> the record before the last PUT.
  const stale = new StaleReads<number, InsightlyUser>(options.verifyLag);
  const bucket = new TokenBucket(options.ratePerSecond);
  let accepted = 0;

  function quotaHeaders(): Record<string, string> {
    if (options.dailyQuota === undefined) return {};
    const remaining = Math.max(0, options.dailyQuota - accepted);
    return { 'X-RateLimit-Limit': String(options.dailyQuota), 'X-RateLimit-Remaining': String(remaining) };
  }

  /**
   * One page of the users `predicates` keep, ordered by USER_ID. `names` are the paging
   * parameters of the dialect; a `top` above the cap is quietly lowered, not refused.
   */
  function page(
    query: URLSearchParams,
    predicates: Predicate[],
    names: { skip: string; top: string; count?: string },
  ): Answer {
    const top = integerParameter(query, names.top, defaultPage);
    if (typeof top !== 'number') return top;
    const skip = integerParameter(query, names.skip, 0);
    if (typeof skip !== 'number') return skip;
    const kept = options.ignoreFilter ? [] : predicates;
    const matching = [...users.values()]
      .filter((user) => kept.every((matches) => matches(user)))
      .sort((a, b) => a.USER_ID - b.USER_ID);
    const from = options.ignoreSkip ? 0 : skip;
    const rows = matching.slice(from, from + Math.min(top, maxPage));
    const counted =
      names.count !== undefined &&
      query.get(names.count)?.toLowerCase() === 'true' &&
      !options.omitCountTotal;
    return {
      status: 200,
      body: rows,
      ...(counted ? { headers: { [INSIGHTLY_COUNT_HEADER]: String(matching.length) } } : {}),
    };
  }

  function listUsers(query: URLSearchParams): Answer {
    if (!odata) return page(query, [], { skip: 'skip', top: 'top', count: 'count_total' });
    let predicates: Predicate[] = [];
    const filter = query.get('$filter');
    if (filter !== null) {
      const parsed = parseFilter(filter);
      if (!Array.isArray(parsed)) return parsed;
      predicates = parsed;
    }
    return page(query, predicates, { skip: '$skip', top: '$top' });
  }

  /** The filter of a search: the version's parameters; others are ignored, as everywhere. */
  function searchPredicates(query: URLSearchParams): Predicate[] | Answer {
    if (searchesByField(prefix)) {
      const name = query.get('field_name');
      const value = query.get('field_value');
      if (name === null && value === null) return [];
      if (name === null || value === null) return invalidQuery('field_name and field_value go together.');
      if (name === 'EMAIL_ADDRESS' || name === 'FIRST_NAME' || name === 'LAST_NAME') {
        return [equalsIgnoringCase(name, value, options.caseSensitiveSearch)];
      }
      return invalidQuery(`field_name '${name}' cannot be searched.`);
    }
    const given = ['email', 'first_name', 'last_name', 'updated_after_utc'].filter((name) => query.has(name));
    if (given.length > 1) {
      return invalidQuery(
        'Only one optional parameter (excluding top, skip and count_total) can be specified.',
      );
    }
    const [name] = given;
    const value = name === undefined ? '' : (query.get(name) ?? '');
    if (name === 'email') return [equalsIgnoringCase('EMAIL_ADDRESS', value)];
    if (name === 'first_name') return [equalsIgnoringCase('FIRST_NAME', value)];
    if (name === 'last_name') return [equalsIgnoringCase('LAST_NAME', value)];
    if (name === 'updated_after_utc') {
      const after = updatedAfter(value);
      return typeof after === 'function' ? [after] : after;
    }
    return [];
  }

  function searchUsers(query: URLSearchParams): Answer {
    if (options.searchRefusedWith !== undefined) {
      return fail(
        options.searchRefusedWith,
        options.searchRefusedWith === 404 ? NO_RESOURCE : 'Search is not available for Users.',
      );
    }
    const predicates = searchPredicates(query);
    if (!Array.isArray(predicates)) return predicates;
    return page(query, predicates, { skip: 'skip', top: 'top', count: 'count_total' });
  }

  function getUser(idText: string): Answer {
    const id = /^\d+$/.test(idText) ? Number(idText) : undefined;
    const user = id === undefined ? undefined : users.get(id);
    if (id === undefined || !user) return fail(404, 'User not found');
    return { status: 200, body: stale.take(id) ?? user };
  }

  /**
   * The vendor's v3.1 PUT is partial: a field left out keeps its value, `null` clears it. The
   * seed's (odata) PUT replaces the whole writable record: a field left out goes back to its
   * default, so a client there must GET first and send everything back.
   */
  function putUser(fields: unknown): Answer {
    if (!isObject(fields)) return fail(400, 'The request body must be a User object.');
    const unknown = Object.keys(fields).filter((name) => !(name in WRITABLE) && !READ_ONLY.has(name));
    if (unknown.length > 0) return fail(400, `The User object has no field ${unknown.join(', ')}.`);
    if (!Number.isInteger(fields.USER_ID)) return fail(400, 'USER_ID must be an integer.');
    const stored = users.get(fields.USER_ID as number);
    if (!stored) return fail(404, 'User not found');
    for (const [name, kind] of Object.entries(WRITABLE)) {
      if (name in fields && !typeMatches(kind, fields[name])) return fail(400, `Invalid value for ${name}.`);
    }
    const email = fields.EMAIL_ADDRESS as string | undefined;
    if (email !== undefined) {
      if (email.trim() === '') return fail(400, 'EMAIL_ADDRESS must not be empty.');
      for (const other of users.values()) {
        if (other.USER_ID !== stored.USER_ID && other.EMAIL_ADDRESS.toLowerCase() === email.toLowerCase()) {
          return fail(409, `EMAIL_ADDRESS ${email} is already used by another user.`);
        }
      }
    }
    const written = Object.fromEntries(Object.entries(fields).filter(([name]) => name in WRITABLE));
    // Validated above, so what is written is a partial User; read-only fields come from the store.
    const next = completeUser(
      {
        ...(odata ? {} : stored),
        ...(written as Partial<InsightlyUser>),
        // The login identifier cannot be blanked; an omitted email keeps the stored one.
        EMAIL_ADDRESS: email ?? stored.EMAIL_ADDRESS,
        ...Object.fromEntries([...READ_ONLY].map((name) => [name, stored[name as keyof InsightlyUser]])),
        DATE_UPDATED_UTC: insightlyNow(),
      },
      stored.USER_ID,
    );
    users.set(next.USER_ID, next);
    stale.remember(next.USER_ID, stored);
    return { status: 200, body: next };
  }

  function deleteUser(idText: string): Answer {
    const id = /^\d+$/.test(idText) ? Number(idText) : undefined;
    if (id === undefined || !users.delete(id)) return fail(404, 'User not found');
    stale.forget(id);
    return { status: 202 };
  }

  /** A user write as a read-only users API answers it. */
  function refuseWrite(method: string): Answer {
    const status = options.refusedWriteStatus ?? 405;
    return fail(status, REFUSED_WRITE_MESSAGES[status].replace('{method}', method));
  }

  function decide(method: string, url: URL, text: string, authorization?: string): Answer {
    // Like a gateway, the limits come before the credential is even looked at.
    if (!bucket.take()) return fail(429, 'API rate limit exceeded');
    if (options.dailyQuota !== undefined && accepted >= options.dailyQuota) {
      return { ...fail(429, 'API rate limit exceeded'), headers: { 'X-RateLimit-Remaining': '0' } };
    }
    accepted++;
    const key = apiKeyOf(authorization);
    const owner = key === undefined ? undefined : users.get(apiKeys.get(key) ?? Number.NaN);
    // A deactivated or deleted user's key stops working too.
    if (!owner?.ACTIVE) return fail(401, 'Authorization has been denied for this request.');
    const injected = faults.answer(method, url);
    if (injected) return injected;
    // ASP.NET routes ignore case, so the sandbox does too.
    const lower = url.pathname.toLowerCase();
    if (lower !== prefix.toLowerCase() && !lower.startsWith(`${prefix.toLowerCase()}/`)) {
      return fail(404, NO_RESOURCE);
    }
    const route = url.pathname.slice(prefix.length).replace(/\/+$/, '');
    const item = /^\/users\/([^/]+)$/i.exec(route)?.[1]?.toLowerCase();
    const refused = options.userWrites === 'refused';
    if (/^\/users$/i.test(route)) {
      if (method === 'GET') return listUsers(url.searchParams);
      if (method === 'PUT') {
        if (refused) return refuseWrite(method);
        if (!owner.ADMINISTRATOR) return fail(403, 'Only administrators can update users.');
        const body = parseJson(text);
        return body.ok ? putUser(body.value) : fail(400, 'The request body is not valid JSON.');
      }
    }
    // The vendor's swagger has a search route; the seed documents none.
    if (item === 'search' && method === 'GET')
      return odata ? fail(404, NO_RESOURCE) : searchUsers(url.searchParams);
    if (item === 'me' && method === 'GET') return { status: 200, body: owner };
    if (item !== undefined && method === 'GET') return getUser(item);
    if (item !== undefined && method === 'DELETE') {
      if (refused) return refuseWrite(method);
      if (!owner.ADMINISTRATOR) return fail(403, 'Only administrators can delete users.');
      return deleteUser(item);
    }
    return fail(404, NO_RESOURCE);
  }

  const server = await startSandboxServer({
    contentType: JSON_TYPE,
    latencyMs: options.latencyMs,
    handle: ({ req, method, url, text }) => {
      const answer = decide(method, url, text, req.headers.authorization);
      // Every answer, refusals included, tells how much of the daily quota is left.
      return { ...answer, headers: { ...quotaHeaders(), ...answer.headers } };
    },
  });

  return {
    baseUrl: `${server.origin}${prefix}`,
    users,
    deactivateByHand: (email) => {
      const user = [...users.values()].find((u) => u.EMAIL_ADDRESS.toLowerCase() === email.toLowerCase());
      if (!user) return false;
      users.set(user.USER_ID, { ...user, ACTIVE: false, DATE_UPDATED_UTC: insightlyNow() });
      return true;
    },
    ...sandboxControls(server, faults),
  };
}
