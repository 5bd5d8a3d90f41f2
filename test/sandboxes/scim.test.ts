import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  SAMPLE_USERS,
  SCIM_SANDBOX_TOKEN,
  type ScimSandbox,
  type ScimUser,
  startScimSandbox,
} from '../../sandboxes/scim.js';
import { sandboxStarter } from '../helpers/sandboxes';

const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const ERROR = 'urn:ietf:params:scim:api:messages:2.0:Error';
const CLIENT = { clientId: 'm2m-client', clientSecret: 'm2m-secret' };
const bearer = (token: string) => `Bearer ${token}`;
const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/** Started per test, closed after it. */
const open = sandboxStarter(startScimSandbox);
afterEach(() => {
  vi.useRealTimers();
});

interface CallOptions {
  query?: Record<string, string>;
  body?: unknown;
  /** The whole Authorization header; null sends none. Default the sandbox's bearer token. */
  authorization?: string | null;
  contentType?: string;
}

async function call(sandbox: ScimSandbox, method: string, path: string, options: CallOptions = {}) {
  const url = new URL(sandbox.baseUrl + path);
  for (const [name, value] of Object.entries(options.query ?? {})) url.searchParams.set(name, value);
  const headers: Record<string, string> = { 'Content-Type': options.contentType ?? 'application/scim+json' };
  const authorization =
    options.authorization === undefined ? bearer(SCIM_SANDBOX_TOKEN) : options.authorization;
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
  return { status: response.status, headers: response.headers, text, json: json as Record<string, unknown> };
}

const list = async (sandbox: ScimSandbox, query: Record<string, string>) => {
  const response = await call(sandbox, 'GET', '/Users', { query });
  return { ...response, ids: ((response.json.Resources ?? []) as ScimUser[]).map((user) => user.id) };
};

async function token(sandbox: ScimSandbox, form = 'grant_type=client_credentials', authorization?: string) {
  const response = await fetch(sandbox.tokenUrl as string, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/x-www-form-urlencoded',
      Authorization: authorization ?? basic(CLIENT.clientId, CLIENT.clientSecret),
    },
    body: form,
  });
  return {
    status: response.status,
    headers: response.headers,
    json: (await response.json()) as Record<string, unknown>,
  };
}

const patchActive = (value: unknown) => ({
  schemas: [PATCH_OP],
  Operations: [{ op: 'replace', path: 'active', value }],
});

describe('SCIM sandbox: sample users', () => {
  it('holds a detailed jane.doe, an inactive user and one whose userName is not an email', () => {
    // Act
    const byName = new Map(SAMPLE_USERS.map((user) => [user.userName, user]));

    // Assess
    expect(byName.get('jane.doe@example.com')).toMatchObject({
      active: true,
      name: { givenName: 'Jane', familyName: 'Doe' },
      title: 'Senior Account Executive',
      emails: [{ value: 'jane.doe@example.com', primary: true }],
      groups: expect.arrayContaining([{ value: 'g-sales', display: 'Sales' }]),
    });
    expect(SAMPLE_USERS.filter((user) => !user.active).map((user) => user.userName)).toEqual([
      'already.gone@example.com',
    ]);
    expect(byName.get('jdoe2')?.emails).toEqual([
      { value: 'j.doe2@example.com', type: 'work', primary: true },
    ]);
  });

  it('numbers seeded users from u1001 and refuses duplicate ids', async () => {
    // Act
    const sandbox = await open({ users: [{ userName: 'a@example.com' }, { userName: 'b', active: false }] });
    const duplicate = startScimSandbox({
      users: [
        { id: 'x', userName: 'a' },
        { id: 'x', userName: 'b' },
      ],
    });

    // Assess
    expect([...sandbox.users.keys()]).toEqual(['u1001', 'u1002']);
    expect(sandbox.users.get('u1002')).toMatchObject({ active: false, meta: { resourceType: 'User' } });
    await expect(duplicate).rejects.toThrow('duplicate id x');
  });
});

describe('SCIM sandbox: static bearer token', () => {
  it.each([
    ['no Authorization header', null],
    ['another token', bearer('not-the-token')],
    ['Basic credentials', basic(SCIM_SANDBOX_TOKEN, '')],
  ])('answers 401 with a SCIM error to %s', async (_case, authorization) => {
    // Prepare
    const sandbox = await open();

    // Act
    const response = await call(sandbox, 'GET', '/Users', { authorization });

    // Assess
    expect(response.status).toBe(401);
    expect(response.headers.get('content-type')).toBe('application/scim+json');
    expect(response.headers.get('www-authenticate')).toMatch(/^Bearer /);
    expect(response.json).toEqual({ schemas: [ERROR], detail: expect.any(String), status: '401' });
  });

  it('accepts a token of its own choosing', async () => {
    // Prepare
    const sandbox = await open({ auth: { token: 'mine' } });

    // Act
    const ok = await call(sandbox, 'GET', '/Users/u1002', { authorization: bearer('mine') });
    const old = await call(sandbox, 'GET', '/Users/u1002');

    // Assess
    expect(ok.status).toBe(200);
    expect(old.status).toBe(401);
  });
});

describe('SCIM sandbox: OAuth client credentials', () => {
  it('issues a bearer token for a Basic-authenticated form request, and the API takes it', async () => {
    // Prepare
    const sandbox = await open({ auth: { oauth: { ...CLIENT, expiresIn: 600 } } });

    // Act
    const issued = await token(sandbox);
    const users = await call(sandbox, 'GET', '/Users/u1002', {
      authorization: bearer(issued.json.access_token as string),
    });

    // Assess
    expect(sandbox.tokenUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/oauth\/token$/);
    expect(issued.status).toBe(200);
    expect(issued.headers.get('cache-control')).toBe('no-store');
    expect(issued.json).toEqual({ access_token: expect.any(String), token_type: 'Bearer', expires_in: 600 });
    expect(users.status).toBe(200);
    expect(sandbox.requests[0]).toMatchObject({ method: 'POST', body: { grant_type: 'client_credentials' } });
  });

  it.each([
    [
      'a wrong client secret',
      'grant_type=client_credentials',
      basic(CLIENT.clientId, 'nope'),
      401,
      'invalid_client',
    ],
    ['another grant', 'grant_type=password', undefined, 400, 'unsupported_grant_type'],
  ])('refuses %s', async (_case, form, authorization, status, error) => {
    // Prepare
    const sandbox = await open({ auth: { oauth: CLIENT } });

    // Act
    const response = await token(sandbox, form, authorization);

    // Assess
    expect(response.status).toBe(status);
    expect(response.json).toMatchObject({ error });
  });

  it('refuses a JSON body: the grant is a form', async () => {
    // Prepare
    const sandbox = await open({ auth: { oauth: CLIENT } });

    // Act
    const response = await fetch(sandbox.tokenUrl as string, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        Authorization: basic(CLIENT.clientId, CLIENT.clientSecret),
      },
      body: JSON.stringify({ grant_type: 'client_credentials' }),
    });

    // Assess
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: 'invalid_request' });
  });

  it('refuses a token once it expired or was revoked, and any static token', async () => {
    // Prepare
    vi.useFakeTimers({ toFake: ['Date'] });
    const start = Date.now();
    const sandbox = await open({ auth: { oauth: { ...CLIENT, expiresIn: 60 } } });
    const first = (await token(sandbox)).json.access_token as string;
    const second = (await token(sandbox)).json.access_token as string;

    // Act
    vi.setSystemTime(start + 59_000);
    const beforeExpiry = await call(sandbox, 'GET', '/Users', { authorization: bearer(first) });
    vi.setSystemTime(start + 61_000);
    const afterExpiry = await call(sandbox, 'GET', '/Users', { authorization: bearer(first) });
    vi.setSystemTime(start);
    sandbox.revokeTokens();
    const revoked = await call(sandbox, 'GET', '/Users', { authorization: bearer(second) });
    const staticToken = await call(sandbox, 'GET', '/Users');

    // Assess
    expect(beforeExpiry.status).toBe(200);
    expect(afterExpiry.status).toBe(401);
    expect(revoked.status).toBe(401);
    expect(staticToken.status).toBe(401);
  });
});

describe('SCIM sandbox: GET /Users', () => {
  it('answers a ListResponse with every user, inactive ones included', async () => {
    // Prepare
    const sandbox = await open();

    // Act
    const response = await list(sandbox, {});

    // Assess
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/scim+json');
    expect(response.json).toMatchObject({
      schemas: ['urn:ietf:params:scim:api:messages:2.0:ListResponse'],
      totalResults: 6,
      itemsPerPage: 6,
      startIndex: 1,
    });
    expect(response.ids).toEqual(['u1001', 'u1002', 'u1003', 'u1004', 'u1005', 'u1006']);
  });

  it.each([
    ['userName, ignoring case', 'userName eq "JANE.DOE@example.com"', ['u1002']],
    ['attribute and operator names in any case', 'USERNAME EQ "jane.doe@example.com"', ['u1002']],
    ['emails.value', 'emails.value eq "J.DOE2@example.com"', ['u1004']],
    ['emails', 'emails eq "j.doe2@example.com"', ['u1004']],
    ['a userName that is not an email', 'userName eq "jdoe2"', ['u1004']],
    ['nobody', 'userName eq "j.doe2@example.com"', []],
  ])('filters by %s', async (_case, filter, ids) => {
    // Prepare
    const sandbox = await open();

    // Act
    const response = await list(sandbox, { filter });

    // Assess
    expect(response.status).toBe(200);
    expect(response.ids).toEqual(ids);
    expect(response.json.totalResults).toBe(ids.length);
  });

  it('reads the filter value as a JSON string: \\" and \\\\ are escapes', async () => {
    // Prepare
    const odd = String.raw`"o\"neil\\x"@example.com`;
    const sandbox = await open({ users: [{ id: 'u1', userName: odd }] });

    // Act
    const escaped = await list(sandbox, { filter: `userName eq ${JSON.stringify(odd)}` });
    const raw = await list(sandbox, { filter: `userName eq "${odd}"` });

    // Assess
    expect(escaped.ids).toEqual(['u1']);
    expect(raw.status).toBe(400);
    expect(raw.json).toMatchObject({ schemas: [ERROR], scimType: 'invalidFilter', status: '400' });
  });

  it.each([
    ['another operator', 'userName co "jane"'],
    ['another attribute', 'title eq "CEO"'],
    ['two clauses', 'userName eq "a" and active eq true'],
    ['a single-quoted value', "userName eq 'jane.doe@example.com'"],
  ])('refuses %s with invalidFilter rather than ignoring it', async (_case, filter) => {
    // Prepare
    const sandbox = await open();

    // Act
    const response = await list(sandbox, { filter });

    // Assess
    expect(response.status).toBe(400);
    expect(response.json).toMatchObject({ scimType: 'invalidFilter' });
  });

  it('answers every user to any filter when told to ignore filters', async () => {
    // Prepare
    const sandbox = await open({ ignoreFilter: true });

    // Act
    const response = await list(sandbox, { filter: 'userName eq "nobody@example.com"' });

    // Assess
    expect(response.ids).toHaveLength(6);
  });

  it('pages with 1-based startIndex and count, capped at the maximum page size', async () => {
    // Prepare
    const sandbox = await open({ maxPageSize: 4 });

    // Act
    const second = await list(sandbox, { startIndex: '2', count: '2' });
    const capped = await list(sandbox, { startIndex: '1', count: '100' });
    const rest = await list(sandbox, { startIndex: '5', count: '100' });
    const zeroStart = await list(sandbox, { startIndex: '0', count: '1' });
    const negativeCount = await list(sandbox, { count: '-3' });
    const notANumber = await list(sandbox, { count: 'ten' });

    // Assess
    expect(second.ids).toEqual(['u1002', 'u1003']);
    expect(second.json).toMatchObject({ startIndex: 2, itemsPerPage: 2, totalResults: 6 });
    expect(capped.ids).toEqual(['u1001', 'u1002', 'u1003', 'u1004']);
    expect(rest.ids).toEqual(['u1005', 'u1006']);
    expect(zeroStart.ids).toEqual(['u1001']);
    expect(negativeCount.ids).toEqual([]);
    expect(negativeCount.json.totalResults).toBe(6);
    expect(notANumber.status).toBe(400);
    expect(notANumber.json).toMatchObject({ scimType: 'invalidValue' });
  });
});

describe('SCIM sandbox: GET /Users/{id}', () => {
  it('answers the user with meta.location and an ETag', async () => {
    // Prepare
    const sandbox = await open();

    // Act
    const response = await call(sandbox, 'GET', '/Users/u1002');

    // Assess
    expect(response.status).toBe(200);
    expect(response.json).toMatchObject({ id: 'u1002', userName: 'jane.doe@example.com', active: true });
    expect(response.json.meta).toMatchObject({
      location: `${sandbox.baseUrl}/Users/u1002`,
      version: 'W/"3"',
    });
    expect(response.headers.get('etag')).toBe('W/"3"');
  });

  it('answers 404 with a SCIM error to an unknown id', async () => {
    // Prepare
    const sandbox = await open();

    // Act
    const response = await call(sandbox, 'GET', '/Users/u404');

    // Assess
    expect(response.status).toBe(404);
    expect(response.json).toEqual({ schemas: [ERROR], detail: 'Resource u404 not found', status: '404' });
  });

  it('answers the old record for verifyLag reads after a write', async () => {
    // Prepare
    const sandbox = await open({ verifyLag: 1 });
    await call(sandbox, 'PATCH', '/Users/u1002', { body: patchActive(false) });

    // Act
    const first = await call(sandbox, 'GET', '/Users/u1002');
    const second = await call(sandbox, 'GET', '/Users/u1002');

    // Assess
    expect(first.json.active).toBe(true);
    expect(second.json.active).toBe(false);
  });
});

describe('SCIM sandbox: PATCH /Users/{id}', () => {
  it('replaces active only, bumps the version and answers the resource', async () => {
    // Prepare
    const sandbox = await open();
    const before = structuredClone(sandbox.users.get('u1002') as ScimUser);

    // Act
    const response = await call(sandbox, 'PATCH', '/Users/u1002', { body: patchActive(false) });

    // Assess
    expect(response.status).toBe(200);
    expect(response.json).toMatchObject({ id: 'u1002', active: false, meta: { version: 'W/"4"' } });
    const { active, meta, ...after } = sandbox.users.get('u1002') as ScimUser;
    const { active: _a, meta: _m, ...kept } = before;
    expect(active).toBe(false);
    expect(after).toEqual(kept);
  });

  it('takes ops in any case, sub-attributes, removals and a path-less value object', async () => {
    // Prepare
    const sandbox = await open();

    // Act
    const response = await call(sandbox, 'PATCH', '/Users/u1002', {
      body: {
        schemas: [PATCH_OP],
        Operations: [
          { op: 'Replace', path: 'name.givenName', value: 'Janet' },
          { op: 'remove', path: 'title' },
          { op: 'add', value: { nickName: 'JD', active: false } },
        ],
      },
    });

    // Assess
    expect(response.status).toBe(200);
    const jane = sandbox.users.get('u1002') as ScimUser;
    expect(jane.name).toMatchObject({ givenName: 'Janet', familyName: 'Doe' });
    expect(jane.title).toBeUndefined();
    expect(jane).toMatchObject({ nickName: 'JD', active: false });
  });

  it.each([
    ['no schemas', { Operations: [{ op: 'replace', path: 'active', value: false }] }, 'invalidSyntax'],
    [
      'the User schema instead of PatchOp',
      { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], Operations: [] },
      'invalidSyntax',
    ],
    ['no Operations', { schemas: [PATCH_OP] }, 'invalidSyntax'],
    [
      'an unknown op',
      { schemas: [PATCH_OP], Operations: [{ op: 'disable', path: 'active' }] },
      'invalidSyntax',
    ],
    ['active as a string', patchActive('False'), 'invalidValue'],
    [
      'a value filter in the path',
      {
        schemas: [PATCH_OP],
        Operations: [{ op: 'replace', path: 'emails[type eq "work"].value', value: 'x@y.z' }],
      },
      'invalidPath',
    ],
    [
      'an unknown attribute',
      { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'shoeSize', value: '9' }] },
      'invalidPath',
    ],
    [
      'a read-only attribute',
      { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'id', value: 'u1' }] },
      'mutability',
    ],
    [
      'removing userName',
      { schemas: [PATCH_OP], Operations: [{ op: 'remove', path: 'userName' }] },
      'mutability',
    ],
  ])('refuses a PatchOp with %s (400 %s) and changes nothing', async (_case, body, scimType) => {
    // Prepare
    const sandbox = await open();
    const before = structuredClone(sandbox.users.get('u1002'));

    // Act
    const response = await call(sandbox, 'PATCH', '/Users/u1002', { body });

    // Assess
    expect(response.status).toBe(400);
    expect(response.json).toMatchObject({ schemas: [ERROR], scimType, status: '400' });
    expect(sandbox.users.get('u1002')).toEqual(before);
  });

  it('refuses a body that is not JSON, or not sent as SCIM or plain JSON', async () => {
    // Prepare
    const sandbox = await open();

    // Act
    const broken = await call(sandbox, 'PATCH', '/Users/u1002', { body: '{"schemas": [' });
    const text = await call(sandbox, 'PATCH', '/Users/u1002', {
      body: patchActive(false),
      contentType: 'text/plain',
    });
    const json = await call(sandbox, 'PATCH', '/Users/u1002', {
      body: patchActive(false),
      contentType: 'application/json',
    });

    // Assess
    expect(broken.status).toBe(400);
    expect(broken.json).toMatchObject({ scimType: 'invalidSyntax' });
    expect(text.status).toBe(415);
    expect(json.status).toBe(200);
  });

  it('answers 404 to an unknown id and 409 to a userName another user has', async () => {
    // Prepare
    const sandbox = await open();

    // Act
    const missing = await call(sandbox, 'PATCH', '/Users/u404', { body: patchActive(false) });
    const taken = await call(sandbox, 'PATCH', '/Users/u1002', {
      body: {
        schemas: [PATCH_OP],
        Operations: [{ op: 'replace', path: 'userName', value: 'ADMIN@example.com' }],
      },
    });

    // Assess
    expect(missing.status).toBe(404);
    expect(taken.status).toBe(409);
    expect(taken.json).toMatchObject({ scimType: 'uniqueness' });
  });
});

describe('SCIM sandbox: PUT and DELETE /Users/{id}', () => {
  it('replaces the whole user on PUT: what the body leaves out is gone, read-only attributes stay', async () => {
    // Prepare
    const sandbox = await open();
    const before = sandbox.users.get('u1002') as ScimUser;

    // Act
    const response = await call(sandbox, 'PUT', '/Users/u1002', {
      body: {
        schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
        userName: 'jane.doe@example.com',
        active: false,
      },
    });

    // Assess
    expect(response.status).toBe(200);
    const after = sandbox.users.get('u1002') as ScimUser;
    expect(after).toMatchObject({
      id: 'u1002',
      userName: 'jane.doe@example.com',
      active: false,
      groups: before.groups,
    });
    expect(after.title).toBeUndefined();
    expect(after.emails).toBeUndefined();
    expect(after.meta.created).toBe(before.meta.created);
  });

  it('refuses a PUT without the User schema or userName', async () => {
    // Prepare
    const sandbox = await open();

    // Act
    const noSchema = await call(sandbox, 'PUT', '/Users/u1002', {
      body: { userName: 'jane.doe@example.com' },
    });
    const noUserName = await call(sandbox, 'PUT', '/Users/u1002', {
      body: { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'] },
    });

    // Assess
    expect(noSchema.status).toBe(400);
    expect(noUserName.status).toBe(400);
    expect(sandbox.users.get('u1002')?.title).toBe('Senior Account Executive');
  });

  it('deletes on DELETE and records the request', async () => {
    // Prepare
    const sandbox = await open();

    // Act
    const response = await call(sandbox, 'DELETE', '/Users/u1005');

    // Assess
    expect(response.status).toBe(204);
    expect(sandbox.users.has('u1005')).toBe(false);
    expect(sandbox.requests.at(-1)).toMatchObject({
      method: 'DELETE',
      path: '/scim/v2/Users/u1005',
      status: 204,
    });
  });
});

describe('SCIM sandbox: limits, faults and latency', () => {
  it('answers 429 without Retry-After above the fixed window, and counts it', async () => {
    // Prepare
    vi.useFakeTimers({ toFake: ['Date'] });
    const start = Date.now();
    const sandbox = await open({ rateLimit: { requests: 2, windowMs: 3_600_000 } });

    // Act
    const first = await call(sandbox, 'GET', '/Users/u1002');
    await call(sandbox, 'GET', '/Users/u1002');
    const third = await call(sandbox, 'GET', '/Users/u1002');
    vi.setSystemTime(start + 3_600_000);
    const nextHour = await call(sandbox, 'GET', '/Users/u1002');

    // Assess
    expect(first.status).toBe(200);
    expect(third.status).toBe(429);
    expect(third.headers.get('retry-after')).toBeNull();
    expect(third.json).toMatchObject({ schemas: [ERROR], status: '429' });
    expect(nextHour.status).toBe(200);
    expect(sandbox.counts()).toEqual({ total: 4, throttled: 1 });
  });

  it('serves a fault the given number of times, with its own body and headers', async () => {
    // Prepare
    const sandbox = await open({
      faults: [
        {
          method: 'GET',
          path: /\/Users\/u1002$/,
          status: 503,
          times: 1,
          body: 'down',
          headers: { 'X-Why': 'test' },
        },
      ],
    });

    // Act
    const faulty = await call(sandbox, 'GET', '/Users/u1002');
    const other = await call(sandbox, 'GET', '/Users/u1003');
    const healed = await call(sandbox, 'GET', '/Users/u1002');

    // Assess
    expect(faulty.status).toBe(503);
    expect(faulty.text).toBe('down');
    expect(faulty.headers.get('x-why')).toBe('test');
    expect(other.status).toBe(200);
    expect(healed.status).toBe(200);
  });

  it('answers after latencyMs', async () => {
    // Prepare
    const sandbox = await open({ latencyMs: 60 });
    const started = performance.now();

    // Act
    const response = await call(sandbox, 'GET', '/Users/u1002');

    // Assess
    expect(response.status).toBe(200);
    expect(performance.now() - started).toBeGreaterThanOrEqual(55);
  });

  it('records method, path, query, content type, body and status of each request', async () => {
    // Prepare
    const sandbox = await open();

    // Act
    await call(sandbox, 'GET', '/Users', { query: { filter: 'userName eq "x"' } });
    await call(sandbox, 'PATCH', '/Users/u1002', { body: patchActive(false) });

    // Assess
    expect(sandbox.requests).toEqual([
      {
        method: 'GET',
        path: '/scim/v2/Users',
        query: { filter: 'userName eq "x"' },
        contentType: 'application/scim+json',
        status: 200,
      },
      {
        method: 'PATCH',
        path: '/scim/v2/Users/u1002',
        query: {},
        contentType: 'application/scim+json',
        body: patchActive(false),
        status: 200,
      },
    ]);
  });
});

describe('SCIM sandbox: /ServiceProviderConfig', () => {
  it("announces /Bulk with RFC 7643's example limits, and the page cap as filter.maxResults", async () => {
    // Prepare
    const sandbox = await open({ maxPageSize: 250 });

    // Act
    const response = await call(sandbox, 'GET', '/ServiceProviderConfig');

    // Assess
    expect(response.status).toBe(200);
    expect(response.json).toMatchObject({
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig'],
      patch: { supported: true },
      bulk: { supported: true, maxOperations: 1000, maxPayloadSize: 1_048_576 },
      filter: { supported: true, maxResults: 250 },
      etag: { supported: true },
    });
  });

  it('announces the bulk limits it is given, or that it has no /Bulk', async () => {
    // Prepare
    const limited = await open({ bulk: { maxOperations: 100, maxPayloadSize: 65_536 } });
    const none = await open({ bulk: { supported: false } });

    // Act
    const limitedConfig = await call(limited, 'GET', '/ServiceProviderConfig');
    const noneConfig = await call(none, 'GET', '/ServiceProviderConfig');

    // Assess
    expect(limitedConfig.json.bulk).toEqual({ supported: true, maxOperations: 100, maxPayloadSize: 65_536 });
    expect(noneConfig.json.bulk).toEqual({ supported: false, maxOperations: 0, maxPayloadSize: 0 });
  });
});

describe('SCIM sandbox: POST /Bulk', () => {
  const BULK_REQUEST = 'urn:ietf:params:scim:api:messages:2.0:BulkRequest';
  const deactivation = (id: string, extra: Record<string, unknown> = {}) => ({
    method: 'PATCH',
    path: `/Users/${id}`,
    data: patchActive(false),
    ...extra,
  });
  const bulkOf = (operations: unknown[], extra: Record<string, unknown> = {}) => ({
    schemas: [BULK_REQUEST],
    ...extra,
    Operations: operations,
  });
  const active = (sandbox: ScimSandbox) =>
    Object.fromEntries([...sandbox.users.values()].map((user) => [user.id, user.active]));

  it('does each PATCH as its own request would, and answers each with its status, location and new version', async () => {
    // Prepare
    const sandbox = await open();

    // Act
    const response = await call(sandbox, 'POST', '/Bulk', {
      body: bulkOf([
        deactivation('u1002', { bulkId: 'one', version: 'W/"3"' }),
        deactivation('u1005', { bulkId: 'two' }),
      ]),
    });

    // Assess
    expect(response.status).toBe(200);
    expect(response.json).toEqual({
      schemas: ['urn:ietf:params:scim:api:messages:2.0:BulkResponse'],
      Operations: [
        {
          method: 'PATCH',
          bulkId: 'one',
          location: `${sandbox.baseUrl}/Users/u1002`,
          version: 'W/"4"',
          status: '200',
        },
        {
          method: 'PATCH',
          bulkId: 'two',
          location: `${sandbox.baseUrl}/Users/u1005`,
          version: 'W/"4"',
          status: '200',
        },
      ],
    });
    expect(active(sandbox)).toMatchObject({ u1002: false, u1005: false, u1006: true });
  });

  it("refuses an operation whose version is not the user's with 412, and an unknown user with 404, and does the rest", async () => {
    // Prepare
    const sandbox = await open();

    // Act
    const response = await call(sandbox, 'POST', '/Bulk', {
      body: bulkOf([
        deactivation('u1002', { version: 'W/"2"' }),
        deactivation('u404'),
        deactivation('u1005', { version: 'W/"3"' }),
      ]),
    });

    // Assess
    const operations = response.json.Operations as Record<string, unknown>[];
    expect(operations.map((operation) => operation.status)).toEqual(['412', '404', '200']);
    expect(operations[0]).toMatchObject({
      location: `${sandbox.baseUrl}/Users/u1002`,
      response: { schemas: [ERROR], status: '412', detail: expect.stringContaining('Resource changed') },
    });
    expect(operations[1]).toMatchObject({ response: { status: '404' } });
    expect(active(sandbox)).toMatchObject({ u1002: true, u1005: false });
    expect(sandbox.users.get('u1002')?.meta.version).toBe('W/"3"');
  });

  it('refuses more operations than maxOperations, or a larger body than maxPayloadSize, with 413, doing nothing', async () => {
    // Prepare
    const sandbox = await open({ bulk: { maxOperations: 2, maxPayloadSize: 1_000 } });
    const three = bulkOf(['u1002', 'u1005', 'u1006'].map((id) => deactivation(id)));
    const large = bulkOf([deactivation('u1002', { bulkId: 'x'.repeat(1_000) })]);

    // Act
    const tooMany = await call(sandbox, 'POST', '/Bulk', { body: three });
    const tooLarge = await call(sandbox, 'POST', '/Bulk', { body: large });

    // Assess
    expect(tooMany.status).toBe(413);
    expect(tooMany.json).toMatchObject({ schemas: [ERROR], status: '413' });
    expect(tooMany.json.detail).toContain('maxOperations (2)');
    expect(tooLarge.status).toBe(413);
    expect(tooLarge.json.detail).toContain('maxPayloadSize (1000)');
    expect(Object.values(active(sandbox)).filter((on) => !on)).toHaveLength(1); // u1003 only, as seeded
  });

  it('stops after failOnErrors errors: the operations after are neither done nor answered', async () => {
    // Prepare
    const sandbox = await open();

    // Act
    const response = await call(sandbox, 'POST', '/Bulk', {
      body: bulkOf([deactivation('u404'), deactivation('u1005')], { failOnErrors: 1 }),
    });

    // Assess
    expect((response.json.Operations as unknown[]).length).toBe(1);
    expect(sandbox.users.get('u1005')?.active).toBe(true);
  });

  it('refuses a request that is not a BulkRequest, has no operations or repeats a bulkId, with 400', async () => {
    // Prepare
    const sandbox = await open();

    // Act
    const noSchema = await call(sandbox, 'POST', '/Bulk', { body: { Operations: [deactivation('u1002')] } });
    const empty = await call(sandbox, 'POST', '/Bulk', { body: bulkOf([]) });
    const twice = await call(sandbox, 'POST', '/Bulk', {
      body: bulkOf([deactivation('u1002', { bulkId: 'a' }), deactivation('u1005', { bulkId: 'a' })]),
    });

    // Assess
    expect([noSchema.status, empty.status, twice.status]).toEqual([400, 400, 400]);
    expect(twice.json).toMatchObject({ scimType: 'invalidValue' });
    expect(active(sandbox)).toMatchObject({ u1002: true, u1005: true });
  });

  it('takes the PatchOp forms the service takes, one operation at a time', async () => {
    // Prepare
    const sandbox = await open({ patchForms: 'value-only' });

    // Act
    const response = await call(sandbox, 'POST', '/Bulk', {
      body: bulkOf([
        deactivation('u1002'),
        {
          method: 'PATCH',
          path: '/Users/u1005',
          data: { schemas: [PATCH_OP], Operations: [{ op: 'replace', value: { active: false } }] },
        },
      ]),
    });

    // Assess
    const operations = response.json.Operations as Record<string, unknown>[];
    expect(operations.map((operation) => operation.status)).toEqual(['400', '200']);
    expect(operations[0]).toMatchObject({ response: { scimType: 'invalidPath' } });
    expect(active(sandbox)).toMatchObject({ u1002: true, u1005: false });
  });

  it('answers 501 and does nothing when it has no /Bulk', async () => {
    // Prepare
    const sandbox = await open({ bulk: { supported: false } });

    // Act
    const response = await call(sandbox, 'POST', '/Bulk', { body: bulkOf([deactivation('u1002')]) });

    // Assess
    expect(response.status).toBe(501);
    expect(sandbox.users.get('u1002')?.active).toBe(true);
  });
});

describe('SCIM sandbox: how real services differ', () => {
  const valueForm = (value: unknown) => ({
    schemas: [PATCH_OP],
    Operations: [{ op: 'replace', value: { active: value } }],
  });

  it('refuses a filter on emails with 400 invalidFilter when told to, and still filters on userName', async () => {
    // Prepare
    const sandbox = await open({ refuseEmailFilter: true });

    // Act
    const byEmail = await list(sandbox, { filter: 'emails.value eq "j.doe2@example.com"' });
    const byUserName = await list(sandbox, { filter: 'userName eq "jane.doe@example.com"' });

    // Assess
    expect(byEmail.status).toBe(400);
    expect(byEmail.json).toMatchObject({ schemas: [ERROR], scimType: 'invalidFilter', status: '400' });
    expect(byUserName.ids).toEqual(['u1002']);
  });

  it("takes only Okta's path-less PatchOp when told to: a path is refused with 400 invalidPath, nothing written", async () => {
    // Prepare
    const sandbox = await open({ patchForms: 'value-only' });

    // Act
    const withPath = await call(sandbox, 'PATCH', '/Users/u1002', { body: patchActive(false) });
    const activeAfterRefusal = sandbox.users.get('u1002')?.active;
    const withoutPath = await call(sandbox, 'PATCH', '/Users/u1002', { body: valueForm(false) });

    // Assess
    expect(withPath.status).toBe(400);
    expect(withPath.json).toMatchObject({ scimType: 'invalidPath' });
    expect(activeAfterRefusal).toBe(true);
    expect(withoutPath.status).toBe(200);
    expect(sandbox.users.get('u1002')?.active).toBe(false);
  });

  it('takes only the path form when told to: a path-less operation is refused with 400 invalidSyntax', async () => {
    // Prepare
    const sandbox = await open({ patchForms: 'path-only' });

    // Act
    const withoutPath = await call(sandbox, 'PATCH', '/Users/u1002', { body: valueForm(false) });
    const withPath = await call(sandbox, 'PATCH', '/Users/u1002', { body: patchActive(false) });

    // Assess
    expect(withoutPath.status).toBe(400);
    expect(withoutPath.json).toMatchObject({ scimType: 'invalidSyntax' });
    expect(withPath.status).toBe(200);
  });

  it("refuses every write, and no read, of a client that is not a super admin's (Gainsight)", async () => {
    // Prepare
    const sandbox = await open({ refuseWrites: 403 });

    // Act
    const read = await call(sandbox, 'GET', '/Users/u1002');
    const patch = await call(sandbox, 'PATCH', '/Users/u1002', { body: patchActive(false) });
    const put = await call(sandbox, 'PUT', '/Users/u1002', { body: read.json });

    // Assess
    expect(read.status).toBe(200);
    expect(patch.status).toBe(403);
    expect(patch.json).toMatchObject({ detail: expect.stringContaining('only to super admins') });
    expect(put.status).toBe(403);
    expect(sandbox.users.get('u1002')?.active).toBe(true);
  });

  it('counts in an hourly and a daily window at once, as Gainsight does', async () => {
    // Prepare: 2 an hour, 3 a day
    vi.useFakeTimers({ toFake: ['Date'] });
    const start = Date.now();
    const sandbox = await open({
      rateLimit: [
        { requests: 2, windowMs: 3_600_000 },
        { requests: 3, windowMs: 86_400_000 },
      ],
    });

    // Act
    const firstHour = [
      await call(sandbox, 'GET', '/Users/u1002'),
      await call(sandbox, 'GET', '/Users/u1002'),
      await call(sandbox, 'GET', '/Users/u1002'),
    ];
    vi.setSystemTime(start + 3_600_000);
    const secondHour = [
      await call(sandbox, 'GET', '/Users/u1002'),
      await call(sandbox, 'GET', '/Users/u1002'),
    ];

    // Assess
    expect(firstHour.map((r) => r.status)).toEqual([200, 200, 429]);
    expect(secondHour.map((r) => r.status)).toEqual([200, 429]);
  });
});
