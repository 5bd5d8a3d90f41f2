/**
 * A built-in Gainsight REST sandbox: a real HTTP server on 127.0.0.1 that answers the user
 * management endpoints (`/v1/users`) the way the Gainsight User Management API guide
 * describes them: `Accesskey` header auth, `page`/`pageSize` paging capped at 1000, the
 * `{result, data, totalCount}` envelope, a DELETE that only deactivates, and a PUT whose
 * semantics (full replacement or partial update) depend on the tenant's API version and are
 * therefore selectable. Gainsight limits these APIs in fixed windows (100 requests an hour),
 * answering 429 without Retry-After; the sandbox can do the same on a small scale.
 */
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

/** A user as `GET /v1/users/{userId}` answers it (the guide's data model, every field present). */
export interface GainsightUser {
  userId: string;
  email: string;
  firstName: string;
  lastName: string;
  name: string | null;
  isActive: boolean;
  role: string;
  userType: string | null;
  phone: string | null;
  title: string | null;
  department: string | null;
  managerId: string | null;
  timezone: string | null;
  locale: string | null;
  externalId: string | null;
  groups: string[];
  customAttributes: Record<string, unknown>;
}

/** An initial user: the email is required, the rest defaults; userId is assigned from u1001. */
export type GainsightUserSeed = Partial<GainsightUser> & { email: string };

/** An injected answer: the next `times` requests that match get it instead of the real one. */
export interface GainsightFault extends SandboxFault {
  /** Raw response text, so malformed JSON can be served. Default `{"result":false,"message":"..."}`. */
  body?: string;
}

/** A fixed window: at most `limit` accepted requests per `windowMs`, windows counted from start. */
export type GainsightRateWindow = RateWindow;

/**
 * How a PUT treats the fields its body leaves out. `full`: reset to their defaults (a
 * required field left out is refused with 400). `partial`: kept as stored.
 */
export type GainsightPutMode = 'full' | 'partial';

/** How the sandbox starts and misbehaves. Every option defaults to a well-behaved server. */
export interface GainsightSandboxOptions {
  /** Initial users. Default SAMPLE_USERS. */
  users?: readonly GainsightUserSeed[];
  /** Access keys the tenant accepts. Default `[GAINSIGHT_SANDBOX_ACCESS_KEY]`. */
  accessKeys?: readonly string[];
  /** Role names a user may have (the seeds' roles are always added). Default DEFAULT_ROLES. */
  roles?: readonly string[];
  /** PUT semantics, which the guide says vary by API version. Default `full` (the harsher). */
  putMode?: GainsightPutMode;
  /**
   * Fixed-window limits (Gainsight: 100 an hour and 1,000 a day). Above any of them: 429
   * without Retry-After; refused requests do not count. Default unlimited.
   */
  rateLimit?: GainsightRateWindow | readonly GainsightRateWindow[];
  /** Milliseconds since some origin, for the rate windows. Default `performance.now`. */
  now?: () => number;
  /** Fixed delay before every answer, in milliseconds. Default 0. */
  latencyMs?: number;
  /** After a PUT or DELETE, the next N `GET /v1/users/{id}` of that user still answer the old record. */
  verifyLag?: number;
  faults?: GainsightFault[];
}

/** One request as the sandbox saw it, with the status it answered. */
export type GainsightRequestRecord = SandboxRequestRecord;

/** A running sandbox. */
export interface GainsightSandbox extends SandboxControls<GainsightFault, GainsightRequestRecord> {
  /** `http://127.0.0.1:PORT`: the tenant URL, as `https://{domain}.gainsightcloud.com` would be. */
  baseUrl: string;
  /** Live state, by userId: tests may read and change it between requests. */
  users: Map<string, GainsightUser>;
  /** Every request, in arrival order (DELETEs included: the connector must never send one). */
  requests: GainsightRequestRecord[];
}

/** The access key the sandbox accepts unless told otherwise. */
export const GAINSIGHT_SANDBOX_ACCESS_KEY = 'sandbox-access-key';
/** Roles every sandbox tenant has. */
export const DEFAULT_ROLES: readonly string[] = ['Admin', 'Standard User', 'Read Only User'];
/** The guide's page size cap: a larger `pageSize` is quietly lowered. */
export const GAINSIGHT_MAX_PAGE_SIZE = 1000;
const DEFAULT_PAGE_SIZE = 100;

/** The fields a PUT may carry; `?` marks a nullable one. `userId` is immutable (see putUser). */
const WRITABLE = {
  email: 'string',
  firstName: 'string',
  lastName: 'string',
  name: 'string?',
  isActive: 'boolean',
  role: 'string',
  userType: 'string?',
  phone: 'string?',
  title: 'string?',
  department: 'string?',
  managerId: 'string?',
  timezone: 'string?',
  locale: 'string?',
  externalId: 'string?',
  groups: 'array',
  customAttributes: 'object',
} as const;
/** What a full PUT refuses to lose, as a create does. */
const REQUIRED = ['email', 'firstName', 'lastName', 'role'] as const;

/** Fills what a seed leaves out with the defaults a full PUT also falls back to. */
function completeUser(seed: GainsightUserSeed, userId: string): GainsightUser {
  const firstName = seed.firstName ?? '';
  const lastName = seed.lastName ?? '';
  return {
    userId,
    email: seed.email,
    firstName,
    lastName,
    // The guide: derived from firstName + lastName if not provided.
    name: seed.name ?? (`${firstName} ${lastName}`.trim() || null),
    isActive: seed.isActive ?? true,
    role: seed.role ?? 'Standard User',
    userType: seed.userType ?? null,
    phone: seed.phone ?? null,
    title: seed.title ?? null,
    department: seed.department ?? null,
    managerId: seed.managerId ?? null,
    timezone: seed.timezone ?? null,
    locale: seed.locale ?? null,
    externalId: seed.externalId ?? null,
    groups: [...(seed.groups ?? [])],
    customAttributes: { ...(seed.customAttributes ?? {}) },
  };
}

const sample = (userId: string, firstName: string, lastName: string, email: string, extra = {}) =>
  completeUser({ userType: 'Internal', locale: 'en-US', firstName, lastName, email, ...extra }, userId);

/**
 * The demo tenant. u101 is the administrator; jane.doe (u123) is the leaver, with every
 * optional field set so that a careless PUT visibly wipes them; u124 is already inactive.
 */
export const SAMPLE_USERS: ReadonlyArray<Readonly<GainsightUser>> = [
  sample('u101', 'Alex', 'Admin', 'admin@example.com', {
    role: 'Admin',
    title: 'Gainsight Administrator',
    department: 'Operations',
    timezone: 'America/New_York',
  }),
  sample('u123', 'Jane', 'Doe', 'jane.doe@example.com', {
    role: 'Standard User',
    phone: '+1 415 555 0123',
    title: 'Customer Success Manager',
    department: 'Customer Success',
    managerId: 'u101',
    timezone: 'America/Los_Angeles',
    locale: 'en-GB',
    externalId: '00u1jane0doe',
    groups: ['CSM West', 'Renewals'],
    customAttributes: { costCenter: 'CS-200', region: 'West', seniority: 3 },
  }),
  sample('u124', 'Gary', 'Gone', 'already.gone@example.com', { isActive: false, department: 'Sales' }),
  sample('u125', 'Siobhan', "O'Brien", "o'brien@example.com", { timezone: 'Europe/Dublin' }),
  sample('u126', 'Marcus', 'Lee', 'marcus.lee@example.com', { role: 'Read Only User' }),
  sample('u127', 'Priya', 'Natarajan', 'priya.natarajan@example.com', { department: 'Support' }),
];

const JSON_TYPE = 'application/json; charset=utf-8';

const fail = (status: number, message: string): Answer => ({ status, body: { result: false, message } });

function typeMatches(kind: string, value: unknown): boolean {
  if (value === null) return kind.endsWith('?');
  if (kind.startsWith('string')) return typeof value === 'string';
  if (kind === 'boolean') return typeof value === 'boolean';
  if (kind === 'array') return Array.isArray(value) && value.every((item) => typeof item === 'string');
  return typeof value === 'object' && !Array.isArray(value);
}

function positive(query: URLSearchParams, name: string, fallback: number): number | Answer {
  const value = query.get(name);
  if (value === null) return fallback;
  if (!/^\d+$/.test(value) || Number(value) < 1) {
    return fail(400, `Invalid value for ${name}: ${value} (a whole number from 1)`);
  }
  return Number(value);
}

/** Starts a sandbox on a random port of 127.0.0.1. */
export async function startGainsightSandbox(
  options: GainsightSandboxOptions = {},
): Promise<GainsightSandbox> {
  const users = seedStore(options.users ?? SAMPLE_USERS, {
    idOf: (seed) => seed.userId,
    newId: (n) => `u${n}`,
    first: 1001,
    complete: completeUser,
    label: 'gainsight sandbox: duplicate userId',
  });
  const accessKeys = new Set(options.accessKeys ?? [GAINSIGHT_SANDBOX_ACCESS_KEY]);
  const roles = new Set([
    ...(options.roles ?? DEFAULT_ROLES),
    ...[...users.values()].map((user) => user.role),
  ]);
  const putMode = options.putMode ?? 'full';
  // Gainsight's limits are quotas on the clock (an hour, a day), so windows follow one another
  // from the start rather than from the first request after one runs out.
  const windows = options.rateLimit === undefined ? [] : [options.rateLimit].flat();
  const limits = new FixedWindows(windows, { now: options.now, restart: 'aligned' });
  const faults = new Faults(options.faults, (status, message) => fail(status, message).body);
  // userId -> the record before the last write.
  const stale = new StaleReads<string, GainsightUser>(options.verifyLag);

  function remember(user: GainsightUser): void {
    stale.remember(user.userId, structuredClone(user));
  }

  function listUsers(query: URLSearchParams): Answer {
    const page = positive(query, 'page', 1);
    if (typeof page !== 'number') return page;
    const pageSize = positive(query, 'pageSize', DEFAULT_PAGE_SIZE);
    if (typeof pageSize !== 'number') return pageSize;
    const isActive = query.get('isActive');
    if (isActive !== null && isActive !== 'true' && isActive !== 'false') {
      return fail(400, `Invalid value for isActive: ${isActive}`);
    }
    // Inactive users are included by default (the guide); other parameters are ignored, as
    // the real API does with what it does not know: no email filter exists.
    const matching = [...users.values()].filter(
      (user) => isActive === null || String(user.isActive) === isActive,
    );
    // A pageSize above the cap is quietly lowered, not refused: clients must page on their own.
    const size = Math.min(pageSize, GAINSIGHT_MAX_PAGE_SIZE);
    const data = matching.slice((page - 1) * size, page * size);
    return { status: 200, body: { result: true, data, totalCount: matching.length } };
  }

  function getUser(userId: string): Answer {
    const user = users.get(userId);
    if (!user) return fail(404, `User ${userId} not found`);
    return { status: 200, body: { result: true, data: stale.take(userId) ?? user } };
  }

  // The quirk that matters: depending on the API version, PUT either replaces the record
  // (every field the body leaves out goes back to its default) or updates only what it is
  // sent. A client that sends the whole record back is right under both.
  function putUser(userId: string, text: string): Answer {
    const body = parseJson(text);
    if (!body.ok) return fail(400, 'The request body is not valid JSON.');
    const fields = body.value;
    if (!isObject(fields)) return fail(400, 'The request body must be a user object.');
    const stored = users.get(userId);
    if (!stored) return fail(404, `User ${userId} not found`);
    const unknown = Object.keys(fields).filter((name) => name !== 'userId' && !(name in WRITABLE));
    if (unknown.length > 0) return fail(400, `Unknown field(s) for a user: ${unknown.join(', ')}`);
    if ('userId' in fields && fields.userId !== userId) return fail(400, 'userId is immutable.');
    for (const [name, kind] of Object.entries(WRITABLE)) {
      if (name in fields && !typeMatches(kind, fields[name])) return fail(400, `Invalid value for ${name}.`);
    }
    if (putMode === 'full') {
      const missing = REQUIRED.filter((name) => !(name in fields));
      if (missing.length > 0) return fail(400, `Missing required field(s): ${missing.join(', ')}`);
    }
    for (const name of REQUIRED) {
      if (name in fields && (fields[name] as string).trim() === '')
        return fail(400, `${name} must not be empty.`);
    }
    if ('role' in fields && !roles.has(fields.role as string)) {
      return fail(400, `Role '${fields.role as string}' does not exist in this tenant.`);
    }
    const email = fields.email as string | undefined;
    if (email !== undefined) {
      for (const other of users.values()) {
        if (other.userId !== userId && other.email.toLowerCase() === email.toLowerCase()) {
          return fail(409, `Email ${email} is already used by another user.`);
        }
      }
    }
    // Validated above, so the body is a partial user.
    const given = fields as Partial<GainsightUser>;
    const next =
      putMode === 'full'
        ? completeUser(given as GainsightUserSeed, userId)
        : { ...structuredClone(stored), ...structuredClone(given), userId };
    remember(stored);
    users.set(userId, next);
    return { status: 200, body: { result: true, data: next } };
  }

  // DELETE "typically deactivates the user rather than permanently removing them" (the
  // guide). The sandbox does exactly that; the requests log shows whether one was sent.
  function deleteUser(userId: string): Answer {
    const stored = users.get(userId);
    if (!stored) return fail(404, `User ${userId} not found`);
    remember(stored);
    users.set(userId, { ...structuredClone(stored), isActive: false });
    return { status: 200, body: { result: true, message: 'User deactivated successfully.' } };
  }

  function decide(method: string, url: URL, text: string, accessKey: string | undefined): Answer {
    // Like a gateway, the limits come before the credential is even looked at.
    if (!limits.admit()) return fail(429, 'Rate limit exceeded');
    if (accessKey === undefined || !accessKeys.has(accessKey)) {
      return fail(401, 'Invalid or missing Accesskey header.');
    }
    const injected = faults.answer(method, url);
    if (injected) return injected;
    const route = url.pathname.replace(/\/+$/, '');
    if (route === '/v1/users') {
      return method === 'GET' ? listUsers(url.searchParams) : fail(405, `Method ${method} not allowed.`);
    }
    const item = /^\/v1\/users\/([^/]+)$/.exec(route)?.[1];
    if (item === undefined) return fail(404, `No endpoint ${url.pathname}`);
    const userId = decodeURIComponent(item);
    if (method === 'GET') return getUser(userId);
    if (method === 'PUT') return putUser(userId, text);
    if (method === 'DELETE') return deleteUser(userId);
    return fail(405, `Method ${method} not allowed.`);
  }

  const server = await startSandboxServer({
    contentType: JSON_TYPE,
    latencyMs: options.latencyMs,
    handle: ({ req, method, url, text }) => {
      const header = req.headers.accesskey;
      return decide(method, url, text, typeof header === 'string' ? header : undefined);
    },
  });

  return {
    baseUrl: server.origin,
    users,
    ...sandboxControls(server, faults),
  };
}
