import { X509Certificate } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type InsightvmFault,
  type InsightvmSandbox,
  type InsightvmSandboxOptions,
  type InsightvmUser,
  RAPID7_INSIGHTVM_SANDBOX_PASSWORD,
  RAPID7_INSIGHTVM_SANDBOX_USERNAME,
  SAMPLE_USERS,
  startRapid7InsightvmSandbox,
} from '../../sandboxes/rapid7-insightvm';
import { requestText } from '../helpers/servers';

/**
 * The InsightVM console sandbox on its own: what it answers, what it refuses, and the
 * quirks the connector must live with (full-replacement PUT, 500-row pages, a self-signed
 * certificate, 404 for what the credential may not see).
 */

const basic = (login: string, password: string) =>
  `Basic ${Buffer.from(`${login}:${password}`).toString('base64')}`;
const ADMIN = basic(RAPID7_INSIGHTVM_SANDBOX_USERNAME, RAPID7_INSIGHTVM_SANDBOX_PASSWORD);
const JANE = SAMPLE_USERS[2] as InsightvmUser;

const opened: InsightvmSandbox[] = [];
async function open(options?: InsightvmSandboxOptions): Promise<InsightvmSandbox> {
  const sandbox = await startRapid7InsightvmSandbox(options);
  opened.push(sandbox);
  return sandbox;
}
afterEach(async () => {
  await Promise.all(opened.splice(0).map((sandbox) => sandbox.close()));
});

interface CallOptions {
  query?: Record<string, string>;
  body?: unknown;
  /** The whole Authorization header; null sends none. Default the integration account. */
  authorization?: string | null;
}

/** One request to the sandbox, trusting its certificate. */
async function call(sandbox: InsightvmSandbox, method: string, path: string, options: CallOptions = {}) {
  const url = new URL(sandbox.baseUrl + path);
  for (const [name, value] of Object.entries(options.query ?? {})) url.searchParams.set(name, value);
  const headers: Record<string, string> = { 'Content-Type': 'application/json' };
  const authorization = options.authorization === undefined ? ADMIN : options.authorization;
  if (authorization !== null) headers.Authorization = authorization;
  const body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
  const response = await requestText(url, {
    method,
    headers,
    ...(options.body === undefined ? {} : { body }),
    ...(sandbox.caCert ? { ca: sandbox.caCert } : {}),
  });
  let json: unknown;
  try {
    json = response.text === '' ? undefined : JSON.parse(response.text);
  } catch {
    json = undefined;
  }
  return { ...response, json };
}

interface Page {
  resources: Array<Record<string, unknown>>;
  page: { number: number; size: number; totalPages: number; totalResources: number };
  links: Array<{ href: string; rel: string }>;
}
const listUsers = async (sandbox: InsightvmSandbox, query: Record<string, string> = {}) => {
  const response = await call(sandbox, 'GET', '/api/3/users', { query });
  return { ...response, page: response.json as Page };
};

/** The PUT body a careful client sends for jane: her user mapped onto UserEdit. */
const janeEdit = (changes: Record<string, unknown> = {}) => ({
  login: JANE.login,
  name: JANE.name,
  email: JANE.email,
  enabled: JANE.enabled,
  locale: { default: JANE.locale.default, reports: JANE.locale.reports },
  role: { id: JANE.role.id, allSites: true, allAssetGroups: true, superuser: false },
  authentication: { type: 'ldap', id: 3 },
  ...changes,
});

describe('InsightVM sandbox: TLS and authentication', () => {
  it('serves HTTPS with a self-signed certificate for 127.0.0.1 and localhost, exposed as caCert', async () => {
    // Prepare
    const sandbox = await open();

    // Act
    const certificate = new X509Certificate(sandbox.caCert ?? '');
    const untrusted = await fetch(`${sandbox.baseUrl}/api/3/users`).catch((error: Error) => error);

    // Assess
    expect(sandbox.baseUrl).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(certificate.subjectAltName).toContain('IP Address:127.0.0.1');
    expect(certificate.subjectAltName).toContain('DNS:localhost');
    expect(certificate.checkIssued(certificate)).toBe(true);
    expect(untrusted).toBeInstanceOf(Error);
    expect(((untrusted as Error).cause as { code?: string }).code).toBe('DEPTH_ZERO_SELF_SIGNED_CERT');
  });

  it('serves plain HTTP with tls: false', async () => {
    // Prepare
    const sandbox = await open({ tls: false });

    // Act
    const response = await call(sandbox, 'GET', '/api/3/users/1');

    // Assess
    expect(sandbox.baseUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(sandbox.caCert).toBeUndefined();
    expect(response.status).toBe(200);
  });

  it.each([
    ['no Authorization header', null],
    ['a wrong password', basic(RAPID7_INSIGHTVM_SANDBOX_USERNAME, 'wrong')],
    ['an unknown login', basic('nobody', RAPID7_INSIGHTVM_SANDBOX_PASSWORD)],
    ['an API key header instead of Basic', 'X-Api-Key sandbox-org-key'],
  ])('answers 401 with the console error body to %s', async (_name, authorization) => {
    // Prepare
    const sandbox = await open();

    // Act
    const response = await call(sandbox, 'GET', '/api/3/users', { authorization });

    // Assess
    expect(response.status).toBe(401);
    expect(response.headers.get('content-type')).toBe('application/json;charset=UTF-8');
    expect(response.json).toEqual({ status: '401', message: expect.any(String), links: [] });
  });

  it('refuses a disabled or locked account, even with the right password', async () => {
    // Prepare
    const sandbox = await open({
      credentials: { [RAPID7_INSIGHTVM_SANDBOX_USERNAME]: 'p', ggone: 'g', sobrien: 's' },
    });

    // Act
    const disabled = await call(sandbox, 'GET', '/api/3/users/4', { authorization: basic('ggone', 'g') });
    const locked = await call(sandbox, 'GET', '/api/3/users/7', { authorization: basic('sobrien', 's') });

    // Assess
    expect(disabled.status).toBe(401);
    expect(locked.status).toBe(401);
  });

  it('answers 404 to a login that is not a Global Administrator, except for its own user', async () => {
    // Prepare
    const sandbox = await open({
      credentials: {
        [RAPID7_INSIGHTVM_SANDBOX_USERNAME]: RAPID7_INSIGHTVM_SANDBOX_PASSWORD,
        jdoe: 'jane-pw',
      },
    });
    const jane = basic('jdoe', 'jane-pw');

    // Act
    const list = await call(sandbox, 'GET', '/api/3/users', { authorization: jane });
    const other = await call(sandbox, 'GET', '/api/3/users/6', { authorization: jane });
    const own = await call(sandbox, 'GET', '/api/3/users/3', { authorization: jane });
    const put = await call(sandbox, 'PUT', '/api/3/users/6', { authorization: jane, body: {} });

    // Assess
    expect([list.status, other.status, own.status, put.status]).toEqual([404, 404, 200, 404]);
    expect(sandbox.users.get(6)?.enabled).toBe(true);
  });

  it('refuses to start with a credential for a login it does not hold', async () => {
    // Act
    const starting = startRapid7InsightvmSandbox({ credentials: { ghost: 'x' } });

    // Assess
    await expect(starting).rejects.toThrow("the credential for 'ghost' has no user");
  });
});

describe('InsightVM sandbox: GET /api/3/users', () => {
  it('answers PageOf«User» with 10 users by default, ordered by id, each with a self link', async () => {
    // Prepare
    const sandbox = await open();

    // Act
    const { status, page } = await listUsers(sandbox);

    // Assess
    expect(status).toBe(200);
    expect(page.resources.map((user) => user.id)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(page.page).toEqual({ number: 0, size: 10, totalPages: 1, totalResources: 8 });
    expect(page.resources[2]?.links).toEqual([{ href: `${sandbox.baseUrl}/api/3/users/3`, rel: 'self' }]);
    expect(page.resources.every((user) => !('password' in user))).toBe(true);
  });

  it('caps size at 500, pages with page, and answers 404 past the last page', async () => {
    // Prepare
    const users = Array.from({ length: 1101 }, (_, i) => ({
      login: i === 0 ? RAPID7_INSIGHTVM_SANDBOX_USERNAME : `user${i}`,
      role: { id: i === 0 ? 'global-admin' : 'user' },
    }));
    const sandbox = await open({ users });

    // Act
    const capped = await listUsers(sandbox, { size: '1000' });
    const last = await listUsers(sandbox, { size: '500', page: '2' });
    const beyond = await listUsers(sandbox, { size: '500', page: '3' });

    // Assess
    expect(capped.page.resources).toHaveLength(500);
    expect(capped.page.page).toEqual({ number: 0, size: 500, totalPages: 3, totalResources: 1101 });
    expect(capped.page.links.map((link) => link.rel)).toEqual(['first', 'self', 'next', 'last']);
    expect(last.page.resources.map((user) => user.id)).toEqual(
      Array.from({ length: 101 }, (_, i) => 1001 + i),
    );
    expect(beyond.status).toBe(404);
    expect(beyond.json).toMatchObject({ status: '404' });
  });

  it('caps at maxPageSize and answers page 0 to everything with ignorePage', async () => {
    // Prepare
    const capped = await open({ maxPageSize: 3 });
    const ignoring = await open({ ignorePage: true });

    // Act
    const small = await listUsers(capped, { size: '500', page: '1' });
    const same = await listUsers(ignoring, { size: '2', page: '1' });

    // Assess
    expect(small.page.resources.map((user) => user.id)).toEqual([4, 5, 6]);
    expect(small.page.page).toEqual({ number: 1, size: 3, totalPages: 3, totalResources: 8 });
    expect(same.page.page.number).toBe(0);
    expect(same.page.resources.map((user) => user.id)).toEqual([1, 2]);
  });

  it.each([
    ['page', 'one'],
    ['page', '-1'],
    ['size', '0'],
    ['size', '2.5'],
  ])('answers 400 to %s=%s', async (name, value) => {
    // Prepare
    const sandbox = await open();

    // Act
    const response = await listUsers(sandbox, { [name]: value });

    // Assess
    expect(response.status).toBe(400);
    expect(response.json).toMatchObject({ status: '400', message: expect.stringContaining(name) });
  });
});

describe('InsightVM sandbox: GET, DELETE /api/3/users/{id} and the lock', () => {
  it('answers the User with hypermedia links, role and authentication in the Swagger shapes', async () => {
    // Prepare
    const sandbox = await open();

    // Act
    const jane = await call(sandbox, 'GET', '/api/3/users/3');
    const missing = await call(sandbox, 'GET', '/api/3/users/999');

    // Assess
    expect(jane.json).toEqual({
      ...JANE,
      authentication: {
        ...JANE.authentication,
        links: [{ href: `${sandbox.baseUrl}/api/3/authentication_sources/3`, rel: 'self' }],
      },
      links: [{ href: `${sandbox.baseUrl}/api/3/users/3`, rel: 'self' }],
    });
    expect(jane.json).toMatchObject({
      name: 'Jane Doe',
      role: { id: 'security-manager', allSites: true, allAssetGroups: true, superuser: false },
      authentication: { type: 'ldap', name: 'corp-ldap', external: true },
    });
    expect(jane.text).toContain('\n  "id": 3');
    expect(missing.status).toBe(404);
  });

  it('unlocks with DELETE /users/{id}/lock (it does not disable) and records it', async () => {
    // Prepare
    const sandbox = await open();

    // Act
    const unlocked = await call(sandbox, 'DELETE', '/api/3/users/7/lock');
    const disabled = await call(sandbox, 'DELETE', '/api/3/users/4/lock');

    // Assess
    expect(unlocked.status).toBe(200);
    expect(sandbox.users.get(7)).toMatchObject({ locked: false, enabled: true });
    expect(disabled.status).toBe(400);
    expect(sandbox.requests.map((request) => `${request.method} ${request.path}`)).toEqual([
      'DELETE /api/3/users/7/lock',
      'DELETE /api/3/users/4/lock',
    ]);
  });

  it('deletes a user for good with DELETE /users/{id}', async () => {
    // Prepare
    const sandbox = await open();

    // Act
    const deleted = await call(sandbox, 'DELETE', '/api/3/users/6');
    const after = await call(sandbox, 'GET', '/api/3/users/6');

    // Assess
    expect(deleted.status).toBe(200);
    expect(after.status).toBe(404);
  });

  it('answers 405 to other methods and 404 to unknown routes', async () => {
    // Prepare
    const sandbox = await open();

    // Act
    const patch = await call(sandbox, 'PATCH', '/api/3/users/3', { body: { enabled: false } });
    const post = await call(sandbox, 'POST', '/api/3/users', { body: {} });
    const cloud = await call(sandbox, 'GET', '/account/api/1/users');

    // Assess
    expect([patch.status, post.status, cloud.status]).toEqual([405, 405, 404]);
    expect(sandbox.users.get(3)?.enabled).toBe(true);
  });
});

describe('InsightVM sandbox: PUT /api/3/users/{id}', () => {
  it('replaces the whole user: omitted optional fields go back to their defaults', async () => {
    // Prepare
    const sandbox = await open();

    // Act: the seed guide's example body, minus its top-level accessAllSites.
    const response = await call(sandbox, 'PUT', '/api/3/users/3', {
      body: { login: 'jdoe', name: 'Jane Doe', role: { id: 'security-manager' }, enabled: false },
    });

    // Assess
    expect(response.status).toBe(200);
    expect(response.json).toEqual({ links: [{ href: `${sandbox.baseUrl}/api/3/users/3`, rel: 'self' }] });
    const stored = sandbox.users.get(3);
    expect(stored).toMatchObject({
      enabled: false,
      locale: { default: 'en-US', reports: 'en-US' },
      role: { id: 'security-manager', allSites: false, allAssetGroups: false, superuser: false },
      authentication: { type: 'normal', name: 'Builtin Users' },
    });
    expect(stored?.email).toBeUndefined();
  });

  it('keeps every field a full UserEdit sends, and re-enables a user whose PUT leaves enabled out', async () => {
    // Prepare
    const sandbox = await open();
    const { enabled: _enabled, ...withoutEnabled } = janeEdit({ login: 'ggone', name: 'Gary Gone' });

    // Act
    await call(sandbox, 'PUT', '/api/3/users/3', { body: janeEdit({ enabled: false }) });
    await call(sandbox, 'PUT', '/api/3/users/4', { body: withoutEnabled });

    // Assess
    expect(sandbox.users.get(3)).toEqual({ ...JANE, enabled: false });
    expect(sandbox.users.get(4)?.enabled).toBe(true);
  });

  it('takes a password but never answers it', async () => {
    // Prepare
    const sandbox = await open();

    // Act
    const put = await call(sandbox, 'PUT', '/api/3/users/3', { body: janeEdit({ password: 'n3w-Secret!' }) });
    const read = await call(sandbox, 'GET', '/api/3/users/3', {
      authorization: basic('jdoe', 'n3w-Secret!'),
    });
    const list = await listUsers(sandbox);

    // Assess
    expect(put.status).toBe(200);
    expect(read.status).toBe(200);
    expect(read.text).not.toContain('n3w-Secret!');
    expect(JSON.stringify(list.page)).not.toContain('password');
  });

  it('ignores the read-only id and locked', async () => {
    // Prepare
    const sandbox = await open();

    // Act
    const response = await call(sandbox, 'PUT', '/api/3/users/7', {
      body: { login: 'sobrien', name: "Siobhan O'Brien", role: { id: 'user' }, id: 99, locked: false },
    });

    // Assess
    expect(response.status).toBe(200);
    expect(sandbox.users.get(7)).toMatchObject({ id: 7, locked: true });
    expect(sandbox.users.has(99)).toBe(false);
  });

  it.each([
    ['the GET body echoed back (links)', { ...janeEdit(), links: [] }, 'links'],
    [
      'the seed guide\u2019s top-level accessAllSites',
      { ...janeEdit(), accessAllSites: true },
      'accessAllSites',
    ],
    ['a read-side role field', janeEdit({ role: { id: 'user', name: 'User' } }), 'role.name'],
    ['role.privileges', janeEdit({ role: { id: 'user', privileges: [] } }), 'role.privileges'],
    [
      'a read-side authentication field',
      janeEdit({ authentication: { type: 'ldap', external: true } }),
      'authentication.external',
    ],
    ['no login', janeEdit({ login: undefined }), 'login is required'],
    ['no name', janeEdit({ name: undefined }), 'name is required'],
    ['no role', janeEdit({ role: undefined }), 'role.id is required'],
    ['a role without id', janeEdit({ role: { allSites: true } }), 'role.id is required'],
    ['an unknown role', janeEdit({ role: { id: 'god' } }), "role 'god'"],
    [
      'a name object as in the seed guide',
      janeEdit({ name: { first: 'Jane', last: 'Doe' } }),
      'name is required',
    ],
    ['a string enabled', janeEdit({ enabled: 'false' }), 'enabled must be a boolean'],
    ['an authentication without type', janeEdit({ authentication: { id: 3 } }), 'authentication.type'],
    [
      'a source id of another type',
      janeEdit({ authentication: { type: 'saml', id: 3 } }),
      'authentication source',
    ],
    ["another user's login", janeEdit({ login: 'NXADMIN' }), 'already in use'],
    ['malformed JSON', '{"login": "jdoe",', 'JSON'],
  ])('refuses %s with 400 and changes nothing', async (_name, body, named) => {
    // Prepare
    const sandbox = await open();

    // Act
    const response = await call(sandbox, 'PUT', '/api/3/users/3', { body });

    // Assess
    expect(response.status).toBe(400);
    expect(response.json).toEqual({ status: '400', message: expect.stringContaining(named), links: [] });
    expect(sandbox.users.get(3)).toEqual(JANE);
  });

  it('answers 404 to an unknown user', async () => {
    // Prepare
    const sandbox = await open();

    // Act
    const response = await call(sandbox, 'PUT', '/api/3/users/404', { body: janeEdit() });

    // Assess
    expect(response.status).toBe(404);
  });

  it('keeps answering the old user to the next verifyLag reads of that user', async () => {
    // Prepare
    const sandbox = await open({ verifyLag: 2 });

    // Act
    await call(sandbox, 'PUT', '/api/3/users/3', { body: janeEdit({ enabled: false }) });
    const reads = [];
    for (let i = 0; i < 3; i++)
      reads.push((await call(sandbox, 'GET', '/api/3/users/3')).json as InsightvmUser);

    // Assess
    expect(reads.map((user) => user.enabled)).toEqual([true, true, false]);
  });
});

describe('InsightVM sandbox: site and asset-group grants', () => {
  const grants = async (sandbox: InsightvmSandbox, id: number, route: 'sites' | 'asset_groups') =>
    call(sandbox, 'GET', `/api/3/users/${id}/${route}`);

  it('answers ReferencesWith«SiteID,Link»: the ids granted, and none for a role with allSites', async () => {
    // Prepare
    const sandbox = await open();

    // Act
    const marcus = await grants(sandbox, 5, 'sites');
    const tomGroups = await grants(sandbox, 8, 'asset_groups');
    const jane = await grants(sandbox, 3, 'sites');
    const missing = await grants(sandbox, 999, 'sites');

    // Assess
    expect(marcus.json).toEqual({
      resources: [1, 3],
      links: [{ href: `${sandbox.baseUrl}/api/3/users/5/sites`, rel: 'self' }],
    });
    expect(tomGroups.json).toMatchObject({ resources: [1, 3] });
    expect(jane.json).toMatchObject({ resources: [] });
    expect(missing.status).toBe(404);
  });

  it('PUT replaces the grants with a bare array of ids, and is ignored for a role with allSites', async () => {
    // Prepare
    const sandbox = await open();

    // Act
    const replaced = await call(sandbox, 'PUT', '/api/3/users/8/sites', { body: [6, 1, 6] });
    const ignored = await call(sandbox, 'PUT', '/api/3/users/3/sites', { body: [1] });
    const emptied = await call(sandbox, 'PUT', '/api/3/users/8/asset_groups', { body: [] });

    // Assess
    expect(replaced.status).toBe(200);
    expect(replaced.json).toEqual({
      links: [{ href: `${sandbox.baseUrl}/api/3/users/8/sites`, rel: 'self' }],
    });
    expect(sandbox.siteGrants.get(8)).toEqual([1, 6]);
    expect(ignored.status).toBe(200);
    expect(sandbox.siteGrants.has(3)).toBe(false);
    expect(emptied.status).toBe(200);
    expect(sandbox.assetGroupGrants.has(8)).toBe(false);
  });

  it.each([
    ['an object of ids', { resources: [1] }, 'list of site ids'],
    ['ids as strings', ['1'], 'list of site ids'],
    ['a fraction', [1.5], 'list of site ids'],
    ['a site the console does not hold', [1, 99], 'id 99'],
    ['malformed JSON', '[1,', 'JSON'],
  ])('PUT /sites refuses %s with 400 and changes nothing', async (_case, body, named) => {
    // Prepare
    const sandbox = await open();

    // Act
    const response = await call(sandbox, 'PUT', '/api/3/users/5/sites', { body });

    // Assess
    expect(response.status).toBe(400);
    expect(response.json).toEqual({ status: '400', message: expect.stringContaining(named), links: [] });
    expect(sandbox.siteGrants.get(5)).toEqual([1, 3]);
  });

  it('grants and revokes one with PUT and DELETE /{siteId}, and revokes all with DELETE', async () => {
    // Prepare
    const sandbox = await open();

    // Act
    const added = await call(sandbox, 'PUT', '/api/3/users/5/sites/2');
    const removed = await call(sandbox, 'DELETE', '/api/3/users/5/sites/1');
    const toAllSites = await call(sandbox, 'PUT', '/api/3/users/3/sites/2');
    const unknown = await call(sandbox, 'PUT', '/api/3/users/5/sites/99');
    const afterOne = sandbox.siteGrants.get(5);
    const cleared = await call(sandbox, 'DELETE', '/api/3/users/8/asset_groups');

    // Assess
    expect([added.status, removed.status, toAllSites.status, unknown.status, cleared.status]).toEqual([
      200, 200, 400, 404, 200,
    ]);
    expect(toAllSites.json).toMatchObject({ message: expect.stringContaining('allSites') });
    expect(afterOne).toEqual([2, 3]);
    expect(sandbox.assetGroupGrants.has(8)).toBe(false);
  });

  it('a PUT of the user drops the grants its role does not cover, by default', async () => {
    // Prepare
    const sandbox = await open();
    const tom = sandbox.users.get(8) as InsightvmUser;
    const edit = { login: tom.login, name: tom.name, email: tom.email, role: { id: 'user' }, enabled: false };

    // Act
    const response = await call(sandbox, 'PUT', '/api/3/users/8', { body: edit });
    const sites = await grants(sandbox, 8, 'sites');
    const assetGroups = await grants(sandbox, 8, 'asset_groups');

    // Assess
    expect(response.status).toBe(200);
    expect(sites.json).toMatchObject({ resources: [] });
    expect(assetGroups.json).toMatchObject({ resources: [] });
  });

  it('keeps the grants on a PUT of the user with putDropsGrants: false', async () => {
    // Prepare
    const sandbox = await open({ putDropsGrants: false });
    const tom = sandbox.users.get(8) as InsightvmUser;
    const edit = { login: tom.login, name: tom.name, role: { id: 'user' }, enabled: false };

    // Act
    await call(sandbox, 'PUT', '/api/3/users/8', { body: edit });

    // Assess
    expect(sandbox.siteGrants.get(8)).toEqual([2, 4]);
    expect(sandbox.assetGroupGrants.get(8)).toEqual([1, 3]);
  });

  it('lets a login that is not a Global Administrator read its own grants only, and change none', async () => {
    // Prepare
    const sandbox = await open({
      credentials: { [RAPID7_INSIGHTVM_SANDBOX_USERNAME]: RAPID7_INSIGHTVM_SANDBOX_PASSWORD, tnguyen: 't' },
    });
    const tom = basic('tnguyen', 't');

    // Act
    const own = await call(sandbox, 'GET', '/api/3/users/8/sites', { authorization: tom });
    const other = await call(sandbox, 'GET', '/api/3/users/5/sites', { authorization: tom });
    const put = await call(sandbox, 'PUT', '/api/3/users/8/sites', { authorization: tom, body: [1, 2, 3] });

    // Assess
    expect([own.status, other.status, put.status]).toEqual([200, 404, 404]);
    expect(sandbox.siteGrants.get(8)).toEqual([2, 4]);
  });

  it('seeds grants from the users, and refuses grants a role with allSites or the console cannot hold', async () => {
    // Prepare
    const admin = { login: RAPID7_INSIGHTVM_SANDBOX_USERNAME, role: { id: 'global-admin', allSites: true } };

    // Act
    const sandbox = await open({ users: [admin, { id: 9, login: 'x', sites: [4, 2, 4], assetGroups: [6] }] });
    const allSites = startRapid7InsightvmSandbox({
      users: [admin, { login: 'y', role: { id: 'user', allSites: true }, sites: [1] }],
    });
    const unknown = startRapid7InsightvmSandbox({ users: [admin, { login: 'z', assetGroups: [42] }] });

    // Assess
    expect(sandbox.siteGrants.get(9)).toEqual([2, 4]);
    expect(sandbox.assetGroupGrants.get(9)).toEqual([6]);
    await expect(allSites).rejects.toThrow('y has allSites, so no site grants');
    await expect(unknown).rejects.toThrow('no asset group has the id 42');
  });

  it('forgets the grants of a deleted user', async () => {
    // Prepare
    const sandbox = await open();

    // Act
    await call(sandbox, 'DELETE', '/api/3/users/8');

    // Assess
    expect(sandbox.siteGrants.has(8)).toBe(false);
    expect(sandbox.assetGroupGrants.has(8)).toBe(false);
  });
});

describe('InsightVM sandbox: limits, faults and latency', () => {
  it('answers 429 without Retry-After above ratePerSecond, before looking at the credential', async () => {
    // Prepare
    const sandbox = await open({ ratePerSecond: 2 });

    // Act
    const responses = await Promise.all(
      Array.from({ length: 5 }, () => call(sandbox, 'GET', '/api/3/users/1')),
    );
    const unauthenticated = await call(sandbox, 'GET', '/api/3/users/1', { authorization: null });

    // Assess
    const throttled = responses.filter((response) => response.status === 429);
    expect(throttled).toHaveLength(3);
    expect(throttled[0]?.json).toEqual({ status: '429', message: expect.any(String), links: [] });
    expect(throttled[0]?.headers.get('retry-after')).toBeNull();
    expect(unauthenticated.status).toBe(429);
    expect(sandbox.counts()).toEqual({ total: 6, throttled: 4 });
  });

  it('fires a fault `times` times on matching requests, after authentication, then stops', async () => {
    // Prepare
    const sandbox = await open();
    const fault: InsightvmFault = {
      method: 'GET',
      path: /\/users$/,
      query: { page: '1' },
      status: 503,
      times: 1,
    };
    sandbox.addFault(fault);

    // Act
    const unauthenticated = await call(sandbox, 'GET', '/api/3/users', {
      query: { page: '1' },
      authorization: null,
    });
    const otherPage = await listUsers(sandbox, { page: '0' });
    const hit = await listUsers(sandbox, { page: '1', size: '2' });
    const again = await listUsers(sandbox, { page: '1', size: '2' });

    // Assess
    expect([unauthenticated.status, otherPage.status, hit.status, again.status]).toEqual([
      401, 200, 503, 200,
    ]);
    expect(hit.json).toEqual({ status: '503', message: 'Sandbox fault: HTTP 503', links: [] });
    expect(fault.times).toBe(0);
  });

  it('serves a fault body as raw text with its headers', async () => {
    // Prepare
    const sandbox = await open({
      faults: [{ status: 200, times: 1, body: '{"resources": [', headers: { 'X-Sandbox': 'yes' } }],
    });

    // Act
    const response = await call(sandbox, 'GET', '/api/3/users');

    // Assess
    expect(response.text).toBe('{"resources": [');
    expect(response.headers.get('x-sandbox')).toBe('yes');
  });

  it('delays every answer by latencyMs', async () => {
    // Prepare
    const sandbox = await open({ latencyMs: 60 });

    // Act
    const started = performance.now();
    const response = await call(sandbox, 'GET', '/api/3/users/1');
    const elapsed = performance.now() - started;

    // Assess
    expect(response.status).toBe(200);
    expect(elapsed).toBeGreaterThanOrEqual(55);
  });

  it('records requests in order with their query, body and status', async () => {
    // Prepare
    const sandbox = await open();

    // Act
    await listUsers(sandbox, { page: '0', size: '500' });
    await call(sandbox, 'PUT', '/api/3/users/3', { body: { login: 'jdoe' } });

    // Assess
    expect(sandbox.requests).toEqual([
      { method: 'GET', path: '/api/3/users', query: { page: '0', size: '500' }, status: 200 },
      { method: 'PUT', path: '/api/3/users/3', query: {}, body: { login: 'jdoe' }, status: 400 },
    ]);
  });

  it('stops listening on close, even with a keep-alive connection open', async () => {
    // Prepare
    const sandbox = await startRapid7InsightvmSandbox({ tls: false });
    await call(sandbox, 'GET', '/api/3/users/1');

    // Act
    await sandbox.close();

    // Assess
    await expect(fetch(`${sandbox.baseUrl}/api/3/users/1`)).rejects.toThrow();
  });
});
