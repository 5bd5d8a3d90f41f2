import { describe, expect, it } from 'vitest';
import {
  createGainsightConnector,
  GAINSIGHT_MAX_LOOKUP_PAGES,
  GAINSIGHT_PAGE_SIZE,
  GAINSIGHT_USER_FIELDS,
  type GainsightConnector,
} from '../../../lambdas/connectors/gainsight/connector';
import { canReactivate, type UserRecord } from '../../../lambdas/connectors/types';
import type { ConnectionRef } from '../../../lambdas/shared/connections';
import { ERROR_NAMES } from '../../../lambdas/shared/errors';
import { runStep } from '../../../lambdas/shared/steps';
import {
  GAINSIGHT_RATE_LIMITS,
  GAINSIGHT_SANDBOX_ACCESS_KEY,
  type GainsightSandbox,
  type GainsightSandboxOptions,
  type GainsightUser,
  type GainsightUserSeed,
  gsidOf,
  JANE_GSID,
  SAMPLE_USERS,
  startGainsightSandbox,
} from '../../../sandboxes/gainsight';
import { verifyThroughLag } from '../../helpers/connectors';
import { rejectionOf } from '../../helpers/errors';
import { sandboxStarter } from '../../helpers/sandboxes';
import { closedPort } from '../../helpers/servers';
import { stepEnvironment } from '../../helpers/steps';

/**
 * The Gainsight connector against the built-in sandbox, which answers Gainsight's own User
 * Management API (vendor-contracts/gainsight): `accesskey` header, `POST
 * /v1/users/services/list` with `where` conditions, `PUT /v1/users/services/status` with a
 * list of Gsids, the `{result, errorCode, errorDesc, requestId, data}` envelope with
 * per-record errors, and fixed windows of 100 requests an hour.
 */

const NAME = 'gainsight-test';
const JANE = SAMPLE_USERS[1] as GainsightUser;
const GARY = SAMPLE_USERS[2] as GainsightUser;
const MARCUS = SAMPLE_USERS[4] as GainsightUser;

/** A user as the connector reads it: the fields it selects, as the sandbox holds them. */
const selected = (user: GainsightUser): Record<string, unknown> =>
  Object.fromEntries(GAINSIGHT_USER_FIELDS.map((name) => [name, user[name]]));

// The API has no delete, and nothing but the status route writes: offboarding sends no other write.
const sandbox = sandboxStarter(
  (options: GainsightSandboxOptions = {}) => startGainsightSandbox({ rateLimit: false, ...options }),
  (request) => request.method !== 'POST' && request.path !== '/v1/users/services/status',
);

function connection(baseUrl: string): ConnectionRef {
  return { name: NAME, type: 'gainsight', baseUrl };
}

function connectorFor(
  box: { baseUrl: string },
  accessKey = GAINSIGHT_SANDBOX_ACCESS_KEY,
): GainsightConnector {
  return createGainsightConnector(connection(box.baseUrl), { accessKey });
}

const lists = (box: GainsightSandbox) =>
  box.requests.filter((request) => request.path === '/v1/users/services/list');
const writes = (box: GainsightSandbox) => box.requests.filter((request) => request.method !== 'POST');

/** `count` ordinary users with Gsids from 5000, and `extra` placed at the given positions. */
function tenant(count: number, extra: Record<number, GainsightUserSeed> = {}): GainsightUserSeed[] {
  return Array.from(
    { length: count },
    (_, i) => extra[i] ?? { Gsid: gsidOf(5000 + i), Email: `user${i}@example.com` },
  );
}

/** A list answer as the API gives it, serialised for a fault body. */
const listAnswer = (records: unknown[], totalCount?: number) =>
  JSON.stringify({
    result: true,
    errorCode: null,
    errorDesc: null,
    requestId: 'r-1',
    data: { records, ...(totalCount === undefined ? {} : { totalCount }) },
    message: null,
  });
/** A failure envelope, serialised for a fault body. */
const refusal = (errorCode: string | null, errorDesc: string) =>
  JSON.stringify({ result: false, errorCode, errorDesc, requestId: 'req-42', data: null, message: null });

/**
 * The two reads that page through the user list, and what their messages say they were
 * doing: a lookup that finds nobody, and the whole directory. Both must fail the same way on
 * pages that cannot be trusted, rather than answer from part of the users.
 */
const PAGED_READS = [
  [
    'a lookup',
    (c: GainsightConnector) => c.lookupUser('jane.doe@example.com'),
    'look up jane.doe@example.com',
  ],
  ['the directory', (c: GainsightConnector) => c.readDirectory(), 'read the user list'],
] as const;

describe('GainsightConnector.lookupUser', () => {
  it('asks for the email with the documented where, and finds the user ignoring case', async () => {
    // Prepare
    const box = await sandbox();

    // Act
    const result = await connectorFor(box).lookupUser('JANE.DOE@Example.COM');

    // Assess
    expect(result).toEqual({ found: true, userId: JANE_GSID });
    expect(box.requests).toEqual([
      {
        method: 'POST',
        path: '/v1/users/services/list',
        query: {},
        body: {
          select: ['Gsid', 'Email'],
          where: {
            conditions: [{ name: 'Email', alias: 'A', operator: 'EQ', value: ['JANE.DOE@Example.COM'] }],
            expression: 'A',
          },
          limit: GAINSIGHT_PAGE_SIZE,
          page: 0,
          includeTotal: true,
        },
        status: 200,
      },
    ]);
  });

  it('answers found: false when nobody has the email, and finds an inactive user too', async () => {
    // Prepare
    const box = await sandbox();
    const connector = connectorFor(box);

    // Act
    const nobody = await connector.lookupUser('nobody@example.com');
    const gary = await connector.lookupUser('already.gone@example.com');

    // Assess
    expect(nobody).toEqual({ found: false });
    expect(gary).toEqual({ found: true, userId: GARY.Gsid });
  });

  it('confirms "not found" by reading the users whole, and so finds an address stored in other case even if EQ minds case', async () => {
    // Prepare: Gainsight's EQ compares case-sensitively here; Jane is stored as Jane.Doe@Example.com.
    const box = await sandbox({ caseSensitiveWhere: true });
    const jane = box.users.get(JANE_GSID);
    if (jane) box.users.set(JANE_GSID, { ...jane, Email: 'Jane.Doe@Example.com' });
    const connector = connectorFor(box);

    // Act
    const found = await connector.lookupUser('jane.doe@example.com');
    const nobody = await connector.lookupUser('nobody@example.com');

    // Assess: each lookup asked with its where, then once without.
    expect(found).toEqual({ found: true, userId: JANE_GSID });
    expect(nobody).toEqual({ found: false });
    const lists = box.requests.filter((r) => r.path.endsWith('/list'));
    expect(lists.map((r) => ((r.body as { where?: unknown }).where === undefined ? 'all' : 'where'))).toEqual(
      ['where', 'all', 'where', 'all'],
    );
  });

  it('takes the filter as a hint: keeps only the exact match among look-alikes, across pages, up to the total', async () => {
    // Prepare: a server that ignores `where`; 2,500 users, look-alikes on every page, the leaver on page 2.
    const box = await sandbox({
      ignoreWhere: true,
      users: tenant(2500, {
        10: { Gsid: gsidOf(1), Email: 'leaver@example.com.evil.io' },
        1200: { Gsid: gsidOf(2), Email: 'xleaver@example.com' },
        1300: { Gsid: gsidOf(3), Email: 'leaver+x@example.com' },
        2400: { Gsid: gsidOf(4), Email: 'Leaver@Example.com' },
        2401: { Gsid: gsidOf(5), Email: null as never },
      }),
    });

    // Act
    const result = await connectorFor(box).lookupUser('leaver@example.com');

    // Assess: three pages and no fourth, the total being reached.
    expect(result).toEqual({ found: true, userId: gsidOf(4) });
    expect(lists(box).map((request) => (request.body as { page: number }).page)).toEqual([0, 1, 2]);
  });

  it('reads on by the rows a server actually serves when it caps the limit', async () => {
    // Prepare: pages of at most 200, whatever was asked; the leaver is the 421st user.
    const box = await sandbox({
      ignoreWhere: true,
      maxLimit: 200,
      users: tenant(450, { 420: { Gsid: gsidOf(9), Email: 'leaver@example.com' } }),
    });

    // Act
    const result = await connectorFor(box).lookupUser('leaver@example.com');

    // Assess
    expect(result).toEqual({ found: true, userId: gsidOf(9) });
    expect(lists(box).map((request) => request.body)).toEqual([
      expect.objectContaining({ limit: 1000, page: 0 }),
      expect.objectContaining({ limit: 200, page: 1 }),
      expect.objectContaining({ limit: 200, page: 2 }),
    ]);
  });

  it('without a total, a short page proves nothing: reads on until an empty page', async () => {
    // Prepare: pages of 2 users and no totalCount.
    const box = await sandbox({
      faults: [
        {
          method: 'POST',
          status: 200,
          times: 1,
          body: listAnswer([
            { Gsid: 'g1', Email: 'a@example.com' },
            { Gsid: 'g2', Email: 'b@example.com' },
          ]),
        },
        {
          method: 'POST',
          status: 200,
          times: 1,
          body: listAnswer([
            { Gsid: 'g3', Email: 'jane.doe@example.com' },
            { Gsid: 'g4', Email: 'c@example.com' },
          ]),
        },
        { method: 'POST', status: 200, times: 1, body: listAnswer([]) },
      ],
    });

    // Act
    const result = await connectorFor(box).lookupUser('jane.doe@example.com');

    // Assess
    expect(result).toEqual({ found: true, userId: 'g3' });
    expect(lists(box).map((request) => request.body)).toEqual([
      expect.objectContaining({ limit: 1000, page: 0 }),
      expect.objectContaining({ limit: 2, page: 1 }),
      expect.objectContaining({ limit: 2, page: 2 }),
    ]);
  });

  it('reads rows given as a bare list in data', async () => {
    // Prepare
    const body = JSON.stringify({ result: true, data: [{ Gsid: 'g7', Email: 'jane.doe@example.com' }] });
    const box = await sandbox({
      faults: [
        { method: 'POST', status: 200, times: 1, body },
        { method: 'POST', status: 200, times: 1, body: JSON.stringify({ result: true, data: [] }) },
      ],
    });

    // Act
    const result = await connectorFor(box).lookupUser('jane.doe@example.com');

    // Assess
    expect(result).toEqual({ found: true, userId: 'g7' });
  });

  it('refuses to choose between two users whose emails differ only in case, writing nothing', async () => {
    // Prepare
    const box = await sandbox({
      users: tenant(20, {
        3: { Gsid: gsidOf(31), Email: 'jane.doe@example.com' },
        14: { Gsid: gsidOf(32), Email: 'Jane.Doe@Example.com' },
      }),
    });

    // Act
    const error = await rejectionOf(connectorFor(box).lookupUser('jane.doe@example.com'));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.ambiguous);
    expect(error.message).toMatch(new RegExp(`^${NAME}: 2 users have the email jane.doe@example.com`));
    expect(error.message).toContain(`${gsidOf(31)}, ${gsidOf(32)}`);
    expect(writes(box)).toEqual([]);
  });

  it.each([
    [
      'result: false without a code',
      refusal(null, 'Tenant is locked'),
      'badResponse',
      'result: false (Tenant is locked; request req-42)',
    ],
    [
      'result: false with GU_2403',
      refusal('GU_2403', 'Lookup configuration invalid'),
      'badRequest',
      '(GU_2403: Lookup configuration invalid; request req-42)',
    ],
    [
      'result: false with GU_1101',
      refusal('GU_1101', 'Unexpected error'),
      'unavailable',
      'GU_1101: Unexpected error',
    ],
    [
      'GU_2400 with HTTP 200',
      refusal('GU_2400', 'Too many requests'),
      'rateLimitedHourly',
      'GU_2400: Too many requests',
    ],
    ['no data', '{"result": true, "data": null}', 'badResponse', 'holds no data'],
    [
      'data that is neither rows nor records',
      '{"result": true, "data": {"users": []}}',
      'badResponse',
      'unexpected response shape',
    ],
    [
      'rows without Gsid',
      '{"result": true, "data": {"records": [{"Email": "jane.doe@example.com"}]}}',
      'badResponse',
      'data.records.0.Gsid',
    ],
    ['malformed JSON', '{"result": true, "data": {"records": [', 'badResponse', 'not valid JSON'],
    [
      'a bare list without the envelope',
      `[{"Gsid": "${JANE_GSID}"}]`,
      'badResponse',
      'unexpected response shape',
    ],
    [
      'the seed guide shape',
      '{"result": true, "data": [{"userId": "u123", "email": "jane.doe@example.com"}]}',
      'badResponse',
      'Gsid',
    ],
  ] as const)('answers a 200 with %s as %s, with the vendor words', async (_case, body, kind, says) => {
    // Prepare
    const box = await sandbox({ faults: [{ method: 'POST', status: 200, times: 1, body }] });

    // Act
    const error = await rejectionOf(connectorFor(box).lookupUser('jane.doe@example.com'));

    // Assess
    expect(error.name).toBe(ERROR_NAMES[kind]);
    expect(error.message).toMatch(new RegExp(`^${NAME}: look up jane.doe@example.com: `));
    expect(error.message).toContain(says);
  });
});

describe('GainsightConnector paging (lookups and the directory)', () => {
  it.each(PAGED_READS)(
    'fails %s with Vendor.BadResponse when the server answers the same page again (page ignored)',
    async (_read, read, doing) => {
      // Prepare: 3,000 users, but every page is the first one; Jane is on none of them.
      const first = Array.from({ length: 1000 }, (_, i) => ({
        Gsid: `g${i}`,
        Email: `u${i}@example.com`,
        IsActiveUser: true,
      }));
      const box = await sandbox({
        faults: [{ method: 'POST', status: 200, times: 5, body: listAnswer(first, 3000) }],
      });

      // Act
      const error = await rejectionOf(read(connectorFor(box)));

      // Assess
      expect(error.name).toBe(ERROR_NAMES.badResponse);
      expect(error.message).toMatch(new RegExp(`^${NAME}: ${doing}: page 1 repeats users`));
      expect(lists(box)).toHaveLength(2);
    },
  );

  it.each(PAGED_READS)(
    'fails %s with Vendor.BadResponse when the pages do not add up to the total',
    async (_read, read, doing) => {
      // Prepare: 300 rows, then 7 of a total of 1000.
      const rows = (from: number, n: number) =>
        Array.from({ length: n }, (_, i) => ({
          Gsid: `g${from + i}`,
          Email: `u${from + i}@example.com`,
          IsActiveUser: true,
        }));
      const box = await sandbox({
        faults: [
          { method: 'POST', status: 200, times: 1, body: listAnswer(rows(0, 300), 1000) },
          { method: 'POST', status: 200, times: 1, body: listAnswer(rows(300, 7), 1000) },
        ],
      });

      // Act
      const error = await rejectionOf(read(connectorFor(box)));

      // Assess
      expect(error.name).toBe(ERROR_NAMES.badResponse);
      expect(error.message).toBe(
        `${NAME}: ${doing}: page 1 held 7 users, 307 of 1000 read so far; ` +
          'the pages do not add up, so reading on could skip users; nothing was changed',
      );
    },
  );

  it.each(PAGED_READS)(
    'fails %s with Vendor.BadResponse when a page partly repeats users already read',
    async (_read, read, doing) => {
      // Prepare: a full page of 1000, then a full page whose first 10 rows are from the first page.
      const rows = (from: number, n: number) =>
        Array.from({ length: n }, (_, i) => ({
          Gsid: `g${from + i}`,
          Email: `u${from + i}@example.com`,
          IsActiveUser: true,
        }));
      const box = await sandbox({
        faults: [
          { method: 'POST', status: 200, times: 1, body: listAnswer(rows(0, 1000), 3000) },
          { method: 'POST', status: 200, times: 1, body: listAnswer(rows(990, 1000), 3000) },
        ],
      });

      // Act
      const error = await rejectionOf(read(connectorFor(box)));

      // Assess
      expect(error.name).toBe(ERROR_NAMES.badResponse);
      expect(error.message).toMatch(new RegExp(`^${NAME}: ${doing}: page 1 repeats some users already read`));
    },
  );

  it.each(PAGED_READS)(
    `gives up %s after ${GAINSIGHT_MAX_LOOKUP_PAGES} full pages that never end`,
    async (_read, read) => {
      // Prepare: a fake API whose every page holds 1000 new users and no total.
      let calls = 0;
      const endless = (async () => {
        const base = calls++ * 1000;
        const records = Array.from({ length: 1000 }, (_, i) => ({
          Gsid: `e${base + i}`,
          Email: `e${base + i}@x.io`,
          IsActiveUser: true,
        }));
        return new Response(JSON.stringify({ result: true, data: { records } }), { status: 200 });
      }) as typeof fetch;
      const connector = createGainsightConnector(
        connection('https://acme.gainsightcloud.com'),
        { accessKey: 'k' },
        endless,
      );

      // Act
      const error = await rejectionOf(read(connector));

      // Assess
      expect(error.name).toBe(ERROR_NAMES.badResponse);
      expect(error.message).toContain(`did not end after ${GAINSIGHT_MAX_LOOKUP_PAGES} pages`);
      expect(calls).toBe(GAINSIGHT_MAX_LOOKUP_PAGES);
    },
  );
});

describe('GainsightConnector.getUser', () => {
  it('lists the one user by Gsid, every documented field selected, and keeps them all', async () => {
    // Prepare
    const box = await sandbox();

    // Act
    const record = await connectorFor(box).getUser(JANE_GSID);

    // Assess
    expect(record).toEqual({
      id: JANE_GSID,
      email: 'jane.doe@example.com',
      active: true,
      fields: selected(JANE),
    });
    expect(Object.keys(record.fields)).toHaveLength(15);
    expect(box.requests.map((request) => request.body)).toEqual([
      {
        select: [...GAINSIGHT_USER_FIELDS],
        where: {
          conditions: [{ name: 'Gsid', alias: 'A', operator: 'EQ', value: [JANE_GSID] }],
          expression: 'A',
        },
        limit: 10,
        page: 0,
      },
    ]);
  });

  it('keeps fields this code has no schema for, exactly as read', async () => {
    // Prepare: a tenant that answers more than was selected.
    const extra = { ...JANE, GainsightLicenseEnabled: false, identities: [{ type: 'Slack', userId: 'U02' }] };
    const box = await sandbox({
      faults: [{ method: 'POST', status: 200, times: 1, body: listAnswer([extra]) }],
    });

    // Act
    const record = await connectorFor(box).getUser(JANE_GSID);

    // Assess
    expect(record.fields).toEqual(extra);
  });

  it('finds the user among others when the server ignores the filter', async () => {
    // Prepare
    const box = await sandbox({ ignoreWhere: true });

    // Act
    const record = await connectorFor(box).getUser(MARCUS.Gsid);

    // Assess
    expect(record.id).toBe(MARCUS.Gsid);
    expect(record.fields).toEqual(selected(MARCUS));
  });

  it('answers Vendor.BadRequest when no user has the Gsid', async () => {
    // Prepare
    const box = await sandbox();

    // Act
    const error = await rejectionOf(connectorFor(box).getUser(gsidOf(999)));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.badRequest);
    expect(error.message).toBe(
      `${NAME}: get user ${gsidOf(999)}: no user with Gsid ${gsidOf(999)} in this tenant`,
    );
  });

  it('sends the Gsid as a value, never in the path, so no id can point the request elsewhere', async () => {
    // Prepare
    const box = await sandbox();

    // Act
    const error = await rejectionOf(connectorFor(box).getUser('../status?status=false'));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.badRequest);
    expect(box.requests.map((request) => `${request.method} ${request.path}`)).toEqual([
      'POST /v1/users/services/list',
    ]);
  });

  it('answers User.Mismatch, as every connector does, to a list holding another user', async () => {
    const box = await sandbox({
      faults: [{ method: 'POST', status: 200, times: 1, body: listAnswer([selected(MARCUS)]) }],
    });
    const error = await rejectionOf(connectorFor(box).getUser(JANE_GSID));
    expect(error.name).toBe(ERROR_NAMES.mismatch);
    expect(error.message).toContain(
      `asked for user ${JANE_GSID}, the API answered user ${MARCUS.Gsid} instead`,
    );
  });

  it.each([
    ['the user twice', listAnswer([selected(JANE), selected(JANE)]), `answered user ${JANE_GSID} 2 times`],
    [
      'a record without IsActiveUser',
      listAnswer([{ Gsid: JANE_GSID, Email: JANE.Email }]),
      'data.records.0.IsActiveUser',
    ],
    ['IsActiveUser as a string', listAnswer([{ ...selected(JANE), IsActiveUser: 'false' }]), 'IsActiveUser'],
  ])('answers Vendor.BadResponse to a list holding %s', async (_case, body, says) => {
    // Prepare
    const box = await sandbox({ faults: [{ method: 'POST', status: 200, times: 1, body }] });

    // Act
    const error = await rejectionOf(connectorFor(box).getUser(JANE_GSID));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.badResponse);
    expect(error.message).toMatch(new RegExp(`^${NAME}: get user ${JANE_GSID}: `));
    expect(error.message).toContain(says);
  });
});

describe('GainsightConnector.deactivateUser', () => {
  it('sends one status call with the Gsid, and nothing else of the user changes', async () => {
    // Prepare
    const box = await sandbox();
    const connector = connectorFor(box);
    const record = await connector.getUser(JANE_GSID);

    // Act
    await connector.deactivateUser(record);

    // Assess
    expect(writes(box)).toEqual([
      {
        method: 'PUT',
        path: '/v1/users/services/status',
        query: { status: 'false' },
        body: [JANE_GSID],
        status: 200,
      },
    ]);
    const {
      IsActiveUser,
      ModifiedDate: _m,
      ModifiedBy: _b,
      ...after
    } = box.users.get(JANE_GSID) as GainsightUser;
    const { IsActiveUser: wasActive, ModifiedDate: _wm, ModifiedBy: _wb, ...before } = JANE;
    expect([wasActive, IsActiveUser]).toEqual([true, false]);
    expect(after).toEqual(before);
  });

  it("fails with the vendor's words, record by record, when the user is gone before the write", async () => {
    // Prepare: read, then the user disappears before the write.
    const box = await sandbox();
    const connector = connectorFor(box);
    const record = await connector.getUser(JANE_GSID);
    box.users.delete(JANE_GSID);

    // Act
    const error = await rejectionOf(connector.deactivateUser(record));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.badRequest);
    expect(error.message).toMatch(
      new RegExp(
        `^${NAME}: deactivate user ${JANE_GSID}: the API answered result: false \\(GU_2402: Bulk update failed; ` +
          `request [0-9a-f-]+\\): user ${JANE_GSID}: GU_2402: User not found: ${JANE_GSID}$`,
      ),
    );
  });

  it("fails with the record's error when an answer that says result: true refuses the user", async () => {
    // Prepare: the documented envelope, with the refusal inside data.
    const answer = {
      result: true,
      errorCode: null,
      errorDesc: null,
      requestId: 'req-7',
      data: {
        count: 0,
        records: [],
        errors: [{ Gsid: JANE_GSID, errorCode: 'GU_2402', errorDesc: 'User is locked' }],
      },
      message: null,
    };
    const box = await sandbox({
      faults: [{ method: 'PUT', status: 200, times: 1, body: JSON.stringify(answer) }],
    });
    const connector = connectorFor(box);
    const record = await connector.getUser(JANE_GSID);

    // Act
    const error = await rejectionOf(connector.deactivateUser(record));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.badRequest);
    expect(error.message).toBe(
      `${NAME}: deactivate user ${JANE_GSID}: the API answered result: true but refused user ${JANE_GSID} ` +
        '(GU_2402: User is locked; request req-7); nothing was changed',
    );
  });

  it.each([
    [
      'rows of data that say success: false',
      {
        result: true,
        data: [
          { Gsid: JANE_GSID, success: false, errors: [{ errorCode: 'GU_2411', errorMessage: 'Conflict' }] },
        ],
      },
      'GU_2411: Conflict',
    ],
    [
      'a record carrying an errorCode',
      { result: true, data: { records: [{ Gsid: JANE_GSID, errorCode: 'GU_2402', errorDesc: 'Locked' }] } },
      'GU_2402: Locked',
    ],
    [
      'a bare message in data.errors',
      { result: true, data: { errors: ['User is a super admin'] } },
      'User is a super admin',
    ],
  ])('reads per-record errors given as %s', async (_case, answer, says) => {
    // Prepare
    const box = await sandbox({
      faults: [{ method: 'PUT', status: 200, times: 1, body: JSON.stringify(answer) }],
    });
    const connector = connectorFor(box);
    const record = await connector.getUser(JANE_GSID);

    // Act
    const error = await rejectionOf(connector.deactivateUser(record));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.badRequest);
    expect(error.message).toContain(`refused user ${JANE_GSID} (${says})`);
  });

  it.each([
    [
      'result: false with GU_2402',
      200,
      refusal('GU_2402', 'Bulk update failed'),
      'badRequest',
      '(GU_2402: Bulk update failed; request req-42)',
    ],
    [
      'GU_2400 with HTTP 200',
      200,
      refusal('GU_2400', 'Too many requests'),
      'rateLimitedHourly',
      'GU_2400: Too many requests',
    ],
    [
      'GU_2400 with HTTP 429',
      429,
      refusal('GU_2400', 'Too many requests'),
      'rateLimitedHourly',
      'HTTP 429 (GU_2400: Too many requests)',
    ],
    [
      'GU_1101 with HTTP 500',
      500,
      refusal('GU_1101', 'Unexpected error'),
      'unavailable',
      'HTTP 500 (GU_1101: Unexpected error)',
    ],
    [
      'GU_2409 with HTTP 400',
      400,
      refusal('GU_2409', 'Key not supported'),
      'badRequest',
      'HTTP 400 (GU_2409: Key not supported)',
    ],
  ] as const)('answers %s as %s, the code in the message', async (_case, status, body, kind, says) => {
    // Prepare
    const box = await sandbox({ faults: [{ method: 'PUT', status, times: 1, body }] });
    const connector = connectorFor(box);
    const record = await connector.getUser(JANE_GSID);

    // Act
    const error = await rejectionOf(connector.deactivateUser(record));

    // Assess
    expect(error.name).toBe(ERROR_NAMES[kind]);
    expect(error.message).toMatch(new RegExp(`^${NAME}: deactivate user ${JANE_GSID}: `));
    expect(error.message).toContain(says);
    expect(box.users.get(JANE_GSID)?.IsActiveUser).toBe(true);
  });
});

describe('GainsightConnector.setStatus (the batch the bulk path uses)', () => {
  it('switches up to 50 users off in one call', async () => {
    // Prepare
    const box = await sandbox({ users: tenant(60) });
    const ids = [...box.users.keys()].slice(0, 50);

    // Act
    const outcome = await connectorFor(box).setStatus(ids, false);

    // Assess
    expect(outcome.failed).toEqual([]);
    expect(box.requests).toHaveLength(1);
    expect(box.requests[0]?.body).toEqual(ids);
    expect([...box.users.values()].filter((user) => !user.IsActiveUser)).toHaveLength(50);
  });

  it('names the records the vendor refused, and the others are set', async () => {
    // Prepare
    const box = await sandbox();

    // Act
    const outcome = await connectorFor(box).setStatus([JANE_GSID, gsidOf(998), MARCUS.Gsid], false);

    // Assess
    expect(outcome.failed).toEqual([
      { gsid: gsidOf(998), errorCode: 'GU_2402', errorDesc: `User not found: ${gsidOf(998)}` },
    ]);
    expect(outcome.set).toEqual([JANE_GSID, MARCUS.Gsid]);
    expect(outcome.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(box.users.get(JANE_GSID)?.IsActiveUser).toBe(false);
    expect(box.users.get(MARCUS.Gsid)?.IsActiveUser).toBe(false);
  });

  it.each([
    ['no Gsid', [], 'not 0'],
    ['51 Gsids', Array.from({ length: 51 }, (_, i) => gsidOf(i)), 'not 51'],
    ['an empty Gsid', [''], 'one is empty'],
  ])('refuses %s before sending anything', async (_case, ids, says) => {
    // Prepare
    const box = await sandbox();

    // Act
    const error = await rejectionOf(connectorFor(box).setStatus(ids, false));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.badRequest);
    expect(error.message).toContain(says);
    expect(error.message).toContain('nothing was sent');
    expect(box.requests).toEqual([]);
  });

  it('sends a Gsid named twice once', async () => {
    // Prepare
    const box = await sandbox();

    // Act
    await connectorFor(box).setStatus([JANE_GSID, JANE_GSID], false);

    // Assess
    expect(box.requests[0]?.body).toEqual([JANE_GSID]);
  });
});

describe('GainsightConnector batches (getUsers, deactivateUsers)', () => {
  const statusCalls = (box: GainsightSandbox) =>
    box.requests.filter((request) => request.path === '/v1/users/services/status');
  /** A status answer as the API gives it, with the rows and errors given, serialised for a fault. */
  const statusAnswer = (records: unknown[], errors: unknown[] = []) =>
    JSON.stringify({
      result: true,
      errorCode: null,
      errorDesc: null,
      requestId: 'req-9',
      data: { count: records.length, records, errors },
      message: null,
    });

  it('reads 50 users in one list request with Gsid IN, each as getUser reads it, leaving out a Gsid nobody has', async () => {
    // Prepare: 49 users of the tenant and one Gsid it does not have.
    const box = await sandbox({ users: tenant(80) });
    const connector = connectorFor(box);
    const ids = [...[...box.users.keys()].slice(10, 59), gsidOf(999)];

    // Act
    const records = await connector.getUsers(ids);

    // Assess
    expect(records.map((record) => record.id)).toEqual(ids.slice(0, 49));
    expect(box.requests).toHaveLength(1);
    expect(box.requests[0]?.body).toEqual({
      select: [...GAINSIGHT_USER_FIELDS],
      where: { conditions: [{ name: 'Gsid', alias: 'A', operator: 'IN', value: ids }], expression: 'A' },
      limit: GAINSIGHT_PAGE_SIZE,
      page: 0,
      includeTotal: true,
    });
    const one = await connector.getUser(ids[20] as string);
    expect(records[20]).toEqual(one);
  });

  it('keeps only the users asked for from a server that ignores the where', async () => {
    // Prepare
    const box = await sandbox({ ignoreWhere: true });

    // Act
    const records = await connectorFor(box).getUsers([MARCUS.Gsid, JANE_GSID]);

    // Assess
    expect(records).toEqual([
      { id: MARCUS.Gsid, email: MARCUS.Email, active: true, fields: selected(MARCUS) },
      { id: JANE_GSID, email: JANE.Email, active: true, fields: selected(JANE) },
    ]);
  });

  it('refuses to read more than 50 users in one call, sending nothing', async () => {
    // Prepare
    const box = await sandbox();

    // Act
    const error = await rejectionOf(
      connectorFor(box).getUsers(Array.from({ length: 51 }, (_, i) => gsidOf(i + 1))),
    );

    // Assess
    expect(error.name).toBe(ERROR_NAMES.badRequest);
    expect(error.message).toBe(`${NAME}: get 51 users: a read takes 1 to 50 Gsids, not 51; nothing was sent`);
    expect(box.requests).toEqual([]);
  });

  it('switches 120 users off in 3 status calls of at most 50, and says each was set', async () => {
    // Prepare: 130 users; 120 leave. Read in batches as a bulk run does.
    const box = await sandbox({ users: tenant(130) });
    const connector = connectorFor(box);
    const leaving = [...box.users.keys()].slice(0, 120);
    const limit = await connector.batchLimit();
    const batches = Array.from({ length: Math.ceil(leaving.length / limit) }, (_, i) =>
      leaving.slice(i * limit, (i + 1) * limit),
    );

    // Act
    const results = [];
    for (const batch of batches)
      results.push(...(await connector.deactivateUsers(await connector.getUsers(batch))));

    // Assess
    expect(limit).toBe(50);
    expect(results).toEqual(leaving.map((id) => ({ id, ok: true })));
    expect(statusCalls(box).map((request) => [request.query, (request.body as string[]).length])).toEqual([
      [{ status: 'false' }, 50],
      [{ status: 'false' }, 50],
      [{ status: 'false' }, 20],
    ]);
    expect(lists(box)).toHaveLength(3);
    expect([...box.users.values()].filter((user) => user.IsActiveUser).map((user) => user.Gsid)).toEqual(
      [...box.users.keys()].slice(120),
    );
  });

  it("reports a user the vendor refused for that user only, in the vendor's words; the others are set", async () => {
    // Prepare: three users read; one is gone from the tenant before the write.
    const box = await sandbox();
    const connector = connectorFor(box);
    const records = await connector.getUsers([JANE_GSID, MARCUS.Gsid, GARY.Gsid]);
    box.users.delete(MARCUS.Gsid);

    // Act
    const results = await connector.deactivateUsers(records);

    // Assess
    expect(results.map(({ id, ok }) => ({ id, ok }))).toEqual([
      { id: JANE_GSID, ok: true },
      { id: MARCUS.Gsid, ok: false },
      { id: GARY.Gsid, ok: true },
    ]);
    const refused = results[1] as { ok: false; error: Error };
    expect(refused.error.name).toBe(ERROR_NAMES.badRequest);
    expect(refused.error.message).toMatch(
      new RegExp(
        `^${NAME}: deactivate 3 users: the API answered result: true but refused user ${MARCUS.Gsid} ` +
          `\\(GU_2402: User not found: ${MARCUS.Gsid}; request [0-9a-f-]+\\); nothing was changed$`,
      ),
    );
    expect(box.users.get(JANE_GSID)?.IsActiveUser).toBe(false);
    expect(statusCalls(box)).toHaveLength(1);
  });

  it('reports a user the answer does not name as not ok: nothing says the call reached it', async () => {
    // Prepare: an answer that names Jane as set, Gary as refused, and says nothing of Marcus.
    const box = await sandbox({
      faults: [
        {
          method: 'PUT',
          status: 200,
          times: 1,
          body: statusAnswer(
            [{ Gsid: JANE_GSID, IsActiveUser: false }],
            [{ Gsid: GARY.Gsid, errorCode: 'GU_2402', errorDesc: 'User is locked' }],
          ),
        },
      ],
    });
    const connector = connectorFor(box);
    const records = await connector.getUsers([JANE_GSID, MARCUS.Gsid, GARY.Gsid]);

    // Act
    const results = await connector.deactivateUsers(records);

    // Assess
    expect(results.map(({ id, ok }) => ({ id, ok }))).toEqual([
      { id: JANE_GSID, ok: true },
      { id: MARCUS.Gsid, ok: false },
      { id: GARY.Gsid, ok: false },
    ]);
    const [, unnamed, refused] = results as Array<{ ok: false; error: Error }>;
    expect(unnamed?.error.name).toBe(ERROR_NAMES.badResponse);
    expect(unnamed?.error.message).toBe(
      `${NAME}: deactivate 3 users: the API answered result: true but named user ${MARCUS.Gsid} neither among ` +
        'those set nor among those refused (request req-9); read the user again to know its status',
    );
    expect(refused?.error.message).toContain(
      `refused user ${GARY.Gsid} (GU_2402: User is locked; request req-9)`,
    );
  });

  it('reports every user not named as not ok when the answer refuses someone without naming them', async () => {
    // Prepare
    const box = await sandbox({
      faults: [{ method: 'PUT', status: 200, times: 1, body: statusAnswer([], ['User is a super admin']) }],
    });
    const connector = connectorFor(box);
    const records = await connector.getUsers([JANE_GSID, MARCUS.Gsid]);

    // Act
    const results = await connector.deactivateUsers(records);

    // Assess
    expect(results.map(({ ok }) => ok)).toEqual([false, false]);
    expect((results[0] as { error: Error }).error.message).toContain(
      '(it refused some user without naming them: User is a super admin)',
    );
  });

  it.each([
    ['GU_2400 with HTTP 429', 429, refusal('GU_2400', 'Too many requests'), 'rateLimitedHourly'],
    ['GU_2400 with HTTP 200', 200, refusal('GU_2400', 'Too many requests'), 'rateLimitedHourly'],
    ['GU_1101 with HTTP 500', 500, refusal('GU_1101', 'Unexpected error'), 'unavailable'],
    ['result: false with GU_2402', 200, refusal('GU_2402', 'Bulk update failed'), 'badRequest'],
  ] as const)(
    "throws for the whole batch on %s, as one user's write does",
    async (_case, status, body, kind) => {
      // Prepare
      const box = await sandbox({ faults: [{ method: 'PUT', status, times: 1, body }] });
      const connector = connectorFor(box);
      const records = await connector.getUsers([JANE_GSID, MARCUS.Gsid]);

      // Act
      const error = await rejectionOf(connector.deactivateUsers(records));

      // Assess
      expect(error.name).toBe(ERROR_NAMES[kind]);
      expect(error.message).toMatch(new RegExp(`^${NAME}: deactivate 2 users: `));
      expect(box.users.get(JANE_GSID)?.IsActiveUser).toBe(true);
    },
  );

  it('refuses more than 50 users in one batch, sending nothing', async () => {
    // Prepare
    const box = await sandbox({ users: tenant(60) });
    const connector = connectorFor(box);
    const records = [
      ...(await connector.getUsers([...box.users.keys()].slice(0, 50))),
      ...(await connector.getUsers([...box.users.keys()].slice(50, 51))),
    ];

    // Act
    const error = await rejectionOf(connector.deactivateUsers(records));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.badRequest);
    expect(error.message).toBe(
      `${NAME}: deactivate 51 users: a status call takes 1 to 50 Gsids, not 51; nothing was sent`,
    );
    expect(writes(box)).toEqual([]);
  });
});

describe('GainsightConnector.verifyDeactivated', () => {
  it('answers Vendor.NotYetApplied while lists still show the user active, then resolves', async () => {
    // Prepare
    const box = await sandbox({ verifyLag: 2 });

    // Act
    const { first, second, third } = await verifyThroughLag(connectorFor(box), JANE_GSID);

    // Assess
    expect(first.name).toBe(ERROR_NAMES.notYetApplied);
    expect(first.retryable).toBe(true);
    expect(first.message).toBe(`${NAME}: verify user ${JANE_GSID}: still IsActiveUser after the status call`);
    expect(second.name).toBe(ERROR_NAMES.notYetApplied);
    expect(third).toMatchObject({
      id: JANE_GSID,
      active: false,
      fields: { Email: JANE.Email, IsActiveUser: false },
    });
    expect(lists(box)).toHaveLength(4);
  });
});

/** Reads the user, switches it off and confirms it, as an offboarding run does; the read is the ledger's before-state. */
async function offboarded(connector: GainsightConnector, gsid = JANE_GSID): Promise<UserRecord> {
  const before = await connector.getUser(gsid);
  await connector.deactivateUser(before);
  await connector.verifyDeactivated(gsid);
  return before;
}

/** The requests sent from `from` on, as `METHOD path?query`. */
const sentSince = (box: GainsightSandbox, from: number) =>
  box.requests
    .slice(from)
    .map(
      (request) =>
        `${request.method} ${request.path}${request.query.status ? `?status=${request.query.status}` : ''}`,
    );

describe('GainsightConnector.reactivateUser', () => {
  it('switches the account back on with one read and one status=true call', async () => {
    // Prepare
    const box = await sandbox();
    const connector = connectorFor(box);
    const before = await offboarded(connector);
    const from = box.requests.length;

    // Act
    await connector.reactivateUser(before);

    // Assess
    expect(canReactivate(connector)).toBe(true);
    expect(sentSince(box, from)).toEqual([
      'POST /v1/users/services/list',
      'PUT /v1/users/services/status?status=true',
    ]);
    expect(box.requests.at(-1)?.body).toEqual([JANE_GSID]);
    const { ModifiedDate: _m, ModifiedBy: _b, ...now } = box.users.get(JANE_GSID) as GainsightUser;
    const { ModifiedDate: _wm, ModifiedBy: _wb, ...was } = JANE;
    expect(now).toEqual(was);
  });

  it('leaves what someone changed while the account was off as they changed it: only the status is written', async () => {
    // Prepare
    const box = await sandbox();
    const connector = connectorFor(box);
    const before = await offboarded(connector);
    box.users.set(JANE_GSID, { ...(box.users.get(JANE_GSID) as GainsightUser), Title: 'Former CSM' });

    // Act
    await connector.reactivateUser(before);

    // Assess
    expect(box.users.get(JANE_GSID)).toMatchObject({ IsActiveUser: true, Title: 'Former CSM' });
  });

  it('refuses, writing nothing, when the Gsid now holds someone with another email', async () => {
    // Prepare: Jane's Gsid now holds a new hire, who is switched off.
    const box = await sandbox();
    const connector = connectorFor(box);
    const before = await offboarded(connector);
    const newHire = { ...JANE, FirstName: 'Nora', Email: 'nora.new@example.com', IsActiveUser: false };
    box.users.set(JANE_GSID, newHire);
    const from = box.requests.length;

    // Act
    const error = await rejectionOf(connector.reactivateUser(before));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.badRequest);
    expect(error.message).toMatch(new RegExp(`^${NAME}: reactivate user ${JANE_GSID}: `));
    expect(error.message).toContain('nora.new@example.com, not jane.doe@example.com');
    expect(sentSince(box, from)).toEqual(['POST /v1/users/services/list']);
    expect(box.users.get(JANE_GSID)).toEqual(newHire);
  });

  it('takes the same email in another case as the same account', async () => {
    // Prepare
    const box = await sandbox();
    const connector = connectorFor(box);
    const before = await offboarded(connector);
    box.users.set(JANE_GSID, {
      ...(box.users.get(JANE_GSID) as GainsightUser),
      Email: 'JANE.DOE@example.com',
    });

    // Act
    await connector.reactivateUser(before);

    // Assess
    expect(box.users.get(JANE_GSID)?.IsActiveUser).toBe(true);
  });

  it.each([
    [
      'names another user',
      (user: Record<string, unknown>) => ({ ...user, Gsid: MARCUS.Gsid }),
      `is user ${MARCUS.Gsid}, not ${JANE_GSID}`,
    ],
    [
      'was already inactive',
      (user: Record<string, unknown>) => ({ ...user, IsActiveUser: false }),
      'already inactive before the offboarding',
    ],
    [
      'is not a Gainsight user (the seed guide shape)',
      () => ({ userId: JANE_GSID, email: 'jane.doe@example.com', isActive: true }),
      'not a Gainsight user',
    ],
  ])('refuses a before-state that %s, without sending anything', async (_case, change, words) => {
    // Prepare
    const box = await sandbox();
    const before: UserRecord = {
      id: JANE_GSID,
      email: 'jane.doe@example.com',
      active: true,
      fields: change(selected(JANE)),
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
  it('answers Vendor.NotYetApplied while lists lag behind the status call, then resolves', async () => {
    // Prepare: lists answer the record before each status call twice more.
    const box = await sandbox({ verifyLag: 2 });
    const connector = connectorFor(box);
    const before = await connector.getUser(JANE_GSID);
    await connector.deactivateUser(before);
    await connector.reactivateUser(before);

    // Act
    const first = await rejectionOf(connector.verifyReactivated(JANE_GSID));
    const second = await rejectionOf(connector.verifyReactivated(JANE_GSID));
    const third = await connector.verifyReactivated(JANE_GSID);

    // Assess
    expect(first.name).toBe(ERROR_NAMES.notYetApplied);
    expect(first.message).toBe(`${NAME}: verify user ${JANE_GSID}: still inactive after the status call`);
    expect(second.name).toBe(ERROR_NAMES.notYetApplied);
    expect(third).toMatchObject({ id: JANE_GSID, email: 'jane.doe@example.com', active: true });
  });
});

describe('GainsightConnector in the offboarding step (runStep)', () => {
  const refOf = (box: GainsightSandbox) => connection(box.baseUrl);
  const secret = { accessKey: GAINSIGHT_SANDBOX_ACCESS_KEY };
  const base = {
    connection: { name: NAME },
    email: 'jane.doe@example.com',
    executionId: 'arn:aws:states:us-east-1:123456789012:execution:offboard-user:x-1',
    startedAt: '2026-12-01T00:00:00Z',
  };
  const run = (
    box: GainsightSandbox,
    event: Record<string, unknown>,
    env = stepEnvironment(refOf(box), secret),
  ) => runStep({ ...base, ...event }, createGainsightConnector, env);

  it('keeps every field read in the ledger before the status call, and only the status is written', async () => {
    // Prepare
    const box = await sandbox();
    const env = stepEnvironment(refOf(box), secret);
    const planned = await run(box, { step: 'getRecord', userId: JANE_GSID }, env);

    // Act
    const result = await run(box, { step: 'deactivate', record: planned }, env);

    // Assess
    expect(result).toEqual({ userId: JANE_GSID, written: true, person: false, reason: '' });
    const [intent] = await env.ledger().history('jane.doe@example.com');
    expect(intent).toMatchObject({ outcome: 'deactivating', userId: JANE_GSID, before: selected(JANE) });
    expect(sentSince(box, 0)).toEqual([
      'POST /v1/users/services/list',
      'POST /v1/users/services/list',
      'PUT /v1/users/services/status?status=false',
    ]);
  });

  it('plans again, writing nothing, when a field changed between the plan and the write', async () => {
    // Prepare
    const box = await sandbox();
    const planned = await run(box, { step: 'getRecord', userId: JANE_GSID });
    box.users.set(JANE_GSID, { ...JANE, Title: 'Head of CS', ModifiedDate: '12/01/2026 08:00:00' });

    // Act
    const error = await rejectionOf(run(box, { step: 'deactivate', record: planned }));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.recordChanged);
    expect(error.message).toContain('Title');
    expect(error.message).not.toContain('ModifiedDate');
    expect(writes(box)).toEqual([]);
  });

  it('writes when only what the vendor moves by itself changed (ModifiedDate, ModifiedBy)', async () => {
    // Prepare
    const box = await sandbox();
    const planned = await run(box, { step: 'getRecord', userId: JANE_GSID });
    box.users.set(JANE_GSID, { ...JANE, ModifiedDate: '12/01/2026 08:00:00', ModifiedBy: gsidOf(101) });

    // Act
    const result = await run(box, { step: 'deactivate', record: planned });

    // Assess
    expect(result).toMatchObject({ written: true });
    expect(box.users.get(JANE_GSID)?.IsActiveUser).toBe(false);
  });
});

describe('GainsightConnector capabilities', () => {
  it('has no protectedReason (the access key belongs to the tenant) and says which fields move by themselves', () => {
    // Act
    const connector = connectorFor({ baseUrl: 'https://acme.gainsightcloud.com' });

    // Assess
    expect('protectedReason' in connector).toBe(false);
    expect(connector.volatileFields).toEqual(['IsActiveUser', 'ModifiedDate', 'ModifiedBy']);
  });

  it.each([
    ['with /v1', (url: string) => `${url}/v1`],
    ['with /v1/users/services', (url: string) => `${url}/v1/users/services`],
    ['with /v1/users/services/', (url: string) => `${url}/V1/Users/Services/`],
    ['with a trailing slash', (url: string) => `${url}/`],
  ])('takes a base URL %s as the same tenant', async (_case, variant) => {
    // Prepare
    const box = await sandbox();

    // Act
    const result = await connectorFor({ baseUrl: variant(box.baseUrl) }).lookupUser('jane.doe@example.com');

    // Assess
    expect(result).toEqual({ found: true, userId: JANE_GSID });
    expect(box.requests[0]?.path).toBe('/v1/users/services/list');
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
    expect(error.message).toMatch(
      new RegExp(`^${NAME}: look up jane.doe@example.com: HTTP 401 \\(Invalid or missing`),
    );
    expect(error.message).not.toContain(wrongKey);
  });

  it('answers Vendor.RateLimitedHourly to GU_2400, naming the documented limits', async () => {
    // Prepare: the documented windows on a clock that stands still; the first 100 requests spend the hour.
    const box = await sandbox({ rateLimit: GAINSIGHT_RATE_LIMITS, now: () => 0 });
    const connector = connectorFor(box);
    for (let i = 0; i < 100; i++) await connector.lookupUser('jane.doe@example.com');

    // Act
    const error = await rejectionOf(connector.getUser(JANE_GSID));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.rateLimitedHourly);
    expect(error.retryable).toBe(true);
    expect(error.message).toMatch(
      new RegExp(
        `^${NAME}: get user ${JANE_GSID}: HTTP 429 \\(GU_2400: Too many requests\\): Gainsight allows 100`,
      ),
    );
    expect(error.message).toContain('1,000 a day');
    expect(writes(box)).toEqual([]);
  });

  it('goes on once the next fixed window opens', async () => {
    // Prepare: 2 requests per window on a clock the test moves.
    let time = 0;
    const box = await sandbox({ rateLimit: { limit: 2, windowMs: 3_600_000 }, now: () => time });
    const connector = connectorFor(box);
    const record = await connector.getUser(JANE_GSID);
    await connector.deactivateUser(record);
    const throttled = await rejectionOf(connector.verifyDeactivated(JANE_GSID));

    // Act
    time += 3_600_000;
    const verified = await connector.verifyDeactivated(JANE_GSID);

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
    expect(error.message).toMatch(
      new RegExp(`^${NAME}: look up jane.doe@example.com: HTTP ${status} \\(GU_1101: `),
    );
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
