import { describe, expect, it } from 'vitest';
import {
  GAINSIGHT_SANDBOX_ACCESS_KEY,
  type GainsightFault,
  type GainsightSandbox,
  type GainsightUser,
  SAMPLE_USERS,
  startGainsightSandbox,
} from '../../sandboxes/gainsight.js';
import { sandboxStarter } from '../helpers/sandboxes';

const JANE = SAMPLE_USERS[1] as GainsightUser;

/** Started per test, closed after it. */
const open = sandboxStarter(startGainsightSandbox);

interface CallOptions {
  query?: Record<string, string>;
  body?: unknown;
  /** The Accesskey header; null sends none. Default the sandbox's key. */
  accessKey?: string | null;
  headers?: Record<string, string>;
}

async function call(sandbox: GainsightSandbox, method: string, path: string, options: CallOptions = {}) {
  const url = new URL(sandbox.baseUrl + path);
  for (const [name, value] of Object.entries(options.query ?? {})) url.searchParams.set(name, value);
  const headers: Record<string, string> = { 'Content-Type': 'application/json', ...options.headers };
  const accessKey = options.accessKey === undefined ? GAINSIGHT_SANDBOX_ACCESS_KEY : options.accessKey;
  if (accessKey !== null) headers.Accesskey = accessKey;
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

interface ListBody {
  result: boolean;
  data: GainsightUser[];
  totalCount: number;
}
const listUsers = async (sandbox: GainsightSandbox, query: Record<string, string>) => {
  const response = await call(sandbox, 'GET', '/v1/users', { query });
  return { ...response, list: response.json as ListBody };
};
const ids = (list: ListBody) => list.data.map((user) => user.userId);

/** A clock the test moves by hand, for the fixed rate windows. */
function manualClock() {
  let time = 0;
  return {
    now: () => time,
    advance: (ms: number) => {
      time += ms;
    },
  };
}

describe('Gainsight sandbox: authentication', () => {
  it.each([
    ['no Accesskey header', null, {}],
    ['an unknown key', 'not-a-key', {}],
    ['the key as a Bearer token', null, { Authorization: `Bearer ${GAINSIGHT_SANDBOX_ACCESS_KEY}` }],
  ])('answers 401 with result: false to %s', async (_name, accessKey, headers) => {
    // Prepare
    const sandbox = await open();

    // Act
    const response = await call(sandbox, 'GET', '/v1/users', { accessKey, headers });

    // Assess
    expect(response.status).toBe(401);
    expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(response.json).toEqual({ result: false, message: expect.any(String) });
    expect(response.text).not.toContain('not-a-key');
  });

  it('accepts any of the configured keys', async () => {
    // Prepare
    const sandbox = await open({ accessKeys: ['key-a', 'key-b'] });

    // Act
    const a = await call(sandbox, 'GET', '/v1/users/u123', { accessKey: 'key-a' });
    const b = await call(sandbox, 'GET', '/v1/users/u123', { accessKey: 'key-b' });
    const standard = await call(sandbox, 'GET', '/v1/users/u123');

    // Assess
    expect([a.status, b.status, standard.status]).toEqual([200, 200, 401]);
  });
});

describe('Gainsight sandbox: GET /v1/users', () => {
  it('lists every user, inactive ones included, in the envelope with totalCount', async () => {
    // Prepare
    const sandbox = await open();

    // Act
    const { status, list } = await listUsers(sandbox, {});

    // Assess
    expect(status).toBe(200);
    expect(list.result).toBe(true);
    expect(list.totalCount).toBe(SAMPLE_USERS.length);
    expect(ids(list)).toEqual(['u101', 'u123', 'u124', 'u125', 'u126', 'u127']);
    expect(list.data[1]).toEqual(JANE);
  });

  it('filters by isActive, and ignores parameters it does not know (there is no email filter)', async () => {
    // Prepare
    const sandbox = await open();

    // Act
    const inactive = await listUsers(sandbox, { isActive: 'false' });
    const byEmail = await listUsers(sandbox, { email: 'jane.doe@example.com' });

    // Assess
    expect(ids(inactive.list)).toEqual(['u124']);
    expect(inactive.list.totalCount).toBe(1);
    expect(byEmail.status).toBe(200);
    expect(byEmail.list.data).toHaveLength(SAMPLE_USERS.length);
  });

  it('pages from 1 with a default of 100 and caps pageSize at 1000', async () => {
    // Prepare
    const users = Array.from({ length: 1250 }, (_, i) => ({ email: `user${i}@example.com` }));
    const sandbox = await open({ users });

    // Act
    const byDefault = await listUsers(sandbox, {});
    const capped = await listUsers(sandbox, { page: '1', pageSize: '5000' });
    const second = await listUsers(sandbox, { page: '2', pageSize: '1000' });
    const small = await listUsers(sandbox, { page: '3', pageSize: '2' });
    const beyond = await listUsers(sandbox, { page: '3', pageSize: '1000' });

    // Assess
    expect(byDefault.list.data).toHaveLength(100);
    expect(capped.status).toBe(200);
    expect(capped.list.data).toHaveLength(1000);
    expect(capped.list.totalCount).toBe(1250);
    expect(second.list.data).toHaveLength(250);
    expect(second.list.data[0]?.userId).toBe('u2001');
    expect(ids(small.list)).toEqual(['u1005', 'u1006']);
    expect(beyond.list).toEqual({ result: true, data: [], totalCount: 1250 });
  });

  it.each([
    ['page', '0'],
    ['page', 'two'],
    ['pageSize', '0'],
    ['pageSize', '-5'],
    ['isActive', 'yes'],
  ])('answers 400 to %s=%s', async (name, value) => {
    // Prepare
    const sandbox = await open();

    // Act
    const response = await listUsers(sandbox, { [name]: value });

    // Assess
    expect(response.status).toBe(400);
    expect(response.json).toEqual({ result: false, message: expect.stringContaining(name) });
  });

  it('fills defaults for seeds and numbers them from u1001, skipping ids taken', async () => {
    // Prepare
    const sandbox = await open({
      users: [
        { email: 'a@example.com' },
        { userId: 'u1002', email: 'b@example.com' },
        { email: 'c@example.com' },
      ],
    });

    // Act
    const { list } = await listUsers(sandbox, {});

    // Assess
    expect(ids(list)).toEqual(['u1001', 'u1002', 'u1003']);
    expect(list.data[0]).toMatchObject({
      isActive: true,
      role: 'Standard User',
      title: null,
      groups: [],
      customAttributes: {},
    });
  });
});

describe('Gainsight sandbox: GET and DELETE /v1/users/{userId}', () => {
  it('answers the record in the envelope, or 404', async () => {
    // Prepare
    const sandbox = await open();

    // Act
    const jane = await call(sandbox, 'GET', '/v1/users/u123');
    const missing = await call(sandbox, 'GET', '/v1/users/u999');

    // Assess
    expect(jane.json).toEqual({ result: true, data: JANE });
    expect(missing.status).toBe(404);
    expect(missing.json).toEqual({ result: false, message: 'User u999 not found' });
  });

  it('deactivates on DELETE, keeping the record, and records the request', async () => {
    // Prepare
    const sandbox = await open();

    // Act
    const deleted = await call(sandbox, 'DELETE', '/v1/users/u126');
    const after = await call(sandbox, 'GET', '/v1/users/u126');

    // Assess
    expect(deleted.json).toEqual({ result: true, message: 'User deactivated successfully.' });
    expect(after.json).toEqual({ result: true, data: { ...SAMPLE_USERS[4], isActive: false } });
    expect(sandbox.requests[0]).toMatchObject({ method: 'DELETE', path: '/v1/users/u126', status: 200 });
  });

  it('answers 404 to unknown routes and 405 to other methods', async () => {
    // Prepare
    const sandbox = await open();

    // Act
    const other = await call(sandbox, 'GET', '/v1/companies');
    const post = await call(sandbox, 'POST', '/v1/users', { body: { email: 'new@example.com' } });

    // Assess
    expect(other.status).toBe(404);
    expect(post.status).toBe(405);
    expect(sandbox.requests).toEqual([
      { method: 'GET', path: '/v1/companies', query: {}, status: 404 },
      { method: 'POST', path: '/v1/users', query: {}, body: { email: 'new@example.com' }, status: 405 },
    ]);
  });
});

describe('Gainsight sandbox: PUT /v1/users/{userId}', () => {
  /** What a careless client sends: the required fields and the change, nothing else. */
  const minimal = {
    email: JANE.email,
    firstName: JANE.firstName,
    lastName: JANE.lastName,
    role: JANE.role,
    isActive: false,
  };

  it('in full mode (the default) resets every field the body leaves out', async () => {
    // Prepare
    const sandbox = await open();

    // Act
    const response = await call(sandbox, 'PUT', '/v1/users/u123', { body: minimal });

    // Assess
    expect(response.status).toBe(200);
    const stored = sandbox.users.get('u123');
    expect(response.json).toEqual({ result: true, data: stored });
    expect(stored).toEqual({
      ...minimal,
      userId: 'u123',
      name: 'Jane Doe',
      userType: null,
      phone: null,
      title: null,
      department: null,
      managerId: null,
      timezone: null,
      locale: null,
      externalId: null,
      groups: [],
      customAttributes: {},
    });
  });

  it('in full mode refuses a body without the required fields, and reactivates when isActive is left out', async () => {
    // Prepare
    const sandbox = await open({ putMode: 'full' });
    const gary = sandbox.users.get('u124') as GainsightUser;

    // Act
    const refused = await call(sandbox, 'PUT', '/v1/users/u123', { body: { isActive: false } });
    await call(sandbox, 'PUT', '/v1/users/u124', {
      body: { email: gary.email, firstName: gary.firstName, lastName: gary.lastName, role: gary.role },
    });

    // Assess
    expect(refused.status).toBe(400);
    expect((refused.json as { message: string }).message).toContain('email, firstName, lastName, role');
    expect(sandbox.users.get('u123')).toEqual(JANE);
    expect(sandbox.users.get('u124')?.isActive).toBe(true);
  });

  it('in partial mode changes only what the body carries', async () => {
    // Prepare
    const sandbox = await open({ putMode: 'partial' });

    // Act
    const response = await call(sandbox, 'PUT', '/v1/users/u123', { body: { isActive: false } });

    // Assess
    expect(response.status).toBe(200);
    expect(sandbox.users.get('u123')).toEqual({ ...JANE, isActive: false });
  });

  it.each(['full', 'partial'] as const)(
    'in %s mode keeps everything a whole-record PUT sends back',
    async (putMode) => {
      // Prepare
      const sandbox = await open({ putMode });

      // Act
      const response = await call(sandbox, 'PUT', '/v1/users/u123', { body: { ...JANE, isActive: false } });

      // Assess
      expect(response.status).toBe(200);
      expect(sandbox.users.get('u123')).toEqual({ ...JANE, isActive: false });
    },
  );

  it.each([
    ['an unknown field', { ...JANE, status: 'inactive' }, 400, 'status'],
    ['another userId', { ...JANE, userId: 'u101' }, 400, 'userId'],
    ['a mistyped field', { ...JANE, isActive: 'false' }, 400, 'isActive'],
    ['a null required field', { ...JANE, role: null }, 400, 'role'],
    ['groups that are not strings', { ...JANE, groups: [1] }, 400, 'groups'],
    ['customAttributes as a list', { ...JANE, customAttributes: [] }, 400, 'customAttributes'],
    ['an empty email', { ...JANE, email: ' ' }, 400, 'email'],
    ['a role the tenant lacks', { ...JANE, role: 'Superuser' }, 400, 'Superuser'],
    ["another user's email", { ...JANE, email: 'ADMIN@example.com' }, 409, 'ADMIN@example.com'],
    ['an array', [JANE], 400, 'user object'],
    ['malformed JSON', '{"isActive": false,', 400, 'JSON'],
  ])('refuses a body with %s, changing nothing', async (_name, body, status, named) => {
    // Prepare
    const sandbox = await open({ putMode: 'partial' });

    // Act
    const response = await call(sandbox, 'PUT', '/v1/users/u123', { body });

    // Assess
    expect(response.status).toBe(status);
    expect(response.json).toEqual({ result: false, message: expect.stringContaining(named) });
    expect(sandbox.users.get('u123')).toEqual(JANE);
  });

  it('answers 404 to a PUT of an unknown user', async () => {
    // Prepare
    const sandbox = await open();

    // Act
    const response = await call(sandbox, 'PUT', '/v1/users/u999', { body: { ...JANE, userId: 'u999' } });

    // Assess
    expect(response.status).toBe(404);
  });

  it('keeps answering the old record to the next verifyLag reads of that user', async () => {
    // Prepare
    const sandbox = await open({ verifyLag: 2 });

    // Act
    await call(sandbox, 'PUT', '/v1/users/u123', { body: { ...JANE, isActive: false } });
    const reads = [];
    for (let i = 0; i < 3; i++) {
      reads.push(((await call(sandbox, 'GET', '/v1/users/u123')).json as { data: GainsightUser }).data);
    }

    // Assess
    expect(reads.map((user) => user.isActive)).toEqual([true, true, false]);
  });
});

describe('Gainsight sandbox: limits, faults and latency', () => {
  it('answers 429 without Retry-After once a fixed window is spent, before looking at the key', async () => {
    // Prepare
    const clock = manualClock();
    const sandbox = await open({ rateLimit: { limit: 2, windowMs: 1000 }, now: clock.now });

    // Act
    const first = await call(sandbox, 'GET', '/v1/users/u123');
    await call(sandbox, 'GET', '/v1/users/u123');
    const over = await call(sandbox, 'GET', '/v1/users/u123');
    const unauthenticated = await call(sandbox, 'GET', '/v1/users/u123', { accessKey: null });

    // Assess
    expect(first.status).toBe(200);
    expect(over.status).toBe(429);
    expect(over.json).toEqual({ result: false, message: 'Rate limit exceeded' });
    expect(over.headers.get('retry-after')).toBeNull();
    expect(unauthenticated.status).toBe(429);
    expect(sandbox.counts()).toEqual({ total: 4, throttled: 2 });
  });

  it('gives nothing back within the window and the whole budget back when the next one starts', async () => {
    // Prepare: 5 requests per 200 ms; a token bucket would let one through every 40 ms.
    const clock = manualClock();
    const sandbox = await open({ rateLimit: { limit: 5, windowMs: 200 }, now: clock.now });
    const burst = async () => {
      const statuses = [];
      for (let i = 0; i < 6; i++) statuses.push((await call(sandbox, 'GET', '/v1/users/u123')).status);
      return statuses;
    };

    // Act
    const firstWindow = await burst();
    clock.advance(190);
    const lateInWindow = (await call(sandbox, 'GET', '/v1/users/u123')).status;
    clock.advance(10);
    const nextWindow = await burst();

    // Assess
    expect(firstWindow).toEqual([200, 200, 200, 200, 200, 429]);
    expect(lateInWindow).toBe(429);
    expect(nextWindow).toEqual([200, 200, 200, 200, 200, 429]);
  });

  it('resets after windowMs on the real clock', async () => {
    // Prepare
    const sandbox = await open({ rateLimit: { limit: 1, windowMs: 150 } });
    await call(sandbox, 'GET', '/v1/users/u123');
    const over = await call(sandbox, 'GET', '/v1/users/u123');

    // Act
    await new Promise((resolve) => setTimeout(resolve, 160));
    const later = await call(sandbox, 'GET', '/v1/users/u123');

    // Assess
    expect(over.status).toBe(429);
    expect(later.status).toBe(200);
  });

  it('applies every window: an hourly and a daily budget', async () => {
    // Prepare
    const clock = manualClock();
    const sandbox = await open({
      rateLimit: [
        { limit: 2, windowMs: 3_600_000 },
        { limit: 3, windowMs: 86_400_000 },
      ],
      now: clock.now,
    });
    const status = async () => (await call(sandbox, 'GET', '/v1/users/u123')).status;

    // Act
    const hour1 = [await status(), await status(), await status()];
    clock.advance(3_600_000);
    const hour2 = [await status(), await status()];

    // Assess
    expect(hour1).toEqual([200, 200, 429]);
    expect(hour2).toEqual([200, 429]);
  });

  it('fires a fault `times` times on matching requests, after authentication, then stops', async () => {
    // Prepare
    const sandbox = await open();
    const fault: GainsightFault = { method: 'GET', path: /\/users\/u123$/, status: 500, times: 2 };
    sandbox.addFault(fault);

    // Act
    const unauthenticated = await call(sandbox, 'GET', '/v1/users/u123', { accessKey: null });
    const other = await call(sandbox, 'GET', '/v1/users/u101');
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await call(sandbox, 'GET', '/v1/users/u123')).status);

    // Assess
    expect(unauthenticated.status).toBe(401);
    expect(other.status).toBe(200);
    expect(statuses).toEqual([500, 500, 200]);
    expect(fault.times).toBe(0);
  });

  it('serves a fault body as raw text with its headers', async () => {
    // Prepare
    const sandbox = await open({
      faults: [
        { status: 200, times: 1, body: '{"result": true, "data": [', headers: { 'X-Sandbox': 'yes' } },
      ],
    });

    // Act
    const response = await call(sandbox, 'GET', '/v1/users');

    // Assess
    expect(response.status).toBe(200);
    expect(response.text).toBe('{"result": true, "data": [');
    expect(response.headers.get('x-sandbox')).toBe('yes');
  });

  it('delays every answer by latencyMs', async () => {
    // Prepare
    const sandbox = await open({ latencyMs: 60 });

    // Act
    const started = performance.now();
    const response = await call(sandbox, 'GET', '/v1/users/u123');
    const elapsed = performance.now() - started;

    // Assess
    expect(response.status).toBe(200);
    expect(elapsed).toBeGreaterThanOrEqual(55);
  });

  it('stops listening on close, even with a keep-alive connection open', async () => {
    // Prepare
    const sandbox = await startGainsightSandbox();
    await call(sandbox, 'GET', '/v1/users/u123');

    // Act
    await sandbox.close();

    // Assess
    await expect(fetch(`${sandbox.baseUrl}/v1/users/u123`)).rejects.toThrow();
  });
});
