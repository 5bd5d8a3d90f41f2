import { describe, expect, it } from 'vitest';
import { type BulkContext, bulkDeactivate, FRESH_MS } from '../../lambdas/shared/bulk';
import type { ConnectionRef } from '../../lambdas/shared/connections';
import { LedgerWriteFailedError } from '../../lambdas/shared/errors';
import type { Ledger } from '../../lambdas/shared/ledger';
import { requestPacing } from '../../lambdas/shared/pacing';
import { redactorFor } from '../../lambdas/shared/redact';
import { runAuditLocally } from '../../local/audit';
import { runBulkLocally, runBulkWorkflowLocally } from '../../local/bulk';
import { CONNECTOR_FACTORIES, type LocalConnection, runLocally } from '../../local/runner';
import { SqliteLedger } from '../../local/sqlite-ledger';
import { GAINSIGHT_SANDBOX_ACCESS_KEY, JANE_GSID, startGainsightSandbox } from '../../sandboxes/gainsight';
import {
  SAMPLE_USERS as INSIGHTLY_USERS,
  type InsightlySandbox,
  startInsightlySandbox,
} from '../../sandboxes/insightly';
import {
  SAMPLE_USERS as INSIGHTVM_USERS,
  type InsightvmSandbox,
  RAPID7_INSIGHTVM_SANDBOX_PASSWORD,
  RAPID7_INSIGHTVM_SANDBOX_USERNAME,
  startRapid7InsightvmSandbox,
} from '../../sandboxes/rapid7-insightvm';
import {
  SAMPLE_USERS as PLATFORM_USERS,
  RAPID7_PLATFORM_SANDBOX_KEY,
  startRapid7PlatformSandbox,
} from '../../sandboxes/rapid7-platform';
import { SCIM_SANDBOX_TOKEN, type ScimSandbox, type ScimUser, startScimSandbox } from '../../sandboxes/scim';
import { closedAfterEach, leavers, summaryOf } from '../helpers/bulk';

/**
 * The hostile suite, bulk runs and the audit: every way a run over many people at once could
 * switch off the wrong account, miss someone without saying so, lose the before-state a
 * reactivation needs, or tell the person reading its totals something that is not so. Each
 * story runs the real ASL (or the real bulk step) against a built-in sandbox.
 */

const started = closedAfterEach(() => requestPacing.reset());

function insightlyConnection(box: InsightlySandbox, name = 'crm'): LocalConnection {
  return { ref: { name, type: 'insightly', baseUrl: box.baseUrl }, secret: { apiKey: 'sandbox-api-key' } };
}

function scimConnection(box: ScimSandbox, name = 'app'): LocalConnection {
  return { ref: { name, type: 'scim', baseUrl: box.baseUrl }, secret: { token: SCIM_SANDBOX_TOKEN } };
}

function insightvmConnection(box: InsightvmSandbox, name = 'console'): LocalConnection {
  return {
    ref: {
      name,
      type: 'rapid7-insightvm',
      baseUrl: box.baseUrl,
      ...(box.caCert ? { tls: { caCert: box.caCert } } : {}),
    },
    secret: { username: RAPID7_INSIGHTVM_SANDBOX_USERNAME, password: RAPID7_INSIGHTVM_SANDBOX_PASSWORD },
  };
}

const insightlyIdOf = (box: InsightlySandbox, email: string) =>
  [...box.users.values()].find((u) => u.EMAIL_ADDRESS === email)?.USER_ID ?? 0;

/**
 * The bulk step itself, as its Lambda runs it, with a clock the story moves: what the state
 * machine would do after minutes of rate limits is a few lines here.
 */
function bulkStep(connection: LocalConnection, clock: { now: number }) {
  const ledger = SqliteLedger.inMemory();
  const ref = connection.ref as ConnectionRef;
  const context: BulkContext = {
    connector: CONNECTOR_FACTORIES[ref.type](ref, connection.secret),
    connection: ref,
    ledger,
    blobs: ledger.blobs(),
    redact: redactorFor(connection.secret),
    executionId: 'arn:aws:states:local:000000000000:execution:offboard-bulk:hostile',
    startedAt: new Date().toISOString(),
    dryRun: false,
    now: () => clock.now,
  };
  return { context, ledger };
}

describe('bulk: nobody missed without a word', () => {
  it('a user deleted while the user list is read does not hide a leaver on the next page', async () => {
    // Prepare: a console whose pages hold 3 users; the leaver is the first user of page 2.
    // Right after page 1 is answered, another administrator deletes a contractor from page 1,
    // so that every later user moves up one place.
    const [service, admin] = INSIGHTVM_USERS;
    const box = await started(
      startRapid7InsightvmSandbox({
        credentials: { [RAPID7_INSIGHTVM_SANDBOX_USERNAME]: RAPID7_INSIGHTVM_SANDBOX_PASSWORD },
        users: [
          { ...service, id: 1 },
          { ...admin, id: 2 },
          { id: 3, login: 'contractor', email: 'contractor@example.com', role: { id: 'user' } },
          { id: 4, login: 'leaver', email: 'leaver@example.com', role: { id: 'user' } },
          { id: 5, login: 'stayer', email: 'stayer@example.com', role: { id: 'user' } },
        ] as never,
        maxPageSize: 3,
      }),
    );
    box.afterAnswer({ method: 'GET', path: /\/users$/, times: 1, act: () => box.users.delete(3) });
    // Act
    const result = await runBulkLocally({
      connections: [insightvmConnection(box)],
      emails: ['leaver@example.com'],
      retryPauseMs: 5,
    });
    // Assess: the leaver's account is off, or the run says it could not read the list whole;
    // "not found" (a success) for someone who has an account is never acceptable
    expect(summaryOf(result).outcomes).not.toHaveProperty('not-found');
    expect(box.users.get(4)?.enabled).toBe(false);
  });
});

describe('bulk: one person never stops the others', () => {
  it('an account deleted between the list read and the read right before the writes: the others are still switched off', async () => {
    // Prepare: a tenant of 600 users (two pages of the list), two leavers. Reading the list
    // takes longer than FRESH_MS, so the accounts are read again before their writes; by
    // then, another administrator has deleted the first leaver's account.
    const people = leavers(2);
    const fillers = leavers(600, 'staff').map((email) => ({ EMAIL_ADDRESS: email }));
    const box = await started(
      startInsightlySandbox({
        users: [...INSIGHTLY_USERS, ...fillers, ...people.map((email) => ({ EMAIL_ADDRESS: email }))],
      }),
    );
    const gone = insightlyIdOf(box, people[0] as string);
    const stays = insightlyIdOf(box, people[1] as string);
    const clock = { now: Date.parse('2025-01-01T00:00:00Z') };
    box.afterAnswer({
      method: 'GET',
      path: /\/Users$/,
      // After the second (last) page
      skip: 1,
      times: 1,
      act: () => {
        clock.now += FRESH_MS + 1;
        box.users.delete(gone);
      },
    });
    const { context } = bulkStep(insightlyConnection(box), clock);
    // Act
    const step = await bulkDeactivate(context, people).then(
      (value) => ({ ok: true as const, value }),
      (error: Error) => ({ ok: false as const, error: `${error.name}: ${error.message}` }),
    );
    // Assess: the deleted account's read failed for that person alone (by name, as a single
    // run's read of a vanished id does); the other leaver is switched off
    expect(step, JSON.stringify(step)).toMatchObject({
      ok: true,
      value: { done: true, counts: { failed: 1, pending: 1 } },
    });
    expect(box.users.get(stays)?.ACTIVE).toBe(false);
  });
});

describe('bulk: no stale write', () => {
  it("a colleague's edit made after the user list was read survives the leaver's deactivation", async () => {
    // Prepare: right after the user list is read, an administrator moves the leaver to
    // another role (a change the deactivation must not undo)
    const box = await started(
      startInsightlySandbox({
        users: [...INSIGHTLY_USERS, { EMAIL_ADDRESS: 'leaver@example.com', ROLE_ID: 7, PROFILE_ID: 40 }],
      }),
    );
    const id = insightlyIdOf(box, 'leaver@example.com');
    box.afterAnswer({
      method: 'GET',
      path: /\/Users$/,
      times: 1,
      act: () => {
        const user = box.users.get(id);
        if (user) box.users.set(id, { ...user, ROLE_ID: 9, PROFILE_ID: 41 });
      },
    });
    // Act
    const result = await runBulkLocally({
      connections: [insightlyConnection(box)],
      emails: ['leaver@example.com'],
      retryPauseMs: 5,
    });
    // Assess: the account is off (now, or by the single run the changed record is handed to),
    // and the role the colleague gave it is still there
    expect(summaryOf(result).outcomes).toEqual({ deactivated: 1 });
    const written = box.requests
      .filter((r) => r.method === 'PUT')
      .map((r) => r.body as Record<string, unknown>);
    expect(written.map((body) => body.ROLE_ID)).not.toContain(7);
    expect(box.users.get(id)).toMatchObject({ ACTIVE: false, ROLE_ID: 9, PROFILE_ID: 41 });
  });
});

/**
 * A ledger that takes the write-ahead entries and refuses every outcome, for good (a policy
 * change on the table, say): the evidence of what became of each account cannot be kept.
 */
function ledgerRefusingOutcomes(inner: SqliteLedger): Ledger {
  return {
    record: async (entries) => {
      if (entries.some((e) => e.outcome !== 'deactivating')) {
        throw new LedgerWriteFailedError('ledger offboard-ledger: AccessDeniedException: not authorized');
      }
      await inner.record(entries);
    },
    claim: (key, claimant) => inner.claim(key, claimant),
    history: (email, since) => inner.history(email, since),
    offboardedAccounts: (cursor, limit) => inner.offboardedAccounts(cursor, limit),
    blobs: inner.blobs,
  };
}

describe('bulk: totals that add up', () => {
  it('every person on every connection is counted once, whatever happened', async () => {
    // Prepare: on one connection, a leaver, someone unknown, someone already off, two accounts
    // sharing an address; a second connection whose key was revoked
    const box = await started(
      startInsightlySandbox({
        users: [
          ...INSIGHTLY_USERS,
          { EMAIL_ADDRESS: 'twin@example.com' },
          { EMAIL_ADDRESS: 'twin@example.com' },
        ],
      }),
    );
    const emails = [
      'jane.doe@example.com',
      'nobody@example.com',
      'already.gone@example.com',
      'twin@example.com',
    ];
    // Act
    const result = await runBulkLocally({
      connections: [
        insightlyConnection(box),
        { ref: { name: 'crm-old', type: 'insightly', baseUrl: box.baseUrl }, secret: { apiKey: 'revoked' } },
      ],
      emails,
      retryPauseMs: 5,
    });
    // Assess
    const bulk = summaryOf(result);
    const counted = Object.values(bulk.outcomes).reduce((a, b) => a + (b ?? 0), 0);
    expect(counted).toBe(emails.length * 2);
    expect(bulk.failedCount).toBe(1 + emails.length);
  });

  it('outcomes the ledger refuses after the writes: the run fails loudly, not "nobody offboarded"', async () => {
    // Prepare: three leavers; the ledger takes the write-ahead entries, then refuses the outcomes
    const people = leavers(3);
    const box = await started(
      startInsightlySandbox({
        users: [...INSIGHTLY_USERS, ...people.map((email) => ({ EMAIL_ADDRESS: email }))],
      }),
    );
    const ledger = ledgerRefusingOutcomes(SqliteLedger.inMemory());
    // Act
    const result = await runBulkLocally({
      connections: [insightlyConnection(box)],
      emails: people,
      ledger,
      retryPauseMs: 5,
    });
    // Assess: the accounts are off (the write-ahead entries keep what a reactivation needs)
    expect(people.map((email) => box.users.get(insightlyIdOf(box, email))?.ACTIVE)).toEqual([
      false,
      false,
      false,
    ]);
    // Assess: a run whose evidence could not be kept fails, as a single run does (README: "A
    // ledger that cannot be written fails the run, loudly"), rather than end with a summary
    // that counts the three people switched off as failed on a connection where "nobody was
    // offboarded"
    expect(result.ok, JSON.stringify(result.ok && result.bulk.connections)).toBe(false);
  });
});

describe('the audit: drift is found', () => {
  it('a leaver back in under a new account, their old id given to someone else, is drift, not "still off"', async () => {
    // Prepare: Jane is offboarded by a bulk run
    const box = await started(startScimSandbox());
    const ledger = SqliteLedger.inMemory();
    const connection = scimConnection(box);
    const bulk = await runBulkLocally({
      connections: [connection],
      emails: ['jane.doe@example.com'],
      ledger,
    });
    expect(summaryOf(bulk).outcomes).toEqual({ deactivated: 1 });
    // Prepare: the service recycles her id for a new hire, and Jane is provisioned again
    // under a new one, active: she can sign in again
    const jane = box.users.get('u1002') as ScimUser;
    box.users.set('u1002', {
      ...jane,
      userName: 'new.hire@example.com',
      emails: [{ value: 'new.hire@example.com', type: 'work', primary: true }],
      active: true,
    });
    box.users.set('u9002', { ...jane, id: 'u9002', active: true });
    // Act
    const audit = await runAuditLocally({ connections: [connection], ledger, retryPauseMs: 5 });
    // Assess: the audit must not report Jane's access as still off
    expect(audit.ok && audit.totals).toMatchObject({ checked: 1 });
    expect(audit.ok && audit.totals.stillOff).toBe(0);
    expect(audit.ok && audit.totals.drift).toBe(1);
  });
});

describe('bulk: the state does not grow with the number of people', () => {
  it('people handed to single runs (no API to switch them off) do not grow the largest state', async () => {
    // Prepare: a surface whose accounts a person switches off; two lists, one five times the other
    async function largestStateWith(count: number) {
      const people = leavers(count);
      const box = await started(
        startRapid7PlatformSandbox({ users: [...PLATFORM_USERS, ...people.map((email) => ({ email }))] }),
      );
      const result = await runBulkWorkflowLocally({
        connections: [
          {
            ref: { name: 'cloud', type: 'rapid7-platform', baseUrl: box.baseUrl },
            secret: { apiKey: RAPID7_PLATFORM_SANDBOX_KEY },
          },
        ],
        input: { emails: people },
        askPerson: async (task) =>
          box.disableUser(task.email) ? { ok: true } : { ok: false, reason: 'no account' },
        measureStates: true,
        retryPauseMs: 5,
      });
      expect(summaryOf(result).outcomes).toEqual({ deactivated: count });
      return result.largestState;
    }
    // Act: both lists longer than a page of hand-offs (40)
    const small = await largestStateWith(45);
    const large = await largestStateWith(125);
    // Assess: 80 more people may add a few bytes, not a share of the 256 KB each: before, at
    // some 200 bytes a person, the limit was reached by a list of a thousand people who need a
    // person
    const perPerson = ((large?.bytes ?? 0) - (small?.bytes ?? 0)) / 80;
    expect(perPerson, `largest state ${JSON.stringify(large)}`).toBeLessThan(8);
  });
});

describe('bulk: the rules of a single run hold (these pass)', () => {
  it('never switches off the instance owner or the API key owner, and says so by name', async () => {
    // Prepare: admin@ owns the instance (ACCOUNT_OWNER); the connection's key belongs to
    // an administrator, it-bot@ (1007)
    const box = await started(
      startInsightlySandbox({
        users: [...INSIGHTLY_USERS, { EMAIL_ADDRESS: 'it-bot@example.com', ADMINISTRATOR: true }],
        apiKeys: { 'sandbox-api-key': 1007 },
      }),
    );
    // Act
    const result = await runBulkLocally({
      connections: [insightlyConnection(box)],
      emails: ['admin@example.com', 'IT-Bot@example.com', 'jane.doe@example.com'],
    });
    // Assess
    const bulk = summaryOf(result);
    expect(bulk.outcomes).toEqual({ deactivated: 1, failed: 2 });
    expect(bulk.failed.map((f) => `${f.email}:${f.connections[0]?.error?.name}`).sort()).toEqual([
      'IT-Bot@example.com:User.Protected',
      'admin@example.com:User.Protected',
    ]);
    const written = box.requests
      .filter((r) => r.method === 'PUT')
      .map((r) => (r.body as { USER_ID: number }).USER_ID);
    expect(written).toEqual([1002]);
    expect([box.users.get(1001)?.ACTIVE, box.users.get(1007)?.ACTIVE]).toEqual([true, true]);
  });

  it('an address held only as a secondary email of another account switches nobody off', async () => {
    // Prepare: Bob's account lists the leaver's address as a secondary email (he gets her mail)
    const box = await started(
      startScimSandbox({
        users: [
          {
            id: 'u2000',
            userName: 'bob@example.com',
            emails: [
              { value: 'bob@example.com', type: 'work', primary: true },
              { value: 'leaver@example.com', type: 'other', primary: false },
            ],
          },
        ],
      }),
    );
    // Act
    const result = await runBulkLocally({
      connections: [scimConnection(box)],
      emails: ['leaver@example.com'],
    });
    // Assess
    const bulk = summaryOf(result);
    expect(bulk.outcomes).toEqual({ failed: 1 });
    expect(bulk.failed[0]?.connections[0]?.error?.name).toBe('User.NeedsReview');
    expect(box.requests.filter((r) => r.method !== 'GET')).toEqual([]);
    expect(box.users.get('u2000')?.active).toBe(true);
  });

  it('the same person listed twice in different case is offboarded once and counted once', async () => {
    // Prepare
    const box = await started(startInsightlySandbox());
    // Act
    const result = await runBulkLocally({
      connections: [insightlyConnection(box)],
      emails: ['jane.doe@example.com', 'Jane.Doe@EXAMPLE.com'],
    });
    // Assess
    const bulk = summaryOf(result);
    expect(bulk).toMatchObject({ people: 1, outcomes: { deactivated: 1 } });
    expect(box.requests.filter((r) => r.method === 'PUT')).toHaveLength(1);
  });

  it('status answers lost until the step gives up: the read decides, the before-state is kept, and the account can be restored', async () => {
    // Prepare: every answer to Gainsight's status call is lost after the call is applied,
    // as often as the step is tried (once, and three retries): the step fails, and the
    // final settle decides
    const box = await started(startGainsightSandbox({ rateLimit: false }));
    box.loseAnswers({ method: 'PUT', path: /\/status$/, mode: 'drop', times: 4 });
    const before = { ...box.users.get(JANE_GSID) };
    const ledger = SqliteLedger.inMemory();
    const connection: LocalConnection = {
      ref: { name: 'cs', type: 'gainsight', baseUrl: box.baseUrl },
      secret: { accessKey: GAINSIGHT_SANDBOX_ACCESS_KEY },
    };
    // Act
    const result = await runBulkLocally({
      connections: [connection],
      emails: ['jane.doe@example.com', 'marcus.lee@example.com'],
      ledger,
      retryPauseMs: 5,
    });
    const statusCalls = box.requests.filter((r) => r.method === 'PUT').length;
    const restored = await runLocally({
      connections: [connection],
      input: { email: 'jane.doe@example.com', reactivate: true },
      ledger,
    });
    // Assess: both are off and counted so; the ledger kept Jane as she was; she is back
    expect(statusCalls).toBe(4);
    expect(summaryOf(result).outcomes).toEqual({ deactivated: 2 });
    const history = await ledger.history('jane.doe@example.com');
    // (the fields the connector reads: the ones Gainsight documents)
    const { Title, Manager, Locale, IsActiveUser } = before;
    expect(history.find((e) => e.outcome === 'deactivated')?.before).toMatchObject({
      Gsid: JANE_GSID,
      Title,
      Manager,
      Locale,
      IsActiveUser,
    });
    expect(restored.ok && restored.summary.connections[0]?.outcome).toBe('reactivated');
    expect(box.users.get(JANE_GSID)).toMatchObject({
      Title: before.Title,
      Manager: before.Manager,
      IsActiveUser: true,
    });
  });

  it('a dry run writes nothing, and the audit counts none of it as switched off', async () => {
    // Prepare
    const box = await started(startInsightlySandbox());
    const ledger = SqliteLedger.inMemory();
    const connection = insightlyConnection(box);
    // Act
    const result = await runBulkLocally({
      connections: [connection],
      emails: ['jane.doe@example.com', 'already.gone@example.com'],
      dryRun: true,
      ledger,
    });
    const audit = await runAuditLocally({ connections: [connection], ledger });
    // Assess
    expect(summaryOf(result).outcomes).toEqual({ 'would-deactivate': 1, 'already-inactive': 1 });
    expect(box.requests.filter((r) => r.method !== 'GET')).toEqual([]);
    expect(audit).toEqual({
      ok: true,
      totals: expect.objectContaining({ checked: 0, stillOff: 0, drift: 0 }),
    });
  });
});
