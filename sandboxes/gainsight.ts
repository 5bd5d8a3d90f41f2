/**
 * A built-in Gainsight sandbox: a real HTTP server on 127.0.0.1 that answers Gainsight's own
 * User Management API as the vendor documents it (vendor-contracts/gainsight/README.md,
 * Gainsight support, "User Management APIs"), not the seed guide's `/v1/users/{userId}` API,
 * which Gainsight does not document and which answers 404 here like any unknown route:
 *
 * - `accesskey` header; every answer in the `{result, errorCode, errorDesc, requestId, data,
 *   message}` envelope;
 * - `POST /v1/users/services/list`: `select`, `where` (conditions with `EQ`, `NE`, `IN`,
 *   `CONTAINS`, `STARTS_WITH`, joined by an `expression` of aliases, `AND`, `OR` and
 *   parentheses), `orderBy`, 0-based `page`, `limit` and `includeTotal`; PascalCase fields;
 * - `PUT /v1/users/services/status?status=true|false` with a JSON array of up to 50 Gsids:
 *   per-record errors (an unknown Gsid) inside `data` of an answer that says `result: true`,
 *   and `result: false` with `GU_2402` when no record could be updated;
 * - fixed windows of 100 requests an hour and 1,000 a day (`GU_2400`, HTTP 429 by default),
 *   counted from the sandbox's start on an injectable clock.
 *
 * What the document leaves open (page base, where the rows and the per-record errors sit in
 * `data`) is chosen as vendor-contracts/gainsight/SOURCE.md explains. Faults, lagging reads
 * and latency come from the kit, as for every sandbox.
 */
import { randomUUID } from 'node:crypto';
import {
  type SandboxAnswer as Answer,
  Faults,
  FixedWindows,
  isObject,
  parseJson,
  type RateWindow,
  type SandboxControls,
  type SandboxFault,
  type SandboxRequestRecord,
  StaleReads,
  sandboxControls,
  seedStore,
  startSandboxServer,
} from './kit';

/** A user of the GS User object, as the list answers it with every field selected. */
export interface GainsightUser {
  /** The user's id: 36 characters, `1P01…`. */
  Gsid: string;
  Name: string | null;
  FirstName: string | null;
  LastName: string | null;
  Email: string;
  SFDCUserName: string | null;
  SfdcUserId: string | null;
  IsActiveUser: boolean;
  IsSuperAdmin: boolean;
  /** `Full`, `Viewer`, `Viewer_Analytics`, `Internal_Collaborator`. */
  LicenseType: string | null;
  /** `Internal` or `External`. */
  SystemType: string | null;
  /** The manager's Gsid. */
  Manager: string | null;
  Timezone: string | null;
  Title: string | null;
  Locale: string | null;
  /** `MM/dd/yyyy HH:mm:ss`, UTC, as Gainsight writes dates. */
  CreatedDate: string;
  CreatedBy: string | null;
  ModifiedDate: string;
  ModifiedBy: string | null;
}

/** A user field name. */
export type GainsightField = keyof GainsightUser;

/** Every field the sandbox models, in the order a record lists them. */
export const GAINSIGHT_FIELDS: readonly GainsightField[] = [
  'Gsid',
  'Name',
  'FirstName',
  'LastName',
  'Email',
  'SFDCUserName',
  'SfdcUserId',
  'IsActiveUser',
  'IsSuperAdmin',
  'LicenseType',
  'SystemType',
  'Manager',
  'Timezone',
  'Title',
  'Locale',
  'CreatedDate',
  'CreatedBy',
  'ModifiedDate',
  'ModifiedBy',
];

/** An initial user: `Email` is required, the rest defaults; a Gsid is assigned from {@link gsidOf}(1001). */
export type GainsightUserSeed = Partial<GainsightUser> & { Email: string };

/** An injected answer: the next `times` requests that match get it instead of the real one. */
export interface GainsightFault extends SandboxFault {
  /** Raw response text, so malformed JSON can be served. Default the envelope with `result: false`. */
  body?: string;
}

/** How the sandbox starts and misbehaves. Every option defaults to a well-behaved tenant. */
export interface GainsightSandboxOptions {
  /** Initial users. Default SAMPLE_USERS. */
  users?: readonly GainsightUserSeed[];
  /** Access keys the tenant accepts. Default `[GAINSIGHT_SANDBOX_ACCESS_KEY]`. */
  accessKeys?: readonly string[];
  /**
   * Fixed windows counted from the start (Gainsight: 100 an hour and 1,000 a day, the
   * default). Above any of them: `GU_2400`, without Retry-After; refused requests count in
   * none. `false`: unlimited.
   */
  rateLimit?: RateWindow | readonly RateWindow[] | false;
  /** Milliseconds since some origin, for the rate windows. Default `performance.now`. */
  now?: () => number;
  /** The HTTP status that carries `GU_2400`. Default 429; some answers carry it with 200. */
  throttleStatus?: 200 | 429;
  /** The largest `limit` served: a larger one is quietly lowered. Default 1000. */
  maxLimit?: number;
  /** Answer every list as if it had no `where`: a server filter is a hint, not a promise. Default false. */
  ignoreWhere?: boolean;
  /** Compare `where` values case-sensitively (whether Gainsight does is not documented). Default: ignoring case. */
  caseSensitiveWhere?: boolean;
  /** Fixed delay before every answer, in milliseconds. Default 0. */
  latencyMs?: number;
  /** After a status change, the next N lists that return that user still show the old record. */
  verifyLag?: number;
  faults?: GainsightFault[];
}

/** One request as the sandbox saw it, with the status it answered. */
export type GainsightRequestRecord = SandboxRequestRecord;

/** A running sandbox. */
export interface GainsightSandbox extends SandboxControls<GainsightFault, GainsightRequestRecord> {
  /** `http://127.0.0.1:PORT`: the tenant URL, as `https://acme.gainsightcloud.com` would be. */
  baseUrl: string;
  /** Live state, by Gsid: tests may read and change it between requests. */
  users: Map<string, GainsightUser>;
}

/** The access key the sandbox accepts unless told otherwise. */
export const GAINSIGHT_SANDBOX_ACCESS_KEY = 'sandbox-access-key';
/** Gainsight's documented limits for the User Management APIs, fixed windows. */
export const GAINSIGHT_RATE_LIMITS: readonly RateWindow[] = [
  { limit: 100, windowMs: 3_600_000 },
  { limit: 1000, windowMs: 86_400_000 },
];
/** Users a status call may name (the document: "up to 50 users per call"). */
export const GAINSIGHT_MAX_STATUS_GSIDS = 50;
/** `limit` when a list gives none. */
export const GAINSIGHT_DEFAULT_LIMIT = 100;
/** The operators the document names. */
export const GAINSIGHT_OPERATORS = ['EQ', 'NE', 'IN', 'CONTAINS', 'STARTS_WITH'] as const;
type Operator = (typeof GAINSIGHT_OPERATORS)[number];

/** A Gsid of the sandbox's own: `1P01SBX` and the number, 36 characters like Gainsight's. */
export const gsidOf = (n: number): string => `1P01SBX${String(n).padStart(29, '0')}`;
/** The user the access key acts as: `ModifiedBy` of every change made through the API. */
export const GAINSIGHT_API_USER = gsidOf(1);
/** Jane Doe, the demo's leaver. */
export const JANE_GSID = gsidOf(123);

const SEEDED_AT = '01/03/2025 09:00:00';

/** A date as Gainsight writes it: `MM/dd/yyyy HH:mm:ss`, UTC. */
export function gainsightDate(date: Date): string {
  const two = (n: number) => String(n).padStart(2, '0');
  return (
    `${two(date.getUTCMonth() + 1)}/${two(date.getUTCDate())}/${date.getUTCFullYear()} ` +
    `${two(date.getUTCHours())}:${two(date.getUTCMinutes())}:${two(date.getUTCSeconds())}`
  );
}

/** Fills what a seed leaves out. */
function completeUser(seed: GainsightUserSeed, Gsid: string): GainsightUser {
  const FirstName = seed.FirstName ?? null;
  const LastName = seed.LastName ?? null;
  const created = seed.CreatedDate ?? SEEDED_AT;
  return {
    Gsid,
    Name: seed.Name ?? ([FirstName, LastName].filter(Boolean).join(' ') || null),
    FirstName,
    LastName,
    Email: seed.Email,
    SFDCUserName: seed.SFDCUserName ?? null,
    SfdcUserId: seed.SfdcUserId ?? null,
    IsActiveUser: seed.IsActiveUser ?? true,
    IsSuperAdmin: seed.IsSuperAdmin ?? false,
    LicenseType: seed.LicenseType ?? 'Full',
    SystemType: seed.SystemType ?? 'Internal',
    Manager: seed.Manager ?? null,
    Timezone: seed.Timezone ?? null,
    Title: seed.Title ?? null,
    Locale: seed.Locale ?? null,
    CreatedDate: created,
    CreatedBy: seed.CreatedBy ?? GAINSIGHT_API_USER,
    ModifiedDate: seed.ModifiedDate ?? created,
    ModifiedBy: seed.ModifiedBy ?? GAINSIGHT_API_USER,
  };
}

const sample = (n: number, FirstName: string, LastName: string, Email: string, extra = {}) =>
  completeUser({ FirstName, LastName, Email, Locale: 'en_US', ...extra }, gsidOf(n));

/**
 * The demo tenant. Alex is the administrator; Jane Doe is the leaver, with every optional
 * field set; Gary is already inactive.
 */
export const SAMPLE_USERS: ReadonlyArray<Readonly<GainsightUser>> = [
  sample(101, 'Alex', 'Admin', 'admin@example.com', {
    IsSuperAdmin: true,
    Title: 'Gainsight Administrator',
    Timezone: 'America/New_York',
    SFDCUserName: 'admin@example.com',
    SfdcUserId: '0051K00000A0AdmAAA',
  }),
  sample(123, 'Jane', 'Doe', 'jane.doe@example.com', {
    SFDCUserName: 'jane.doe@example.com.prod',
    SfdcUserId: '0051K00000A6JaneAA',
    Manager: gsidOf(101),
    Timezone: 'America/Los_Angeles',
    Title: 'Customer Success Manager',
    Locale: 'en_GB',
    ModifiedDate: '09/15/2025 10:02:08',
  }),
  sample(124, 'Gary', 'Gone', 'already.gone@example.com', { IsActiveUser: false, LicenseType: 'Viewer' }),
  sample(125, 'Siobhan', "O'Brien", "o'brien@example.com", { Timezone: 'Europe/Dublin' }),
  sample(126, 'Marcus', 'Lee', 'marcus.lee@example.com', { LicenseType: 'Viewer_Analytics' }),
  sample(127, 'Priya', 'Natarajan', 'priya.natarajan@example.com', { Title: 'Support Lead' }),
];

const JSON_TYPE = 'application/json; charset=utf-8';

/** Error codes the document lists that the sandbox answers. */
export const GAINSIGHT_ERRORS = {
  unexpected: 'GU_1101',
  tooManyRequests: 'GU_2400',
  bulkUpdateFailed: 'GU_2402',
} as const;

/** The envelope every answer comes in. */
function envelope(
  result: boolean,
  data: unknown,
  error?: { code: string | null; desc: string },
): Record<string, unknown> {
  return {
    result,
    errorCode: error?.code ?? null,
    errorDesc: error?.desc ?? null,
    requestId: randomUUID(),
    data,
    message: null,
  };
}

/** A refusal: the document names no code for a malformed request, so `errorCode` is null. */
const fail = (status: number, desc: string, code: string | null = null, data: unknown = null): Answer => ({
  status,
  body: envelope(false, data, { code, desc }),
});

/** What a status maps to in the envelope of an injected fault. */
function faultCode(status: number): string | null {
  if (status === 429) return GAINSIGHT_ERRORS.tooManyRequests;
  if (status >= 500) return GAINSIGHT_ERRORS.unexpected;
  return null;
}

const FIELDS = new Set<string>(GAINSIGHT_FIELDS);
const isField = (name: unknown): name is GainsightField => typeof name === 'string' && FIELDS.has(name);

/** A value as conditions compare it: strings and booleans ignoring case (unless told), null as null. */
function normal(value: unknown, caseSensitive = false): string | null {
  if (value === null || value === undefined) return null;
  return caseSensitive ? String(value) : String(value).toLowerCase();
}

interface Condition {
  name: GainsightField;
  operator: Operator;
  value: unknown[];
}

function holds(condition: Condition, user: GainsightUser, caseSensitive = false): boolean {
  const field = normal(user[condition.name], caseSensitive);
  const wanted = condition.value.map((value) => normal(value, caseSensitive));
  switch (condition.operator) {
    case 'EQ':
      return field === wanted[0];
    case 'NE':
      return field !== wanted[0];
    case 'IN':
      return wanted.includes(field);
    case 'CONTAINS':
      return field !== null && wanted[0] !== null && field.includes(wanted[0] ?? '');
    case 'STARTS_WITH':
      return field !== null && wanted[0] !== null && field.startsWith(wanted[0] ?? '');
  }
}

type Predicate = (user: GainsightUser) => boolean;

/**
 * `expression` over the conditions' aliases: `A`, `A AND B`, `(A OR B) AND C`. AND binds
 * tighter than OR. Returns the predicate, or why the expression cannot be read.
 */
function parseExpression(expression: string, aliases: Map<string, Predicate>): Predicate | string {
  const tokens = expression.match(/\(|\)|[A-Za-z0-9_]+|\S/g) ?? [];
  let at = 0;
  const peek = () => tokens[at]?.toUpperCase();
  const orExpr = (): Predicate | string => {
    const parts: Predicate[] = [];
    for (;;) {
      const part = andExpr();
      if (typeof part === 'string') return part;
      parts.push(part);
      if (peek() !== 'OR') break;
      at++;
    }
    return (user) => parts.some((part) => part(user));
  };
  const andExpr = (): Predicate | string => {
    const parts: Predicate[] = [];
    for (;;) {
      const part = factor();
      if (typeof part === 'string') return part;
      parts.push(part);
      if (peek() !== 'AND') break;
      at++;
    }
    return (user) => parts.every((part) => part(user));
  };
  const factor = (): Predicate | string => {
    const token = tokens[at++];
    if (token === undefined) return 'the expression ends too early';
    if (token === '(') {
      const inner = orExpr();
      if (typeof inner === 'string') return inner;
      if (tokens[at++] !== ')') return 'a parenthesis is not closed';
      return inner;
    }
    const predicate = aliases.get(token);
    return predicate ?? `${token} is not the alias of a condition`;
  };
  const predicate = orExpr();
  if (typeof predicate === 'string') return predicate;
  if (at < tokens.length) return `unexpected ${tokens[at]}`;
  return predicate;
}

/** The `where` of a list as a predicate, or a refusal naming what is wrong. */
function readWhere(where: unknown, caseSensitive = false): Predicate | Answer {
  if (where === undefined || where === null) return () => true;
  if (!isObject(where) || !Array.isArray(where.conditions) || where.conditions.length === 0) {
    return fail(400, 'where must be an object with a non-empty list of conditions');
  }
  const aliases = new Map<string, Predicate>();
  for (const [i, raw] of where.conditions.entries()) {
    if (!isObject(raw)) return fail(400, `where.conditions[${i}] must be an object`);
    const { name, alias, operator, value } = raw;
    if (!isField(name)) return fail(400, `where.conditions[${i}].name: unknown field ${String(name)}`);
    if (typeof alias !== 'string' || alias.trim() === '' || aliases.has(alias)) {
      return fail(400, `where.conditions[${i}].alias must be a unique, non-empty string`);
    }
    if (!GAINSIGHT_OPERATORS.includes(operator as Operator)) {
      return fail(400, `where.conditions[${i}].operator: unknown operator ${String(operator)}`);
    }
    if (!Array.isArray(value) || value.length === 0 || (operator !== 'IN' && value.length > 1)) {
      return fail(
        400,
        `where.conditions[${i}].value must be a list of ${operator === 'IN' ? 'one or more values' : 'one value'}`,
      );
    }
    const condition: Condition = { name, operator: operator as Operator, value };
    aliases.set(alias, (user) => holds(condition, user, caseSensitive));
  }
  const expression = where.expression;
  if (expression === undefined) {
    if (aliases.size > 1) return fail(400, 'where.expression is required with more than one condition');
    return [...aliases.values()][0] as Predicate;
  }
  if (typeof expression !== 'string') return fail(400, 'where.expression must be a string');
  const predicate = parseExpression(expression, aliases);
  return typeof predicate === 'string' ? fail(400, `where.expression: ${predicate}`) : predicate;
}

function wholeNumber(value: unknown, name: string, min: number, fallback: number): number | Answer {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    return fail(400, `${name} must be a whole number from ${min}`);
  }
  return value;
}

/** The user with only the selected fields, in the order asked. */
function project(user: GainsightUser, select: readonly GainsightField[]): Record<string, unknown> {
  return Object.fromEntries(select.map((name) => [name, user[name]]));
}

/** Starts a sandbox on a random port of 127.0.0.1. */
export async function startGainsightSandbox(
  options: GainsightSandboxOptions = {},
): Promise<GainsightSandbox> {
  const users = seedStore(options.users ?? SAMPLE_USERS, {
    idOf: (seed) => seed.Gsid,
    newId: gsidOf,
    first: 1001,
    complete: completeUser,
    label: 'gainsight sandbox: duplicate Gsid',
  });
  const accessKeys = new Set(options.accessKeys ?? [GAINSIGHT_SANDBOX_ACCESS_KEY]);
  // Gainsight's limits are quotas on the clock ("a window starts at a fixed time"), so
  // windows follow one another from the start, not from the first request after one ran out.
  const windows = options.rateLimit === false ? [] : [options.rateLimit ?? GAINSIGHT_RATE_LIMITS].flat();
  const limits = new FixedWindows(windows, { now: options.now, restart: 'aligned' });
  const throttleStatus = options.throttleStatus ?? 429;
  const maxLimit = options.maxLimit ?? 1000;
  const faults = new Faults(options.faults, (status, desc) => fail(status, desc, faultCode(status)).body);
  // Gsid -> the record before the last status change, for the next verifyLag reads.
  const stale = new StaleReads<string, GainsightUser>(options.verifyLag);

  function list(text: string): Answer {
    const parsed = parseJson(text);
    if (!parsed.ok) return fail(400, 'The request body is not valid JSON');
    const body = parsed.value;
    if (!isObject(body)) return fail(400, 'The request body must be a JSON object');
    const { select } = body;
    if (!Array.isArray(select) || select.length === 0)
      return fail(400, 'select must be a non-empty list of fields');
    const unknown = select.filter((name) => !isField(name));
    if (unknown.length > 0) return fail(400, `select: unknown field(s) ${unknown.map(String).join(', ')}`);
    const where = options.ignoreWhere ? () => true : readWhere(body.where, options.caseSensitiveWhere);
    if (typeof where !== 'function') return where;
    const limit = wholeNumber(body.limit, 'limit', 1, GAINSIGHT_DEFAULT_LIMIT);
    if (typeof limit !== 'number') return limit;
    const page = wholeNumber(body.page, 'page', 0, 0);
    if (typeof page !== 'number') return page;
    if (body.includeTotal !== undefined && typeof body.includeTotal !== 'boolean') {
      return fail(400, 'includeTotal must be true or false');
    }
    let matching = [...users.values()].filter(where);
    const { orderBy } = body;
    if (orderBy !== undefined) {
      if (!isObject(orderBy)) return fail(400, 'orderBy must be an object of field: "asc" | "desc"');
      for (const [name, direction] of Object.entries(orderBy).reverse()) {
        if (!isField(name) || (direction !== 'asc' && direction !== 'desc')) {
          return fail(400, `orderBy: ${name}: ${String(direction)} is not a field and "asc" or "desc"`);
        }
        const sign = direction === 'asc' ? 1 : -1;
        matching = matching.sort((a, b) => sign * String(a[name] ?? '').localeCompare(String(b[name] ?? '')));
      }
    }
    // A limit above the cap is quietly lowered, not refused: clients must read on by what came.
    const size = Math.min(limit, maxLimit);
    const rows = matching
      .slice(page * size, (page + 1) * size)
      .map((user) => project(stale.take(user.Gsid) ?? user, select as GainsightField[]));
    const data = { records: rows, ...(body.includeTotal ? { totalCount: matching.length } : {}) };
    return { status: 200, body: envelope(true, data) };
  }

  function setStatus(query: URLSearchParams, text: string): Answer {
    const status = query.get('status');
    if (status !== 'true' && status !== 'false') return fail(400, 'status must be true or false');
    const parsed = parseJson(text);
    if (!parsed.ok) return fail(400, 'The request body is not valid JSON');
    const gsids = parsed.value;
    if (
      !Array.isArray(gsids) ||
      gsids.length === 0 ||
      !gsids.every((g) => typeof g === 'string' && g !== '')
    ) {
      return fail(400, 'The request body must be a JSON array of user Gsids');
    }
    if (gsids.length > GAINSIGHT_MAX_STATUS_GSIDS) {
      return fail(
        400,
        `At most ${GAINSIGHT_MAX_STATUS_GSIDS} users can be updated in one call; this one names ${gsids.length}`,
        GAINSIGHT_ERRORS.bulkUpdateFailed,
      );
    }
    const active = status === 'true';
    const records: Array<{ Gsid: string; IsActiveUser: boolean }> = [];
    const errors: Array<{ Gsid: string; errorCode: string; errorDesc: string }> = [];
    for (const gsid of new Set(gsids as string[])) {
      const user = users.get(gsid);
      if (!user) {
        errors.push({
          Gsid: gsid,
          errorCode: GAINSIGHT_ERRORS.bulkUpdateFailed,
          errorDesc: `User not found: ${gsid}`,
        });
        continue;
      }
      // Already so: nothing changes, not even the modified date.
      if (user.IsActiveUser !== active) {
        stale.remember(gsid, structuredClone(user));
        users.set(gsid, {
          ...user,
          IsActiveUser: active,
          ModifiedDate: gainsightDate(new Date()),
          ModifiedBy: GAINSIGHT_API_USER,
        });
      }
      records.push({ Gsid: gsid, IsActiveUser: active });
    }
    const data = { count: records.length, records, errors };
    if (records.length === 0) {
      return {
        status: 200,
        body: envelope(false, data, { code: GAINSIGHT_ERRORS.bulkUpdateFailed, desc: 'Bulk update failed' }),
      };
    }
    return { status: 200, body: envelope(true, data) };
  }

  function decide(
    method: string,
    url: URL,
    text: string,
    contentType: string,
    accessKey: string | undefined,
  ): Answer {
    // Like a gateway, the limits come before the credential is even looked at.
    if (!limits.admit()) {
      return fail(throttleStatus, 'Too many requests', GAINSIGHT_ERRORS.tooManyRequests);
    }
    if (accessKey === undefined || !accessKeys.has(accessKey)) {
      return fail(401, 'Invalid or missing access key (header accesskey)');
    }
    const injected = faults.answer(method, url);
    if (injected) return injected;
    const route = url.pathname.replace(/\/+$/, '');
    const known: Record<string, string> = {
      '/v1/users/services/list': 'POST',
      '/v1/users/services/status': 'PUT',
    };
    const allowed = known[route];
    if (allowed === undefined) return fail(404, `No endpoint ${method} ${url.pathname}`);
    if (method !== allowed) return fail(405, `Method ${method} is not allowed on ${route}`);
    if (!/^application\/json\b/i.test(contentType)) {
      return fail(415, `Content-Type must be application/json, not ${contentType || 'none'}`);
    }
    return route === '/v1/users/services/list' ? list(text) : setStatus(url.searchParams, text);
  }

  const server = await startSandboxServer({
    contentType: JSON_TYPE,
    latencyMs: options.latencyMs,
    handle: ({ req, method, url, text }) => {
      const header = req.headers.accesskey;
      return decide(
        method,
        url,
        text,
        req.headers['content-type'] ?? '',
        typeof header === 'string' ? header : undefined,
      );
    },
  });

  return {
    baseUrl: server.origin,
    users,
    ...sandboxControls(server, faults),
  };
}
