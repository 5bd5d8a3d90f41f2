import { describe, expect, it } from 'vitest';
import {
  type PlatformUser,
  RAPID7_PLATFORM_SANDBOX_KEY,
  RAPID7_PLATFORM_SANDBOX_USER_KEY,
  type Rapid7PlatformFault,
  type Rapid7PlatformSandbox,
  SAMPLE_USERS,
  startRapid7PlatformSandbox,
} from '../../sandboxes/rapid7-platform.js';
import { sandboxStarter } from '../helpers/sandboxes';

const USERS = '/account/api/1/users';
const ADMIN = SAMPLE_USERS[0] as PlatformUser;
const JANE = SAMPLE_USERS[1] as PlatformUser;

/** Started per test, closed after it. */
const open = sandboxStarter(startRapid7PlatformSandbox);

interface CallOptions {
  query?: Record<string, string>;
  body?: unknown;
  /** The X-Api-Key header; null sends none. Default the organization key. */
  apiKey?: string | null;
  authorization?: string;
}

async function call(sandbox: Rapid7PlatformSandbox, method: string, path: string, options: CallOptions = {}) {
  const url = new URL(sandbox.baseUrl + path);
  for (const [name, value] of Object.entries(options.query ?? {})) url.searchParams.set(name, value);
  const headers: Record<string, string> = { 'Content-Type': 'application/json' };
  const apiKey = options.apiKey === undefined ? RAPID7_PLATFORM_SANDBOX_KEY : options.apiKey;
  if (apiKey !== null) headers['X-Api-Key'] = apiKey;
  if (options.authorization !== undefined) headers.Authorization = options.authorization;
  const body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
  const response = await fetch(url, { method, headers, ...(options.body === undefined ? {} : { body }) });
  const text = await response.text();
  let json: unknown;
  try {
    json = text === '' ? undefined : JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, text, json };
}

const list = async (sandbox: Rapid7PlatformSandbox, query: Record<string, string>, apiKey?: string) => {
  const response = await call(sandbox, 'GET', USERS, { query, ...(apiKey ? { apiKey } : {}) });
  return { ...response, users: response.json as PlatformUser[] };
};

describe('Rapid7 Platform sandbox: authentication', () => {
  it.each([
    ['no X-Api-Key', { apiKey: null }],
    ['an unknown key', { apiKey: 'not-a-key' }],
    [
      'Basic credentials (the console’s auth)',
      { apiKey: null, authorization: `Basic ${btoa('nxadmin:pw')}` },
    ],
    ['a valid key mixed with Basic', { authorization: `Basic ${btoa('nxadmin:pw')}` }],
  ])('answers 401 to %s', async (_name, options) => {
    // Prepare
    const sandbox = await open();

    // Act
    const response = await call(sandbox, 'GET', USERS, options);

    // Assess
    expect(response.status).toBe(401);
    expect(response.headers.get('content-type')).toBe('application/json;charset=UTF-8');
    expect(response.json).toEqual({ message: expect.any(String), correlation_id: expect.any(String) });
  });

  it('lets a user key read its own account only, and answers 403 to the rest', async () => {
    // Prepare
    const sandbox = await open();
    const apiKey = RAPID7_PLATFORM_SANDBOX_USER_KEY;

    // Act
    const own = await call(sandbox, 'GET', `${USERS}/${ADMIN.id}`, { apiKey });
    const other = await call(sandbox, 'GET', `${USERS}/${JANE.id}`, { apiKey });
    const everyone = await call(sandbox, 'GET', USERS, { apiKey });

    // Assess
    expect(own.json).toEqual(ADMIN);
    expect(other.status).toBe(403);
    expect(everyone.status).toBe(403);
    expect((everyone.json as { message: string }).message).toContain(
      'user-scoped keys cannot manage other accounts',
    );
  });

  it('stops a user key once its owner is disabled; the organization key keeps working', async () => {
    // Prepare
    const sandbox = await open({ userKeys: { 'jane-key': JANE.id } });
    sandbox.disableUser(JANE.email);

    // Act
    const janeKey = await call(sandbox, 'GET', `${USERS}/${JANE.id}`, { apiKey: 'jane-key' });
    const orgKey = await call(sandbox, 'GET', `${USERS}/${JANE.id}`);

    // Assess
    expect(janeKey.status).toBe(401);
    expect(orgKey.status).toBe(200);
  });
});

describe('Rapid7 Platform sandbox: GET /account/api/1/users', () => {
  it('answers every user as a plain array', async () => {
    // Act
    const sandbox = await open();
    const { status, users } = await list(sandbox, {});

    // Assess
    expect(status).toBe(200);
    expect(users).toEqual(SAMPLE_USERS);
  });

  it('filters by email ignoring case, and by status', async () => {
    // Prepare
    const sandbox = await open();

    // Act
    const byEmail = await list(sandbox, { email: 'Jane.Doe@EXAMPLE.com' });
    const disabled = await list(sandbox, { status: 'DISABLED' });
    const pending = await list(sandbox, { status: 'PENDING' });
    const both = await list(sandbox, { email: 'jane.doe@example.com', status: 'DISABLED' });

    // Assess
    expect(byEmail.users.map((user) => user.id)).toEqual([JANE.id]);
    expect(disabled.users.map((user) => user.email)).toEqual(['already.gone@example.com']);
    expect(pending.users.map((user) => user.email)).toEqual(['new.hire@example.com']);
    expect(both.users).toEqual([]);
  });

  it.each([
    [{ status: 'INACTIVE' }, 'INACTIVE'],
    [{ 'platform-admin': 'yes' }, 'platform-admin'],
    [{ $filter: "email eq 'x'" }, '$filter'],
    [{ index: '1' }, 'index'],
  ])('answers 400 to %j', async (query, named) => {
    // Prepare
    const sandbox = await open();

    // Act
    const response = await list(sandbox, query);

    // Assess
    expect(response.status).toBe(400);
    expect((response.json as { message: string }).message).toContain(named);
  });

  it('answers everyone when told to ignore the filters', async () => {
    // Prepare
    const sandbox = await open({ ignoreFilter: true });

    // Act
    const response = await list(sandbox, { email: 'jane.doe@example.com' });

    // Assess
    expect(response.users).toHaveLength(SAMPLE_USERS.length);
  });

  it('pages as {data, metadata} with index and size in paged mode, capping size at 500', async () => {
    // Prepare
    const users = Array.from({ length: 620 }, (_, i) => ({ id: `u-${i}`, email: `user${i}@example.com` }));
    const sandbox = await open({ listShape: 'paged', users });

    // Act
    const first = await call(sandbox, 'GET', USERS);
    const last = await call(sandbox, 'GET', USERS, { query: { index: '6', size: '100' } });
    const capped = await call(sandbox, 'GET', USERS, { query: { size: '1000' } });
    const bad = await call(sandbox, 'GET', USERS, { query: { index: '-1' } });

    // Assess
    const page = (response: { json: unknown }) =>
      response.json as { data: PlatformUser[]; metadata: unknown };
    expect(page(first).metadata).toEqual({ index: 0, size: 100, totalPages: 7, totalResources: 620 });
    expect(page(first).data).toHaveLength(100);
    expect(page(last).data.map((user) => user.id)).toEqual(
      Array.from({ length: 20 }, (_, i) => `u-${600 + i}`),
    );
    expect(page(capped).metadata).toMatchObject({ size: 500, totalPages: 2 });
    expect(bad.status).toBe(400);
  });
});

describe('Rapid7 Platform sandbox: GET /account/api/1/users/{id}', () => {
  it('answers the record, or 404 for an unknown id', async () => {
    // Prepare
    const sandbox = await open();

    // Act
    const jane = await call(sandbox, 'GET', `${USERS}/${JANE.id}`);
    const missing = await call(sandbox, 'GET', `${USERS}/does-not-exist`);
    const otherRoute = await call(sandbox, 'GET', '/account/api/1/roles');

    // Assess
    expect(jane.json).toEqual(JANE);
    expect(missing.status).toBe(404);
    expect(otherRoute.status).toBe(404);
  });
});

describe('Rapid7 Platform sandbox: no user writes over HTTP', () => {
  it.each(['PUT', 'PATCH', 'POST', 'DELETE'])(
    'answers 405 to %s and records it, changing nothing',
    async (method) => {
      // Prepare
      const sandbox = await open();
      const before = structuredClone([...sandbox.users.values()]);
      const path = method === 'POST' ? USERS : `${USERS}/${JANE.id}`;

      // Act
      const response = await call(sandbox, method, path, { body: { status: 'DISABLED' } });

      // Assess
      expect(response.status).toBe(405);
      expect(response.headers.get('allow')).toBe('GET');
      expect([...sandbox.users.values()]).toEqual(before);
      expect(sandbox.requests).toEqual([
        { method, path, query: {}, body: { status: 'DISABLED' }, status: 405 },
      ]);
    },
  );
});

describe('Rapid7 Platform sandbox: the person’s console hooks', () => {
  it('disableUser sets DISABLED by email ignoring case, and says whether anyone had it', async () => {
    // Prepare
    const sandbox = await open();

    // Act
    const found = sandbox.disableUser('JANE.DOE@example.com');
    const nobody = sandbox.disableUser('nobody@example.com');
    const read = await call(sandbox, 'GET', `${USERS}/${JANE.id}`);

    // Assess
    expect(found).toBe(true);
    expect(nobody).toBe(false);
    expect(read.json).toEqual({ ...JANE, status: 'DISABLED' });
    expect(sandbox.requests).toHaveLength(1);
  });

  it('removeUser deletes the account: reads answer 404', async () => {
    // Prepare
    const sandbox = await open();

    // Act
    const removed = sandbox.removeUser(JANE.email);
    const read = await call(sandbox, 'GET', `${USERS}/${JANE.id}`);
    const listed = await list(sandbox, { email: JANE.email });

    // Assess
    expect(removed).toBe(true);
    expect(read.status).toBe(404);
    expect(listed.users).toEqual([]);
  });

  it('keeps answering the old record to the next verifyLag reads of that user', async () => {
    // Prepare
    const sandbox = await open({ verifyLag: 2 });

    // Act
    sandbox.disableUser(JANE.email);
    const statuses = [];
    for (let i = 0; i < 3; i++) {
      statuses.push(((await call(sandbox, 'GET', `${USERS}/${JANE.id}`)).json as PlatformUser).status);
    }

    // Assess
    expect(statuses).toEqual(['ACTIVE', 'ACTIVE', 'DISABLED']);
  });
});

describe('Rapid7 Platform sandbox: limits, faults and latency', () => {
  it('answers 429 without Retry-After above ratePerSecond, before looking at the key', async () => {
    // Prepare
    const sandbox = await open({ ratePerSecond: 2 });

    // Act
    const responses = await Promise.all(Array.from({ length: 5 }, () => call(sandbox, 'GET', USERS)));
    const unauthenticated = await call(sandbox, 'GET', USERS, { apiKey: null });

    // Assess
    const throttled = responses.filter((response) => response.status === 429);
    expect(throttled).toHaveLength(3);
    expect(throttled[0]?.headers.get('retry-after')).toBeNull();
    expect(unauthenticated.status).toBe(429);
    expect(sandbox.counts()).toEqual({ total: 6, throttled: 4 });
  });

  it('fires a fault `times` times on matching requests, after authentication, then stops', async () => {
    // Prepare
    const sandbox = await open();
    const fault: Rapid7PlatformFault = {
      method: 'GET',
      path: new RegExp(`${JANE.id}$`),
      status: 500,
      times: 2,
    };
    sandbox.addFault(fault);

    // Act
    const unauthenticated = await call(sandbox, 'GET', `${USERS}/${JANE.id}`, { apiKey: null });
    const other = await call(sandbox, 'GET', `${USERS}/${ADMIN.id}`);
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await call(sandbox, 'GET', `${USERS}/${JANE.id}`)).status);

    // Assess
    expect(unauthenticated.status).toBe(401);
    expect(other.status).toBe(200);
    expect(statuses).toEqual([500, 500, 200]);
    expect(fault.times).toBe(0);
  });

  it('fires a fault that names query parameters only on the page it names', async () => {
    // Prepare: 250 users in pages of 100; page 1 goes missing once.
    const users = Array.from({ length: 250 }, (_, i) => ({ email: `user${i}@example.com` }));
    const sandbox = await open({
      listShape: 'paged',
      users,
      faults: [{ method: 'GET', path: /\/users$/, query: { index: '1' }, status: 404, times: 1 }],
    });

    // Act
    const statuses = [];
    for (const index of ['0', '1', '2', '1']) statuses.push((await list(sandbox, { index })).status);

    // Assess
    expect(statuses).toEqual([200, 404, 200, 200]);
  });

  it('serves a fault body as raw text with its headers', async () => {
    // Prepare
    const sandbox = await open({
      faults: [{ status: 200, times: 1, body: '[{"id": "x', headers: { 'X-Sandbox': 'yes' } }],
    });

    // Act
    const response = await call(sandbox, 'GET', USERS);

    // Assess
    expect(response.text).toBe('[{"id": "x');
    expect(response.headers.get('x-sandbox')).toBe('yes');
  });

  it('delays every answer by latencyMs', async () => {
    // Prepare
    const sandbox = await open({ latencyMs: 60 });

    // Act
    const started = performance.now();
    const response = await call(sandbox, 'GET', `${USERS}/${JANE.id}`);
    const elapsed = performance.now() - started;

    // Assess
    expect(response.status).toBe(200);
    expect(elapsed).toBeGreaterThanOrEqual(55);
  });

  it('stops listening on close, even with a keep-alive connection open', async () => {
    // Prepare
    const sandbox = await startRapid7PlatformSandbox();
    await call(sandbox, 'GET', USERS);

    // Act
    await sandbox.close();

    // Assess
    await expect(fetch(`${sandbox.baseUrl}${USERS}`)).rejects.toThrow();
  });
});
