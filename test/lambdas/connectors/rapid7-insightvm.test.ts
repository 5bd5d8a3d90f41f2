import { readFileSync } from 'node:fs';
import { generate } from 'selfsigned';
import { describe, expect, it } from 'vitest';
import {
  ASSET_GROUP_GRANTS_FIELD,
  createRapid7InsightvmConnector,
  type Rapid7InsightvmConnector,
  SITE_GRANTS_FIELD,
} from '../../../lambdas/connectors/rapid7-insightvm/connector';
import { canReactivate, type UserRecord } from '../../../lambdas/connectors/types';
import type { ConnectionRef, TlsOptions } from '../../../lambdas/shared/connections';
import { ERROR_NAMES } from '../../../lambdas/shared/errors';
import { runStep } from '../../../lambdas/shared/steps';
import {
  type InsightvmSandbox,
  type InsightvmUser,
  type InsightvmUserSeed,
  RAPID7_INSIGHTVM_SANDBOX_PASSWORD,
  RAPID7_INSIGHTVM_SANDBOX_USERNAME,
  SAMPLE_USERS,
  startRapid7InsightvmSandbox,
} from '../../../sandboxes/rapid7-insightvm';
import { verifyThroughLag } from '../../helpers/connectors';
import { rejectionOf } from '../../helpers/errors';
import { sandboxStarter } from '../../helpers/sandboxes';
import { closedPort, requestText } from '../../helpers/servers';
import { stepEnvironment } from '../../helpers/steps';

/**
 * The InsightVM console connector against the built-in HTTPS sandbox (a self-signed
 * certificate, a PUT that resets every field it is not sent, 500-row pages, no email filter),
 * and a contract test that holds every request we send to the console's own Swagger.
 */

const NAME = 'rapid7-console';
const SECRET = { username: RAPID7_INSIGHTVM_SANDBOX_USERNAME, password: RAPID7_INSIGHTVM_SANDBOX_PASSWORD };
const INTEGRATION = SAMPLE_USERS[0] as InsightvmUser;
const JANE = SAMPLE_USERS[2] as InsightvmUser;
/**
 * Signs in with `marcus.lee@example.com` as login; his email field says m.lee@corp.example.com.
 * His role lacks allSites: he sees sites 1 and 3 only (all asset groups).
 */
const MARCUS = SAMPLE_USERS[4] as InsightvmUser;
/** Siobhan: allSites, but not allAssetGroups, and no asset group granted. */
const SIOBHAN = SAMPLE_USERS[6] as InsightvmUser;
/** Tom: neither allSites nor allAssetGroups; sites 2 and 4, asset groups 1 and 3. */
const TOM = SAMPLE_USERS[7] as InsightvmUser;
/** What every refused certificate tells the operator to configure. */
const TLS_HINT =
  'give the connection tls.caCert (the PEM of the server certificate or its CA), or, knowingly, ' +
  'tls.rejectUnauthorized=false';

// DELETE /users/{id} destroys the account for good, and DELETE /users/{id}/lock *unlocks*
// one: offboarding must never send either.
const sandbox = sandboxStarter(startRapid7InsightvmSandbox, (request) => request.method === 'DELETE');

function connection(box: { baseUrl: string; caCert?: string }, tls?: TlsOptions | null): ConnectionRef {
  const trust = tls === undefined ? (box.caCert ? { caCert: box.caCert } : undefined) : tls;
  return { name: NAME, type: 'rapid7-insightvm', baseUrl: box.baseUrl, ...(trust ? { tls: trust } : {}) };
}

/** A connector that trusts the sandbox's certificate (unless `tls` says otherwise; null: default trust). */
function connectorFor(
  box: { baseUrl: string; caCert?: string },
  options: { secret?: unknown; tls?: TlsOptions | null } = {},
): Rapid7InsightvmConnector {
  return createRapid7InsightvmConnector(connection(box, options.tls), options.secret ?? SECRET);
}

const lists = (box: InsightvmSandbox) =>
  box.requests.filter((request) => request.method === 'GET' && request.path === '/api/3/users');
const writes = (box: InsightvmSandbox) => box.requests.filter((request) => request.method !== 'GET');

/** One GET over HTTPS with the integration's login, trusting the sandbox certificate. */
async function consoleGet(box: InsightvmSandbox, path: string): Promise<unknown> {
  const authorization = `Basic ${Buffer.from(`${SECRET.username}:${SECRET.password}`).toString('base64')}`;
  const response = await requestText(`${box.baseUrl}${path}`, {
    headers: { authorization },
    ca: box.caCert ?? '',
  });
  return JSON.parse(response.text);
}

/** The ids the console answers for `GET /users/{id}/sites` (or `/asset_groups`). */
async function grantsOf(box: InsightvmSandbox, id: number, route: 'sites' | 'asset_groups') {
  return ((await consoleGet(box, `/api/3/users/${id}/${route}`)) as { resources: number[] }).resources;
}

/**
 * The user exactly as the console answers it now, read over HTTPS like any client, and the
 * site and asset-group grants it answers for that user.
 */
async function consoleView(box: InsightvmSandbox, id: number) {
  const {
    [SITE_GRANTS_FIELD]: _sites,
    [ASSET_GROUP_GRANTS_FIELD]: _assetGroups,
    ...user
  } = (await connectorFor(box).getUser(String(id))).fields;
  return {
    user,
    sites: await grantsOf(box, id, 'sites'),
    assetGroups: await grantsOf(box, id, 'asset_groups'),
  };
}

const described = (box: InsightvmSandbox) =>
  box.requests.map((request) => `${request.method} ${request.path}`);

const integrationSeed: InsightvmUserSeed = {
  login: RAPID7_INSIGHTVM_SANDBOX_USERNAME,
  role: { id: 'global-admin', allSites: true, allAssetGroups: true, superuser: true },
};

describe('Rapid7InsightvmConnector.lookupUser', () => {
  it('finds the user by email, ignoring case, paging 500 at a time without a server filter', async () => {
    // Prepare
    const box = await sandbox();

    // Act
    const result = await connectorFor(box).lookupUser('JANE.DOE@Example.COM');

    // Assess
    expect(result).toEqual({ found: true, userId: '3' });
    expect(lists(box).map((request) => request.query)).toEqual([{ page: '0', size: '500' }]);
  });

  it('finds a user whose login is the email, and the same user by the email field', async () => {
    // Prepare
    const box = await sandbox();
    const connector = connectorFor(box);

    // Act
    const byLogin = await connector.lookupUser('Marcus.Lee@example.com');
    const byEmail = await connector.lookupUser('m.lee@corp.example.com');

    // Assess
    expect(byLogin).toEqual({ found: true, userId: String(MARCUS.id) });
    expect(byEmail).toEqual({ found: true, userId: String(MARCUS.id) });
  });

  it('keeps only exact matches: look-alike emails and logins are nobody', async () => {
    // Prepare
    const box = await sandbox({
      users: [
        integrationSeed,
        { login: 'jane.doe', email: 'jane.doe@example.com.evil.io' },
        { login: 'xjane.doe@example.com', email: 'x@example.com' },
        { login: 'jd2', email: 'jane.doe+x@example.com' },
        { login: 'jd3', email: 'jane.doe@example.co' },
      ],
    });

    // Act
    const result = await connectorFor(box).lookupUser('jane.doe@example.com');

    // Assess
    expect(result).toEqual({ found: false });
  });

  it.each([
    [
      "one user's email is another's login",
      [
        { id: 20, login: 'jdoe', email: 'jane.doe@example.com' },
        { id: 21, login: 'Jane.Doe@example.com', email: 'jane@corp.example.com' },
      ],
    ],
    [
      'two emails differ only in case',
      [
        { id: 20, login: 'jdoe', email: 'jane.doe@example.com' },
        { id: 21, login: 'jdoe2', email: 'JANE.DOE@example.com' },
      ],
    ],
  ])('refuses to choose when %s, and writes nothing', async (_case, users) => {
    // Prepare
    const box = await sandbox({ users: [integrationSeed, ...users] });

    // Act
    const error = await rejectionOf(connectorFor(box).lookupUser('jane.doe@example.com'));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.ambiguous);
    expect(error.message).toMatch(new RegExp(`^${NAME}: 2 users have jane.doe@example.com`));
    expect(error.message).toContain('ids 20, 21');
    expect(writes(box)).toEqual([]);
  });

  it('pages until it has seen every page, and no further', async () => {
    // Prepare: 1,201 users; the leaver is the 1,101st, on the third page of 500.
    const users = Array.from({ length: 1200 }, (_, i) => ({
      login: `user${i}`,
      email: i === 1099 ? 'Leaver@Example.com' : `user${i}@example.com`,
    }));
    const box = await sandbox({ users: [integrationSeed, ...users] });

    // Act
    const result = await connectorFor(box).lookupUser('leaver@example.com');

    // Assess
    expect(result).toEqual({ found: true, userId: '1101' });
    expect(lists(box).map((request) => request.query)).toEqual([
      { page: '0', size: '500' },
      { page: '1', size: '500' },
      { page: '2', size: '500' },
    ]);
  });

  it('follows totalPages when the console caps the page below 500', async () => {
    // Prepare
    const users = Array.from({ length: 249 }, (_, i) => ({
      login: `user${i}`,
      email: `user${i}@example.com`,
    }));
    const box = await sandbox({ users: [integrationSeed, ...users], maxPageSize: 100 });

    // Act
    const result = await connectorFor(box).lookupUser('user248@example.com');

    // Assess
    expect(result).toEqual({ found: true, userId: '250' });
    expect(lists(box).map((request) => request.query.page)).toEqual(['0', '1', '2']);
  });

  it('stops with Vendor.BadResponse instead of paging forever', async () => {
    // Prepare: pages of one user, more pages than any console should need.
    const users = Array.from({ length: 240 }, (_, i) => ({ login: `user${i}` }));
    const box = await sandbox({ users: [integrationSeed, ...users], maxPageSize: 1 });

    // Act
    const error = await rejectionOf(connectorFor(box).lookupUser('nobody@example.com'));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.badResponse);
    expect(error.message).toContain('more than 200 pages');
    expect(lists(box)).toHaveLength(200);
  });

  it('stops with Vendor.BadResponse when the console answers the same page whatever is asked', async () => {
    // Prepare
    const users = Array.from({ length: 600 }, (_, i) => ({ login: `user${i}` }));
    const box = await sandbox({ users: [integrationSeed, ...users], ignorePage: true });

    // Act
    const error = await rejectionOf(connectorFor(box).lookupUser('nobody@example.com'));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.badResponse);
    expect(error.message).toContain('asked for page 1 of the users, the console answered page 0');
    expect(lists(box)).toHaveLength(2);
  });

  it('reads the list again when its last page is gone (the list shrank while paging), and finds the user', async () => {
    // Prepare
    const users = Array.from({ length: 600 }, (_, i) => ({
      login: `user${i}`,
      email: `user${i}@example.com`,
    }));
    const box = await sandbox({
      users: [integrationSeed, ...users],
      faults: [{ method: 'GET', path: /\/users$/, query: { page: '1' }, status: 404, times: 1 }],
    });

    // Act
    const result = await connectorFor(box).lookupUser('user3@example.com');

    // Assess: the users who moved up onto the lost page were never seen: read again, whole.
    expect(result).toEqual({ found: true, userId: '5' });
    expect(lists(box).map((request) => request.status)).toEqual([200, 404, 200, 200]);
  });

  it('never answers not-found past a missing middle page: 404 for a page the console said it had is retried', async () => {
    // Prepare: 1,200 users (three pages); the leaver is on the last page; page 1 answers 404 once.
    const users = Array.from({ length: 1200 }, (_, i) => ({
      login: `user${i}`,
      email: `user${i}@example.com`,
    }));
    const box = await sandbox({
      users: [integrationSeed, ...users],
      faults: [{ method: 'GET', path: /\/users$/, query: { page: '1' }, status: 404, times: 1 }],
    });
    // Act
    const error = await rejectionOf(connectorFor(box).lookupUser('user1100@example.com'));
    // Assess: retried by the state machine, never "not found".
    expect(error.name).toBe(ERROR_NAMES.unavailable);
    expect(error.message).toContain('page 1 of 3');
  });

  it('answers Vendor.AuthFailed, naming the role, when the login may not list users (HTTP 404)', async () => {
    // Prepare
    const box = await sandbox({ credentials: { [RAPID7_INSIGHTVM_SANDBOX_USERNAME]: 'x', jdoe: 'jane-pw' } });

    // Act
    const error = await rejectionOf(
      connectorFor(box, { secret: { username: 'jdoe', password: 'jane-pw' } }).lookupUser('a@example.com'),
    );

    // Assess
    expect(error.name).toBe(ERROR_NAMES.authFailed);
    expect(error.message).toMatch(new RegExp(`^${NAME}: look up a@example.com: HTTP 404: `));
    expect(error.message).toContain('Global Administrator');
  });
});

describe('Rapid7InsightvmConnector.getUser', () => {
  it('returns the whole User as the console answers it', async () => {
    // Prepare
    const box = await sandbox();

    // Act
    const record = await connectorFor(box).getUser('3');

    // Assess
    expect(record).toEqual({
      id: '3',
      email: 'jane.doe@example.com',
      active: true,
      fields: {
        ...JANE,
        authentication: { ...JANE.authentication, links: [expect.objectContaining({ rel: 'self' })] },
        links: [{ href: `${box.baseUrl}/api/3/users/3`, rel: 'self' }],
      },
    });
  });

  it('carries a login that is an address among the emails, so the person found by login counts as asked for', async () => {
    // Prepare
    const box = await sandbox();
    const event = { connection: connection(box), email: 'marcus.lee@example.com' };
    const env = stepEnvironment(connection(box), SECRET);

    // Act
    const found = await runStep({ ...event, step: 'lookup' }, createRapid7InsightvmConnector, env);
    const record = await runStep(
      { ...event, step: 'getRecord', userId: '5' },
      createRapid7InsightvmConnector,
      env,
    );

    // Assess
    expect(found).toEqual({ found: true, userId: '5' });
    expect(record).toMatchObject({
      id: '5',
      email: 'm.lee@corp.example.com',
      emails: ['marcus.lee@example.com'],
    });
  });

  it('gives the email field as the email, or the login when only the login is an address', async () => {
    // Prepare
    const box = await sandbox({ users: [integrationSeed, { id: 30, login: 'solo@example.com' }] });

    // Act
    const withoutEmail = await connectorFor(box).getUser('30');

    // Assess
    expect(withoutEmail.email).toBe('solo@example.com');
    expect(withoutEmail.emails).toBeUndefined();
  });

  it('answers Vendor.BadRequest to an unknown user (HTTP 404) and to an id that is not a number', async () => {
    // Prepare
    const box = await sandbox();

    // Act
    const missing = await rejectionOf(connectorFor(box).getUser('999'));
    const notAnId = await rejectionOf(connectorFor(box).getUser('../users'));

    // Assess
    expect(missing.name).toBe(ERROR_NAMES.badRequest);
    expect(missing.message).toMatch(new RegExp(`^${NAME}: get user 999: HTTP 404 \\(`));
    expect(notAnId.name).toBe(ERROR_NAMES.badRequest);
    expect(box.requests).toHaveLength(1);
  });
});

describe('Rapid7InsightvmConnector.deactivateUser', () => {
  it.each([
    ['jane (LDAP, all sites, de-DE)', JANE],
    ['marcus (SAML, login is an email, sites 1 and 3 only)', MARCUS],
    ['siobhan (locked, all sites, no asset group)', SIOBHAN],
    ['tom (sites 2 and 4, asset groups 1 and 3 only)', TOM],
  ])(
    'keeps every field and grant of %s: after the PUT the console shows them as before, only disabled',
    async (_case, user) => {
      // Prepare
      const box = await sandbox();
      const connector = connectorFor(box);
      const before = await consoleView(box, user.id);
      const passwordsBefore = new Map(box.passwords);

      // Act
      await connector.deactivateUser(await connector.getUser(String(user.id)));

      // Assess
      expect(await consoleView(box, user.id)).toEqual({
        ...before,
        user: { ...before.user, enabled: false },
      });
      expect(box.passwords).toEqual(passwordsBefore);
    },
  );

  it('sends UserEdit: the user as read, mapped field by field, enabled false, no password', async () => {
    // Prepare
    const box = await sandbox();
    const connector = connectorFor(box);
    const record = await connector.getUser('3');

    // Act
    await connector.deactivateUser(record);

    // Assess
    const puts = writes(box);
    expect(puts.map((request) => `${request.method} ${request.path}`)).toEqual(['PUT /api/3/users/3']);
    expect(puts[0]?.body).toEqual({
      login: 'jdoe',
      name: 'Jane Doe',
      email: 'jane.doe@example.com',
      enabled: false,
      role: { id: 'security-manager', allSites: true, allAssetGroups: true, superuser: false },
      locale: { default: 'de-DE', reports: 'fr-FR' },
      authentication: { type: 'ldap', id: 3 },
    });
    expect(JSON.stringify(puts[0]?.body)).not.toMatch(/password|links|locked|privileges/);
  });

  it('leaves out an email the console does not hold instead of sending null or ""', async () => {
    // Prepare
    const box = await sandbox({
      users: [integrationSeed, { id: 30, login: 'solo@example.com', locale: { default: 'ja-JP' } }],
    });
    const connector = connectorFor(box);
    const before = await consoleView(box, 30);

    // Act
    await connector.deactivateUser(await connector.getUser('30'));

    // Assess
    expect(writes(box)[0]?.body).not.toHaveProperty('email');
    expect(await consoleView(box, 30)).toEqual({ ...before, user: { ...before.user, enabled: false } });
  });

  it('sends nothing when the record lacks what UserEdit requires (a role)', async () => {
    // Prepare
    const box = await sandbox();
    const connector = connectorFor(box);
    const record = await connector.getUser('3');
    const { role: _role, ...withoutRole } = record.fields;

    // Act
    const error = await rejectionOf(connector.deactivateUser({ ...record, fields: withoutRole }));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.badResponse);
    expect(error.message).toMatch(new RegExp(`^${NAME}: deactivate user 3: .*role`));
    expect(writes(box)).toEqual([]);
  });

  it('says the user may be gone, or the login not an administrator, when the PUT answers 404', async () => {
    // Prepare
    const box = await sandbox();
    const connector = connectorFor(box);
    const record = await connector.getUser('3');
    box.users.delete(3);

    // Act
    const error = await rejectionOf(connector.deactivateUser(record));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.badRequest);
    expect(error.message).toMatch(new RegExp(`^${NAME}: deactivate user 3: HTTP 404`));
    expect(error.message).toContain('no longer exists');
  });

  it('explains a console that wants a password with every update (HTTP 400)', async () => {
    // Prepare
    const box = await sandbox({
      faults: [
        {
          method: 'PUT',
          status: 400,
          times: 1,
          body: JSON.stringify({ status: '400', message: 'The password is required.', links: [] }),
        },
      ],
    });
    const connector = connectorFor(box);

    // Act
    const error = await rejectionOf(connector.deactivateUser(await connector.getUser('3')));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.badRequest);
    expect(error.message).toMatch(
      new RegExp(`^${NAME}: deactivate user 3: HTTP 400 \\(The password is required.\\)`),
    );
    expect(error.message).toContain('disable the user in the console by hand');
    expect(box.users.get(3)?.enabled).toBe(true);
  });
});

describe('Rapid7InsightvmConnector: site and asset-group grants survive the PUT', () => {
  // Public clients (My-Random-Thoughts/Rapid7Nexpose, Update-NexposeUser) re-apply a user's
  // site and asset-group grants after every PUT of the user "as they get removed"; the
  // sandbox does that to them unless told putDropsGrants: false.

  it.each([
    ['drops them on PUT (default)', {}],
    ['keeps them on PUT', { putDropsGrants: false }],
  ])(
    'a user limited to some sites and asset groups keeps exactly those after deactivation, whether the console %s',
    async (_case, options) => {
      // Prepare
      const box = await sandbox(options);
      const connector = connectorFor(box);

      // Act
      await connector.deactivateUser(await connector.getUser(String(TOM.id)));

      // Assess
      expect(box.users.get(TOM.id)?.enabled).toBe(false);
      expect(await grantsOf(box, TOM.id, 'sites')).toEqual([2, 4]);
      expect(await grantsOf(box, TOM.id, 'asset_groups')).toEqual([1, 3]);
    },
  );

  it('reads the grants with the record, then puts back the same ids right after the PUT of the user', async () => {
    // Prepare
    const box = await sandbox();
    const connector = connectorFor(box);

    // Act
    await connector.deactivateUser(await connector.getUser(String(TOM.id)));

    // Assess
    expect(described(box)).toEqual([
      'GET /api/3/users/8',
      'GET /api/3/users/8/sites',
      'GET /api/3/users/8/asset_groups',
      'PUT /api/3/users/8',
      'PUT /api/3/users/8/sites',
      'PUT /api/3/users/8/asset_groups',
    ]);
    expect(writes(box).map((request) => request.body)).toEqual([
      expect.objectContaining({ enabled: false, role: expect.objectContaining({ allSites: false }) }),
      [2, 4],
      [1, 3],
    ]);
  });

  it('keeps the grants in the record (the ledger keeps it), only of the kinds the role limits', async () => {
    // Prepare
    const box = await sandbox();
    const connector = connectorFor(box);

    // Act
    const marcus = await connector.getUser(String(MARCUS.id));
    const tom = await connector.getUser(String(TOM.id));
    const siobhan = await connector.getUser(String(SIOBHAN.id));

    // Assess
    expect(marcus.fields[SITE_GRANTS_FIELD]).toEqual([1, 3]);
    expect(marcus.fields).not.toHaveProperty(ASSET_GROUP_GRANTS_FIELD);
    expect(tom.fields).toMatchObject({ [SITE_GRANTS_FIELD]: [2, 4], [ASSET_GROUP_GRANTS_FIELD]: [1, 3] });
    expect(siobhan.fields).not.toHaveProperty(SITE_GRANTS_FIELD);
    expect(siobhan.fields[ASSET_GROUP_GRANTS_FIELD]).toEqual([]);
  });

  it('costs a user with allSites and allAssetGroups no extra request: list, GET, PUT, GET', async () => {
    // Prepare
    const box = await sandbox();
    const connector = connectorFor(box);

    // Act
    const found = await connector.lookupUser(JANE.email ?? '');
    if (!found.found) throw new Error('jane not found');
    const record = await connector.getUser(found.userId);
    await connector.protectedReason(record);
    await connector.deactivateUser(record);
    await connector.verifyDeactivated(found.userId);

    // Assess
    expect(described(box)).toEqual([
      'GET /api/3/users',
      'GET /api/3/users/3',
      'PUT /api/3/users/3',
      'GET /api/3/users/3',
    ]);
    expect(record.fields).not.toHaveProperty(SITE_GRANTS_FIELD);
    expect(record.fields).not.toHaveProperty(ASSET_GROUP_GRANTS_FIELD);
  });

  it('reads the grants of a disabled user too (a reactivation writes it) and puts back none that were not granted', async () => {
    // Prepare
    const box = await sandbox();
    const connector = connectorFor(box);

    // Act
    const gary = await connector.getUser('4');
    await connector.deactivateUser(await connector.getUser(String(SIOBHAN.id)));

    // Assess
    expect(gary.fields[SITE_GRANTS_FIELD]).toEqual([2]);
    expect(box.siteGrants.get(4)).toEqual([2]);
    expect(described(box)).toEqual([
      'GET /api/3/users/4',
      'GET /api/3/users/4/sites',
      'GET /api/3/users/4/asset_groups',
      'GET /api/3/users/7',
      'GET /api/3/users/7/asset_groups',
      'PUT /api/3/users/7',
    ]);
  });

  it('reads the grants before the PUT when the record does not carry them', async () => {
    // Prepare
    const box = await sandbox();
    const connector = connectorFor(box);
    const record = await connector.getUser(String(TOM.id));
    const { [SITE_GRANTS_FIELD]: _sites, [ASSET_GROUP_GRANTS_FIELD]: _groups, ...bare } = record.fields;
    const sent = box.requests.length;

    // Act
    await connector.deactivateUser({ ...record, fields: bare });

    // Assess
    expect(described(box).slice(sent)).toEqual([
      'GET /api/3/users/8/sites',
      'GET /api/3/users/8/asset_groups',
      'PUT /api/3/users/8',
      'PUT /api/3/users/8/sites',
      'PUT /api/3/users/8/asset_groups',
    ]);
    expect(box.siteGrants.get(TOM.id)).toEqual([2, 4]);
    expect(box.assetGroupGrants.get(TOM.id)).toEqual([1, 3]);
  });

  it('keeps the grants of a role that does not say allSites (a PUT makes it false)', async () => {
    // Prepare: the console answers Tom's role without allSites / allAssetGroups.
    const box = await sandbox();
    const tom = await consoleGet(box, `/api/3/users/${TOM.id}`);
    const {
      allSites: _all,
      allAssetGroups: _groups,
      ...role
    } = (tom as { role: Record<string, unknown> }).role;
    box.addFault({
      method: 'GET',
      path: /\/users\/8$/,
      status: 200,
      times: 1,
      body: JSON.stringify({ ...(tom as object), role }),
    });
    const connector = connectorFor(box);

    // Act
    const record = await connector.getUser(String(TOM.id));
    await connector.deactivateUser(record);

    // Assess
    expect(record.fields).toMatchObject({ [SITE_GRANTS_FIELD]: [2, 4], [ASSET_GROUP_GRANTS_FIELD]: [1, 3] });
    expect(box.users.get(TOM.id)?.enabled).toBe(false);
    expect(box.siteGrants.get(TOM.id)).toEqual([2, 4]);
    expect(box.assetGroupGrants.get(TOM.id)).toEqual([1, 3]);
  });

  it('a retried step puts back the grants from the record, though the first PUT already dropped them', async () => {
    // Prepare: the first put-back fails after the PUT of the user went through.
    const box = await sandbox({ faults: [{ method: 'PUT', path: /\/sites$/, status: 503, times: 1 }] });
    const connector = connectorFor(box);
    const record = await connector.getUser(String(MARCUS.id));

    // Act
    const error = await rejectionOf(connector.deactivateUser(record));
    const lost = box.siteGrants.get(MARCUS.id);
    await connector.deactivateUser(record);

    // Assess
    expect(error.name).toBe(ERROR_NAMES.unavailable);
    expect(error.message).toMatch(
      new RegExp(`^${NAME}: deactivate user 5: put back site grants 1, 3: HTTP 503`),
    );
    expect(lost).toBeUndefined();
    expect(box.users.get(MARCUS.id)?.enabled).toBe(false);
    expect(box.siteGrants.get(MARCUS.id)).toEqual([1, 3]);
  });

  it('answers Vendor.BadRequest naming the grants to give again when the console refuses the put-back', async () => {
    // Prepare
    const box = await sandbox({
      faults: [{ method: 'PUT', path: /\/asset_groups$/, status: 400, times: 1 }],
    });
    const connector = connectorFor(box);

    // Act
    const error = await rejectionOf(connector.deactivateUser(await connector.getUser(String(TOM.id))));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.badRequest);
    expect(error.message).toMatch(
      new RegExp(`^${NAME}: deactivate user 8: put back asset group grants 1, 3: HTTP 400 \\(`),
    );
    expect(error.message).toContain('grant them again in the console');
    expect(box.siteGrants.get(TOM.id)).toEqual([2, 4]);
  });

  it.each([
    ['grants that are not a list of ids', { [SITE_GRANTS_FIELD]: ['1'] }, `${SITE_GRANTS_FIELD}.0`],
    ['grants that are not a list', { [ASSET_GROUP_GRANTS_FIELD]: 3 }, ASSET_GROUP_GRANTS_FIELD],
  ])('writes nothing when the record holds %s', async (_case, change, named) => {
    // Prepare
    const box = await sandbox();
    const connector = connectorFor(box);
    const record = await connector.getUser(String(TOM.id));

    // Act
    const error = await rejectionOf(
      connector.deactivateUser({ ...record, fields: { ...record.fields, ...change } }),
    );

    // Assess
    expect(error.name).toBe(ERROR_NAMES.badResponse);
    expect(error.message).toContain(named);
    expect(writes(box)).toEqual([]);
  });

  it('answers Vendor.BadResponse, before any write, when the console does not list the grants', async () => {
    // Prepare
    const box = await sandbox({
      faults: [{ method: 'GET', path: /\/sites$/, status: 200, times: 1, body: '{"links": []}' }],
    });

    // Act
    const error = await rejectionOf(connectorFor(box).getUser(String(MARCUS.id)));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.badResponse);
    expect(error.message).toMatch(
      new RegExp(`^${NAME}: get user 5: read site grants: unexpected response shape`),
    );
    expect(writes(box)).toEqual([]);
  });
});

describe('Rapid7InsightvmConnector.verifyDeactivated', () => {
  it('answers Vendor.NotYetApplied while reads still show the user enabled, then resolves', async () => {
    // Prepare
    const box = await sandbox({ verifyLag: 2 });

    // Act
    const { first, second, third } = await verifyThroughLag(connectorFor(box), '3');

    // Assess
    expect(first.name).toBe(ERROR_NAMES.notYetApplied);
    expect(first.retryable).toBe(true);
    expect(first.message).toBe(`${NAME}: verify user 3: still enabled after the write`);
    expect(second.name).toBe(ERROR_NAMES.notYetApplied);
    expect(third).toMatchObject({ id: '3', active: false });
  });
});

/** Reads the user, switches it off and confirms it, as an offboarding run does; the read is the ledger's before-state. */
async function offboarded(connector: Rapid7InsightvmConnector, id: number): Promise<UserRecord> {
  const before = await connector.getUser(String(id));
  await connector.deactivateUser(before);
  await connector.verifyDeactivated(String(id));
  return before;
}

/** What `consoleView` should show for a user restored to `before`: the user, and the grants it held. */
function viewOf(before: UserRecord) {
  const { [SITE_GRANTS_FIELD]: sites, [ASSET_GROUP_GRANTS_FIELD]: assetGroups, ...user } = before.fields;
  return { user, sites: sites ?? [], assetGroups: assetGroups ?? [] };
}

describe('Rapid7InsightvmConnector.reactivateUser', () => {
  it.each([
    // Jane: allSites and allAssetGroups, an LDAP source, locales away from the default.
    ['Jane (access to everything)', JANE.id, ['GET /api/3/users/3', 'PUT /api/3/users/3']],
    // Marcus: sites 1 and 3 only; a SAML source; signs in with an address that is not his email.
    [
      'Marcus (some sites)',
      MARCUS.id,
      ['GET /api/3/users/5', 'PUT /api/3/users/5', 'PUT /api/3/users/5/sites'],
    ],
    [
      'Tom (some sites and asset groups)',
      TOM.id,
      [
        'GET /api/3/users/8',
        'PUT /api/3/users/8',
        'PUT /api/3/users/8/sites',
        'PUT /api/3/users/8/asset_groups',
      ],
    ],
  ])('gives %s back the exact user and grants of before, enabled', async (_case, id, trail) => {
    // Prepare: the console drops the grants on every PUT of the user (the default).
    const box = await sandbox();
    const connector = connectorFor(box);
    const before = await offboarded(connector, id);
    const sent = box.requests.length;

    // Act
    await connector.reactivateUser(before);

    // Assess
    expect(canReactivate(connector)).toBe(true);
    expect(described(box).slice(sent)).toEqual(trail);
    expect(box.requests[sent + 1]?.body).toMatchObject({ enabled: true });
    expect(await consoleView(box, id)).toEqual(viewOf(before));
    expect(box.users.get(id)?.enabled).toBe(true);
  });

  it('puts back the grants of before, not the ones the user was given while disabled', async () => {
    // Prepare: while Tom was off, his sites were changed and his asset groups revoked.
    const box = await sandbox();
    const connector = connectorFor(box);
    const before = await offboarded(connector, TOM.id);
    box.siteGrants.set(TOM.id, [1, 6]);
    box.assetGroupGrants.delete(TOM.id);

    // Act
    await connector.reactivateUser(before);

    // Assess
    expect(box.siteGrants.get(TOM.id)).toEqual([2, 4]);
    expect(box.assetGroupGrants.get(TOM.id)).toEqual([1, 3]);
  });

  it('reads the grants before the PUT when the before-state does not carry them', async () => {
    // Prepare
    const box = await sandbox();
    const connector = connectorFor(box);
    const before = await offboarded(connector, TOM.id);
    const { [SITE_GRANTS_FIELD]: _sites, [ASSET_GROUP_GRANTS_FIELD]: _groups, ...bare } = before.fields;
    const sent = box.requests.length;

    // Act
    await connector.reactivateUser({ ...before, fields: bare });

    // Assess
    expect(described(box).slice(sent)).toEqual([
      'GET /api/3/users/8',
      'GET /api/3/users/8/sites',
      'GET /api/3/users/8/asset_groups',
      'PUT /api/3/users/8',
      'PUT /api/3/users/8/sites',
      'PUT /api/3/users/8/asset_groups',
    ]);
    expect(box.users.get(TOM.id)?.enabled).toBe(true);
    expect(box.siteGrants.get(TOM.id)).toEqual([2, 4]);
    expect(box.assetGroupGrants.get(TOM.id)).toEqual([1, 3]);
  });

  it('refuses, writing nothing, when the id now holds someone with another email', async () => {
    // Prepare: Tom's id was given to a new hire, who is disabled.
    const box = await sandbox();
    const connector = connectorFor(box);
    const before = await offboarded(connector, TOM.id);
    const off = box.users.get(TOM.id) as InsightvmUser;
    const newHire = { ...off, login: 'nnew', name: 'Nora New', email: 'nora.new@example.com' };
    box.users.set(TOM.id, newHire);
    const sent = box.requests.length;

    // Act
    const error = await rejectionOf(connector.reactivateUser(before));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.badRequest);
    expect(error.message).toMatch(new RegExp(`^${NAME}: reactivate user 8: `));
    expect(error.message).toContain('nora.new@example.com, not tom.nguyen@example.com');
    expect(described(box).slice(sent)).toEqual(['GET /api/3/users/8']);
    expect(box.users.get(TOM.id)).toEqual(newHire);
  });

  it('takes the same email in another case as the same account', async () => {
    // Prepare
    const box = await sandbox();
    const connector = connectorFor(box);
    const before = await offboarded(connector, JANE.id);
    const off = box.users.get(JANE.id) as InsightvmUser;
    box.users.set(JANE.id, { ...off, email: 'Jane.Doe@EXAMPLE.com' });

    // Act
    await connector.reactivateUser(before);

    // Assess
    expect(box.users.get(JANE.id)).toMatchObject({ enabled: true, email: 'jane.doe@example.com' });
  });

  it.each([
    ['names another user', { id: 6 }, 'is user 6, not 3'],
    ['was already disabled', { enabled: false }, 'already inactive before the offboarding'],
    ['has no role (UserEdit requires one)', { role: undefined }, 'not an InsightVM user (role'],
  ])('refuses a before-state that %s, without sending anything', async (_case, change, words) => {
    // Prepare
    const box = await sandbox();
    const before: UserRecord = {
      id: '3',
      email: 'jane.doe@example.com',
      active: true,
      fields: { ...structuredClone(JANE), ...change },
    };

    // Act
    const error = await rejectionOf(connectorFor(box).reactivateUser(before));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.badRequest);
    expect(error.message).toContain(words);
    expect(box.requests).toEqual([]);
  });

  it('says to enable the user by hand when the console wants a password with every update', async () => {
    // Prepare
    const box = await sandbox();
    const connector = connectorFor(box);
    const before = await offboarded(connector, JANE.id);
    box.addFault({
      method: 'PUT',
      status: 400,
      times: 1,
      body: JSON.stringify({ status: '400', message: 'The password is required.', links: [] }),
    });

    // Act
    const error = await rejectionOf(connector.reactivateUser(before));

    // Assess
    expect(error.message).toMatch(new RegExp(`^${NAME}: reactivate user 3: HTTP 400 \\(The password`));
    expect(error.message).toContain('enable the user in the console by hand');
    expect(box.users.get(JANE.id)?.enabled).toBe(false);
  });
});

describe('Rapid7InsightvmConnector.verifyReactivated', () => {
  it('answers Vendor.NotYetApplied while reads still show the user disabled, then resolves', async () => {
    // Prepare: reads answer the user before each write twice more.
    const box = await sandbox({ verifyLag: 2 });
    const connector = connectorFor(box);
    const before = await connector.getUser('3');
    await connector.deactivateUser(before);
    await connector.reactivateUser(before);

    // Act
    const first = await rejectionOf(connector.verifyReactivated('3'));
    const second = await rejectionOf(connector.verifyReactivated('3'));
    const third = await connector.verifyReactivated('3');

    // Assess
    expect(first.name).toBe(ERROR_NAMES.notYetApplied);
    expect(first.retryable).toBe(true);
    expect(first.message).toBe(`${NAME}: verify user 3: still disabled after the write`);
    expect(second.name).toBe(ERROR_NAMES.notYetApplied);
    expect(third).toMatchObject({ id: '3', email: 'jane.doe@example.com', active: true });
  });
});

describe('Rapid7InsightvmConnector.protectedReason', () => {
  it("protects the user whose login is the secret's username (ignoring case), without a request", async () => {
    // Prepare
    const box = await sandbox();
    const connector = connectorFor(box, { secret: { ...SECRET, username: 'OFFBOARD-SVC' } });
    const integration = await connector.getUser(String(INTEGRATION.id));
    const jane = await connector.getUser('3');
    const sent = box.requests.length;

    // Act
    const integrationWhy = await connector.protectedReason(integration);
    const janeWhy = await connector.protectedReason(jane);

    // Assess
    expect(integrationWhy).toContain('console login this connection signs in with');
    expect(janeWhy).toBeUndefined();
    expect(box.requests.length).toBe(sent);
  });

  it('keeps the integration account on: the getRecord step answers User.Protected, nothing is written', async () => {
    // Prepare
    const box = await sandbox();
    const event = { step: 'getRecord', connection: connection(box), email: INTEGRATION.email, userId: '1' };

    // Act
    const error = await rejectionOf(
      runStep(event, createRapid7InsightvmConnector, stepEnvironment(connection(box), SECRET)),
    );

    // Assess
    expect(error.name).toBe(ERROR_NAMES.protected);
    expect(writes(box)).toEqual([]);
    expect(box.users.get(1)?.enabled).toBe(true);
  });
});

describe('Rapid7InsightvmConnector TLS', () => {
  it('keeps verification on by default: the self-signed console is refused, not retried, with a message that says what to do', async () => {
    // Prepare
    const box = await sandbox();

    // Act
    const error = await rejectionOf(connectorFor(box, { tls: null }).lookupUser('jane.doe@example.com'));

    // Assess: waiting will not make the certificate trusted, so it is the connection's configuration.
    expect(error.name).toBe(ERROR_NAMES.config);
    expect(error.retryable).toBe(false);
    expect(error.message).toMatch(
      new RegExp(`^${NAME}: look up jane.doe@example.com: DEPTH_ZERO_SELF_SIGNED_CERT`),
    );
    expect(error.message).toContain("the server's TLS certificate is not trusted");
    expect(error.message).toContain(TLS_HINT);
    expect(box.requests).toEqual([]);
  });

  it('refuses a certificate that caCert does not vouch for', async () => {
    // Prepare
    const box = await sandbox();
    const other = await generate([{ name: 'commonName', value: '127.0.0.1' }], { keyType: 'ec' });

    // Act
    const error = await rejectionOf(connectorFor(box, { tls: { caCert: other.cert } }).getUser('3'));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.config);
    expect(error.message).toContain('certificate is not trusted');
    expect(error.message).toContain(TLS_HINT);
  });

  it.each([
    [
      'trusts the console certificate given as caCert',
      (box: InsightvmSandbox) => ({ caCert: box.caCert ?? '' }),
    ],
    [
      'skips verification only when told rejectUnauthorized: false',
      () => ({ rejectUnauthorized: false as const }),
    ],
  ])('%s', async (_case, tls) => {
    // Prepare
    const box = await sandbox();

    // Act
    const result = await connectorFor(box, { tls: tls(box) }).lookupUser('jane.doe@example.com');

    // Assess
    expect(result).toEqual({ found: true, userId: '3' });
  });
});

describe('Rapid7InsightvmConnector errors', () => {
  it('answers Vendor.AuthFailed to a wrong password without putting it in the message', async () => {
    // Prepare
    const box = await sandbox();
    const password = 'wrong-password-7f3a9c';

    // Act
    const error = await rejectionOf(connectorFor(box, { secret: { ...SECRET, password } }).getUser('3'));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.authFailed);
    expect(error.message).toBe(
      `${NAME}: get user 3: HTTP 401 (An error occurred while authenticating the user.)`,
    );
    expect(error.message).not.toContain(password);
  });

  it('answers Vendor.RateLimited to a 429', async () => {
    // Prepare: one request a second; the lookup spends it.
    const box = await sandbox({ ratePerSecond: 1 });
    const connector = connectorFor(box);
    await connector.lookupUser('jane.doe@example.com');

    // Act
    const error = await rejectionOf(connector.getUser('3'));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.rateLimited);
    expect(error.message).toMatch(new RegExp(`^${NAME}: get user 3: HTTP 429`));
  });

  it.each([500, 503])('answers Vendor.Unavailable to HTTP %i, with the console message', async (status) => {
    // Prepare
    const box = await sandbox({ faults: [{ status, times: 1 }] });

    // Act
    const error = await rejectionOf(connectorFor(box).lookupUser('jane.doe@example.com'));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.unavailable);
    expect(error.message).toBe(
      `${NAME}: look up jane.doe@example.com: HTTP ${status} (Sandbox fault: HTTP ${status})`,
    );
  });

  it.each([
    ['a list of malformed JSON', '{"resources": [', 'lookup'],
    ['a list whose resources are not a list', '{"resources": {"id": 3}}', 'lookup'],
    ['a user without enabled', '{"id": 3, "login": "jdoe"}', 'get'],
  ])('answers Vendor.BadResponse to a 200 with %s', async (_case, body, step) => {
    // Prepare
    const box = await sandbox({ faults: [{ method: 'GET', status: 200, times: 1, body }] });
    const connector = connectorFor(box);

    // Act
    const error = await rejectionOf(
      step === 'lookup' ? connector.lookupUser('jane.doe@example.com') : connector.getUser('3'),
    );

    // Assess
    expect(error.name).toBe(ERROR_NAMES.badResponse);
  });

  it('answers Vendor.Unavailable when the connection is refused', async () => {
    // Prepare
    const port = await closedPort();

    // Act
    const error = await rejectionOf(connectorFor({ baseUrl: `https://127.0.0.1:${port}` }).getUser('3'));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.unavailable);
    expect(error.message).toMatch(new RegExp(`^${NAME}: get user 3: ECONNREFUSED`));
  });

  it('accepts a baseUrl that already ends in /api/3', async () => {
    // Prepare
    const box = await sandbox();

    // Act
    const record = await connectorFor({ baseUrl: `${box.baseUrl}/api/3/`, caCert: box.caCert ?? '' }).getUser(
      '3',
    );

    // Assess
    expect(record.id).toBe('3');
    expect(box.requests.map((request) => request.path)).toEqual(['/api/3/users/3']);
  });
});

describe('createRapid7InsightvmConnector', () => {
  it.each([
    ['no password', { username: 'offboard-svc' }],
    ['an empty username', { username: '', password: 'p4ss-in-secret' }],
    ['an API key (the cloud platform secret)', { apiKey: 'p4ss-in-secret' }],
    ['no JSON object', 'p4ss-in-secret'],
  ])('answers Config.Invalid to a secret with %s, showing the shape but not the value', (_case, secret) => {
    // Act
    const act = () =>
      createRapid7InsightvmConnector(connection({ baseUrl: 'https://console.example.com:3780' }), secret);

    // Assess
    expect(act).toThrow(expect.objectContaining({ name: ERROR_NAMES.config }));
    expect(act).toThrow(
      `${NAME}: the secret must be JSON like {"username":"<console user>","password":"<password>"}`,
    );
    expect(act).not.toThrow(/p4ss-in-secret/);
  });
});

// ─── Contract: the console's own Swagger is the judge, not our sandbox ───────────────────

interface SwaggerSchema {
  $ref?: string;
  type?: string;
  format?: string;
  enum?: unknown[];
  required?: string[];
  readOnly?: boolean;
  properties?: Record<string, SwaggerSchema>;
  additionalProperties?: boolean | SwaggerSchema;
  items?: SwaggerSchema;
}
interface SwaggerParameter {
  name: string;
  in: string;
  schema?: SwaggerSchema;
}
interface Swagger {
  basePath: string;
  paths: Record<string, Record<string, { parameters?: SwaggerParameter[] }>>;
  definitions: Record<string, SwaggerSchema>;
}

const swagger = JSON.parse(
  readFileSync(
    new URL('../../../vendor-contracts/rapid7/insightvm-console-swagger.json', import.meta.url),
    'utf8',
  ),
) as Swagger;

/**
 * `UserEdit` lists `password` as required because POST (create) and PUT (update) share it.
 * It is write-only: a write-back cannot know it, and public clients update users without it.
 * This is the one requirement we do not meet, on purpose.
 */
const EXEMPT_REQUIRED = new Set(['password']);

/**
 * A strict reader of Swagger 2.0 schemas: `$ref` within `definitions`, types, formats,
 * enums, required fields, and, stricter than JSON Schema, every property must be defined
 * (no definition here allows others) and a request may not carry read-only properties.
 */
function contractProblems(
  schema: SwaggerSchema,
  value: unknown,
  direction: 'request' | 'response',
  path = '$',
  exempt: ReadonlySet<string> = new Set(),
): string[] {
  let resolved = schema;
  let name = 'schema';
  while (resolved.$ref) {
    name = resolved.$ref.replace('#/definitions/', '');
    const next = swagger.definitions[name];
    if (!next) return [`${path}: $ref ${resolved.$ref} is not in definitions`];
    resolved = next;
  }
  if (resolved.enum && !resolved.enum.includes(value)) {
    return [`${path}: ${JSON.stringify(value)} is not one of ${JSON.stringify(resolved.enum)}`];
  }
  const type = resolved.type ?? (resolved.properties ? 'object' : undefined);
  switch (type) {
    case 'object': {
      if (typeof value !== 'object' || value === null || Array.isArray(value))
        return [`${path}: not an object`];
      const problems: string[] = [];
      const fields = value as Record<string, unknown>;
      for (const required of resolved.required ?? []) {
        if (fields[required] === undefined && !exempt.has(required)) {
          problems.push(`${path}.${required}: required by ${name}`);
        }
      }
      for (const [key, field] of Object.entries(fields)) {
        const property = resolved.properties?.[key];
        if (!property) {
          if (!resolved.additionalProperties) problems.push(`${path}.${key}: not defined by ${name}`);
          continue;
        }
        if (direction === 'request' && property.readOnly)
          problems.push(`${path}.${key}: read-only in ${name}`);
        problems.push(...contractProblems(property, field, direction, `${path}.${key}`));
      }
      return problems;
    }
    case 'array':
      if (!Array.isArray(value)) return [`${path}: not an array`];
      return value.flatMap((item, i) =>
        resolved.items ? contractProblems(resolved.items, item, direction, `${path}[${i}]`) : [],
      );
    case 'string':
      return typeof value === 'string' ? [] : [`${path}: not a string`];
    case 'boolean':
      return typeof value === 'boolean' ? [] : [`${path}: not a boolean`];
    case 'integer': {
      const limit = resolved.format === 'int32' ? 2 ** 31 : Number.MAX_SAFE_INTEGER;
      return Number.isInteger(value) && Math.abs(value as number) < limit
        ? []
        : [`${path}: not an ${resolved.format ?? 'integer'}`];
    }
    case 'number':
      return typeof value === 'number' ? [] : [`${path}: not a number`];
    default:
      return [];
  }
}

const definition = (name: string): SwaggerSchema => ({ $ref: `#/definitions/${name}` });
const userEditProblems = (body: unknown) =>
  contractProblems(definition('UserEdit'), body, 'request', '$', EXEMPT_REQUIRED);

/** The Swagger operation a request went to (the base path is `/`), or why there is none. */
function operationOf(
  method: string,
  path: string,
): { template: string; parameters: SwaggerParameter[] } | { problem: string } {
  const templates = Object.keys(swagger.paths).filter((template) => {
    const literal = template.split(/\{[^}]+\}/).map((part) => part.replace(/[.*+?^$()|[\]\\]/g, '\\$&'));
    return new RegExp(`^${literal.join('[^/]+')}$`).test(path);
  });
  if (templates.length === 0) return { problem: `${method} ${path}: no such path in the Swagger` };
  for (const template of templates) {
    const operation = swagger.paths[template]?.[method.toLowerCase()];
    if (operation) return { template, parameters: operation.parameters ?? [] };
  }
  return { problem: `${method} ${path}: ${templates.join(', ')} define no ${method}` };
}

/**
 * What is wrong with a request as the Swagger defines its operation: the path and method,
 * the query parameters, and the body against the operation's body parameter (`UserEdit`
 * for a user, a bare int32 array for `/sites` and `/asset_groups`).
 */
function requestProblems(request: {
  method: string;
  path: string;
  query: Record<string, string>;
  body?: unknown;
}) {
  const operation = operationOf(request.method, request.path);
  if ('problem' in operation) return { problems: [operation.problem] };
  const where = `${request.method} ${request.path}`;
  const problems: string[] = [];
  for (const name of Object.keys(request.query)) {
    if (!operation.parameters.some((parameter) => parameter.in === 'query' && parameter.name === name)) {
      problems.push(`${where}: query parameter ${name} is not defined`);
    }
  }
  const bodyParameter = operation.parameters.find((parameter) => parameter.in === 'body');
  if (request.body !== undefined) {
    if (!bodyParameter?.schema) problems.push(`${where}: the operation takes no body`);
    else
      problems.push(
        ...contractProblems(bodyParameter.schema, request.body, 'request', '$', EXEMPT_REQUIRED).map(
          (problem) => `${where}: ${problem}`,
        ),
      );
  }
  return { template: `${request.method} ${operation.template}`, problems };
}

describe('Contract with the console Swagger (vendor-contracts/rapid7)', () => {
  it('is the console 6.6.55 Swagger, whose UserEdit requires login, name, password and role', () => {
    // Assess
    expect(swagger.basePath).toBe('/');
    expect(swagger.definitions.UserEdit?.required).toEqual(['login', 'name', 'password', 'role']);
    expect([...EXEMPT_REQUIRED]).toEqual(['password']);
    expect(swagger.paths['/api/3/users/{id}']?.put).toBeDefined();
  });

  it.each([
    [
      'an undefined field (seed guide: accessAllSites)',
      { accessAllSites: true },
      '$.accessAllSites: not defined by UserEdit',
    ],
    ['a User-only field (links)', { links: [] }, '$.links: not defined by UserEdit'],
    ['a read-only field (id)', { id: 3 }, '$.id: read-only in UserEdit'],
    ['a read-only field (locked)', { locked: false }, '$.locked: read-only in UserEdit'],
    [
      'a UserRole field UserCreateRole lacks',
      { role: { id: 'user', name: 'User' } },
      '$.role.name: not defined by UserCreateRole',
    ],
    [
      'an AuthenticationSource field',
      { authentication: { type: 'ldap', external: true } },
      '$.authentication.external',
    ],
    [
      'an authentication without type',
      { authentication: { id: 3 } },
      '$.authentication.type: required by CreateAuthenticationSource',
    ],
    ['a role without id', { role: { allSites: true } }, '$.role.id: required by UserCreateRole'],
    ['no login', { login: undefined }, '$.login: required by UserEdit'],
    ['no name', { name: undefined }, '$.name: required by UserEdit'],
    ['no role', { role: undefined }, '$.role: required by UserEdit'],
    ['a name object (seed guide)', { name: { first: 'Jane' } }, '$.name: not a string'],
    ['a string enabled', { enabled: 'false' }, '$.enabled: not a boolean'],
    ['a null email', { email: null }, '$.email: not a string'],
  ])('the judge refuses a PUT body with %s', (_case, change, problem) => {
    // Prepare
    const valid = { login: 'jdoe', name: 'Jane Doe', enabled: false, role: { id: 'user' } };

    // Act
    const accepted = userEditProblems(valid);
    const refused = userEditProblems({ ...valid, ...change });

    // Assess
    expect(accepted).toEqual([]);
    expect(refused.join('\n')).toContain(problem);
  });

  it('the judge holds a grants body to the bare int32 array the Swagger defines', () => {
    // Act
    const check = (body: unknown) =>
      requestProblems({ method: 'PUT', path: '/api/3/users/8/sites', query: {}, body }).problems;

    // Assess
    expect(check([2, 4])).toEqual([]);
    expect(check({ resources: [2, 4] }).join('\n')).toContain('$: not an array');
    expect(check(['2']).join('\n')).toContain('$[0]: not an int32');
    expect(check([2 ** 31]).join('\n')).toContain('$[0]: not an int32');
  });

  it('every body the connector sends is the one its Swagger operation takes, for every kind of user', async () => {
    // Prepare: every sample user but the integration account, and two sparse ones.
    const box = await sandbox({
      users: [
        ...SAMPLE_USERS,
        { id: 30, login: 'solo@example.com' },
        {
          id: 31,
          login: 'krb',
          email: 'krb@example.com',
          authentication: { type: 'kerberos' },
          enabled: true,
        },
      ],
    });
    const connector = connectorFor(box);
    const ids = [...box.users.keys()].filter((id) => id !== INTEGRATION.id);

    // Act
    for (const id of ids) await connector.deactivateUser(await connector.getUser(String(id)));

    // Assess
    const puts = writes(box);
    const userPuts = puts.filter((put) => /^\/api\/3\/users\/\d+$/.test(put.path));
    expect(userPuts).toHaveLength(ids.length);
    for (const put of userPuts)
      expect({ path: put.path, problems: userEditProblems(put.body) }).toEqual({
        path: put.path,
        problems: [],
      });
    // Marcus's and Tom's grants went back, each in its own body.
    expect(puts.length).toBeGreaterThan(userPuts.length);
    for (const put of puts)
      expect({ path: put.path, ...requestProblems(put) }).toMatchObject({ problems: [] });
  });

  it('every body a reactivation sends is the one its Swagger operation takes, for every kind of user', async () => {
    // Prepare: every enabled sample user but the integration account, switched off first.
    const box = await sandbox();
    const connector = connectorFor(box);
    const ids = [...box.users.values()]
      .filter((user) => user.enabled && user.id !== INTEGRATION.id)
      .map((user) => user.id);
    const befores = [];
    for (const id of ids) befores.push(await offboarded(connector, id));
    const sent = box.requests.length;

    // Act
    for (const before of befores) await connector.reactivateUser(before);

    // Assess
    const puts = box.requests.slice(sent).filter((request) => request.method !== 'GET');
    const userPuts = puts.filter((put) => /^\/api\/3\/users\/\d+$/.test(put.path));
    expect(userPuts).toHaveLength(ids.length);
    for (const put of userPuts)
      expect({ path: put.path, problems: userEditProblems(put.body) }).toEqual({
        path: put.path,
        problems: [],
      });
    expect(puts.length).toBeGreaterThan(userPuts.length);
    for (const put of puts)
      expect({ path: put.path, ...requestProblems(put) }).toMatchObject({ problems: [] });
  });

  it('every request of a whole offboarding is a path, method and query parameter the Swagger defines', async () => {
    // Prepare: enough users for the lookup to page.
    const users = Array.from({ length: 520 }, (_, i) => ({
      login: `user${i}`,
      email: `user${i}@example.com`,
    }));
    const box = await sandbox({ users: [...SAMPLE_USERS, ...users] });
    const connector = connectorFor(box);

    // Act
    for (const email of [
      'jane.doe@example.com',
      'marcus.lee@example.com',
      'tom.nguyen@example.com',
      'user519@example.com',
    ]) {
      const found = await connector.lookupUser(email);
      if (!found.found) throw new Error(`${email} not found`);
      const record = await connector.getUser(found.userId);
      await connector.protectedReason(record);
      await connector.deactivateUser(record);
      await connector.verifyDeactivated(found.userId);
    }

    // Assess
    const problems: string[] = [];
    const used = new Set<string>();
    for (const request of box.requests) {
      const checked = requestProblems(request);
      problems.push(...checked.problems);
      if (checked.template) used.add(checked.template);
    }
    expect(problems).toEqual([]);
    expect(used).toEqual(
      new Set([
        'GET /api/3/users',
        'GET /api/3/users/{id}',
        'PUT /api/3/users/{id}',
        'GET /api/3/users/{id}/sites',
        'PUT /api/3/users/{id}/sites',
        'GET /api/3/users/{id}/asset_groups',
        'PUT /api/3/users/{id}/asset_groups',
      ]),
    );
  });

  it('the sandbox answers in the Swagger shapes: PageOf«User», User, ReferencesWith«…», Links and BadRequestError', async () => {
    // Prepare
    const box = await sandbox({ users: [...SAMPLE_USERS, { id: 30, login: 'solo@example.com' }] });
    const authorization = `Basic ${Buffer.from(`${SECRET.username}:${SECRET.password}`).toString('base64')}`;
    const read = async (method: string, path: string, body?: unknown) => {
      const response = await requestText(`${box.baseUrl}${path}`, {
        method,
        headers: { authorization, 'content-type': 'application/json' },
        ca: box.caCert ?? '',
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return JSON.parse(response.text);
    };

    // Act
    const page = await read('GET', '/api/3/users?page=0&size=500');
    const users = await Promise.all([...box.users.keys()].map((id) => read('GET', `/api/3/users/${id}`)));
    const links = await read('PUT', '/api/3/users/6', {
      login: 'pnatarajan',
      name: 'Priya',
      role: { id: 'user' },
    });
    const badRequest = await read('PUT', '/api/3/users/3', { login: 'jdoe' });
    const sites = await read('GET', '/api/3/users/8/sites');
    const assetGroups = await read('GET', '/api/3/users/8/asset_groups');
    const sitesPut = await read('PUT', '/api/3/users/8/sites', [2, 4]);
    const assetGroupsPut = await read('PUT', '/api/3/users/8/asset_groups', [1, 3]);

    // Assess
    expect(sites).toMatchObject({ resources: [2, 4] });
    expect(contractProblems(definition('ReferencesWith«SiteID,Link»'), sites, 'response')).toEqual([]);
    expect(
      contractProblems(definition('ReferencesWith«AssetGroupID,Link»'), assetGroups, 'response'),
    ).toEqual([]);
    expect(contractProblems(definition('Links'), sitesPut, 'response')).toEqual([]);
    expect(contractProblems(definition('Links'), assetGroupsPut, 'response')).toEqual([]);
    expect(contractProblems(definition('PageOf«User»'), page, 'response')).toEqual([]);
    expect(users.flatMap((user) => contractProblems(definition('User'), user, 'response'))).toEqual([]);
    expect(contractProblems(definition('Links'), links, 'response')).toEqual([]);
    expect(contractProblems(definition('BadRequestError'), badRequest, 'response')).toEqual([]);
  });
});
