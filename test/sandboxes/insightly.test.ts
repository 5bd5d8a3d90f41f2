import { describe, expect, it } from 'vitest';
import {
  type InsightlyFault,
  type InsightlySandbox,
  type InsightlyUser,
  SAMPLE_USERS,
  startInsightlySandbox,
} from '../../sandboxes/insightly.js';
import { sandboxStarter } from '../helpers/sandboxes';

const ADMIN_KEY = 'sandbox-api-key';
const basic = (key: string, password = '') => `Basic ${Buffer.from(`${key}:${password}`).toString('base64')}`;

/** Started per test, closed after it. */
const open = sandboxStarter(startInsightlySandbox);

interface CallOptions {
  query?: Record<string, string>;
  body?: unknown;
  /** The whole Authorization header; null sends none. Default Basic with the admin key. */
  authorization?: string | null;
}

async function call(sandbox: InsightlySandbox, method: string, path: string, options: CallOptions = {}) {
  const url = new URL(sandbox.baseUrl + path);
  for (const [name, value] of Object.entries(options.query ?? {})) url.searchParams.set(name, value);
  const headers: Record<string, string> = { 'Content-Type': 'application/json' };
  const authorization = options.authorization === undefined ? basic(ADMIN_KEY) : options.authorization;
  if (authorization !== null) headers.Authorization = authorization;
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

const listUsers = async (sandbox: InsightlySandbox, query: Record<string, string>) => {
  const response = await call(sandbox, 'GET', '/Users', { query });
  return { ...response, users: response.json as InsightlyUser[] };
};

describe('Insightly sandbox: authentication', () => {
  it.each([
    ['no Authorization header', null],
    ['an unknown key', basic('not-a-key')],
    ['a non-empty password', basic(ADMIN_KEY, 'secret')],
    ['a Bearer token', `Bearer ${ADMIN_KEY}`],
  ])('answers 401 to %s', async (_name, authorization) => {
    // Prepare
    const sandbox = await open();

    // Act
    const response = await call(sandbox, 'GET', '/Users/Me', { authorization });

    // Assess
    expect(response.status).toBe(401);
    expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(response.json).toEqual({ Message: expect.any(String) });
  });

  it('answers GET /Users/Me with the owner of the key', async () => {
    // Prepare
    const sandbox = await open({ apiKeys: { [ADMIN_KEY]: 1001, 'jane-key': 1002 } });

    // Act
    const admin = await call(sandbox, 'GET', '/Users/Me');
    const jane = await call(sandbox, 'GET', '/Users/Me', { authorization: basic('jane-key') });

    // Assess
    expect(admin.json).toMatchObject({
      USER_ID: 1001,
      EMAIL_ADDRESS: 'admin@example.com',
      ADMINISTRATOR: true,
    });
    expect(jane.json).toMatchObject({ USER_ID: 1002, EMAIL_ADDRESS: 'jane.doe@example.com' });
  });

  it('fills defaults, numbers users from 1001 and gives the default key to the first user', async () => {
    // Prepare
    const sandbox = await open({
      users: [{ EMAIL_ADDRESS: 'a@example.com', ADMINISTRATOR: true }, { EMAIL_ADDRESS: 'b@example.com' }],
    });

    // Act
    const me = await call(sandbox, 'GET', '/Users/Me');

    // Assess
    expect([...sandbox.users.keys()]).toEqual([1001, 1002]);
    expect(me.json).toMatchObject({ USER_ID: 1001, EMAIL_ADDRESS: 'a@example.com', ACTIVE: true });
    expect(sandbox.users.get(1002)).toMatchObject({
      ADMINISTRATOR: false,
      TIMEZONE_ID: null,
      PROFILE_ID: null,
    });
  });
});

describe('Insightly sandbox: the vendor fields', () => {
  it('answers every field of the vendor model, in its order, and nothing else', async () => {
    // Prepare
    const sandbox = await open();

    // Act
    const jane = await call(sandbox, 'GET', '/Users/1002');

    // Assess
    expect(Object.keys(jane.json as object)).toEqual([
      ...['USER_ID', 'CONTACT_ID', 'FIRST_NAME', 'LAST_NAME', 'TIMEZONE_ID', 'EMAIL_ADDRESS'],
      ...['EMAIL_DROPBOX_IDENTIFIER', 'EMAIL_DROPBOX_ADDRESS', 'ADMINISTRATOR', 'ACCOUNT_OWNER', 'ACTIVE'],
      ...['DATE_CREATED_UTC', 'DATE_UPDATED_UTC', 'USER_CURRENCY', 'CONTACT_DISPLAY', 'CONTACT_ORDER'],
      ...['TASK_WEEK_START', 'INSTANCE_ID', 'PROFILE_ID', 'ROLE_ID'],
    ]);
    expect(jane.json).toMatchObject({
      USER_ID: 1002,
      USER_CURRENCY: 'EUR',
      TASK_WEEK_START: 0,
      ACTIVE: true,
    });
  });
});

describe('Insightly sandbox: GET /Users (the vendor: skip/top, no $)', () => {
  const many = (n: number) =>
    Array.from({ length: n }, (_, i) => ({ EMAIL_ADDRESS: `user${i}@example.com` }));

  it('lists every user, inactive ones included, ordered by USER_ID', async () => {
    // Prepare
    const sandbox = await open({ users: [...SAMPLE_USERS].reverse() });

    // Act
    const { status, users } = await listUsers(sandbox, {});

    // Assess
    expect(status).toBe(200);
    expect(users.map((user) => user.USER_ID)).toEqual([1001, 1002, 1003, 1004, 1005, 1006]);
  });

  it('answers 100 rows when top is absent, honours top up to 500, and pages with skip', async () => {
    // Prepare
    const sandbox = await open({ users: many(620) });

    // Act
    const byDefault = await listUsers(sandbox, {});
    const capped = await listUsers(sandbox, { top: '1000' });
    const secondPage = await listUsers(sandbox, { top: '500', skip: '500' });
    const small = await listUsers(sandbox, { top: '2', skip: '3' });

    // Assess
    expect(byDefault.users).toHaveLength(100);
    expect(capped.status).toBe(200);
    expect(capped.users).toHaveLength(500);
    expect(secondPage.users).toHaveLength(120);
    expect(secondPage.users[0]?.USER_ID).toBe(1501);
    expect(small.users.map((user) => user.USER_ID)).toEqual([1004, 1005]);
  });

  it('ignores parameters it does not know: $filter filters nothing, $top and $skip page nothing', async () => {
    // Prepare
    const sandbox = await open({ users: [...SAMPLE_USERS, ...many(200)] });

    // Act
    const response = await listUsers(sandbox, {
      $filter: "EMAIL_ADDRESS eq 'jane.doe@example.com'",
      $top: '500',
      $skip: '100',
      colour: 'blue',
    });

    // Assess
    expect(response.status).toBe(200);
    expect(response.users).toHaveLength(100);
    expect(response.users[0]?.USER_ID).toBe(1001);
  });

  it('answers the total in X-Total-Count when count_total=true, and only then', async () => {
    // Prepare
    const sandbox = await open({ users: many(250) });

    // Act
    const counted = await listUsers(sandbox, { count_total: 'true', top: '10' });
    const uncounted = await listUsers(sandbox, { top: '10' });

    // Assess
    expect(counted.headers.get('x-total-count')).toBe('250');
    expect(counted.users).toHaveLength(10);
    expect(uncounted.headers.get('x-total-count')).toBeNull();
  });

  it.each([
    ['top', 'ten'],
    ['top', '1.5'],
    ['skip', '-1'],
  ])('answers 400 to %s=%s', async (name, value) => {
    // Prepare
    const sandbox = await open();

    // Act
    const response = await listUsers(sandbox, { [name]: value });

    // Assess
    expect(response.status).toBe(400);
    expect(response.json).toEqual({ Message: expect.stringContaining(value) });
  });

  it('misbehaves on request: a smaller page, skip not heard, no count', async () => {
    // Prepare
    const sandbox = await open({
      users: many(250),
      maxPageSize: 100,
      ignoreSkip: true,
      omitCountTotal: true,
    });

    // Act
    const first = await listUsers(sandbox, { top: '500', count_total: 'true' });
    const second = await listUsers(sandbox, { top: '500', skip: '100', count_total: 'true' });

    // Assess
    expect(first.users).toHaveLength(100);
    expect(second.users).toEqual(first.users);
    expect(second.headers.get('x-total-count')).toBeNull();
  });
});

describe('Insightly sandbox: GET /Users/Search', () => {
  const search = async (sandbox: InsightlySandbox, query: Record<string, string>) => {
    const response = await call(sandbox, 'GET', '/Users/Search', { query });
    return { ...response, users: response.json as InsightlyUser[] };
  };

  it('finds by field_name=EMAIL_ADDRESS and field_value on v3.1, ignoring case, with skip/top/count_total', async () => {
    // Prepare
    const sandbox = await open();

    // Act
    const found = await search(sandbox, {
      field_name: 'EMAIL_ADDRESS',
      field_value: 'Jane.Doe@EXAMPLE.com',
      skip: '0',
      top: '500',
      count_total: 'true',
    });
    const after = await search(sandbox, {
      field_name: 'EMAIL_ADDRESS',
      field_value: 'jane.doe@example.com',
      skip: '1',
    });

    // Assess
    expect(found.users.map((user) => user.USER_ID)).toEqual([1002]);
    expect(found.headers.get('x-total-count')).toBe('1');
    expect(after.users).toEqual([]);
  });

  it('ignores email= on v3.1 (not its parameter) and answers everyone', async () => {
    // Prepare
    const sandbox = await open();

    // Act
    const response = await search(sandbox, { email: 'jane.doe@example.com' });

    // Assess
    expect(response.users).toHaveLength(SAMPLE_USERS.length);
  });

  it.each([
    [{ field_name: 'EMAIL_ADDRESS' }, 'field_value'],
    [{ field_name: 'ACTIVE', field_value: 'true' }, 'ACTIVE'],
  ])('answers 400 to a search it cannot run: %o', async (query, named) => {
    // Prepare
    const sandbox = await open();

    // Act
    const response = await search(sandbox, query);

    // Assess
    expect(response.status).toBe(400);
    expect((response.json as { Message: string }).Message).toContain(named);
  });

  it('finds by email= on v2.2, and refuses two filters at once as the swagger says', async () => {
    // Prepare
    const sandbox = await open({ pathPrefix: '/v2.2' });

    // Act
    const found = await search(sandbox, { email: 'JANE.DOE@example.com' });
    const byField = await search(sandbox, {
      field_name: 'EMAIL_ADDRESS',
      field_value: 'jane.doe@example.com',
    });
    const two = await search(sandbox, { email: 'jane.doe@example.com', last_name: 'Doe' });

    // Assess
    expect(sandbox.baseUrl).toMatch(/\/v2\.2$/);
    expect(found.users.map((user) => user.USER_ID)).toEqual([1002]);
    expect(byField.users).toHaveLength(SAMPLE_USERS.length);
    expect(two.status).toBe(400);
    expect((two.json as { Message: string }).Message).toContain('Only one optional parameter');
  });

  it('answers everyone when told to ignore the filter', async () => {
    // Prepare
    const sandbox = await open({ ignoreFilter: true });

    // Act
    const response = await search(sandbox, {
      field_name: 'EMAIL_ADDRESS',
      field_value: 'jane.doe@example.com',
    });

    // Assess
    expect(response.users).toHaveLength(SAMPLE_USERS.length);
  });

  it.each([400, 404, 405] as const)(
    'answers %i to every search when the search is not offered',
    async (status) => {
      // Prepare
      const sandbox = await open({ searchRefusedWith: status });

      // Act
      const response = await search(sandbox, {
        field_name: 'EMAIL_ADDRESS',
        field_value: 'jane.doe@example.com',
      });

      // Assess
      expect(response.status).toBe(status);
      expect(response.json).toEqual({ Message: expect.any(String) });
    },
  );
});

describe("Insightly sandbox: the seed's OData dialect", () => {
  it('matches EMAIL_ADDRESS case-insensitively and combines clauses with and', async () => {
    // Prepare
    const sandbox = await open({ dialect: 'odata' });

    // Act
    const byEmail = await listUsers(sandbox, { $filter: "EMAIL_ADDRESS eq 'Jane.Doe@EXAMPLE.com'" });
    const inactive = await listUsers(sandbox, { $filter: 'ACTIVE eq false' });
    const both = await listUsers(sandbox, {
      $filter: "EMAIL_ADDRESS eq 'already.gone@example.com' and ACTIVE eq true",
    });

    // Assess
    expect(byEmail.users.map((user) => user.USER_ID)).toEqual([1002]);
    expect(inactive.users.map((user) => user.EMAIL_ADDRESS)).toEqual(['already.gone@example.com']);
    expect(both.users).toEqual([]);
  });

  it("finds o'brien when the quote is doubled, and refuses an undoubled quote", async () => {
    // Prepare
    const sandbox = await open({ dialect: 'odata' });

    // Act
    const escaped = await listUsers(sandbox, {
      $filter: "EMAIL_ADDRESS eq 'o''brien@example.com' and ACTIVE eq true",
    });
    const raw = await listUsers(sandbox, { $filter: "EMAIL_ADDRESS eq 'o'brien@example.com'" });

    // Assess
    expect(escaped.users.map((user) => user.EMAIL_ADDRESS)).toEqual(["o'brien@example.com"]);
    expect(raw.status).toBe(400);
  });

  it.each([
    "FIRST_NAME eq 'Jane'",
    "startswith(EMAIL_ADDRESS, 'jane')",
    "EMAIL_ADDRESS ne 'jane.doe@example.com'",
  ])('answers 400 naming the unsupported clause in $filter=%s', async (filter) => {
    // Prepare
    const sandbox = await open({ dialect: 'odata' });

    // Act
    const response = await listUsers(sandbox, { $filter: `ACTIVE eq true and ${filter}` });

    // Assess
    expect(response.status).toBe(400);
    expect((response.json as { Message: string }).Message).toContain(filter);
  });

  it('answers 500 rows by default and at most, pages with $skip, and does not hear skip/top', async () => {
    // Prepare
    const users = Array.from({ length: 620 }, (_, i) => ({ EMAIL_ADDRESS: `user${i}@example.com` }));
    const sandbox = await open({ dialect: 'odata', users });

    // Act
    const byDefault = await listUsers(sandbox, {});
    const capped = await listUsers(sandbox, { $top: '1000' });
    const secondPage = await listUsers(sandbox, { $top: '500', $skip: '500' });
    const plain = await listUsers(sandbox, { top: '2', skip: '3', count_total: 'true' });

    // Assess
    expect(byDefault.users).toHaveLength(500);
    expect(capped.users).toHaveLength(500);
    expect(secondPage.users).toHaveLength(120);
    expect(secondPage.users[0]?.USER_ID).toBe(1501);
    expect(plain.users).toHaveLength(500);
    expect(plain.users[0]?.USER_ID).toBe(1001);
    expect(plain.headers.get('x-total-count')).toBeNull();
  });

  it('has no /Users/Search route', async () => {
    // Prepare
    const sandbox = await open({ dialect: 'odata' });

    // Act
    const response = await call(sandbox, 'GET', '/Users/Search', {
      query: { field_name: 'EMAIL_ADDRESS', field_value: 'jane.doe@example.com' },
    });

    // Assess
    expect(response.status).toBe(404);
    expect((response.json as { Message: string }).Message).toMatch(/^No HTTP resource was found/);
  });

  it('answers everyone when told to ignore $filter', async () => {
    // Prepare
    const sandbox = await open({ dialect: 'odata', ignoreFilter: true });

    // Act
    const response = await listUsers(sandbox, { $filter: "EMAIL_ADDRESS eq 'jane.doe@example.com'" });

    // Assess
    expect(response.status).toBe(200);
    expect(response.users).toHaveLength(SAMPLE_USERS.length);
  });
});

describe('Insightly sandbox: GET and DELETE /Users/{id}', () => {
  it('answers the record, or 404 for an unknown or non-numeric id', async () => {
    // Prepare
    const sandbox = await open();

    // Act
    const jane = await call(sandbox, 'GET', '/Users/1002');
    const missing = await call(sandbox, 'GET', '/Users/9999');
    const nonNumeric = await call(sandbox, 'GET', '/Users/jane');

    // Assess
    expect(jane.json).toEqual(SAMPLE_USERS[1]);
    expect(missing.status).toBe(404);
    expect(missing.json).toEqual({ Message: 'User not found' });
    expect(nonNumeric.status).toBe(404);
  });

  it('deletes with 202 for an administrator and 403 for anyone else', async () => {
    // Prepare
    const sandbox = await open({ apiKeys: { [ADMIN_KEY]: 1001, 'jane-key': 1002 } });

    // Act
    const refused = await call(sandbox, 'DELETE', '/Users/1005', { authorization: basic('jane-key') });
    const deleted = await call(sandbox, 'DELETE', '/Users/1005');
    const after = await call(sandbox, 'GET', '/Users/1005');

    // Assess
    expect(refused.status).toBe(403);
    expect(deleted.status).toBe(202);
    expect(after.status).toBe(404);
    expect(sandbox.users.has(1005)).toBe(false);
  });

  it('answers 404 to unknown routes and methods, and records them', async () => {
    // Prepare
    const sandbox = await open();

    // Act
    const post = await call(sandbox, 'POST', '/Users', { body: { EMAIL_ADDRESS: 'new@example.com' } });
    const contacts = await call(sandbox, 'GET', '/Contacts');

    // Assess
    expect(post.status).toBe(404);
    expect((contacts.json as { Message: string }).Message).toMatch(/^No HTTP resource was found/);
    expect(sandbox.requests).toEqual([
      {
        method: 'POST',
        path: '/v3.1/Users',
        query: {},
        body: { EMAIL_ADDRESS: 'new@example.com' },
        status: 404,
      },
      { method: 'GET', path: '/v3.1/Contacts', query: {}, status: 404 },
    ]);
  });
});

describe('Insightly sandbox: PUT /Users', () => {
  it('writes only what the body carries (v3.1 PUT is partial): a field left out keeps its value, null clears it', async () => {
    // Prepare
    const sandbox = await open();
    const before = sandbox.users.get(1002) as InsightlyUser;

    // Act
    const response = await call(sandbox, 'PUT', '/Users', {
      body: { USER_ID: 1002, ACTIVE: false, TIMEZONE_ID: null, CONTACT_ID: 1, INSTANCE_ID: 2 },
    });

    // Assess
    expect(response.status).toBe(200);
    const stored = sandbox.users.get(1002);
    expect(response.json).toEqual(stored);
    // Read-only fields (CONTACT_ID, INSTANCE_ID) are accepted and left as they were.
    expect(stored).toEqual({
      ...before,
      ACTIVE: false,
      TIMEZONE_ID: null,
      DATE_UPDATED_UTC: expect.not.stringMatching(before.DATE_UPDATED_UTC),
    });
  });

  it("replaces the whole record in the seed's dialect: omitted fields go back to their defaults", async () => {
    // Prepare
    const sandbox = await open({ dialect: 'odata' });
    const before = sandbox.users.get(1002);

    // Act
    const response = await call(sandbox, 'PUT', '/Users', {
      body: {
        USER_ID: 1002,
        FIRST_NAME: 'Jane',
        LAST_NAME: 'Doe',
        ACTIVE: false,
        CONTACT_ID: 1,
        INSTANCE_ID: 2,
      },
    });

    // Assess
    expect(response.status).toBe(200);
    const stored = sandbox.users.get(1002);
    expect(response.json).toEqual(stored);
    expect(stored).toMatchObject({
      ...{ ACTIVE: false, TIMEZONE_ID: null, PROFILE_ID: null, ROLE_ID: null, USER_CURRENCY: null },
      ...{
        EMAIL_ADDRESS: 'jane.doe@example.com',
        CONTACT_ID: before?.CONTACT_ID,
        INSTANCE_ID: before?.INSTANCE_ID,
        EMAIL_DROPBOX_ADDRESS: before?.EMAIL_DROPBOX_ADDRESS,
      },
      DATE_CREATED_UTC: before?.DATE_CREATED_UTC,
    });
    expect(stored?.DATE_UPDATED_UTC).not.toBe(before?.DATE_UPDATED_UTC);
  });

  it.each([
    ['the vendor', 'swagger', false],
    ['the seed', 'odata', true],
  ] as const)(
    'as %s reads a PUT that leaves ACTIVE out, and keeps what a full PUT sends back',
    async (_who, dialect, active) => {
      // Prepare
      const sandbox = await open({ dialect });
      const jane = (await call(sandbox, 'GET', '/Users/1002')).json as InsightlyUser;

      // Act
      await call(sandbox, 'PUT', '/Users', { body: { USER_ID: 1003, FIRST_NAME: 'Gary' } });
      await call(sandbox, 'PUT', '/Users', { body: { ...jane, ACTIVE: false } });

      // Assess
      expect(sandbox.users.get(1003)?.ACTIVE).toBe(active);
      expect(sandbox.users.get(1002)).toEqual({
        ...jane,
        ACTIVE: false,
        DATE_UPDATED_UTC: expect.any(String),
      });
    },
  );

  it.each([
    ['an unknown field', { USER_ID: 1002, ACTIVE: false, STATUS: 'x' }, 400, 'STATUS'],
    ['no USER_ID', { ACTIVE: false }, 400, 'USER_ID'],
    ['a string USER_ID', { USER_ID: '1002', ACTIVE: false }, 400, 'USER_ID'],
    ['an unknown USER_ID', { USER_ID: 4242, ACTIVE: false }, 404, 'User not found'],
    ['a mistyped field', { USER_ID: 1002, PROFILE_ID: 'seven' }, 400, 'PROFILE_ID'],
    ['a null ACTIVE', { USER_ID: 1002, ACTIVE: null }, 400, 'ACTIVE'],
    ['an empty email', { USER_ID: 1002, EMAIL_ADDRESS: ' ' }, 400, 'EMAIL_ADDRESS'],
    ["another user's email", { USER_ID: 1002, EMAIL_ADDRESS: 'ADMIN@example.com' }, 409, 'EMAIL_ADDRESS'],
    ['an array', [{ USER_ID: 1002 }], 400, 'User object'],
    ['malformed JSON', '{"USER_ID": 1002,', 400, 'JSON'],
  ])('refuses a body with %s', async (_name, body, status, named) => {
    // Prepare
    const sandbox = await open();
    const before = structuredClone(sandbox.users.get(1002));

    // Act
    const response = await call(sandbox, 'PUT', '/Users', { body });

    // Assess
    expect(response.status).toBe(status);
    expect((response.json as { Message: string }).Message).toContain(named);
    expect(sandbox.users.get(1002)).toEqual(before);
  });

  it('answers 403 to a key whose owner is not an administrator', async () => {
    // Prepare
    const sandbox = await open({ apiKeys: { 'jane-key': 1002 } });

    // Act
    const response = await call(sandbox, 'PUT', '/Users', {
      authorization: basic('jane-key'),
      body: { ...SAMPLE_USERS[4], ACTIVE: false },
    });

    // Assess
    expect(response.status).toBe(403);
    expect(sandbox.users.get(1005)?.ACTIVE).toBe(true);
  });

  it('keeps answering the old record to the next verifyLag reads of that user', async () => {
    // Prepare
    const sandbox = await open({ verifyLag: 2 });
    const jane = sandbox.users.get(1002);

    // Act
    await call(sandbox, 'PUT', '/Users', { body: { ...jane, ACTIVE: false } });
    const reads = [];
    for (let i = 0; i < 3; i++) reads.push((await call(sandbox, 'GET', '/Users/1002')).json as InsightlyUser);

    // Assess
    expect(reads.map((user) => user.ACTIVE)).toEqual([true, true, false]);
  });
});

describe('Insightly sandbox: users read-only, as the swagger describes them', () => {
  it.each([
    [405, "does not support http method 'PUT'"],
    [404, 'No HTTP resource was found'],
    [403, 'permission'],
    [400, 'read only'],
  ] as const)('answers %i to every user write and changes nothing', async (status, words) => {
    // Prepare
    const sandbox = await open({ userWrites: 'refused', refusedWriteStatus: status });
    const before = structuredClone([...sandbox.users.values()]);

    // Act
    const put = await call(sandbox, 'PUT', '/Users', { body: { ...SAMPLE_USERS[1], ACTIVE: false } });
    const deleted = await call(sandbox, 'DELETE', '/Users/1005');
    const read = await call(sandbox, 'GET', '/Users/1002');

    // Assess
    expect(put.status).toBe(status);
    expect((put.json as { Message: string }).Message).toContain(words);
    expect(deleted.status).toBe(status);
    expect(read.status).toBe(200);
    expect([...sandbox.users.values()]).toEqual(before);
  });

  it('refuses with 405 unless told otherwise', async () => {
    // Prepare
    const sandbox = await open({ userWrites: 'refused' });

    // Act
    const put = await call(sandbox, 'PUT', '/Users', { body: { USER_ID: 1002, ACTIVE: false } });

    // Assess
    expect(put.status).toBe(405);
  });

  it('lets a person switch a user off by hand, finding them by email in any case', async () => {
    // Prepare
    const sandbox = await open({ userWrites: 'refused' });
    const before = sandbox.users.get(1002) as InsightlyUser;

    // Act
    const done = sandbox.deactivateByHand('Jane.Doe@EXAMPLE.com');
    const nobody = sandbox.deactivateByHand('nobody@example.com');

    // Assess
    expect([done, nobody]).toEqual([true, false]);
    const after = (await call(sandbox, 'GET', '/Users/1002')).json as InsightlyUser;
    expect(after).toEqual({ ...before, ACTIVE: false, DATE_UPDATED_UTC: expect.any(String) });
  });
});

describe('Insightly sandbox: limits, faults and latency', () => {
  it('answers 429 without Retry-After above ratePerSecond, before looking at the key', async () => {
    // Prepare
    const sandbox = await open({ ratePerSecond: 2 });

    // Act
    const responses = await Promise.all(Array.from({ length: 5 }, () => call(sandbox, 'GET', '/Users/Me')));
    const unauthenticated = await call(sandbox, 'GET', '/Users/Me', { authorization: null });

    // Assess
    const throttled = responses.filter((response) => response.status === 429);
    expect(throttled).toHaveLength(3);
    expect(throttled[0]?.json).toEqual({ Message: 'API rate limit exceeded' });
    expect(throttled[0]?.headers.get('retry-after')).toBeNull();
    expect(unauthenticated.status).toBe(429);
    expect(sandbox.counts()).toEqual({ total: 6, throttled: 4 });
  });

  it('answers 429 with X-RateLimit-Remaining: 0 once the daily quota is spent', async () => {
    // Prepare
    const sandbox = await open({ dailyQuota: 2 });

    // Act
    const first = await call(sandbox, 'GET', '/Users/Me');
    await call(sandbox, 'GET', '/Users/Me');
    const over = await call(sandbox, 'GET', '/Users/Me');

    // Assess
    expect(first.headers.get('x-ratelimit-remaining')).toBe('1');
    expect(over.status).toBe(429);
    expect(over.headers.get('x-ratelimit-remaining')).toBe('0');
    expect(over.headers.get('retry-after')).toBeNull();
  });

  it('fires a fault `times` times on matching requests, after authentication, then stops', async () => {
    // Prepare
    const sandbox = await open();
    const fault: InsightlyFault = { method: 'GET', path: /\/Users\/1002$/, status: 500, times: 2 };
    sandbox.addFault(fault);

    // Act
    const unauthenticated = await call(sandbox, 'GET', '/Users/1002', { authorization: null });
    const other = await call(sandbox, 'GET', '/Users/1001');
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await call(sandbox, 'GET', '/Users/1002')).status);

    // Assess
    expect(unauthenticated.status).toBe(401);
    expect(other.status).toBe(200);
    expect(statuses).toEqual([500, 500, 200]);
    expect(fault.times).toBe(0);
  });

  it('serves a fault body as raw text with its headers', async () => {
    // Prepare
    const sandbox = await open({
      faults: [{ status: 200, times: 1, body: '{"USER_ID": 12, "FIRST', headers: { 'X-Sandbox': 'yes' } }],
    });

    // Act
    const response = await call(sandbox, 'GET', '/Users/Me');

    // Assess
    expect(response.status).toBe(200);
    expect(response.text).toBe('{"USER_ID": 12, "FIRST');
    expect(response.headers.get('x-sandbox')).toBe('yes');
    expect(response.json).toBeUndefined();
  });

  it('delays every answer by latencyMs', async () => {
    // Prepare
    const sandbox = await open({ latencyMs: 60 });

    // Act
    const started = performance.now();
    const response = await call(sandbox, 'GET', '/Users/Me');
    const elapsed = performance.now() - started;

    // Assess
    expect(response.status).toBe(200);
    expect(elapsed).toBeGreaterThanOrEqual(55);
  });

  it('records requests in order with their query, body and status', async () => {
    // Prepare
    const sandbox = await open();

    // Act
    await listUsers(sandbox, { $filter: 'ACTIVE eq true', $top: '10' });
    await call(sandbox, 'PUT', '/Users', { body: { USER_ID: 9 } });

    // Assess
    expect(sandbox.requests).toEqual([
      { method: 'GET', path: '/v3.1/Users', query: { $filter: 'ACTIVE eq true', $top: '10' }, status: 200 },
      { method: 'PUT', path: '/v3.1/Users', query: {}, body: { USER_ID: 9 }, status: 404 },
    ]);
  });

  it('stops listening on close, even with a keep-alive connection open', async () => {
    // Prepare
    const sandbox = await startInsightlySandbox();
    await call(sandbox, 'GET', '/Users/Me');

    // Act
    await sandbox.close();

    // Assess
    await expect(fetch(`${sandbox.baseUrl}/Users/Me`)).rejects.toThrow();
  });
});
