import { describe, expect, it } from 'vitest';
import {
  createInsightlyConnector,
  type InsightlyConnector,
  odataString,
  searchQueryFor,
} from '../../../lambdas/connectors/insightly/connector';
import { canReactivate, type UserRecord } from '../../../lambdas/connectors/types';
import type { ConnectionRef } from '../../../lambdas/shared/connections';
import { ERROR_NAMES } from '../../../lambdas/shared/errors';
import { SANDBOX_STARTERS } from '../../../local/connections';
import { runLocally } from '../../../local/runner';
import type { PersonTask } from '../../../local/tasks';
import {
  type InsightlySandbox,
  type InsightlyUser,
  SAMPLE_USERS,
  startInsightlySandbox,
} from '../../../sandboxes/insightly';
import { verifyThroughLag } from '../../helpers/connectors';
import { rejectionOf } from '../../helpers/errors';
import { sandboxStarter } from '../../helpers/sandboxes';
import { closedPort } from '../../helpers/servers';

/**
 * The Insightly connector against the built-in sandbox: a real HTTP server that answers as
 * Insightly documents its API (vendor-contracts/insightly: `/Users/Search`, `skip`/`top`, 100
 * rows a page unless asked, a partial PUT, users that may be read-only), or, on request, as
 * the seed guide describes it (OData `$filter`/`$top`/`$skip`, a PUT that resets what it is
 * not sent), and misbehaves on request.
 */

const NAME = 'insightly-test';
/** The sandbox's default key; it belongs to the first user (the admin, 1001). */
const ADMIN_KEY = 'sandbox-api-key';
const JANE = SAMPLE_USERS[1] as InsightlyUser;

// Insightly's DELETE is an irreversible hard delete: offboarding must never send one.
const sandbox = sandboxStarter(startInsightlySandbox, (request) => request.method === 'DELETE');

function connection(baseUrl: string): ConnectionRef {
  return { name: NAME, type: 'insightly', baseUrl };
}

function connectorFor(box: { baseUrl: string }, apiKey = ADMIN_KEY): InsightlyConnector {
  return createInsightlyConnector(connection(box.baseUrl), { apiKey });
}

/** The lookup's requests, as `path?query` with the query in the order sent. */
const lookups = (box: InsightlySandbox) =>
  box.requests.filter((request) => request.method === 'GET' && /\/Users(\/Search)?$/.test(request.path));

const admin = { USER_ID: 1001, EMAIL_ADDRESS: 'admin@example.com', ADMINISTRATOR: true, ACCOUNT_OWNER: true };

/** `count` users after the admin; the one at `position` (1-based, the admin first) is the leaver. */
function directory(count: number, position: number, leaver = 'Leaver@Example.com') {
  return [
    admin,
    ...Array.from({ length: count - 1 }, (_, i) => ({
      USER_ID: 2000 + i,
      EMAIL_ADDRESS: i + 2 === position ? leaver : `user${i}@example.com`,
    })),
  ];
}

describe('InsightlyConnector.lookupUser', () => {
  it('finds the user by email, ignoring case, with one /Users/Search request', async () => {
    // Prepare
    const box = await sandbox();

    // Act
    const result = await connectorFor(box).lookupUser('JANE.DOE@Example.COM');

    // Assess
    expect(result).toEqual({ found: true, userId: '1002' });
    expect(lookups(box)).toEqual([
      {
        method: 'GET',
        path: '/v3.1/Users/Search',
        query: {
          field_name: 'EMAIL_ADDRESS',
          field_value: 'JANE.DOE@Example.COM',
          skip: '0',
          top: '500',
          count_total: 'true',
        },
        status: 200,
      },
    ]);
  });

  it.each(['/v2.2', '/v3.0'])(
    'searches with email= on %s, as that version of the swagger says',
    async (prefix) => {
      // Prepare
      const box = await sandbox({ pathPrefix: prefix });

      // Act
      const result = await connectorFor(box).lookupUser('jane.doe@example.com');

      // Assess
      expect(result).toEqual({ found: true, userId: '1002' });
      expect(lookups(box).map((request) => request.query)).toEqual([
        { email: 'jane.doe@example.com', skip: '0', top: '500', count_total: 'true' },
      ]);
    },
  );

  it('answers found: false when nobody has the email, after reading the users to be sure', async () => {
    // Prepare
    const box = await sandbox();

    // Act
    const result = await connectorFor(box).lookupUser('nobody@example.com');

    // Assess: the search found nobody; the plain list (one page here) confirms it.
    expect(result).toEqual({ found: false });
    expect(lookups(box).map((r) => r.path)).toEqual(['/v3.1/Users/Search', '/v3.1/Users']);
  });

  it('finds an address stored in other case even when the search compares case-sensitively', async () => {
    // Prepare
    const box = await sandbox({ caseSensitiveSearch: true });
    const jane = box.users.get(1002);
    if (jane) box.users.set(1002, { ...jane, EMAIL_ADDRESS: 'Jane.Doe@Example.com' });

    // Act
    const result = await connectorFor(box).lookupUser('jane.doe@example.com');

    // Assess
    expect(result).toEqual({ found: true, userId: '1002' });
  });

  it('refuses to choose between two users whose emails differ only in case, and writes nothing', async () => {
    // Prepare
    const box = await sandbox({
      users: [
        admin,
        { USER_ID: 2001, EMAIL_ADDRESS: 'jane.doe@example.com' },
        { USER_ID: 2002, EMAIL_ADDRESS: 'Jane.Doe@Example.com' },
      ],
    });

    // Act
    const error = await rejectionOf(connectorFor(box).lookupUser('jane.doe@example.com'));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.ambiguous);
    expect(error.message).toMatch(new RegExp(`^${NAME}: `));
    expect(error.message).toContain('2001');
    expect(error.message).toContain('2002');
    expect(box.requests.filter((request) => request.method !== 'GET')).toEqual([]);
    expect(box.users.get(2001)?.ACTIVE).toBe(true);
    expect(box.users.get(2002)?.ACTIVE).toBe(true);
  });

  describe('against a server that ignores the filter', () => {
    const lookAlikes = [
      { USER_ID: 2001, EMAIL_ADDRESS: 'jane.doe@example.com.evil.io' },
      { USER_ID: 2002, EMAIL_ADDRESS: 'xjane.doe@example.com' },
      { USER_ID: 2003, EMAIL_ADDRESS: 'jane.doe@example.co' },
      { USER_ID: 2004, EMAIL_ADDRESS: 'jane.doe+x@example.com' },
    ];

    it('keeps only the exact match among look-alikes', async () => {
      // Prepare
      const box = await sandbox({
        ignoreFilter: true,
        users: [admin, ...lookAlikes, { USER_ID: 2005, EMAIL_ADDRESS: 'Jane.Doe@example.com' }],
      });

      // Act
      const result = await connectorFor(box).lookupUser('jane.doe@example.com');

      // Assess
      expect(result).toEqual({ found: true, userId: '2005' });
    });

    it('finds nobody when only look-alikes exist', async () => {
      // Prepare
      const box = await sandbox({ ignoreFilter: true, users: [admin, ...lookAlikes] });

      // Act
      const result = await connectorFor(box).lookupUser('jane.doe@example.com');

      // Assess
      expect(result).toEqual({ found: false });
    });
  });

  describe('paging: a short page proves nothing', () => {
    it('finds the 180th of 250 users on a server that answers at most 100 rows whatever top says', async () => {
      // Prepare: the filter is not heard, pages hold 100 rows though 500 are asked for, and
      // no total comes back. Stopping at the first page shorter than asked would say
      // "not found" for everyone after the 100th.
      const box = await sandbox({
        users: directory(250, 180),
        ignoreFilter: true,
        maxPageSize: 100,
        omitCountTotal: true,
      });

      // Act
      const result = await connectorFor(box).lookupUser('leaver@example.com');

      // Assess
      expect(result).toEqual({ found: true, userId: String(2000 + 178) });
      expect(lookups(box).map((request) => [request.query.skip, request.query.top])).toEqual([
        ['0', '500'],
        ['100', '500'],
        ['200', '500'],
        ['250', '500'],
      ]);
    });

    it('stops at the total count_total reported, without asking for an empty page', async () => {
      // Prepare
      const box = await sandbox({ users: directory(250, 180), ignoreFilter: true, maxPageSize: 100 });

      // Act
      const result = await connectorFor(box).lookupUser('leaver@example.com');

      // Assess
      expect(result).toEqual({ found: true, userId: String(2000 + 178) });
      expect(lookups(box).map((request) => request.query.skip)).toEqual(['0', '100', '200']);
    });

    it('fails loudly, after a handful of requests, against a server that answers the same rows whatever skip says', async () => {
      // Prepare: the leaver is beyond the only page a server that ignores skip ever shows.
      const box = await sandbox({
        users: directory(250, 180),
        ignoreFilter: true,
        ignoreSkip: true,
        maxPageSize: 100,
        omitCountTotal: true,
      });

      // Act
      const error = await rejectionOf(connectorFor(box).lookupUser('leaver@example.com'));

      // Assess
      expect(error.name).toBe(ERROR_NAMES.badResponse);
      expect(error.message).toMatch(
        new RegExp(`^${NAME}: look up leaver@example.com: no way of listing users`),
      );
      expect(error.message).toContain('skip is ignored');
      expect(error.message).toContain('nothing was changed');
      // Two pages of each way of listing (search, list, OData list): then it gives up.
      expect(lookups(box)).toHaveLength(6);
      expect(box.requests.every((request) => request.method === 'GET')).toBe(true);
    });
  });

  describe('when /Users/Search is refused', () => {
    it.each([404, 405, 400] as const)(
      'lists GET /Users with skip/top after a %i, and finds the user',
      async (status) => {
        // Prepare: the leaver sits on the second page of 100.
        const box = await sandbox({ users: directory(150, 120), searchRefusedWith: status });

        // Act
        const result = await connectorFor(box).lookupUser('leaver@example.com');

        // Assess
        expect(result).toEqual({ found: true, userId: String(2000 + 118) });
        expect(
          lookups(box).map((request) => `${request.status} ${request.path} ${request.query.skip}`),
        ).toEqual([`${status} /v3.1/Users/Search 0`, '200 /v3.1/Users 0']);
        expect(lookups(box)[1]?.query).toEqual({ skip: '0', top: '500', count_total: 'true' });
      },
    );

    it('still fails on a refusal that is not about the route (403 is the key)', async () => {
      // Prepare
      const box = await sandbox({ faults: [{ path: /\/Users\/Search$/, status: 403, times: 1 }] });

      // Act
      const error = await rejectionOf(connectorFor(box).lookupUser('jane.doe@example.com'));

      // Assess
      expect(error.name).toBe(ERROR_NAMES.authFailed);
      expect(lookups(box)).toHaveLength(1);
    });
  });

  describe("against the seed guide's OData dialect", () => {
    it('finds the user after search and plain paging turn out not to work there', async () => {
      // Prepare
      const box = await sandbox({ dialect: 'odata' });

      // Act
      const result = await connectorFor(box).lookupUser('Jane.Doe@example.com');

      // Assess
      expect(result).toEqual({ found: true, userId: '1002' });
      expect(lookups(box).map((request) => `${request.status} ${request.path}`)).toEqual([
        '404 /v3.1/Users/Search',
        '200 /v3.1/Users',
        '200 /v3.1/Users',
        '200 /v3.1/Users',
        '200 /v3.1/Users',
      ]);
      expect(
        lookups(box)
          .slice(3)
          .map((request) => request.query),
      ).toEqual([
        { $filter: "EMAIL_ADDRESS eq 'Jane.Doe@example.com'", $top: '500', $skip: '0' },
        { $filter: "EMAIL_ADDRESS eq 'Jane.Doe@example.com'", $top: '500', $skip: '1' },
      ]);
    });

    it('pages past 500 rows with $skip when the OData filter is not heard either', async () => {
      // Prepare: 601 users; the leaver sits at position 552, on the second page of 500.
      const box = await sandbox({ dialect: 'odata', ignoreFilter: true, users: directory(601, 552) });

      // Act
      const result = await connectorFor(box).lookupUser('leaver@example.com');

      // Assess
      expect(result).toEqual({ found: true, userId: String(2000 + 550) });
      const odataPages = lookups(box).filter((request) => request.query.$skip !== undefined);
      expect(odataPages.map((request) => request.query.$skip)).toEqual(['0', '500', '601']);
    });

    it('doubles an apostrophe in the OData literal and finds the user', async () => {
      // Prepare
      const box = await sandbox({ dialect: 'odata' });

      // Act
      const result = await connectorFor(box).lookupUser("o'brien@example.com");

      // Assess
      expect(result).toEqual({ found: true, userId: '1004' });
      const filtered = lookups(box).find((request) => request.query.$filter !== undefined);
      expect(filtered?.query.$filter).toBe("EMAIL_ADDRESS eq 'o''brien@example.com'");
      expect(filtered?.status).toBe(200);
    });
  });
});

describe('searchQueryFor', () => {
  it.each([
    ['https://api.na1.insightly.com/v3.1', { field_name: 'EMAIL_ADDRESS', field_value: 'a@b.c' }],
    ['https://api.na1.insightly.com/v3.1/', { field_name: 'EMAIL_ADDRESS', field_value: 'a@b.c' }],
    ['https://api.insightly.com/V3.2', { field_name: 'EMAIL_ADDRESS', field_value: 'a@b.c' }],
    ['https://api.insight.ly/v2.2', { email: 'a@b.c' }],
    ['https://api.insightly.com/v3.0/', { email: 'a@b.c' }],
    ['https://api.insightly.com/v3', { email: 'a@b.c' }],
    ['http://127.0.0.1:4000', { field_name: 'EMAIL_ADDRESS', field_value: 'a@b.c' }],
  ])('asks %s with %o', (baseUrl, query) => {
    // Act
    const result = searchQueryFor(baseUrl, 'a@b.c');

    // Assess
    expect(result).toEqual(query);
  });
});

describe('odataString', () => {
  it.each([
    ['jane@example.com', "'jane@example.com'"],
    ["o'brien@example.com", "'o''brien@example.com'"],
    ["a''b", "'a''''b'"],
  ])('quotes %s as %s', (value, literal) => {
    // Act
    const result = odataString(value);

    // Assess
    expect(result).toBe(literal);
  });
});

describe('InsightlyConnector.getUser', () => {
  it('returns the whole record, every vendor field kept', async () => {
    // Prepare
    const box = await sandbox();

    // Act
    const record = await connectorFor(box).getUser('1002');

    // Assess
    expect(record).toEqual({ id: '1002', email: 'jane.doe@example.com', active: true, fields: JANE });
  });

  it('answers Vendor.BadRequest when the user does not exist (HTTP 404)', async () => {
    // Prepare
    const box = await sandbox();

    // Act
    const error = await rejectionOf(connectorFor(box).getUser('999999'));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.badRequest);
    expect(error.message).toMatch(new RegExp(`^${NAME}: get user 999999: HTTP 404`));
  });
});

describe('InsightlyConnector.deactivateUser', () => {
  it.each([
    ['the vendor (a partial PUT)', 'swagger'],
    ['the seed (a PUT that replaces the user)', 'odata'],
  ] as const)(
    'sends the whole record back with only ACTIVE changed, so nothing is reset, as %s reads it',
    async (_how, dialect) => {
      // Prepare
      const box = await sandbox({ dialect });
      const connector = connectorFor(box);
      const before = structuredClone(box.users.get(1002) as InsightlyUser);
      const record = await connector.getUser('1002');

      // Act
      await connector.deactivateUser(record);

      // Assess
      const puts = box.requests.filter((request) => request.method === 'PUT');
      expect(puts).toHaveLength(1);
      expect(puts[0]?.path).toBe('/v3.1/Users');
      expect(Object.keys(puts[0]?.body as object).sort()).toEqual(Object.keys(before).sort());
      expect(puts[0]?.body).toEqual({ ...before, ACTIVE: false });
      const { ACTIVE, DATE_UPDATED_UTC, ...after } = box.users.get(1002) as InsightlyUser;
      const { ACTIVE: _active, DATE_UPDATED_UTC: _updated, ...kept } = before;
      expect(ACTIVE).toBe(false);
      expect(after).toEqual(kept);
    },
  );

  describe('when the API refuses user writes (users read-only, as the vendor swagger has them)', () => {
    it.each([
      [405, "does not support http method 'PUT'", 'does not let its keys write users'],
      [404, 'No HTTP resource was found', 'does not let its keys write users'],
      [403, 'permission', 'may not update users'],
      [400, 'read only', 'does not let its keys write users'],
    ] as const)(
      'answers Vendor.WriteRefused to a %i, with the vendor words and what a person does',
      async (status, vendorWords, why) => {
        // Prepare
        const box = await sandbox({ userWrites: 'refused', refusedWriteStatus: status });
        const connector = connectorFor(box);
        const record = await connector.getUser('1002');

        // Act
        const error = await rejectionOf(connector.deactivateUser(record));

        // Assess
        expect(error.name).toBe(ERROR_NAMES.writeRefused);
        expect(error.retryable).toBe(false);
        expect(error.message).toMatch(new RegExp(`^${NAME}: deactivate user 1002: HTTP ${status} \\(`));
        expect(error.message).toContain(vendorWords);
        expect(error.message).toContain(why);
        expect(error.message).toContain('a person deactivates the user in Insightly itself');
        expect(box.users.get(1002)?.ACTIVE).toBe(true);
      },
    );

    it('tells a missing write route (404) from a user deleted meanwhile by reading the user', async () => {
      // Prepare
      const box = await sandbox({ userWrites: 'refused', refusedWriteStatus: 404 });
      const connector = connectorFor(box);
      const record = await connector.getUser('1002');
      const from = box.requests.length;

      // Act
      await rejectionOf(connector.deactivateUser(record));

      // Assess
      expect(sentSince(box, from)).toEqual(['PUT /v3.1/Users', 'GET /v3.1/Users/1002']);
    });

    it('answers Vendor.WriteRefused to a restore too, saying a person reactivates the user', async () => {
      // Prepare: switched off while writes worked; the key has lost the right since.
      const box = await sandbox();
      const before = await offboarded(connectorFor(box));
      box.addFault({ method: 'PUT', status: 405, times: 1 });

      // Act
      const error = await rejectionOf(connectorFor(box).reactivateUser(before));

      // Assess
      expect(error.name).toBe(ERROR_NAMES.writeRefused);
      expect(error.message).toMatch(new RegExp(`^${NAME}: reactivate user 1002: HTTP 405`));
      expect(error.message).toContain('a person reactivates the user');
      expect(box.users.get(1002)?.ACTIVE).toBe(false);
    });
  });

  it('answers Vendor.BadRequest with the vendor words to a 400 that is not about read-only users', async () => {
    // Prepare
    const box = await sandbox({
      faults: [
        {
          method: 'PUT',
          status: 400,
          times: 1,
          body: JSON.stringify({ Message: 'Invalid value for ROLE_ID.' }),
        },
      ],
    });
    const connector = connectorFor(box);
    const record = await connector.getUser('1002');

    // Act
    const error = await rejectionOf(connector.deactivateUser(record));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.badRequest);
    expect(error.message).toBe(`${NAME}: deactivate user 1002: HTTP 400 (Invalid value for ROLE_ID.)`);
  });

  it('says the user no longer exists when the PUT answers 404 and so does a read', async () => {
    // Prepare: read, then the user is deleted by someone else before the write.
    const box = await sandbox();
    const connector = connectorFor(box);
    const record = await connector.getUser('1002');
    box.users.delete(1002);

    // Act
    const error = await rejectionOf(connector.deactivateUser(record));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.badRequest);
    expect(error.message).toMatch(
      /HTTP 404 \(User not found\): the user no longer exists; nothing was written$/,
    );
  });
});

describe('A refused write through the workflow (the real ASL)', () => {
  it('hands the step to a person with a task, then verifies their work through the API', async () => {
    // Prepare: users are read-only here; the "person" switches Jane off in Insightly's UI.
    const box = await sandbox({ userWrites: 'refused' });
    const tasks: PersonTask[] = [];

    // Act
    const result = await runLocally({
      connections: [{ ref: connection(box.baseUrl), secret: { apiKey: ADMIN_KEY } }],
      input: { email: JANE.EMAIL_ADDRESS },
      askPerson: async (task) => {
        tasks.push(task);
        return box.deactivateByHand(task.email) ? { ok: true } : { ok: false, reason: 'no such user' };
      },
    });

    // Assess
    // (the person's answer is evidence: when, and who where they gave a name)
    expect(result.ok && result.summary.connections[0]).toEqual({
      name: NAME,
      type: 'insightly',
      outcome: 'deactivated',
      userId: '1002',
      person: { at: expect.any(String) },
    });
    expect(tasks).toHaveLength(1);
    expect(tasks[0]).toMatchObject({ connection: NAME, email: JANE.EMAIL_ADDRESS, userId: '1002' });
    expect(tasks[0]?.instructions).toContain(
      "HTTP 405 (The requested resource does not support http method 'PUT'.)",
    );
    expect(tasks[0]?.instructions).toContain(`offboard task complete ${tasks[0]?.token}`);
    expect(
      box.requests.filter((request) => request.method === 'PUT').map((request) => request.status),
    ).toEqual([405]);
    expect(box.users.get(1002)?.ACTIVE).toBe(false);
  });

  it('fails the connection when the person says done but Insightly still shows the user active', async () => {
    // Prepare
    const box = await sandbox({ userWrites: 'refused', refusedWriteStatus: 403 });

    // Act
    const result = await runLocally({
      connections: [{ ref: connection(box.baseUrl), secret: { apiKey: ADMIN_KEY } }],
      input: { email: JANE.EMAIL_ADDRESS },
      retryPauseMs: 1,
      askPerson: async () => ({ ok: true }),
    });

    // Assess
    expect(result.ok && result.summary.connections[0]).toMatchObject({
      outcome: 'failed',
      error: { name: ERROR_NAMES.notYetApplied },
    });
    expect(box.users.get(1002)?.ACTIVE).toBe(true);
  });

  it("the built-in sandbox's person (actAsPerson, the CLI's) switches the user off by email", async () => {
    // Prepare
    const started = await SANDBOX_STARTERS.insightly?.(undefined);
    if (!started?.actAsPerson) throw new Error('the insightly sandbox starter offers no actAsPerson');
    try {
      // Act
      const done = started.actAsPerson('JANE.DOE@example.com');
      const nobody = started.actAsPerson('nobody@example.com');

      // Assess
      expect([done, nobody]).toEqual([true, false]);
      expect(started.describeUser?.('jane.doe@example.com')).toMatchObject({ USER_ID: 1002, ACTIVE: false });
      expect(started.baseUrl).toMatch(/\/v3\.1$/);
    } finally {
      await started.close();
    }
  });
});

describe('InsightlyConnector.verifyDeactivated', () => {
  it('answers Vendor.NotYetApplied while reads still show the old record, then resolves', async () => {
    // Prepare
    const box = await sandbox({ verifyLag: 2 });

    // Act
    const { first, second, third } = await verifyThroughLag(connectorFor(box), '1002');

    // Assess
    expect(first.name).toBe(ERROR_NAMES.notYetApplied);
    expect(first.retryable).toBe(true);
    expect(first.message).toMatch(new RegExp(`^${NAME}: verify user 1002: `));
    expect(second.name).toBe(ERROR_NAMES.notYetApplied);
    expect(third).toMatchObject({ id: '1002', active: false });
    const reads = box.requests.filter(
      (request) => request.method === 'GET' && request.path === '/v3.1/Users/1002',
    );
    expect(reads).toHaveLength(4);
  });
});

/** Reads the user, switches it off and confirms it, as an offboarding run does; the read is the ledger's before-state. */
async function offboarded(connector: InsightlyConnector, userId = '1002'): Promise<UserRecord> {
  const before = await connector.getUser(userId);
  await connector.deactivateUser(before);
  await connector.verifyDeactivated(userId);
  return before;
}

/** The requests sent from `from` on, as `METHOD path`. */
const sentSince = (box: InsightlySandbox, from: number) =>
  box.requests.slice(from).map((request) => `${request.method} ${request.path}`);

/** A user without the stamp the server sets on every write: what a restore must bring back. */
const withoutStamp = ({ DATE_UPDATED_UTC: _stamp, ...user }: InsightlyUser) => user;

describe('InsightlyConnector.reactivateUser', () => {
  it('puts back the exact before-state, ACTIVE true, with one GET and one PUT', async () => {
    // Prepare
    const box = await sandbox();
    const connector = connectorFor(box);
    const before = await offboarded(connector);
    const from = box.requests.length;

    // Act
    await connector.reactivateUser(before);

    // Assess
    expect(canReactivate(connector)).toBe(true);
    expect(sentSince(box, from)).toEqual(['GET /v3.1/Users/1002', 'PUT /v3.1/Users']);
    // The PUT replaces the whole user: its body is the before-state exactly, every field.
    expect(box.requests.at(-1)?.body).toEqual(JANE);
    // Every field as before; only the server's own update stamp moved.
    expect(withoutStamp(box.users.get(1002) as InsightlyUser)).toEqual(withoutStamp(JANE));
    expect(box.users.get(1002)?.ACTIVE).toBe(true);
  });

  it('brings back fields that changed while the account was off, not only ACTIVE', async () => {
    // Prepare: while Jane was off, another tool sent a careless PUT that reset her fields.
    const box = await sandbox();
    const connector = connectorFor(box);
    const before = await offboarded(connector);
    const off = box.users.get(1002) as InsightlyUser;
    box.users.set(1002, { ...off, FIRST_NAME: 'J.', PROFILE_ID: null, ROLE_ID: null, TIMEZONE_ID: null });

    // Act
    await connector.reactivateUser(before);

    // Assess
    expect(withoutStamp(box.users.get(1002) as InsightlyUser)).toEqual(withoutStamp(JANE));
  });

  it('refuses, writing nothing, when the id now holds someone with another email', async () => {
    // Prepare: Jane's account went away and her id was given to a new hire, switched off.
    const box = await sandbox();
    const connector = connectorFor(box);
    const before = await offboarded(connector);
    const newHire = { ...JANE, FIRST_NAME: 'Nora', EMAIL_ADDRESS: 'nora.new@example.com', ACTIVE: false };
    box.users.set(1002, newHire);
    const from = box.requests.length;

    // Act
    const error = await rejectionOf(connector.reactivateUser(before));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.badRequest);
    expect(error.message).toMatch(new RegExp(`^${NAME}: reactivate user 1002: `));
    expect(error.message).toContain('nora.new@example.com, not jane.doe@example.com');
    expect(error.message).toContain('nothing was written');
    expect(sentSince(box, from)).toEqual(['GET /v3.1/Users/1002']);
    expect(box.users.get(1002)).toEqual(newHire);
  });

  it('takes the same email in another case as the same account, and restores its spelling too', async () => {
    // Prepare
    const box = await sandbox();
    const connector = connectorFor(box);
    const before = await offboarded(connector);
    const off = box.users.get(1002) as InsightlyUser;
    box.users.set(1002, { ...off, EMAIL_ADDRESS: 'Jane.Doe@EXAMPLE.com' });

    // Act
    await connector.reactivateUser(before);

    // Assess
    expect(box.users.get(1002)).toMatchObject({ ACTIVE: true, EMAIL_ADDRESS: 'jane.doe@example.com' });
  });

  it.each([
    ['has no USER_ID', ({ USER_ID: _id, ...rest }: InsightlyUser) => rest, 'the before-state has no USER_ID'],
    // The PUT would replace user 1005 (Marcus) with Jane's record.
    ['names another user', (user: InsightlyUser) => ({ ...user, USER_ID: 1005 }), 'is user 1005, not 1002'],
    [
      'was already inactive',
      (user: InsightlyUser) => ({ ...user, ACTIVE: false }),
      'already inactive before the offboarding',
    ],
  ])('refuses a before-state that %s, without sending anything', async (_case, change, words) => {
    // Prepare
    const box = await sandbox();
    const before: UserRecord = {
      id: '1002',
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
    expect(box.users.get(1005)).toEqual(SAMPLE_USERS[4]);
  });
});

describe('InsightlyConnector.verifyReactivated', () => {
  it('answers Vendor.NotYetApplied while the account is off', async () => {
    // Prepare
    const box = await sandbox();
    const connector = connectorFor(box);
    await offboarded(connector);

    // Act
    const error = await rejectionOf(connector.verifyReactivated('1002'));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.notYetApplied);
    expect(error.retryable).toBe(true);
    expect(error.message).toBe(`${NAME}: verify user 1002: still inactive after the write`);
  });

  it('answers Vendor.NotYetApplied while reads lag behind the restore, then resolves with the record', async () => {
    // Prepare: reads answer the record before each write twice more.
    const box = await sandbox({ verifyLag: 2 });
    const connector = connectorFor(box);
    const before = await connector.getUser('1002');
    await connector.deactivateUser(before);
    await connector.reactivateUser(before);

    // Act
    const first = await rejectionOf(connector.verifyReactivated('1002'));
    const second = await rejectionOf(connector.verifyReactivated('1002'));
    const third = await connector.verifyReactivated('1002');

    // Assess
    expect([first.name, second.name]).toEqual([ERROR_NAMES.notYetApplied, ERROR_NAMES.notYetApplied]);
    expect(third).toMatchObject({ id: '1002', email: 'jane.doe@example.com', active: true });
  });
});

describe('InsightlyConnector.protectedReason', () => {
  it('asks /Users/Me once for steps that check at the same time, and again after a failure', async () => {
    // Prepare: the first ask fails; ten steps (a bulk run) then check at once
    const box = await sandbox({ faults: [{ path: /Users\/Me$/, status: 503, times: 1 }] });
    const connector = connectorFor(box);
    const jane = await connector.getUser('1002');
    await expect(connector.protectedReason(jane)).rejects.toMatchObject({
      name: ERROR_NAMES.unavailable,
    });
    // Act
    const answers = await Promise.all(
      Array.from({ length: 10 }, () => connectorFor(box).protectedReason(jane)),
    );
    // Assess
    expect(answers).toEqual(Array(10).fill(undefined));
    expect(box.requests.filter((request) => request.path === '/v3.1/Users/Me').map((r) => r.status)).toEqual([
      503, 200,
    ]);
  });

  it('protects the owner of the API key, and asks /Users/Me once per key and base URL', async () => {
    // Prepare: the key belongs to Marcus, an administrator who does not own the instance.
    const box = await sandbox({ apiKeys: { 'marcus-key': 1005 } });
    const connector = connectorFor(box, 'marcus-key');
    const marcus = await connector.getUser('1005');
    const jane = await connector.getUser('1002');
    const meCalls = () => box.requests.filter((request) => request.path === '/v3.1/Users/Me').length;

    // Act
    const marcusWhy = await connector.protectedReason(marcus);
    const afterFirst = box.requests.length;
    const janeWhy = await connector.protectedReason(jane);
    // Each Lambda step builds a new connector; the warm container still remembers the owner.
    const again = await connectorFor(box, 'marcus-key').protectedReason(marcus);

    // Assess
    expect(marcusWhy).toContain('API key');
    expect(janeWhy).toBeUndefined();
    expect(again).toBe(marcusWhy);
    expect(box.requests.length).toBe(afterFirst);
    expect(meCalls()).toBe(1);
  });

  it('protects the account owner of the instance (ACCOUNT_OWNER), whoever owns the key, without a request', async () => {
    // Prepare: the instance owner is not the key's owner.
    const box = await sandbox({ apiKeys: { 'marcus-key': 1005 } });
    const owner = await connectorFor(box, 'marcus-key').getUser('1001');
    const before = box.requests.length;

    // Act
    const why = await connectorFor(box, 'marcus-key').protectedReason(owner);

    // Assess
    expect(owner.fields.ACCOUNT_OWNER).toBe(true);
    expect(why).toContain('ACCOUNT_OWNER');
    expect(box.requests.length).toBe(before);
  });

  it('asks again for another API key on the same instance', async () => {
    // Prepare
    const box = await sandbox({ apiKeys: { [ADMIN_KEY]: 1001, 'jane-key': 1002 } });
    const jane = await connectorFor(box).getUser('1002');
    await connectorFor(box).protectedReason(jane);

    // Act
    const result = await connectorFor(box, 'jane-key').protectedReason(jane);

    // Assess
    expect(result).toContain('API key');
    expect(box.requests.filter((request) => request.path === '/v3.1/Users/Me')).toHaveLength(2);
  });
});

describe('InsightlyConnector errors', () => {
  it('answers Vendor.AuthFailed to a wrong key without putting the key in the message', async () => {
    // Prepare
    const box = await sandbox();
    const wrongKey = 'wrong-key-7f3a9c';

    // Act
    const error = await rejectionOf(connectorFor(box, wrongKey).lookupUser('jane.doe@example.com'));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.authFailed);
    expect(error.message).toMatch(new RegExp(`^${NAME}: look up jane.doe@example.com: HTTP 401`));
    expect(error.message).not.toContain(wrongKey);
    expect(error.message).not.toContain(Buffer.from(`${wrongKey}:`).toString('base64'));
    expect(box.requests[0]?.status).toBe(401);
  });

  it('answers Vendor.RateLimited to a 429 from the per-second limit', async () => {
    // Prepare: a bucket of one request a second; the lookup spends it.
    const box = await sandbox({ ratePerSecond: 1 });
    const connector = connectorFor(box);
    await connector.lookupUser('jane.doe@example.com');

    // Act
    const error = await rejectionOf(connector.getUser('1002'));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.rateLimited);
    expect(error.retryable).toBe(true);
    expect(error.message).toMatch(new RegExp(`^${NAME}: get user 1002: HTTP 429`));
  });

  it('answers Vendor.QuotaExhausted to a 429 once the daily quota is used up', async () => {
    // Prepare: the day's quota is one request; the lookup spends it.
    const box = await sandbox({ dailyQuota: 1 });
    const connector = connectorFor(box);
    await connector.lookupUser('jane.doe@example.com');

    // Act
    const error = await rejectionOf(connector.getUser('1002'));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.quotaExhausted);
    expect(error.retryable).toBe(false);
    expect(error.message).toMatch(new RegExp(`^${NAME}: get user 1002: HTTP 429`));
    expect(error.message).toContain('quota');
  });

  it('answers Vendor.QuotaExhausted to any 429 that says X-RateLimit-Remaining: 0', async () => {
    // Prepare
    const box = await sandbox({
      faults: [{ status: 429, times: 1, headers: { 'X-RateLimit-Remaining': '0' } }],
    });

    // Act
    const error = await rejectionOf(connectorFor(box).lookupUser('jane.doe@example.com'));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.quotaExhausted);
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

  it.each([
    ['malformed JSON', '[{"USER_ID": 1002, "EMAIL_ADDRESS": '],
    ['rows without USER_ID', '[{"EMAIL_ADDRESS": "jane.doe@example.com", "ACTIVE": true}]'],
    [
      'an object instead of a list',
      '{"USER_ID": 1002, "EMAIL_ADDRESS": "jane.doe@example.com", "ACTIVE": true}',
    ],
  ])('answers Vendor.BadResponse to a 200 with %s', async (_case, body) => {
    // Prepare
    const box = await sandbox({
      faults: [{ method: 'GET', path: /\/Users\/Search$/, status: 200, times: 1, body }],
    });

    // Act
    const error = await rejectionOf(connectorFor(box).lookupUser('jane.doe@example.com'));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.badResponse);
    expect(error.message).toMatch(new RegExp(`^${NAME}: look up jane.doe@example.com: `));
  });

  it('answers Vendor.Unavailable when the connection is refused', async () => {
    // Prepare
    const port = await closedPort();
    const connector = connectorFor({ baseUrl: `http://127.0.0.1:${port}/v3.1` });

    // Act
    const error = await rejectionOf(connector.lookupUser('jane.doe@example.com'));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.unavailable);
    expect(error.message).toMatch(new RegExp(`^${NAME}: look up jane.doe@example.com: ECONNREFUSED`));
  });
});

describe('createInsightlyConnector', () => {
  it.each([
    ['no apiKey', {}],
    ['an empty apiKey', { apiKey: '' }],
    ['a misspelt field', { api_key: 'k' }],
    ['no JSON object', 'k'],
  ])('answers Config.Invalid to a secret with %s', (_case, secret) => {
    // Act
    const act = () => createInsightlyConnector(connection('https://api.insightly.com/v3.1'), secret);

    // Assess
    expect(act).toThrow(expect.objectContaining({ name: ERROR_NAMES.config }));
    expect(act).toThrow(new RegExp(`^${NAME}: the secret must be JSON like`));
  });
});
