import { describe, expect, it } from 'vitest';
import {
  createRapid7PlatformConnector,
  isActiveStatus,
  type Rapid7PlatformConnector,
} from '../../../lambdas/connectors/rapid7-platform/connector';
import { canDeactivate, canReactivate } from '../../../lambdas/connectors/types';
import type { ConnectionRef } from '../../../lambdas/shared/connections';
import { ERROR_NAMES } from '../../../lambdas/shared/errors';
import {
  type PlatformUser,
  RAPID7_PLATFORM_SANDBOX_KEY,
  RAPID7_PLATFORM_SANDBOX_USER_KEY,
  type Rapid7PlatformSandbox,
  SAMPLE_USERS,
  startRapid7PlatformSandbox,
} from '../../../sandboxes/rapid7-platform';
import { rejectionOf } from '../../helpers/errors';
import { sandboxStarter } from '../../helpers/sandboxes';

/**
 * The Rapid7 Insight Platform connector against the built-in sandbox: a real HTTP server
 * answering the Insight Account API's user reads with X-Api-Key auth. The API cannot
 * disable a user, so the tests act as the person through the sandbox's console hooks and
 * check that the connector reads, verifies, and never writes.
 */

const NAME = 'rapid7-cloud-test';
const JANE = SAMPLE_USERS[1] as PlatformUser;
const PENDING = SAMPLE_USERS[3] as PlatformUser;
const DISABLED = SAMPLE_USERS[2] as PlatformUser;

// The API has no public disable, and DELETE is irreversible: this connector only reads.
const sandbox = sandboxStarter(startRapid7PlatformSandbox, (request) => request.method !== 'GET');

function connection(baseUrl: string): ConnectionRef {
  return { name: NAME, type: 'rapid7-platform', baseUrl };
}

function connectorFor(
  box: { baseUrl: string },
  apiKey = RAPID7_PLATFORM_SANDBOX_KEY,
): Rapid7PlatformConnector {
  return createRapid7PlatformConnector(connection(box.baseUrl), { apiKey });
}

const lookups = (box: Rapid7PlatformSandbox) =>
  box.requests.filter((request) => request.path === '/account/api/1/users');

const user = (id: string, email: string, extra: Partial<PlatformUser> = {}) => ({ id, email, ...extra });

describe('Rapid7PlatformConnector capabilities', () => {
  it('cannot deactivate: the workflow hands that step to a person', async () => {
    // Prepare
    const box = await sandbox();

    // Act
    const connector = connectorFor(box);

    // Assess
    expect(canDeactivate(connector)).toBe(false);
    expect('deactivateUser' in connector).toBe(false);
  });

  it('cannot reactivate either: no API enables a platform user, a person does it', async () => {
    // Prepare
    const box = await sandbox();

    // Act
    const connector = connectorFor(box);

    // Assess
    expect(canReactivate(connector)).toBe(false);
    expect('reactivateUser' in connector).toBe(false);
    expect('verifyReactivated' in connector).toBe(false);
  });
});

describe('Rapid7PlatformConnector.lookupUser', () => {
  it('finds the user by email, ignoring case, with the email filter under /account/api/1', async () => {
    // Prepare
    const box = await sandbox();

    // Act
    const result = await connectorFor(box).lookupUser('JANE.DOE@Example.COM');

    // Assess
    expect(result).toEqual({ found: true, userId: JANE.id });
    expect(lookups(box)).toHaveLength(1);
    expect(lookups(box)[0]).toMatchObject({
      method: 'GET',
      query: { email: 'JANE.DOE@Example.COM' },
      status: 200,
    });
  });

  it('answers found: false when nobody has the email', async () => {
    // Prepare
    const box = await sandbox();

    // Act
    const result = await connectorFor(box).lookupUser('nobody@example.com');

    // Assess
    expect(result).toEqual({ found: false });
  });

  it("sends an apostrophe in the email as is and finds o'brien", async () => {
    // Prepare
    const box = await sandbox();

    // Act
    const result = await connectorFor(box).lookupUser("o'brien@example.com");

    // Assess
    expect(result).toEqual({ found: true, userId: (SAMPLE_USERS[4] as PlatformUser).id });
    expect(lookups(box)[0]?.query.email).toBe("o'brien@example.com");
  });

  it('refuses to choose between two users whose emails differ only in case, and writes nothing', async () => {
    // Prepare
    const box = await sandbox({
      users: [user('u-1', 'jane.doe@example.com'), user('u-2', 'Jane.Doe@Example.com')],
    });

    // Act
    const error = await rejectionOf(connectorFor(box).lookupUser('jane.doe@example.com'));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.ambiguous);
    expect(error.message).toMatch(new RegExp(`^${NAME}: `));
    expect(error.message).toContain('u-1');
    expect(error.message).toContain('u-2');
    expect([...box.users.values()].every((stored) => stored.status === 'ACTIVE')).toBe(true);
  });

  describe('against a server that ignores the email filter', () => {
    const lookAlikes = [
      user('l-1', 'jane.doe@example.com.evil.io'),
      user('l-2', 'xjane.doe@example.com'),
      user('l-3', 'jane.doe@example.co'),
      user('l-4', 'jane.doe+x@example.com'),
    ];

    it('keeps only the exact match among look-alikes', async () => {
      // Prepare
      const box = await sandbox({
        ignoreFilter: true,
        users: [...lookAlikes, user('l-5', 'Jane.Doe@example.com')],
      });

      // Act
      const result = await connectorFor(box).lookupUser('jane.doe@example.com');

      // Assess
      expect(result).toEqual({ found: true, userId: 'l-5' });
    });

    it('finds nobody when only look-alikes exist', async () => {
      // Prepare
      const box = await sandbox({ ignoreFilter: true, users: lookAlikes });

      // Act
      const result = await connectorFor(box).lookupUser('jane.doe@example.com');

      // Assess
      expect(result).toEqual({ found: false });
    });
  });

  describe('against a server that answers in pages ({data, metadata})', () => {
    const fillers = Array.from({ length: 250 }, (_, i) =>
      user(`p-${i}`, i === 230 ? 'Leaver@Example.com' : `user${i}@example.com`),
    );

    it('follows the pages to a user on the third page, with the server page size', async () => {
      // Prepare: 250 users, 100 a page, the filter ignored; the leaver is the 231st.
      const box = await sandbox({ listShape: 'paged', ignoreFilter: true, users: fillers });

      // Act
      const result = await connectorFor(box).lookupUser('leaver@example.com');

      // Assess
      expect(result).toEqual({ found: true, userId: 'p-230' });
      expect(lookups(box).map((request) => request.query)).toEqual([
        { email: 'leaver@example.com' },
        { email: 'leaver@example.com', index: '1', size: '100' },
        { email: 'leaver@example.com', index: '2', size: '100' },
      ]);
    });

    it('finds a filtered answer in one request', async () => {
      // Prepare
      const box = await sandbox({ listShape: 'paged', users: fillers });

      // Act
      const result = await connectorFor(box).lookupUser('LEAVER@example.com');

      // Assess
      expect(result).toEqual({ found: true, userId: 'p-230' });
      expect(lookups(box)).toHaveLength(1);
    });

    it('sees two exact matches on different pages as ambiguous', async () => {
      // Prepare
      const twice = fillers.map((filler, i) => (i === 5 ? user('p-5', 'leaver@example.com') : filler));
      const box = await sandbox({ listShape: 'paged', ignoreFilter: true, users: twice });

      // Act
      const error = await rejectionOf(connectorFor(box).lookupUser('leaver@example.com'));

      // Assess
      expect(error.name).toBe(ERROR_NAMES.ambiguous);
      expect(error.message).toContain('p-5');
      expect(error.message).toContain('p-230');
    });

    it('answers Vendor.BadResponse when the server counts its pages from 1: its last page would be missed', async () => {
      // Prepare: the first page says it is page 1 of 2.
      const box = await sandbox({
        faults: [
          {
            method: 'GET',
            path: /\/users$/,
            status: 200,
            times: 1,
            body: JSON.stringify({
              data: [user('x-1', 'someone@example.com', { status: 'ACTIVE' })],
              metadata: { index: 1, size: 1, totalPages: 2, totalResources: 2 },
            }),
          },
        ],
      });

      // Act
      const error = await rejectionOf(connectorFor(box).lookupUser('jane.doe@example.com'));

      // Assess
      expect(error.name).toBe(ERROR_NAMES.badResponse);
      expect(error.message).toContain('asked for page 0, got page 1');
    });

    it('answers Vendor.BadResponse when the server repeats the first page', async () => {
      // Prepare: the second request gets page 0 again.
      const box = await sandbox({
        faults: [
          {
            method: 'GET',
            path: /\/users$/,
            status: 200,
            times: 2,
            body: JSON.stringify({
              data: [user('x-1', 'someone@example.com', { status: 'ACTIVE' })],
              metadata: { index: 0, size: 1, totalPages: 3, totalResources: 3 },
            }),
          },
        ],
      });

      // Act
      const error = await rejectionOf(connectorFor(box).lookupUser('jane.doe@example.com'));

      // Assess
      expect(error.name).toBe(ERROR_NAMES.badResponse);
      expect(error.message).toContain('ignores paging');
    });
  });
});

describe('Rapid7PlatformConnector.getUser', () => {
  it('returns the whole record, every vendor field kept', async () => {
    // Prepare
    const box = await sandbox();

    // Act
    const record = await connectorFor(box).getUser(JANE.id);

    // Assess
    expect(record).toEqual({ id: JANE.id, email: 'jane.doe@example.com', active: true, fields: JANE });
    expect(box.requests.map((request) => request.path)).toEqual([`/account/api/1/users/${JANE.id}`]);
  });

  it('reads a PENDING invitation as active: it can still be accepted', async () => {
    // Prepare
    const box = await sandbox();

    // Act
    const record = await connectorFor(box).getUser(PENDING.id);

    // Assess
    expect(record.active).toBe(true);
    expect(record.fields.status).toBe('PENDING');
  });

  it('reads a DISABLED user as inactive', async () => {
    // Prepare
    const box = await sandbox();

    // Act
    const record = await connectorFor(box).getUser(DISABLED.id);

    // Assess
    expect(record.active).toBe(false);
  });

  it('answers Vendor.BadRequest when the user does not exist (HTTP 404)', async () => {
    // Prepare
    const box = await sandbox();

    // Act
    const error = await rejectionOf(connectorFor(box).getUser('00000000-0000-0000-0000-000000000000'));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.badRequest);
    expect(error.message).toMatch(
      new RegExp(`^${NAME}: get user 00000000-0000-0000-0000-000000000000: HTTP 404`),
    );
  });

  it('refuses an id that would leave the users route, without sending anything', async () => {
    // Prepare
    const box = await sandbox();

    // Act
    const error = await rejectionOf(connectorFor(box).getUser('../api-keys'));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.badRequest);
    expect(box.requests).toEqual([]);
  });
});

describe('Rapid7PlatformConnector.verifyDeactivated', () => {
  it('answers Vendor.NotYetApplied while the user is ACTIVE, and passes once the person disabled it', async () => {
    // Prepare
    const box = await sandbox();
    const connector = connectorFor(box);

    // Act
    const before = await rejectionOf(connector.verifyDeactivated(JANE.id));
    const disabled = box.disableUser('Jane.Doe@example.com');
    const after = await connector.verifyDeactivated(JANE.id);

    // Assess
    expect(before.name).toBe(ERROR_NAMES.notYetApplied);
    expect(before.retryable).toBe(true);
    expect(before.message).toMatch(new RegExp(`^${NAME}: verify user ${JANE.id}: still ACTIVE`));
    expect(before.message).toContain('a person has to disable or remove');
    expect(disabled).toBe(true);
    expect(after).toEqual({
      id: JANE.id,
      email: JANE.email,
      active: false,
      fields: { ...JANE, status: 'DISABLED' },
    });
  });

  it('keeps answering Vendor.NotYetApplied for a PENDING invitation', async () => {
    // Prepare
    const box = await sandbox();

    // Act
    const error = await rejectionOf(connectorFor(box).verifyDeactivated(PENDING.id));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.notYetApplied);
    expect(error.message).toContain('still PENDING');
  });

  it('waits out the lag between the person’s change and what reads show', async () => {
    // Prepare
    const box = await sandbox({ verifyLag: 2 });
    const connector = connectorFor(box);
    box.disableUser(JANE.email);

    // Act
    const first = await rejectionOf(connector.verifyDeactivated(JANE.id));
    const second = await rejectionOf(connector.verifyDeactivated(JANE.id));
    const third = await connector.verifyDeactivated(JANE.id);

    // Assess
    expect([first.name, second.name]).toEqual([ERROR_NAMES.notYetApplied, ERROR_NAMES.notYetApplied]);
    expect(third.active).toBe(false);
  });

  it('counts a user the person removed (HTTP 404) as switched off', async () => {
    // Prepare
    const box = await sandbox();
    box.removeUser(JANE.email);

    // Act
    const record = await connectorFor(box).verifyDeactivated(JANE.id);

    // Assess
    expect(record).toEqual({ id: JANE.id, email: '', active: false, fields: {} });
    expect(box.requests.at(-1)?.status).toBe(404);
  });
});

describe('Rapid7PlatformConnector errors', () => {
  it('answers Vendor.AuthFailed to a wrong key, names the organization key, and hides the key', async () => {
    // Prepare
    const box = await sandbox();
    const wrongKey = 'wrong-key-7f3a9c';

    // Act
    const error = await rejectionOf(connectorFor(box, wrongKey).lookupUser('jane.doe@example.com'));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.authFailed);
    expect(error.message).toMatch(new RegExp(`^${NAME}: look up jane.doe@example.com: HTTP 401`));
    expect(error.message).toContain('an organization API key is required');
    expect(error.message).not.toContain(wrongKey);
  });

  it('answers Vendor.AuthFailed to a user-scoped key (HTTP 403) with the organization-key hint', async () => {
    // Prepare
    const box = await sandbox();

    // Act
    const error = await rejectionOf(
      connectorFor(box, RAPID7_PLATFORM_SANDBOX_USER_KEY).lookupUser('jane.doe@example.com'),
    );

    // Assess
    expect(error.name).toBe(ERROR_NAMES.authFailed);
    expect(error.message).toMatch(new RegExp(`^${NAME}: look up jane.doe@example.com: HTTP 403`));
    // Our hint, not only the vendor's words: the fix is a different kind of key.
    expect(error.message).toContain('an organization API key is required');
    expect(error.message).toContain('user-scoped keys cannot manage other accounts');
    expect(error.message).not.toContain(RAPID7_PLATFORM_SANDBOX_USER_KEY);
  });

  it('answers Vendor.RateLimited to a 429', async () => {
    // Prepare: a bucket of one request a second; the lookup spends it.
    const box = await sandbox({ ratePerSecond: 1 });
    const connector = connectorFor(box);
    await connector.lookupUser('jane.doe@example.com');

    // Act
    const error = await rejectionOf(connector.getUser(JANE.id));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.rateLimited);
    expect(error.retryable).toBe(true);
    expect(error.message).toMatch(new RegExp(`^${NAME}: get user ${JANE.id}: HTTP 429`));
  });

  it.each([500, 503])('answers Vendor.Unavailable to HTTP %i', async (status) => {
    // Prepare
    const box = await sandbox({ faults: [{ status, times: 1 }] });

    // Act
    const error = await rejectionOf(connectorFor(box).verifyDeactivated(JANE.id));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.unavailable);
    expect(error.message).toMatch(new RegExp(`^${NAME}: verify user ${JANE.id}: HTTP ${status}`));
  });

  it.each([
    ['malformed JSON', '[{"id": "u-1", "email": '],
    ['rows without id', '[{"email": "jane.doe@example.com", "status": "ACTIVE"}]'],
    ['a single user instead of a list', '{"id": "u-1", "email": "jane.doe@example.com", "status": "ACTIVE"}'],
  ])('answers Vendor.BadResponse to a 200 with %s', async (_case, body) => {
    // Prepare
    const box = await sandbox({ faults: [{ method: 'GET', path: /\/users$/, status: 200, times: 1, body }] });

    // Act
    const error = await rejectionOf(connectorFor(box).lookupUser('jane.doe@example.com'));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.badResponse);
    expect(error.message).toMatch(new RegExp(`^${NAME}: look up jane.doe@example.com: `));
  });
});

describe('createRapid7PlatformConnector', () => {
  it.each([
    ['no apiKey', {}],
    ['an empty apiKey', { apiKey: '' }],
    ['a misspelt field', { api_key: 'k' }],
    ['no JSON object', 'k'],
  ])('answers Config.Invalid to a secret with %s', (_case, secret) => {
    // Act
    const act = () => createRapid7PlatformConnector(connection('https://us.api.insight.rapid7.com'), secret);

    // Assess
    expect(act).toThrow(expect.objectContaining({ name: ERROR_NAMES.config }));
    expect(act).toThrow(
      new RegExp(`^${NAME}: the secret must be JSON like \\{"apiKey":"<organization API key>"\\}`),
    );
  });

  it('points a console username/password to the rapid7-insightvm type, without showing it', () => {
    // Act
    const act = () =>
      createRapid7PlatformConnector(connection('https://us.api.insight.rapid7.com'), {
        username: 'nxadmin',
        password: 'hunter2-secret',
      });

    // Assess
    expect(act).toThrow(/use a rapid7-insightvm connection/);
    expect(act).not.toThrow(/hunter2-secret/);
  });

  it('accepts a base URL that already ends in /account/api/1', async () => {
    // Prepare
    const box = await sandbox();
    const connector = connectorFor({ baseUrl: `${box.baseUrl}/account/api/1/` });

    // Act
    const result = await connector.lookupUser('jane.doe@example.com');

    // Assess
    expect(result).toEqual({ found: true, userId: JANE.id });
    expect(lookups(box)).toHaveLength(1);
  });
});

describe('isActiveStatus', () => {
  it.each([
    ['ACTIVE', true],
    ['PENDING', true],
    ['DISABLED', false],
    ['disabled', false],
  ])('reads %s as active=%s', (status, active) => {
    // Act
    const result = isActiveStatus(status);

    // Assess
    expect(result).toBe(active);
  });
});
