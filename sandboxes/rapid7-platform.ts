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
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

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
export interface Rapid7PlatformFault {
  /** HTTP method to match (any when absent). */
  method?: string;
  /** Tested against the request path, query excluded (any when absent). */
  path?: RegExp;
  status: number;
  times: number;
  /** Raw response text, so malformed JSON can be served. Default `{"message":"..."}`. */
  body?: string;
  headers?: Record<string, string>;
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
export interface Rapid7PlatformRequestRecord {
  method: string;
  path: string;
  query: Record<string, string>;
  /** Parsed JSON, or the raw text when it did not parse; absent when the body was empty. */
  body?: unknown;
  status: number;
}

/** A running sandbox. */
export interface Rapid7PlatformSandbox {
  /** The regional base, e.g. `http://127.0.0.1:PORT` (the client adds `/account/api/1`). */
  baseUrl: string;
  /** Live state by id: tests may read and change it between requests. */
  users: Map<string, PlatformUser>;
  /** Every request, in arrival order. */
  requests: Rapid7PlatformRequestRecord[];
  /**
   * The person's part, in the Insight Platform UI: sets every account with this email
   * (ignoring case) to DISABLED. False when no account has it.
   */
  disableUser(email: string): boolean;
  /** The person's other option: removes every account with this email. False when none. */
  removeUser(email: string): boolean;
  addFault(fault: Rapid7PlatformFault): void;
  /** Requests seen, and how many of them were answered 429. */
  counts(): { total: number; throttled: number };
  /** Stops the server, idle keep-alive sockets included. */
  close(): Promise<void>;
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

interface Answer {
  status: number;
  body?: unknown;
  /** Sent as is instead of `body` (faults). */
  raw?: string;
  headers?: Record<string, string>;
}

const fail = (status: number, message: string): Answer => ({
  status,
  body: { message, correlation_id: randomUUID() },
});

function faultMatches(fault: Rapid7PlatformFault, method: string, path: string): boolean {
  if (fault.times <= 0) return false;
  if (fault.method !== undefined && fault.method.toUpperCase() !== method) return false;
  if (fault.path === undefined) return true;
  fault.path.lastIndex = 0;
  return fault.path.test(path);
}

function completeUsers(seeds: readonly UserSeed[]): Map<string, PlatformUser> {
  const users = new Map<string, PlatformUser>();
  for (const seed of seeds) {
    const id = seed.id ?? randomUUID();
    if (users.has(id)) throw new Error(`rapid7-platform sandbox: duplicate id ${id}`);
    users.set(id, completeUser(seed, id));
  }
  return users;
}

/** Filters the list accepts; paging parameters only in `paged` mode; anything else is a 400. */
const FILTERS = new Set(['email', 'status', 'first_name', 'last_name', 'platform-admin']);

/** Starts a sandbox on a random port of 127.0.0.1. */
export async function startRapid7PlatformSandbox(
  options: Rapid7PlatformSandboxOptions = {},
): Promise<Rapid7PlatformSandbox> {
  const users = completeUsers(options.users ?? SAMPLE_USERS);
  const firstId = users.keys().next().value;
  const organizationKeys = new Set(options.organizationKeys ?? [RAPID7_PLATFORM_SANDBOX_KEY]);
  const userKeys = new Map(
    Object.entries(
      options.userKeys ?? (firstId === undefined ? {} : { [RAPID7_PLATFORM_SANDBOX_USER_KEY]: firstId }),
    ),
  );
  const paged = options.listShape === 'paged';
  const defaultPageSize = Math.min(options.pageSize ?? 100, MAX_PAGE_SIZE);
  const faults = [...(options.faults ?? [])];
  const requests: Rapid7PlatformRequestRecord[] = [];
  // id -> the record as it was before the person's change, and how many reads still see it.
  const stale = new Map<string, { user: PlatformUser; reads: number }>();
  const timers = new Set<NodeJS.Timeout>();
  const rate = options.ratePerSecond;
  let tokens = rate ?? 0;
  let refilledAt = performance.now();
  let throttled = 0;

  function takeToken(): boolean {
    if (rate === undefined) return true;
    const now = performance.now();
    tokens = Math.min(rate, tokens + ((now - refilledAt) / 1000) * rate);
    refilledAt = now;
    if (tokens < 1) return false;
    tokens -= 1;
    return true;
  }

  function remember(user: PlatformUser): void {
    if (options.verifyLag) stale.set(user.id, { user: { ...user }, reads: options.verifyLag });
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
    const old = stale.get(id);
    if (old && old.reads > 0) {
      old.reads--;
      return { status: 200, body: old.user };
    }
    const user = users.get(id);
    return user ? { status: 200, body: user } : fail(404, `User ${id} not found`);
  }

  function decide(method: string, url: URL, headers: IncomingMessage['headers']): Answer {
    // Like a gateway, the limit comes before the credential is even looked at.
    if (!takeToken()) return fail(429, 'Too Many Requests');
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
    const fault = faults.find((candidate) => faultMatches(candidate, method, url.pathname));
    if (fault) {
      fault.times--;
      const raw = fault.body ?? JSON.stringify({ message: `Sandbox fault: HTTP ${fault.status}` });
      return { status: fault.status, raw, ...(fault.headers ? { headers: fault.headers } : {}) };
    }
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

  function send(res: ServerResponse, answer: Answer): void {
    const payload = answer.raw ?? (answer.body === undefined ? '' : JSON.stringify(answer.body));
    if (payload !== '') res.setHeader('Content-Type', JSON_TYPE);
    for (const [name, value] of Object.entries(answer.headers ?? {})) res.setHeader(name, value);
    res.writeHead(answer.status).end(payload);
  }

  function onRequest(req: IncomingMessage, res: ServerResponse, text: string): void {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const method = (req.method ?? 'GET').toUpperCase();
    const record: Rapid7PlatformRequestRecord = {
      method,
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      status: 0,
    };
    if (text !== '') {
      try {
        record.body = JSON.parse(text);
      } catch {
        record.body = text;
      }
    }
    requests.push(record);
    const answer = decide(method, url, req.headers);
    record.status = answer.status;
    if (answer.status === 429) throttled++;
    if (!options.latencyMs) {
      send(res, answer);
      return;
    }
    const timer = setTimeout(() => {
      timers.delete(timer);
      send(res, answer);
    }, options.latencyMs);
    timers.add(timer);
  }

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => onRequest(req, res, Buffer.concat(chunks).toString('utf8')));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    baseUrl: `http://127.0.0.1:${port}`,
    users,
    requests,
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
    addFault: (fault) => {
      faults.push(fault);
    },
    counts: () => ({ total: requests.length, throttled }),
    close: () =>
      new Promise<void>((resolve, reject) => {
        for (const timer of timers) clearTimeout(timer);
        timers.clear();
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}
