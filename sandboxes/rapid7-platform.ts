/**
 * A built-in Rapid7 Insight Platform sandbox: a real HTTP server on 127.0.0.1 that answers
 * the Insight Account API's user reads (`/account/api/1/users`) under a regional base URL,
 * the way public clients of the API show it: `X-Api-Key` auth, a plain JSON array with
 * `email` / `status` filters, string ids, 429 without Retry-After.
 *
 * There is no public endpoint that disables a platform user, so the sandbox serves no user
 * writes over HTTP (any PUT, PATCH, POST or DELETE answers 405 and is recorded). A person
 * switches accounts off in the Insight Platform's User Management; the demo and the tests
 * act as that person through the admin-console hooks `disableUser` and `removeUser`.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import {
  type SandboxAnswer as Answer,
  Faults,
  type SandboxControls,
  type SandboxFault,
  type SandboxRequestRecord,
  StaleReads,
  sandboxControls,
  seedStore,
  startSandboxServer,
  TokenBucket,
} from './kit';

/** A platform user as `GET /account/api/1/users/{id}` answers it. */
export interface PlatformUser {
  id: string;
  email: string;
  first_name: string | null;
  last_name: string | null;
  timezone: string | null;
  status: 'ACTIVE' | 'DISABLED' | 'PENDING';
  platform_admin: boolean;
  federated: boolean;
  /** ISO timestamp; null for an invitation never accepted. */
  last_login: string | null;
}

/** The sandbox's default organization key (sees and may manage every user). */
export const RAPID7_PLATFORM_SANDBOX_KEY = 'sandbox-org-key';
/** The sandbox's default user key: it belongs to the first user and reads only that user. */
export const RAPID7_PLATFORM_SANDBOX_USER_KEY = 'sandbox-user-key';

/** An injected answer: the next `times` requests that match get it instead of the real one. */
export interface Rapid7PlatformFault extends SandboxFault {
  /** Raw response text, so malformed JSON can be served. Default `{"message":"..."}`. */
  body?: string;
  /** Query parameters that must all be present with these values (a page: `{index: '3'}`). */
  query?: Record<string, string>;
}

/** How the sandbox starts and misbehaves. Every option defaults to a well-behaved server. */
export interface Rapid7PlatformSandboxOptions {
  /** Initial users; missing fields get defaults, ids are generated. Default SAMPLE_USERS. */
  users?: ReadonlyArray<Partial<PlatformUser> & { email: string }>;
  /** Organization keys. Default `[RAPID7_PLATFORM_SANDBOX_KEY]`. */
  organizationKeys?: string[];
  /** User key -> id of its owner. Default `{ [RAPID7_PLATFORM_SANDBOX_USER_KEY]: <first user's id> }`. */
  userKeys?: Record<string, string>;
  /**
   * `array` (default): the list answers a plain array, as every public client reads it.
   * `paged`: `{data, metadata: {index, size, totalPages, totalResources}}` with `index`/`size`.
   */
  listShape?: 'array' | 'paged';
  /** Default page size in `paged` mode (the cap is 500). Default 100. */
  pageSize?: number;
  /** Token bucket (burst = rate); above it 429 without Retry-After. Default unlimited. */
  ratePerSecond?: number;
  /** Fixed delay before every answer, in milliseconds. Default 0. */
  latencyMs?: number;
  /** After `disableUser`/`removeUser`, the next N `GET /users/{id}` of that user still answer the old record. */
  verifyLag?: number;
  /** Accept the filters but answer every user, as a server that ignores them would. */
  ignoreFilter?: boolean;
  faults?: Rapid7PlatformFault[];
}

/** One request as the sandbox saw it, with the status it answered. */
export type Rapid7PlatformRequestRecord = SandboxRequestRecord;

/** A running sandbox. */
export interface Rapid7PlatformSandbox
  extends SandboxControls<Rapid7PlatformFault, Rapid7PlatformRequestRecord> {
  /** The regional base, e.g. `http://127.0.0.1:PORT` (the client adds `/account/api/1`). */
  baseUrl: string;
  /** Live state by id: tests may read and change it between requests. */
  users: Map<string, PlatformUser>;
  /**
   * The person's part, in the Insight Platform UI: sets every account with this email
   * (ignoring case) to DISABLED. False when no account has it.
   */
  disableUser(email: string): boolean;
  /** The person's other option: removes every account with this email. False when none. */
  removeUser(email: string): boolean;
}

type UserSeed = Partial<PlatformUser> & { email: string };

const STATUSES = new Set(['ACTIVE', 'DISABLED', 'PENDING']);
const MAX_PAGE_SIZE = 500;
const API = '/account/api/1';

function completeUser(seed: UserSeed, id: string): PlatformUser {
  return {
    id,
    email: seed.email,
    first_name: seed.first_name ?? null,
    last_name: seed.last_name ?? null,
    timezone: seed.timezone ?? null,
    status: seed.status ?? 'ACTIVE',
    platform_admin: seed.platform_admin ?? false,
    federated: seed.federated ?? false,
    last_login: seed.last_login === undefined ? null : seed.last_login,
  };
}

const sampleUser = (
  id: string,
  first: string,
  last: string,
  email: string,
  extra: Partial<PlatformUser> = {},
) =>
  completeUser(
    {
      first_name: first,
      last_name: last,
      email,
      timezone: 'America/New_York',
      last_login: '2026-03-02T14:12:45.000Z',
      ...extra,
    },
    id,
  );

/**
 * The demo organization. The admin owns the default user key; jane.doe is the leaver, with
 * every field set; one account is already DISABLED and one is a PENDING invitation.
 */
export const SAMPLE_USERS: ReadonlyArray<Readonly<PlatformUser>> = [
  sampleUser('5c0e7a4e-1b1d-4a55-9a57-0a1d2c3e4f01', 'Alex', 'Admin', 'admin@example.com', {
    platform_admin: true,
  }),
  sampleUser('5c0e7a4e-1b1d-4a55-9a57-0a1d2c3e4f02', 'Jane', 'Doe', 'jane.doe@example.com', {
    timezone: 'America/Los_Angeles',
    federated: true,
    last_login: '2026-03-14T08:01:19.000Z',
  }),
  sampleUser('5c0e7a4e-1b1d-4a55-9a57-0a1d2c3e4f03', 'Gary', 'Gone', 'already.gone@example.com', {
    status: 'DISABLED',
    last_login: '2025-11-30T17:45:00.000Z',
  }),
  sampleUser('5c0e7a4e-1b1d-4a55-9a57-0a1d2c3e4f04', 'Nora', 'Newhire', 'new.hire@example.com', {
    status: 'PENDING',
    last_login: null,
  }),
  sampleUser('5c0e7a4e-1b1d-4a55-9a57-0a1d2c3e4f05', 'Siobhan', "O'Brien", "o'brien@example.com", {
    timezone: 'Europe/Dublin',
  }),
  sampleUser('5c0e7a4e-1b1d-4a55-9a57-0a1d2c3e4f06', 'Marcus', 'Lee', 'marcus.lee@example.com'),
  sampleUser('5c0e7a4e-1b1d-4a55-9a57-0a1d2c3e4f07', 'Priya', 'Natarajan', 'priya.natarajan@example.com', {
    timezone: 'Asia/Kolkata',
  }),
];

const JSON_TYPE = 'application/json;charset=UTF-8';

const fail = (status: number, message: string): Answer => ({
  status,
  body: { message, correlation_id: randomUUID() },
});

/** Filters the list accepts; paging parameters only in `paged` mode; anything else is a 400. */
const FILTERS = new Set(['email', 'status', 'first_name', 'last_name', 'platform-admin']);

/** Starts a sandbox on a random port of 127.0.0.1. */
export async function startRapid7PlatformSandbox(
  options: Rapid7PlatformSandboxOptions = {},
): Promise<Rapid7PlatformSandbox> {
  const users = seedStore(options.users ?? SAMPLE_USERS, {
    idOf: (seed) => seed.id,
    newId: () => randomUUID(),
    complete: completeUser,
    label: 'rapid7-platform sandbox: duplicate id',
  });
  const firstId = users.keys().next().value;
  const organizationKeys = new Set(options.organizationKeys ?? [RAPID7_PLATFORM_SANDBOX_KEY]);
  const userKeys = new Map(
    Object.entries(
      options.userKeys ?? (firstId === undefined ? {} : { [RAPID7_PLATFORM_SANDBOX_USER_KEY]: firstId }),
    ),
  );
  const paged = options.listShape === 'paged';
  const defaultPageSize = Math.min(options.pageSize ?? 100, MAX_PAGE_SIZE);
  // A fault's default body is a bare `{message}`, without the correlation_id of `fail`.
  const faults = new Faults(options.faults, (_status, message) => ({ message }));
  // id -> the record as it was before the person's change.
  const stale = new StaleReads<string, PlatformUser>(options.verifyLag);
  const bucket = new TokenBucket(options.ratePerSecond);

  function remember(user: PlatformUser): void {
    stale.remember(user.id, { ...user });
  }

  function byEmail(email: string): PlatformUser[] {
    const wanted = email.trim().toLowerCase();
    return [...users.values()].filter((user) => user.email.toLowerCase() === wanted);
  }

  function listUsers(query: URLSearchParams): Answer {
    for (const name of query.keys()) {
      if (!FILTERS.has(name) && !(paged && (name === 'index' || name === 'size'))) {
        return fail(400, `Unknown query parameter: ${name}`);
      }
    }
    const status = query.get('status');
    if (status !== null && !STATUSES.has(status)) {
      return fail(400, `Invalid status '${status}': expected one of ACTIVE, DISABLED, PENDING`);
    }
    const admin = query.get('platform-admin');
    if (admin !== null && admin !== 'true' && admin !== 'false') {
      return fail(400, `Invalid platform-admin '${admin}': expected true or false`);
    }
    let matching = [...users.values()];
    if (!options.ignoreFilter) {
      const email = query.get('email')?.toLowerCase();
      const first = query.get('first_name')?.toLowerCase();
      const last = query.get('last_name')?.toLowerCase();
      matching = matching.filter(
        (user) =>
          (email === undefined || user.email.toLowerCase() === email) &&
          (status === null || user.status === status) &&
          (admin === null || user.platform_admin === (admin === 'true')) &&
          (first === undefined || user.first_name?.toLowerCase() === first) &&
          (last === undefined || user.last_name?.toLowerCase() === last),
      );
    }
    if (!paged) return { status: 200, body: matching };
    const index = Number(query.get('index') ?? '0');
    const size = Number(query.get('size') ?? String(defaultPageSize));
    if (!Number.isInteger(index) || index < 0) return fail(400, `Invalid index '${query.get('index')}'`);
    if (!Number.isInteger(size) || size < 1) return fail(400, `Invalid size '${query.get('size')}'`);
    // A size above the cap is quietly lowered, not refused: clients must follow metadata.
    const pageSize = Math.min(size, MAX_PAGE_SIZE);
    return {
      status: 200,
      body: {
        data: matching.slice(index * pageSize, (index + 1) * pageSize),
        metadata: {
          index,
          size: pageSize,
          totalPages: Math.ceil(matching.length / pageSize),
          totalResources: matching.length,
        },
      },
    };
  }

  function getUser(id: string): Answer {
    // Before the live lookup: a removed user is still read back for a while.
    const old = stale.take(id);
    if (old) return { status: 200, body: old };
    const user = users.get(id);
    return user ? { status: 200, body: user } : fail(404, `User ${id} not found`);
  }

  function decide(method: string, url: URL, headers: IncomingMessage['headers']): Answer {
    // Like a gateway, the limit comes before the credential is even looked at.
    if (!bucket.take()) return fail(429, 'Too Many Requests');
    if (headers.authorization !== undefined) {
      // The platform authenticates with X-Api-Key only; Basic belongs to the InsightVM console.
      return fail(401, 'Unauthorized: send the API key in the X-Api-Key header, not an Authorization header');
    }
    const key = headers['x-api-key'];
    const apiKey = typeof key === 'string' ? key : undefined;
    const organization = apiKey !== undefined && organizationKeys.has(apiKey);
    const ownerId = apiKey === undefined ? undefined : userKeys.get(apiKey);
    const owner = ownerId === undefined ? undefined : users.get(ownerId);
    // A disabled or removed user's key stops working too.
    if (!organization && owner?.status !== 'ACTIVE') return fail(401, 'Unauthorized');
    const injected = faults.answer(method, url);
    if (injected) return injected;
    const route = url.pathname.replace(/\/+$/, '');
    const isList = route === `${API}/users`;
    const item = route.startsWith(`${API}/users/`) ? route.slice(`${API}/users/`.length) : undefined;
    if (!isList && (item === undefined || item === '' || item.includes('/'))) return fail(404, 'Not Found');
    if (method !== 'GET') {
      // No public user write: the sandbox offers none, and records the attempt.
      return { ...fail(405, `Method ${method} not allowed`), headers: { Allow: 'GET' } };
    }
    if (!organization) {
      // User-scoped keys read their own account only; other accounts need an organization key.
      if (isList || item !== owner?.id) {
        return fail(403, 'Forbidden: user-scoped keys cannot manage other accounts; use an organization key');
      }
    }
    return isList ? listUsers(url.searchParams) : getUser(decodeURIComponent(item ?? ''));
  }

  const server = await startSandboxServer({
    contentType: JSON_TYPE,
    latencyMs: options.latencyMs,
    handle: ({ req, method, url }) => decide(method, url, req.headers),
  });

  return {
    baseUrl: server.origin,
    users,
    disableUser: (email) => {
      const found = byEmail(email);
      for (const user of found) {
        if (user.status === 'DISABLED') continue;
        remember(user);
        users.set(user.id, { ...user, status: 'DISABLED' });
      }
      return found.length > 0;
    },
    removeUser: (email) => {
      const found = byEmail(email);
      for (const user of found) {
        remember(user);
        users.delete(user.id);
      }
      return found.length > 0;
    },
    ...sandboxControls(server, faults),
  };
}
