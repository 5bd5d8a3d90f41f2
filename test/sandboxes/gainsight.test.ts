import { describe, expect, it } from 'vitest';
import {
  GAINSIGHT_API_USER,
  GAINSIGHT_FIELDS,
  GAINSIGHT_SANDBOX_ACCESS_KEY,
  type GainsightFault,
  type GainsightSandbox,
  type GainsightUser,
  gsidOf,
  JANE_GSID,
  SAMPLE_USERS,
  startGainsightSandbox,
} from '../../sandboxes/gainsight.js';
import { sandboxStarter } from '../helpers/sandboxes';

/**
 * The Gainsight sandbox against Gainsight's own document (vendor-contracts/gainsight): the
 * User Management API under `/v1/users/services`, its envelope, its error codes and its
 * fixed windows. The seed guide's `/v1/users/{userId}` API is not there.
 */

const JANE = SAMPLE_USERS[1] as GainsightUser;
const GARY = SAMPLE_USERS[2] as GainsightUser;
const ALL_FIELDS = [...GAINSIGHT_FIELDS];

/** Started per test, closed after it. */
const open = sandboxStarter(startGainsightSandbox);

interface CallOptions {
  query?: Record<string, string>;
  body?: unknown;
  /** The accesskey header; null sends none. Default the sandbox's key. */
  accessKey?: string | null;
  headers?: Record<string, string>;
}

interface Envelope {
  result: boolean;
  errorCode: string | null;
  errorDesc: string | null;
  requestId: string;
  data: unknown;
  message: string | null;
}

async function call(sandbox: GainsightSandbox, method: string, path: string, options: CallOptions = {}) {
  const url = new URL(sandbox.baseUrl + path);
  for (const [name, value] of Object.entries(options.query ?? {})) url.searchParams.set(name, value);
  const headers: Record<string, string> = { 'content-type': 'application/json', ...options.headers };
  const accessKey = options.accessKey === undefined ? GAINSIGHT_SANDBOX_ACCESS_KEY : options.accessKey;
  if (accessKey !== null) headers.accesskey = accessKey;
  const body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
  const response = await fetch(url, { method, headers, ...(options.body === undefined ? {} : { body }) });
  const text = await response.text();
  let json: unknown;
  try {
    json = text === '' ? undefined : JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, text, envelope: json as Envelope };
}

interface ListData {
  records: Array<Partial<GainsightUser>>;
  totalCount?: number;
}

/** `POST /v1/users/services/list`; every field selected unless the body says otherwise. */
async function list(sandbox: GainsightSandbox, body: Record<string, unknown> = {}) {
  const response = await call(sandbox, 'POST', '/v1/users/services/list', {
    body: { select: ALL_FIELDS, ...body },
  });
  return { ...response, data: response.envelope.data as ListData };
}

const byEmail = (operator: string, value: unknown[]) => ({
  where: { conditions: [{ name: 'Email', alias: 'A', operator, value }], expression: 'A' },
});
const gsids = (data: ListData) => data.records.map((user) => user.Gsid);

interface StatusData {
  count: number;
  records: Array<{ Gsid: string; IsActiveUser: boolean }>;
  errors: Array<{ Gsid: string; errorCode: string; errorDesc: string }>;
}

async function setStatus(sandbox: GainsightSandbox, status: string, body: unknown) {
  const response = await call(sandbox, 'PUT', '/v1/users/services/status', { query: { status }, body });
  return { ...response, data: response.envelope.data as StatusData };
}

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

describe('Gainsight sandbox: authentication and routes', () => {
  it.each([
    ['no accesskey header', null, {}],
    ['an unknown key', 'not-a-key', {}],
    ['the key as a Bearer token', null, { authorization: `Bearer ${GAINSIGHT_SANDBOX_ACCESS_KEY}` }],
  ])('answers 401 with result: false to %s', async (_name, accessKey, headers) => {
    // Prepare
    const sandbox = await open();

    // Act
    const response = await call(sandbox, 'POST', '/v1/users/services/list', {
      accessKey,
      headers,
      body: { select: ['Gsid'] },
    });

    // Assess
    expect(response.status).toBe(401);
    expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(response.envelope).toEqual({
      result: false,
      errorCode: null,
      errorDesc: expect.stringContaining('accesskey'),
      requestId: expect.any(String),
      data: null,
      message: null,
    });
    expect(response.text).not.toContain('not-a-key');
  });

  it('accepts any of the configured keys', async () => {
    // Prepare
    const sandbox = await open({ accessKeys: ['key-a', 'key-b'] });
    const ask = (accessKey?: string) =>
      call(sandbox, 'POST', '/v1/users/services/list', { accessKey, body: { select: ['Gsid'] } });

    // Act
    const statuses = [(await ask('key-a')).status, (await ask('key-b')).status, (await ask()).status];

    // Assess
    expect(statuses).toEqual([200, 200, 401]);
  });

  it.each([
    ['GET', '/v1/users'],
    ['GET', `/v1/users/${JANE_GSID}`],
    ['PUT', `/v1/users/${JANE_GSID}`],
    ['DELETE', `/v1/users/${JANE_GSID}`],
    ['GET', '/v1/users/services'],
    ['POST', '/v1/users/services/search'],
  ])("answers 404 to the seed guide's and other unknown routes: %s %s", async (method, path) => {
    // Prepare
    const sandbox = await open();

    // Act
    const response = await call(sandbox, method, path, method === 'PUT' ? { body: { isActive: false } } : {});

    // Assess
    expect(response.status).toBe(404);
    expect(response.envelope).toMatchObject({ result: false, errorDesc: expect.stringContaining(path) });
    expect(sandbox.users.get(JANE_GSID)).toEqual(JANE);
  });

  it('answers 405 to another method on a known route, and 415 to a body that is not JSON', async () => {
    // Prepare
    const sandbox = await open();

    // Act
    const get = await call(sandbox, 'GET', '/v1/users/services/list');
    const form = await call(sandbox, 'POST', '/v1/users/services/list', {
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'select=Gsid',
    });

    // Assess
    expect(get.status).toBe(405);
    expect(form.status).toBe(415);
    expect(form.envelope.result).toBe(false);
  });
});

describe('Gainsight sandbox: POST /v1/users/services/list', () => {
  it('answers every user, inactive ones included, with the fields selected, in the envelope', async () => {
    // Prepare
    const sandbox = await open();

    // Act
    const all = await list(sandbox, { includeTotal: true });
    const some = await list(sandbox, { select: ['Email', 'Gsid'] });

    // Assess
    expect(all.status).toBe(200);
    expect(all.envelope).toMatchObject({ result: true, errorCode: null, errorDesc: null, message: null });
    expect(all.envelope.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(all.data.totalCount).toBe(SAMPLE_USERS.length);
    expect(all.data.records).toEqual(SAMPLE_USERS);
    expect(some.data).toEqual({
      records: SAMPLE_USERS.map((user) => ({ Email: user.Email, Gsid: user.Gsid })),
    });
  });

  it('holds PascalCase users with 36-character Gsids, Jane active, Gary already off', () => {
    // Assess
    expect(JANE).toMatchObject({
      Gsid: JANE_GSID,
      Email: 'jane.doe@example.com',
      Name: 'Jane Doe',
      IsActiveUser: true,
      Manager: gsidOf(101),
    });
    expect(GARY.IsActiveUser).toBe(false);
    for (const user of SAMPLE_USERS) expect(user.Gsid).toMatch(/^1P01[0-9A-Z]{32}$/);
  });

  it.each([
    ['EQ, ignoring case', byEmail('EQ', ['JANE.DOE@example.COM']), [JANE_GSID]],
    [
      'NE',
      byEmail('NE', ['jane.doe@example.com']),
      SAMPLE_USERS.map((u) => u.Gsid).filter((g) => g !== JANE_GSID),
    ],
    ['IN', byEmail('IN', ['admin@example.com', 'marcus.lee@example.com']), [gsidOf(101), gsidOf(126)]],
    ['CONTAINS', byEmail('CONTAINS', ['.LEE@']), [gsidOf(126)]],
    ['STARTS_WITH', byEmail('STARTS_WITH', ['priya']), [gsidOf(127)]],
    [
      'EQ on a boolean',
      { where: { conditions: [{ name: 'IsActiveUser', alias: 'X', operator: 'EQ', value: [false] }] } },
      [GARY.Gsid],
    ],
    [
      'an expression of AND, OR and parentheses',
      {
        where: {
          conditions: [
            { name: 'Email', alias: 'A', operator: 'STARTS_WITH', value: ['jane'] },
            { name: 'Email', alias: 'B', operator: 'STARTS_WITH', value: ['marcus'] },
            { name: 'IsActiveUser', alias: 'C', operator: 'EQ', value: [true] },
            { name: 'LicenseType', alias: 'D', operator: 'EQ', value: ['Full'] },
          ],
          expression: '(A OR B) AND C AND D',
        },
      },
      [JANE_GSID],
    ],
  ])('filters with %s', async (_name, body, expected) => {
    // Prepare
    const sandbox = await open();

    // Act
    const { data } = await list(sandbox, { ...body, includeTotal: true });

    // Assess
    expect(gsids(data)).toEqual(expected);
    expect(data.totalCount).toBe(expected.length);
  });

  it('reads many users by Gsid with IN, one value each, and leaves out a Gsid nobody has', async () => {
    // Prepare: 60 users; 49 of them and one unknown Gsid are asked for.
    const users = Array.from({ length: 60 }, (_, i) => ({ Email: `user${i}@example.com` }));
    const sandbox = await open({ users });
    const asked = [...[...sandbox.users.keys()].slice(5, 54), gsidOf(9999)];

    // Act
    const { data } = await list(sandbox, {
      select: ['Gsid'],
      where: { conditions: [{ name: 'Gsid', alias: 'A', operator: 'IN', value: asked }], expression: 'A' },
      limit: 1000,
      includeTotal: true,
    });

    // Assess
    expect(gsids(data)).toEqual(asked.slice(0, 49));
    expect(data.totalCount).toBe(49);
  });

  it('with ignoreWhere answers everyone, as a server that takes the filter as a hint may', async () => {
    // Prepare
    const sandbox = await open({ ignoreWhere: true });

    // Act
    const { data } = await list(sandbox, byEmail('EQ', ['jane.doe@example.com']));

    // Assess
    expect(data.records).toHaveLength(SAMPLE_USERS.length);
  });

  it('pages from 0 with a default limit of 100, quietly lowering a limit above the cap', async () => {
    // Prepare
    const users = Array.from({ length: 1250 }, (_, i) => ({ Email: `user${i}@example.com` }));
    const sandbox = await open({ users });

    // Act
    const byDefault = await list(sandbox, { select: ['Gsid'] });
    const capped = await list(sandbox, { select: ['Gsid'], limit: 5000, page: 0, includeTotal: true });
    const second = await list(sandbox, { select: ['Gsid'], limit: 1000, page: 1 });
    const small = await list(sandbox, { select: ['Gsid'], limit: 2, page: 2 });
    const beyond = await list(sandbox, { select: ['Gsid'], limit: 1000, page: 2, includeTotal: true });
    const lowCap = await open({ users, maxLimit: 200 });
    const lowered = await list(lowCap, { select: ['Gsid'], limit: 1000, page: 1 });

    // Assess
    expect(byDefault.data.records).toHaveLength(100);
    expect(capped.status).toBe(200);
    expect(capped.data.records).toHaveLength(1000);
    expect(capped.data.totalCount).toBe(1250);
    expect(second.data.records).toHaveLength(250);
    expect(second.data.records[0]?.Gsid).toBe(gsidOf(2001));
    expect(gsids(small.data)).toEqual([gsidOf(1005), gsidOf(1006)]);
    expect(beyond.data).toEqual({ records: [], totalCount: 1250 });
    expect(gsids(lowered.data)[0]).toBe(gsidOf(1201));
    expect(lowered.data.records).toHaveLength(200);
  });

  it('orders by the fields of orderBy', async () => {
    // Prepare
    const sandbox = await open();

    // Act
    const { data } = await list(sandbox, { select: ['FirstName'], orderBy: { FirstName: 'desc' } });

    // Assess
    expect(data.records.map((user) => user.FirstName)).toEqual([
      'Siobhan',
      'Priya',
      'Marcus',
      'Jane',
      'Gary',
      'Alex',
    ]);
  });

  it.each([
    ['malformed JSON', '{"select": [', 'JSON'],
    ['a list instead of an object', ['Gsid'], 'JSON object'],
    ['no select', { limit: 5 }, 'select'],
    ['an unknown select field', { select: ['Gsid', 'userId'] }, 'userId'],
    [
      'a camelCase field in where (seed guide)',
      {
        select: ['Gsid'],
        where: { conditions: [{ name: 'email', alias: 'A', operator: 'EQ', value: ['x'] }] },
      },
      'unknown field email',
    ],
    ['an unknown operator', { select: ['Gsid'], ...byEmail('LIKE', ['x']) }, 'LIKE'],
    ['EQ with two values', { select: ['Gsid'], ...byEmail('EQ', ['a', 'b']) }, 'one value'],
    ['a value that is not a list', { select: ['Gsid'], ...byEmail('EQ', 'x' as never) }, 'value'],
    [
      'an expression naming no condition',
      {
        select: ['Gsid'],
        where: { conditions: [{ name: 'Email', alias: 'A', operator: 'EQ', value: ['x'] }], expression: 'B' },
      },
      'B is not the alias',
    ],
    [
      'two conditions without an expression',
      {
        select: ['Gsid'],
        where: {
          conditions: [
            { name: 'Email', alias: 'A', operator: 'EQ', value: ['x'] },
            { name: 'Email', alias: 'B', operator: 'EQ', value: ['y'] },
          ],
        },
      },
      'expression',
    ],
    ['limit 0', { select: ['Gsid'], limit: 0 }, 'limit'],
    ['page -1', { select: ['Gsid'], page: -1 }, 'page'],
    ['page 1.5', { select: ['Gsid'], page: 1.5 }, 'page'],
    ['includeTotal "yes"', { select: ['Gsid'], includeTotal: 'yes' }, 'includeTotal'],
    ['orderBy up', { select: ['Gsid'], orderBy: { Email: 'up' } }, 'orderBy'],
  ])('answers 400 with result: false to %s', async (_name, body, named) => {
    // Prepare
    const sandbox = await open();

    // Act
    const response = await call(sandbox, 'POST', '/v1/users/services/list', { body });

    // Assess
    expect(response.status).toBe(400);
    expect(response.envelope).toMatchObject({ result: false, errorDesc: expect.stringContaining(named) });
  });

  it('fills defaults for seeds and numbers them from Gsid 1001, skipping ids taken', async () => {
    // Prepare
    const sandbox = await open({
      users: [
        { Email: 'a@example.com' },
        { Gsid: gsidOf(1002), Email: 'b@example.com' },
        { Email: 'c@example.com' },
      ],
    });

    // Act
    const { data } = await list(sandbox);

    // Assess
    expect(gsids(data)).toEqual([gsidOf(1001), gsidOf(1002), gsidOf(1003)]);
    expect(data.records[0]).toMatchObject({
      Name: null,
      IsActiveUser: true,
      IsSuperAdmin: false,
      LicenseType: 'Full',
      SystemType: 'Internal',
      Title: null,
      ModifiedBy: GAINSIGHT_API_USER,
    });
  });
});

describe('Gainsight sandbox: PUT /v1/users/services/status', () => {
  it('switches the users named off, moving the modified date and nothing but the status', async () => {
    // Prepare
    const sandbox = await open();
    const marcus = SAMPLE_USERS[4] as GainsightUser;

    // Act
    const response = await setStatus(sandbox, 'false', [JANE_GSID, marcus.Gsid]);

    // Assess
    expect(response.status).toBe(200);
    expect(response.envelope.result).toBe(true);
    expect(response.data).toEqual({
      count: 2,
      records: [
        { Gsid: JANE_GSID, IsActiveUser: false },
        { Gsid: marcus.Gsid, IsActiveUser: false },
      ],
      errors: [],
    });
    const { IsActiveUser, ModifiedDate, ModifiedBy, ...rest } = sandbox.users.get(JANE_GSID) as GainsightUser;
    const { IsActiveUser: _was, ModifiedDate: before, ModifiedBy: _by, ...kept } = JANE;
    expect(IsActiveUser).toBe(false);
    expect(rest).toEqual(kept);
    expect(ModifiedDate).not.toBe(before);
    expect(ModifiedDate).toMatch(/^\d{2}\/\d{2}\/\d{4} \d{2}:\d{2}:\d{2}$/);
    expect(ModifiedBy).toBe(GAINSIGHT_API_USER);
    expect(sandbox.users.get(marcus.Gsid)?.IsActiveUser).toBe(false);
  });

  it('switches a user back on with status=true, and leaves a user already so untouched', async () => {
    // Prepare
    const sandbox = await open();

    // Act
    const on = await setStatus(sandbox, 'true', [GARY.Gsid]);
    const again = await setStatus(sandbox, 'true', [JANE_GSID]);

    // Assess
    expect(on.envelope.result).toBe(true);
    expect(sandbox.users.get(GARY.Gsid)?.IsActiveUser).toBe(true);
    expect(again.envelope.result).toBe(true);
    expect(again.data.errors).toEqual([]);
    expect(sandbox.users.get(JANE_GSID)).toEqual(JANE);
  });

  it('reports an unknown Gsid inside data of an answer that says result: true, and sets the others', async () => {
    // Prepare
    const sandbox = await open();
    const unknown = gsidOf(999);

    // Act
    const response = await setStatus(sandbox, 'false', [JANE_GSID, unknown]);

    // Assess
    expect(response.status).toBe(200);
    expect(response.envelope.result).toBe(true);
    expect(response.data.count).toBe(1);
    expect(response.data.errors).toEqual([
      { Gsid: unknown, errorCode: 'GU_2402', errorDesc: `User not found: ${unknown}` },
    ]);
    expect(sandbox.users.get(JANE_GSID)?.IsActiveUser).toBe(false);
  });

  it('answers result: false with GU_2402 when no record could be set', async () => {
    // Prepare
    const sandbox = await open();

    // Act
    const response = await setStatus(sandbox, 'false', [gsidOf(998), gsidOf(999)]);

    // Assess
    expect(response.status).toBe(200);
    expect(response.envelope).toMatchObject({
      result: false,
      errorCode: 'GU_2402',
      errorDesc: 'Bulk update failed',
    });
    expect(response.data.errors).toHaveLength(2);
  });

  it('takes up to 50 Gsids in one call, and refuses 51 whole with GU_2402', async () => {
    // Prepare
    const users = Array.from({ length: 51 }, (_, i) => ({ Email: `user${i}@example.com` }));
    const sandbox = await open({ users });
    const all = [...sandbox.users.keys()];

    // Act
    const tooMany = await setStatus(sandbox, 'false', all);
    const fifty = await setStatus(sandbox, 'false', all.slice(0, 50));

    // Assess
    expect(tooMany.status).toBe(400);
    expect(tooMany.envelope).toMatchObject({
      result: false,
      errorCode: 'GU_2402',
      errorDesc: expect.stringContaining('50'),
    });
    expect(fifty.envelope.result).toBe(true);
    expect(fifty.data.count).toBe(50);
    expect([...sandbox.users.values()].filter((user) => user.IsActiveUser)).toHaveLength(1);
  });

  it.each([
    ['no status', undefined, [JANE_GSID], 'status'],
    ['status=off', 'off', [JANE_GSID], 'status'],
    ['an object body', 'false', { gsids: [JANE_GSID] }, 'array'],
    ['an empty list', 'false', [], 'array'],
    ['numbers', 'false', [123], 'array'],
    ['malformed JSON', 'false', '["a"', 'JSON'],
  ])('answers 400 to %s, changing nothing', async (_name, status, body, named) => {
    // Prepare
    const sandbox = await open();

    // Act
    const response = await call(sandbox, 'PUT', '/v1/users/services/status', {
      query: status === undefined ? {} : { status },
      body,
    });

    // Assess
    expect(response.status).toBe(400);
    expect(response.envelope).toMatchObject({ result: false, errorDesc: expect.stringContaining(named) });
    expect(sandbox.users.get(JANE_GSID)).toEqual(JANE);
  });

  it('keeps showing the old record to the next verifyLag lists that return the user', async () => {
    // Prepare
    const sandbox = await open({ verifyLag: 2 });
    await setStatus(sandbox, 'false', [JANE_GSID]);
    const read = async () =>
      (
        await list(sandbox, {
          where: { conditions: [{ name: 'Gsid', alias: 'A', operator: 'EQ', value: [JANE_GSID] }] },
        })
      ).data.records[0]?.IsActiveUser;

    // Act
    const reads = [await read(), await read(), await read()];

    // Assess
    expect(reads).toEqual([true, true, false]);
  });
});

describe('Gainsight sandbox: limits, faults and latency', () => {
  /** Any request counts in the windows; this one is cheap. */
  const ping = async (sandbox: GainsightSandbox) =>
    (await call(sandbox, 'POST', '/v1/users/services/list', { body: { select: ['Gsid'], limit: 1 } })).status;

  it('allows 100 requests an hour by default, then GU_2400 with HTTP 429 until the next hour starts', async () => {
    // Prepare
    const clock = manualClock();
    const sandbox = await open({ now: clock.now });
    for (let i = 0; i < 100; i++) expect(await ping(sandbox)).toBe(200);

    // Act
    const over = await call(sandbox, 'POST', '/v1/users/services/list', { body: { select: ['Gsid'] } });
    const unauthenticated = await call(sandbox, 'POST', '/v1/users/services/list', { accessKey: null });
    clock.advance(3_599_999);
    const lateInHour = await ping(sandbox);
    clock.advance(1);
    const nextHour = await ping(sandbox);

    // Assess
    expect(over.status).toBe(429);
    expect(over.envelope).toMatchObject({
      result: false,
      errorCode: 'GU_2400',
      errorDesc: 'Too many requests',
    });
    expect(over.headers.get('retry-after')).toBeNull();
    expect(unauthenticated.status).toBe(429);
    expect(lateInHour).toBe(429);
    expect(nextHour).toBe(200);
    expect(sandbox.counts()).toEqual({ total: 104, throttled: 3 });
  });

  it('allows 1,000 requests a day by default, whatever the hours', async () => {
    // Prepare: 100 requests in each of the first 10 hours.
    const clock = manualClock();
    const sandbox = await open({ now: clock.now });
    for (let hour = 0; hour < 10; hour++) {
      for (let i = 0; i < 100; i++) await ping(sandbox);
      clock.advance(3_600_000);
    }

    // Act
    const eleventhHour = await ping(sandbox);
    clock.advance(14 * 3_600_000);
    const nextDay = await ping(sandbox);

    // Assess
    expect(sandbox.counts().throttled).toBe(1);
    expect(eleventhHour).toBe(429);
    expect(nextDay).toBe(200);
  });

  it('can say GU_2400 with HTTP 200, and can be unlimited', async () => {
    // Prepare
    const clock = manualClock();
    const with200 = await open({
      rateLimit: { limit: 1, windowMs: 1000 },
      now: clock.now,
      throttleStatus: 200,
    });
    const unlimited = await open({ rateLimit: false, now: clock.now });
    await ping(with200);

    // Act
    const over = await call(with200, 'POST', '/v1/users/services/list', { body: { select: ['Gsid'] } });
    const statuses = [];
    for (let i = 0; i < 120; i++) statuses.push(await ping(unlimited));

    // Assess
    expect(over.status).toBe(200);
    expect(over.envelope).toMatchObject({ result: false, errorCode: 'GU_2400' });
    expect(new Set(statuses)).toEqual(new Set([200]));
  });

  it('fires a fault `times` times on matching requests, after authentication, in the envelope', async () => {
    // Prepare
    const sandbox = await open();
    const fault: GainsightFault = { method: 'POST', path: /\/list$/, status: 500, times: 2 };
    sandbox.addFault(fault);

    // Act
    const unauthenticated = await call(sandbox, 'POST', '/v1/users/services/list', { accessKey: null });
    const statusCall = await setStatus(sandbox, 'true', [JANE_GSID]);
    const answers = [];
    for (let i = 0; i < 3; i++)
      answers.push(await call(sandbox, 'POST', '/v1/users/services/list', { body: { select: ['Gsid'] } }));

    // Assess
    expect(unauthenticated.status).toBe(401);
    expect(statusCall.status).toBe(200);
    expect(answers.map((answer) => answer.status)).toEqual([500, 500, 200]);
    expect(answers[0]?.envelope).toMatchObject({ result: false, errorCode: 'GU_1101' });
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
    const response = await call(sandbox, 'POST', '/v1/users/services/list', { body: { select: ['Gsid'] } });

    // Assess
    expect(response.status).toBe(200);
    expect(response.text).toBe('{"result": true, "data": [');
    expect(response.headers.get('x-sandbox')).toBe('yes');
  });

  it('records every request with its parsed body and the status it answered', async () => {
    // Prepare
    const sandbox = await open();

    // Act
    await setStatus(sandbox, 'false', [JANE_GSID]);
    await call(sandbox, 'GET', '/v1/users');

    // Assess
    expect(sandbox.requests).toEqual([
      {
        method: 'PUT',
        path: '/v1/users/services/status',
        query: { status: 'false' },
        body: [JANE_GSID],
        status: 200,
      },
      { method: 'GET', path: '/v1/users', query: {}, status: 404 },
    ]);
  });

  it('delays every answer by latencyMs', async () => {
    // Prepare
    const sandbox = await open({ latencyMs: 60 });

    // Act
    const started = performance.now();
    const status = await ping(sandbox);
    const elapsed = performance.now() - started;

    // Assess
    expect(status).toBe(200);
    expect(elapsed).toBeGreaterThanOrEqual(55);
  });

  it('stops listening on close, even with a keep-alive connection open', async () => {
    // Prepare
    const sandbox = await startGainsightSandbox();
    await ping(sandbox);

    // Act
    await sandbox.close();

    // Assess
    await expect(fetch(`${sandbox.baseUrl}/v1/users/services/list`, { method: 'POST' })).rejects.toThrow();
  });
});
