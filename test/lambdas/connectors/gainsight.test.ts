import { describe, expect, it } from 'vitest';
import {
  createGainsightConnector,
  GAINSIGHT_MAX_LOOKUP_PAGES,
  type GainsightConnector,
} from '../../../lambdas/connectors/gainsight/connector';
import { canReactivate, type UserRecord } from '../../../lambdas/connectors/types';
import type { ConnectionRef } from '../../../lambdas/shared/connections';
import { ERROR_NAMES } from '../../../lambdas/shared/errors';
import {
  GAINSIGHT_SANDBOX_ACCESS_KEY,
  type GainsightSandbox,
  type GainsightUser,
  type GainsightUserSeed,
  SAMPLE_USERS,
  startGainsightSandbox,
} from '../../../sandboxes/gainsight';
import { verifyThroughLag } from '../../helpers/connectors';
import { rejectionOf } from '../../helpers/errors';
import { sandboxStarter } from '../../helpers/sandboxes';
import { closedPort } from '../../helpers/servers';

/**
 * The Gainsight connector against the built-in sandbox: a real HTTP server that answers
 * like Gainsight's REST user management API (`Accesskey` header, `{result, data}` envelope,
 * pages of at most 1000, a PUT that is a full replacement or a partial update depending on
 * the API version, fixed-window rate limits) and misbehaves on request.
 */

const NAME = 'gainsight-test';
const JANE = SAMPLE_USERS[1] as GainsightUser;

// DELETE is documented only as "typically" deactivating: offboarding must never send one.
const sandbox = sandboxStarter(startGainsightSandbox, (request) => request.method === 'DELETE');

function connection(baseUrl: string): ConnectionRef {
  return { name: NAME, type: 'gainsight', baseUrl };
}

function connectorFor(
  box: { baseUrl: string },
  accessKey = GAINSIGHT_SANDBOX_ACCESS_KEY,
): GainsightConnector {
  return createGainsightConnector(connection(box.baseUrl), { accessKey });
}

const lookups = (box: GainsightSandbox) =>
  box.requests.filter((request) => request.method === 'GET' && request.path === '/v1/users');
const writes = (box: GainsightSandbox) => box.requests.filter((request) => request.method !== 'GET');

/** `count` ordinary users with ids u5000.., and `extra` placed at the given positions. */
function tenant(count: number, extra: Record<number, GainsightUserSeed> = {}): GainsightUserSeed[] {
  return Array.from(
    { length: count },
    (_, i) => extra[i] ?? { userId: `u${5000 + i}`, email: `user${i}@example.com` },
  );
}

/** A list page as the API answers it, serialised for a fault body. */
const page = (data: unknown[], totalCount?: number) =>
  JSON.stringify({ result: true, data, ...(totalCount === undefined ? {} : { totalCount }) });

describe('GainsightConnector.lookupUser', () => {
  it('finds the user by email, ignoring case, asking for page 1 of 1000', async () => {
    // Prepare
    const box = await sandbox();

    // Act
    const result = await connectorFor(box).lookupUser('JANE.DOE@Example.COM');

    // Assess
    expect(result).toEqual({ found: true, userId: 'u123' });
    expect(lookups(box)).toHaveLength(1);
    expect(lookups(box)[0]?.query).toEqual({ page: '1', pageSize: '1000' });
  });

  it('answers found: false when nobody has the email', async () => {
    // Prepare
    const box = await sandbox();

    // Act
    const result = await connectorFor(box).lookupUser('nobody@example.com');

    // Assess
    expect(result).toEqual({ found: false });
  });

  it('finds an inactive user too (already inactive is an outcome)', async () => {
    // Prepare
    const box = await sandbox();

    // Act
    const result = await connectorFor(box).lookupUser('already.gone@example.com');

    // Assess
    expect(result).toEqual({ found: true, userId: 'u124' });
  });

  it('keeps only the exact match among look-alikes, across pages, and stops after the short page', async () => {
    // Prepare: 2,500 users; look-alikes on page 1 and 2, the leaver on page 3.
    const box = await sandbox({
      users: tenant(2500, {
        10: { userId: 'x1', email: 'leaver@example.com.evil.io' },
        1200: { userId: 'x2', email: 'xleaver@example.com' },
        1300: { userId: 'x3', email: 'leaver+x@example.com' },
        2400: { userId: 'x4', email: 'Leaver@Example.com' },
      }),
    });

    // Act
    const result = await connectorFor(box).lookupUser('leaver@example.com');

    // Assess
    expect(result).toEqual({ found: true, userId: 'x4' });
    expect(lookups(box).map((request) => request.query)).toEqual([
      { page: '1', pageSize: '1000' },
      { page: '2', pageSize: '1000' },
      { page: '3', pageSize: '1000' },
    ]);
  });

  it('stops once totalCount users are read, without asking for an empty page', async () => {
    // Prepare
    const box = await sandbox({ users: tenant(2000) });

    // Act
    const result = await connectorFor(box).lookupUser('nobody@example.com');

    // Assess
    expect(result).toEqual({ found: false });
    expect(lookups(box)).toHaveLength(2);
  });

  it('stops at a short page when the answer has no totalCount', async () => {
    // Prepare
    const full = Array.from({ length: 1000 }, (_, i) => ({ userId: `u${i}`, email: `u${i}@example.com` }));
    const box = await sandbox({
      faults: [
        { method: 'GET', path: /\/v1\/users$/, status: 200, times: 1, body: page(full) },
        {
          method: 'GET',
          path: /\/v1\/users$/,
          status: 200,
          times: 1,
          body: page([{ userId: 'z1', email: 'jane.doe@example.com' }]),
        },
      ],
    });

    // Act
    const result = await connectorFor(box).lookupUser('jane.doe@example.com');

    // Assess
    expect(result).toEqual({ found: true, userId: 'z1' });
    expect(lookups(box)).toHaveLength(2);
  });

  it('refuses to choose between two users whose emails differ only in case, on different pages', async () => {
    // Prepare
    const box = await sandbox({
      users: tenant(1500, {
        3: { userId: 'a1', email: 'jane.doe@example.com' },
        1400: { userId: 'a2', email: 'Jane.Doe@Example.com' },
      }),
    });

    // Act
    const error = await rejectionOf(connectorFor(box).lookupUser('jane.doe@example.com'));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.ambiguous);
    expect(error.message).toMatch(new RegExp(`^${NAME}: 2 users have the email jane.doe@example.com`));
    expect(error.message).toContain('a1, a2');
    expect(writes(box)).toEqual([]);
  });

  it('fails with Vendor.BadResponse when the server answers the same page again (page ignored)', async () => {
    // Prepare: 3,000 users, but every page is the first one; jane is on none of them.
    const first = Array.from({ length: 1000 }, (_, i) => ({ userId: `u${i}`, email: `u${i}@example.com` }));
    const box = await sandbox({
      faults: [{ method: 'GET', path: /\/v1\/users$/, status: 200, times: 5, body: page(first, 3000) }],
    });

    // Act
    const error = await rejectionOf(connectorFor(box).lookupUser('jane.doe@example.com'));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.badResponse);
    expect(error.message).toMatch(new RegExp(`^${NAME}: look up jane.doe@example.com: page 2 repeats users`));
    expect(lookups(box)).toHaveLength(2);
  });

  it('fails with Vendor.BadResponse when a short page comes before totalCount is reached', async () => {
    // Prepare: the server pages by 500 although 1000 were asked; reading on would skip users.
    const half = Array.from({ length: 500 }, (_, i) => ({ userId: `u${i}`, email: `u${i}@example.com` }));
    const box = await sandbox({
      faults: [{ method: 'GET', path: /\/v1\/users$/, status: 200, times: 1, body: page(half, 1500) }],
    });

    // Act
    const error = await rejectionOf(connectorFor(box).lookupUser('jane.doe@example.com'));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.badResponse);
    expect(error.message).toContain('page 1 held 500 users of 1500');
  });

  it(`gives up after ${GAINSIGHT_MAX_LOOKUP_PAGES} full pages that never end`, async () => {
    // Prepare: a fake API whose every page holds 1000 new users and no totalCount.
    let calls = 0;
    const endless = (async () => {
      const base = calls++ * 1000;
      const data = Array.from({ length: 1000 }, (_, i) => ({
        userId: `e${base + i}`,
        email: `e${base + i}@x.io`,
      }));
      return new Response(JSON.stringify({ result: true, data }), { status: 200 });
    }) as typeof fetch;
    const connector = createGainsightConnector(
      connection('https://acme.gainsightcloud.com'),
      { accessKey: 'k' },
      endless,
    );

    // Act
    const error = await rejectionOf(connector.lookupUser('jane.doe@example.com'));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.badResponse);
    expect(error.message).toContain(`did not end after ${GAINSIGHT_MAX_LOOKUP_PAGES} pages`);
    expect(calls).toBe(GAINSIGHT_MAX_LOOKUP_PAGES);
  });

  it.each([
    ['result: false', '{"result": false, "message": "Tenant is locked"}', 'result: false (Tenant is locked)'],
    ['no data', '{"result": true, "totalCount": 0}', 'holds no data'],
    ['data that is not a list', '{"result": true, "data": {"userId": "u123"}}', 'unexpected response shape'],
    ['rows without userId', '{"result": true, "data": [{"email": "jane.doe@example.com"}]}', 'data.0.userId'],
    ['malformed JSON', '{"result": true, "data": [{"userId": ', 'not valid JSON'],
    ['a bare list without the envelope', '[{"userId": "u123"}]', 'unexpected response shape'],
  ])('answers Vendor.BadResponse to a 200 with %s', async (_case, body, says) => {
    // Prepare
    const box = await sandbox({
      faults: [{ method: 'GET', path: /\/v1\/users$/, status: 200, times: 1, body }],
    });

    // Act
    const error = await rejectionOf(connectorFor(box).lookupUser('jane.doe@example.com'));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.badResponse);
    expect(error.message).toMatch(new RegExp(`^${NAME}: look up jane.doe@example.com: `));
    expect(error.message).toContain(says);
  });
});

describe('GainsightConnector.getUser', () => {
  it('returns the whole record, every vendor field kept', async () => {
    // Prepare
    const box = await sandbox();

    // Act
    const record = await connectorFor(box).getUser('u123');

    // Assess
    expect(record).toEqual({ id: 'u123', email: 'jane.doe@example.com', active: true, fields: JANE });
    expect(box.requests.map((request) => request.path)).toEqual(['/v1/users/u123']);
  });

  it('keeps fields this code has no schema for, exactly as read', async () => {
    // Prepare: a tenant whose API version returns more than the guide documents.
    const extra = { ...JANE, createdDate: '2024-02-01T10:00:00Z', licenseType: { name: 'Full', seats: 1 } };
    const box = await sandbox({
      faults: [{ method: 'GET', status: 200, times: 1, body: JSON.stringify({ result: true, data: extra }) }],
    });

    // Act
    const record = await connectorFor(box).getUser('u123');

    // Assess
    expect(record.fields).toEqual(extra);
  });

  it('answers Vendor.BadRequest when the user does not exist (HTTP 404)', async () => {
    // Prepare
    const box = await sandbox();

    // Act
    const error = await rejectionOf(connectorFor(box).getUser('u999'));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.badRequest);
    expect(error.message).toMatch(new RegExp(`^${NAME}: get user u999: HTTP 404`));
  });

  it('encodes the id, so that no id can point the request at another path', async () => {
    // Prepare
    const box = await sandbox();

    // Act
    const error = await rejectionOf(connectorFor(box).getUser('../users/u101'));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.badRequest);
    expect(box.requests[0]?.path).toBe('/v1/users/..%2Fusers%2Fu101');
  });

  it.each([
    ['result: false', '{"result": false, "message": "User is archived"}', 'result: false (User is archived)'],
    ['no data', '{"result": true}', 'holds no data'],
    [
      'a record without isActive',
      '{"result": true, "data": {"userId": "u123", "email": "j@x.io"}}',
      'isActive',
    ],
    ['another user', JSON.stringify({ result: true, data: SAMPLE_USERS[0] }), 'answered user u101 instead'],
  ])('answers Vendor.BadResponse to a 200 with %s', async (_case, body, says) => {
    // Prepare
    const box = await sandbox({ faults: [{ method: 'GET', status: 200, times: 1, body }] });

    // Act
    const error = await rejectionOf(connectorFor(box).getUser('u123'));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.badResponse);
    expect(error.message).toMatch(new RegExp(`^${NAME}: get user u123: `));
    expect(error.message).toContain(says);
  });
});

describe('GainsightConnector.deactivateUser', () => {
  it.each(['full', 'partial'] as const)(
    'with a %s-replacement PUT, keeps every field and changes only isActive',
    async (putMode) => {
      // Prepare
      const box = await sandbox({ putMode });
      const connector = connectorFor(box);
      const before = structuredClone(box.users.get('u123') as GainsightUser);
      const record = await connector.getUser('u123');

      // Act
      await connector.deactivateUser(record);

      // Assess
      const puts = box.requests.filter((request) => request.method === 'PUT');
      expect(puts).toHaveLength(1);
      expect(puts[0]?.path).toBe('/v1/users/u123');
      expect(puts[0]?.status).toBe(200);
      expect(puts[0]?.body).toEqual({ ...before, isActive: false });
      const { isActive, ...after } = box.users.get('u123') as GainsightUser;
      const { isActive: wasActive, ...kept } = before;
      expect(wasActive).toBe(true);
      expect(isActive).toBe(false);
      expect(after).toEqual(kept);
      expect(Object.keys(kept)).toHaveLength(Object.keys(JANE).length - 1);
    },
  );

  it('says the user is gone when the PUT answers 404', async () => {
    // Prepare: read, then the user disappears before the write.
    const box = await sandbox();
    const connector = connectorFor(box);
    const record = await connector.getUser('u123');
    box.users.delete('u123');

    // Act
    const error = await rejectionOf(connector.deactivateUser(record));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.badRequest);
    expect(error.message).toMatch(
      new RegExp(`^${NAME}: deactivate user u123: HTTP 404: the user no longer exists`),
    );
  });

  it("answers Vendor.BadRequest with the vendor's words when the PUT is refused (HTTP 400)", async () => {
    // Prepare: the user's role was removed from the tenant after the read.
    const box = await sandbox({ roles: ['Admin'], users: [{ ...JANE, role: 'Admin' }] });
    const connector = connectorFor(box);
    const record = await connector.getUser('u123');
    record.fields.role = 'Standard User';

    // Act
    const error = await rejectionOf(connector.deactivateUser(record));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.badRequest);
    expect(error.message).toMatch(
      new RegExp(`^${NAME}: deactivate user u123: HTTP 400 \\(Role 'Standard User'`),
    );
    expect(box.users.get('u123')?.isActive).toBe(true);
  });

  it('answers Vendor.BadResponse when the PUT answers result: false', async () => {
    // Prepare
    const box = await sandbox({
      faults: [
        { method: 'PUT', status: 200, times: 1, body: '{"result": false, "message": "Update failed"}' },
      ],
    });
    const connector = connectorFor(box);
    const record = await connector.getUser('u123');

    // Act
    const error = await rejectionOf(connector.deactivateUser(record));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.badResponse);
    expect(error.message).toBe(
      `${NAME}: deactivate user u123: the API answered result: false (Update failed)`,
    );
  });
});

describe('GainsightConnector.verifyDeactivated', () => {
  it('answers Vendor.NotYetApplied while reads still show the old record, then resolves', async () => {
    // Prepare
    const box = await sandbox({ verifyLag: 2 });

    // Act
    const { first, second, third } = await verifyThroughLag(connectorFor(box), 'u123');

    // Assess
    expect(first.name).toBe(ERROR_NAMES.notYetApplied);
    expect(first.retryable).toBe(true);
    expect(first.message).toMatch(new RegExp(`^${NAME}: verify user u123: `));
    expect(second.name).toBe(ERROR_NAMES.notYetApplied);
    expect(third).toMatchObject({ id: 'u123', active: false, fields: { ...JANE, isActive: false } });
    const reads = box.requests.filter(
      (request) => request.method === 'GET' && request.path === '/v1/users/u123',
    );
    expect(reads).toHaveLength(4);
  });
});

/** Reads the user, switches it off and confirms it, as an offboarding run does; the read is the ledger's before-state. */
async function offboarded(connector: GainsightConnector, userId = 'u123'): Promise<UserRecord> {
  const before = await connector.getUser(userId);
  await connector.deactivateUser(before);
  await connector.verifyDeactivated(userId);
  return before;
}

/** The requests sent from `from` on, as `METHOD path`. */
const sentSince = (box: GainsightSandbox, from: number) =>
  box.requests.slice(from).map((request) => `${request.method} ${request.path}`);

describe('GainsightConnector.reactivateUser', () => {
  it.each(['full', 'partial'] as const)(
    'with a %s-replacement PUT, puts back the exact before-state with one GET and one PUT',
    async (putMode) => {
      // Prepare: while Jane was off, someone changed fields the deactivation never touched.
      const box = await sandbox({ putMode });
      const connector = connectorFor(box);
      const before = await offboarded(connector);
      const off = box.users.get('u123') as GainsightUser;
      box.users.set('u123', { ...off, title: 'Former CSM', groups: [], customAttributes: {} });
      const from = box.requests.length;

      // Act
      await connector.reactivateUser(before);

      // Assess
      expect(canReactivate(connector)).toBe(true);
      expect(sentSince(box, from)).toEqual(['GET /v1/users/u123', 'PUT /v1/users/u123']);
      expect(box.requests.at(-1)?.body).toEqual(JANE);
      expect(box.users.get('u123')).toEqual(JANE);
    },
  );

  it('refuses, writing nothing, when the id now holds someone with another email', async () => {
    // Prepare: Jane's id was given to a new hire, who is switched off.
    const box = await sandbox();
    const connector = connectorFor(box);
    const before = await offboarded(connector);
    const newHire = { ...JANE, firstName: 'Nora', email: 'nora.new@example.com', isActive: false };
    box.users.set('u123', newHire);
    const from = box.requests.length;

    // Act
    const error = await rejectionOf(connector.reactivateUser(before));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.badRequest);
    expect(error.message).toMatch(new RegExp(`^${NAME}: reactivate user u123: `));
    expect(error.message).toContain('nora.new@example.com, not jane.doe@example.com');
    expect(sentSince(box, from)).toEqual(['GET /v1/users/u123']);
    expect(box.users.get('u123')).toEqual(newHire);
  });

  it('takes the same email in another case as the same account', async () => {
    // Prepare
    const box = await sandbox();
    const connector = connectorFor(box);
    const before = await offboarded(connector);
    const off = box.users.get('u123') as GainsightUser;
    box.users.set('u123', { ...off, email: 'JANE.DOE@example.com' });

    // Act
    await connector.reactivateUser(before);

    // Assess
    expect(box.users.get('u123')).toEqual(JANE);
  });

  it.each([
    ['names another user', (user: GainsightUser) => ({ ...user, userId: 'u126' }), 'is user u126, not u123'],
    [
      'was already inactive',
      (user: GainsightUser) => ({ ...user, isActive: false }),
      'already inactive before the offboarding',
    ],
    [
      'is not a Gainsight user',
      ({ isActive: _active, ...user }: GainsightUser) => user,
      'not a Gainsight user',
    ],
  ])('refuses a before-state that %s, without sending anything', async (_case, change, words) => {
    // Prepare
    const box = await sandbox();
    const before: UserRecord = {
      id: 'u123',
      email: 'jane.doe@example.com',
      active: true,
      fields: change({ ...JANE }),
    };

    // Act
    const error = await rejectionOf(connectorFor(box).reactivateUser(before));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.badRequest);
    expect(error.message).toContain(words);
    expect(box.requests).toEqual([]);
  });
});

describe('GainsightConnector.verifyReactivated', () => {
  it('answers Vendor.NotYetApplied while the account is off, and while reads lag behind the restore, then resolves', async () => {
    // Prepare: reads answer the record before each write twice more.
    const box = await sandbox({ verifyLag: 2 });
    const connector = connectorFor(box);
    const before = await connector.getUser('u123');
    await connector.deactivateUser(before);
    await connector.reactivateUser(before);

    // Act
    const first = await rejectionOf(connector.verifyReactivated('u123'));
    const second = await rejectionOf(connector.verifyReactivated('u123'));
    const third = await connector.verifyReactivated('u123');

    // Assess
    expect(first.name).toBe(ERROR_NAMES.notYetApplied);
    expect(first.retryable).toBe(true);
    expect(first.message).toBe(`${NAME}: verify user u123: still inactive after the write`);
    expect(second.name).toBe(ERROR_NAMES.notYetApplied);
    expect(third).toEqual({ id: 'u123', email: 'jane.doe@example.com', active: true, fields: JANE });
  });
});

describe('GainsightConnector capabilities', () => {
  it('has no integration-account check: the access key belongs to the tenant, not to a user', () => {
    // Act
    const connector = connectorFor({ baseUrl: 'https://acme.gainsightcloud.com' });

    // Assess
    expect('isIntegrationAccount' in connector).toBe(false);
    expect(typeof connector.deactivateUser).toBe('function');
  });

  it.each([
    ['with /v1', (url: string) => `${url}/v1`],
    ['with a trailing slash', (url: string) => `${url}/`],
  ])('takes a base URL %s as the same tenant', async (_case, variant) => {
    // Prepare
    const box = await sandbox();

    // Act
    const result = await connectorFor({ baseUrl: variant(box.baseUrl) }).lookupUser('jane.doe@example.com');

    // Assess
    expect(result).toEqual({ found: true, userId: 'u123' });
    expect(box.requests[0]?.path).toBe('/v1/users');
  });
});

describe('GainsightConnector errors', () => {
  it('answers Vendor.AuthFailed to a wrong key without putting the key in the message', async () => {
    // Prepare
    const box = await sandbox();
    const wrongKey = 'wrong-key-7f3a9c';

    // Act
    const error = await rejectionOf(connectorFor(box, wrongKey).lookupUser('jane.doe@example.com'));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.authFailed);
    expect(error.retryable).toBe(false);
    expect(error.message).toMatch(new RegExp(`^${NAME}: look up jane.doe@example.com: HTTP 401`));
    expect(error.message).not.toContain(wrongKey);
    expect(box.requests[0]?.status).toBe(401);
  });

  it('answers Vendor.RateLimitedHourly (not the per-second kind) to a 429', async () => {
    // Prepare: an hourly window of one request; the lookup spends it.
    const box = await sandbox({ rateLimit: { limit: 1, windowMs: 3_600_000 } });
    const connector = connectorFor(box);
    await connector.lookupUser('jane.doe@example.com');

    // Act
    const error = await rejectionOf(connector.getUser('u123'));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.rateLimitedHourly);
    expect(error.retryable).toBe(true);
    expect(error.message).toMatch(new RegExp(`^${NAME}: get user u123: HTTP 429 \\(Rate limit exceeded\\)`));
    expect(error.message).toContain('100 user-management requests an hour');
    expect(writes(box)).toEqual([]);
  });

  it('goes on once the next window opens', async () => {
    // Prepare: 2 requests per window on a clock the test moves.
    let time = 0;
    const box = await sandbox({ rateLimit: { limit: 2, windowMs: 3_600_000 }, now: () => time });
    const connector = connectorFor(box);
    const record = await connector.getUser('u123');
    await connector.deactivateUser(record);
    const throttled = await rejectionOf(connector.verifyDeactivated('u123'));

    // Act
    time += 3_600_000;
    const verified = await connector.verifyDeactivated('u123');

    // Assess
    expect(throttled.name).toBe(ERROR_NAMES.rateLimitedHourly);
    expect(verified.active).toBe(false);
    expect(box.counts()).toEqual({ total: 4, throttled: 1 });
  });

  it.each([500, 503])('answers Vendor.Unavailable to HTTP %i', async (status) => {
    // Prepare
    const box = await sandbox({ faults: [{ status, times: 1 }] });

    // Act
    const error = await rejectionOf(connectorFor(box).lookupUser('jane.doe@example.com'));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.unavailable);
    expect(error.retryable).toBe(true);
    expect(error.message).toMatch(new RegExp(`^${NAME}: look up jane.doe@example.com: HTTP ${status}`));
  });

  it('answers Vendor.Unavailable when the connection is refused', async () => {
    // Prepare
    const port = await closedPort();
    const connector = connectorFor({ baseUrl: `http://127.0.0.1:${port}` });

    // Act
    const error = await rejectionOf(connector.lookupUser('jane.doe@example.com'));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.unavailable);
    expect(error.message).toMatch(new RegExp(`^${NAME}: look up jane.doe@example.com: ECONNREFUSED`));
  });
});

describe('createGainsightConnector', () => {
  it.each([
    ['no accessKey', {}],
    ['an empty accessKey', { accessKey: '' }],
    ['a misspelt field', { accesskey: 'sekrit-4711' }],
    ['an apiKey instead', { apiKey: 'sekrit-4711' }],
    ['no JSON object', 'sekrit-4711'],
  ])(
    'answers Config.Invalid to a secret with %s, showing the expected shape but not the value',
    (_case, secret) => {
      // Act
      let error: unknown;
      try {
        createGainsightConnector(connection('https://acme.gainsightcloud.com'), secret);
      } catch (thrown) {
        error = thrown;
      }

      // Assess
      expect(error).toMatchObject({ name: ERROR_NAMES.config });
      const { message } = error as Error;
      expect(
        message.startsWith(`${NAME}: the secret must be JSON like {"accessKey":"<Gainsight access key>"}`),
      ).toBe(true);
      expect(message).not.toContain('sekrit');
    },
  );
});
