/**
 * A built-in Insightly REST v3.1 sandbox: a real HTTP server on 127.0.0.1 that answers the
 * Users endpoints the way the Insightly API guide describes them, quirks included (PUT is a
 * full replacement, 429 carries no Retry-After, the page size is capped at 500). The demo,
 * the tests and the benchmarks point the real connector at it instead of api.insightly.com.
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

/** A User as Insightly v3.1 answers it on `GET /Users/{id}`. */
export interface InsightlyUser {
  USER_ID: number;
  FIRST_NAME: string | null;
  LAST_NAME: string | null;
  EMAIL_ADDRESS: string;
  ADMINISTRATOR: boolean;
  /** The instance's owner (vendor-contracts/insightly): read-only; never switched off automatically. */
  ACCOUNT_OWNER: boolean;
  ACTIVE: boolean;
  PROFILE_ID: number | null;
  ROLE_ID: number | null;
  TIMEZONE_ID: string | null;
  CURRENCY_CODE: string | null;
  DATE_CREATED_UTC: string;
  DATE_UPDATED_UTC: string;
  CONTACT_ID: number;
  INSTANCE_ID: number;
}

/** An injected answer: the next `times` requests that match get it instead of the real one. */
export interface InsightlyFault extends SandboxFault {
  /** Raw response text, so malformed JSON can be served. Default `{"Message":"..."}`. */
  body?: string;
}

/** How the sandbox starts and misbehaves. Every option defaults to a well-behaved server. */
export interface InsightlySandboxOptions {
  /** Initial users; missing fields get defaults, USER_ID is assigned from 1001. Default SAMPLE_USERS. */
  users?: ReadonlyArray<Partial<InsightlyUser> & { EMAIL_ADDRESS: string }>;
  /** API key -> USER_ID of its owner. Default `{ 'sandbox-api-key': <first user's id> }`. */
  apiKeys?: Record<string, number>;
  /** Token bucket (burst = rate); above it 429 without Retry-After. Default unlimited. */
  ratePerSecond?: number;
  /** After this many accepted requests, 429 with `X-RateLimit-Remaining: 0`. Default unlimited. */
  dailyQuota?: number;
  /** Fixed delay before every answer, in milliseconds. Default 0. */
  latencyMs?: number;
  /** After a PUT, the next N `GET /Users/{id}` of that user still answer the old record. */
  verifyLag?: number;
  /** Accept `$filter` but answer every user, as a server that ignores it would. */
  ignoreFilter?: boolean;
  faults?: InsightlyFault[];
  /** Default '/v3.1'. */
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
}

const INSTANCE_ID = 876543;
const CREATED = '2023-01-16 09:30:00';

type UserSeed = Partial<InsightlyUser> & { EMAIL_ADDRESS: string };

/** Fills what a seed leaves out with the defaults PUT also falls back to. */
function completeUser(seed: UserSeed, USER_ID: number): InsightlyUser {
  return {
    USER_ID,
    FIRST_NAME: seed.FIRST_NAME ?? null,
    LAST_NAME: seed.LAST_NAME ?? null,
    EMAIL_ADDRESS: seed.EMAIL_ADDRESS,
    ADMINISTRATOR: seed.ADMINISTRATOR ?? false,
    ACCOUNT_OWNER: seed.ACCOUNT_OWNER ?? false,
    ACTIVE: seed.ACTIVE ?? true,
    PROFILE_ID: seed.PROFILE_ID ?? null,
    ROLE_ID: seed.ROLE_ID ?? null,
    TIMEZONE_ID: seed.TIMEZONE_ID ?? null,
    CURRENCY_CODE: seed.CURRENCY_CODE ?? null,
    DATE_CREATED_UTC: seed.DATE_CREATED_UTC ?? CREATED,
    DATE_UPDATED_UTC: seed.DATE_UPDATED_UTC ?? seed.DATE_CREATED_UTC ?? CREATED,
    CONTACT_ID: seed.CONTACT_ID ?? 300000 + USER_ID,
    INSTANCE_ID: seed.INSTANCE_ID ?? INSTANCE_ID,
  };
}

const SAMPLE_DEFAULTS = {
  PROFILE_ID: 3,
  TIMEZONE_ID: 'Eastern Standard Time',
  CURRENCY_CODE: 'USD',
  DATE_UPDATED_UTC: '2024-05-02 14:12:45',
};
const sampleUser = (id: number, first: string, last: string, email: string, extra = {}) =>
  completeUser(
    { ...SAMPLE_DEFAULTS, FIRST_NAME: first, LAST_NAME: last, EMAIL_ADDRESS: email, ...extra },
    id,
  );

/**
 * The demo instance. The admin (1001) owns the default API key; jane.doe (1002) is the
 * leaver, with every optional field set so a careless PUT visibly wipes them.
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
    CURRENCY_CODE: 'EUR',
  }),
  sampleUser(1003, 'Gary', 'Gone', 'already.gone@example.com', { ACTIVE: false }),
  sampleUser(1004, 'Siobhan', "O'Brien", "o'brien@example.com", { TIMEZONE_ID: 'GMT Standard Time' }),
  sampleUser(1005, 'Marcus', 'Lee', 'marcus.lee@example.com'),
  sampleUser(1006, 'Priya', 'Natarajan', 'priya.natarajan@example.com', { CURRENCY_CODE: 'INR' }),
];

/** What PUT may write, with the type it must have; `?` marks a nullable field. */
const WRITABLE = {
  FIRST_NAME: 'string?',
  LAST_NAME: 'string?',
  EMAIL_ADDRESS: 'string',
  ADMINISTRATOR: 'boolean',
  ACTIVE: 'boolean',
  PROFILE_ID: 'integer?',
  ROLE_ID: 'integer?',
  TIMEZONE_ID: 'string?',
  CURRENCY_CODE: 'string?',
} as const;
const READ_ONLY = new Set([
  'USER_ID',
  'ACCOUNT_OWNER',
  'DATE_CREATED_UTC',
  'DATE_UPDATED_UTC',
  'CONTACT_ID',
  'INSTANCE_ID',
]);

const JSON_TYPE = 'application/json; charset=utf-8';
const NO_RESOURCE = 'No HTTP resource was found that matches the request URI.';

const fail = (status: number, message: string): Answer => ({ status, body: { Message: message } });

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

/** The OData subset the sandbox understands; anything else is named in a 400, never ignored. */
function parseFilter(expression: string): Array<(user: InsightlyUser) => boolean> | Answer {
  const predicates: Array<(user: InsightlyUser) => boolean> = [];
  for (const clause of splitAnd(expression)) {
    const email = /^EMAIL_ADDRESS\s+eq\s+'((?:[^']|'')*)'$/.exec(clause);
    const active = /^ACTIVE\s+eq\s+(true|false)$/.exec(clause);
    if (email) {
      // Insightly compares in a case-insensitive SQL collation.
      const wanted = (email[1] ?? '').replaceAll("''", "'").toLowerCase();
      predicates.push((user) => user.EMAIL_ADDRESS.toLowerCase() === wanted);
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

function paging(query: URLSearchParams, name: '$top' | '$skip', fallback: number): number | Answer {
  const value = query.get(name);
  if (value === null) return fallback;
  if (!/^\d+$/.test(value)) return fail(400, `The query specified in the URI is not valid: ${name}=${value}`);
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

  function listUsers(query: URLSearchParams): Answer {
    let predicates: Array<(user: InsightlyUser) => boolean> = [];
    const filter = query.get('$filter');
    if (filter !== null && !options.ignoreFilter) {
      const parsed = parseFilter(filter);
      if (!Array.isArray(parsed)) return parsed;
      predicates = parsed;
    }
    const top = paging(query, '$top', 500);
    if (typeof top !== 'number') return top;
    const skip = paging(query, '$skip', 0);
    if (typeof skip !== 'number') return skip;
    const matching = [...users.values()]
      .filter((user) => predicates.every((matches) => matches(user)))
      .sort((a, b) => a.USER_ID - b.USER_ID);
    // A $top above the cap is quietly lowered, not refused: clients must page on their own.
    return { status: 200, body: matching.slice(skip, skip + Math.min(top, 500)) };
  }

  function getUser(idText: string): Answer {
    const id = /^\d+$/.test(idText) ? Number(idText) : undefined;
    const user = id === undefined ? undefined : users.get(id);
    if (id === undefined || !user) return fail(404, 'User not found');
    return { status: 200, body: stale.take(id) ?? user };
  }

  // The quirk that matters: PUT replaces the whole writable record, so every field the body
  // leaves out goes back to its default. A client must GET first and send everything back.
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
    // Validated above, so the body is a partial User; read-only fields come from the store.
    const next = completeUser(
      {
        ...(fields as Partial<InsightlyUser>),
        // The login identifier cannot be blanked; an omitted email keeps the stored one.
        EMAIL_ADDRESS: email ?? stored.EMAIL_ADDRESS,
        ACCOUNT_OWNER: stored.ACCOUNT_OWNER,
        DATE_CREATED_UTC: stored.DATE_CREATED_UTC,
        DATE_UPDATED_UTC: insightlyNow(),
        CONTACT_ID: stored.CONTACT_ID,
        INSTANCE_ID: stored.INSTANCE_ID,
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
    const item = /^\/users\/([^/]+)$/i.exec(route)?.[1];
    if (/^\/users$/i.test(route) && method === 'GET') return listUsers(url.searchParams);
    if (/^\/users$/i.test(route) && method === 'PUT') {
      if (!owner.ADMINISTRATOR) return fail(403, 'Only administrators can update users.');
      const body = parseJson(text);
      return body.ok ? putUser(body.value) : fail(400, 'The request body is not valid JSON.');
    }
    if (item?.toLowerCase() === 'me' && method === 'GET') return { status: 200, body: owner };
    if (item !== undefined && method === 'GET') return getUser(item);
    if (item !== undefined && method === 'DELETE') {
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
    ...sandboxControls(server, faults),
  };
}
