import { afterEach, describe, expect, it } from 'vitest';
import type { AuditTotals } from '../../lambdas/shared/audit';
import { runAuditLocally } from '../../local/audit';
import { runBulkLocally } from '../../local/bulk';
import { type LocalLedger, openLocalLedger } from '../../local/ledger';
import { type LocalConnection, runLocally } from '../../local/runner';
import { type InsightlySandbox, SAMPLE_USERS, startInsightlySandbox } from '../../sandboxes/insightly';

/** offboard-audit.asl.json: everyone offboarded, re-checked; drift found, and switched off again. */

const opened: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((o) => o.close()));
});

async function offboarded(
  people: string[],
): Promise<{ crm: InsightlySandbox; ledger: LocalLedger['ledger']; connections: LocalConnection[] }> {
  const crm = await startInsightlySandbox({
    users: [
      ...SAMPLE_USERS,
      ...people
        .filter((e) => !SAMPLE_USERS.some((u) => u.EMAIL_ADDRESS === e))
        .map((email) => ({ EMAIL_ADDRESS: email })),
    ],
  });
  const local = await openLocalLedger(null);
  opened.push(crm, local);
  const connections: LocalConnection[] = [
    { ref: { name: 'crm', type: 'insightly', baseUrl: crm.baseUrl }, secret: { apiKey: 'sandbox-api-key' } },
  ];
  if (people.length <= 2) {
    for (const email of people) await runLocally({ connections, ledger: local.ledger, input: { email } });
  } else {
    const bulk = await runBulkLocally({ connections, ledger: local.ledger, emails: people });
    expect(bulk.ok && bulk.bulk.outcomes).toEqual({ deactivated: people.length });
  }
  return { crm, ledger: local.ledger, connections };
}

describe('the scheduled audit', () => {
  it('finds an account switched on again, reports and records it, and raises the drift event', async () => {
    // Prepare: two people offboarded; someone re-enables Jane in the CRM
    const { crm, ledger, connections } = await offboarded(['jane.doe@example.com', 'marcus.lee@example.com']);
    const jane = crm.users.get(1002);
    if (jane) jane.ACTIVE = true;
    const events: AuditTotals[] = [];
    // Act
    const result = await runAuditLocally({
      connections,
      ledger,
      onDriftEvent: (totals) => events.push(totals),
    });
    // Assess
    expect(result).toEqual({
      ok: true,
      totals: {
        checked: 2,
        stillOff: 1,
        drift: 1,
        remediated: 0,
        unchecked: 0,
        driftFound: [{ email: 'jane.doe@example.com', connection: 'crm', userId: '1002', remediated: false }],
      },
    });
    expect(events).toHaveLength(1);
    expect((await ledger.history('jane.doe@example.com')).map((e) => e.outcome)).toEqual([
      // The write-ahead entry of that offboarding, before its outcome.
      'deactivating',
      'deactivated',
      'drift',
    ]);
    expect(crm.users.get(1002)?.ACTIVE).toBe(true);
  });

  it('with remediate, switches the drifted account off again through offboard-user', async () => {
    const { crm, ledger, connections } = await offboarded(['jane.doe@example.com']);
    const jane = crm.users.get(1002);
    if (jane) jane.ACTIVE = true;
    const result = await runAuditLocally({ connections, ledger, remediate: true });
    expect(result.ok && result.totals).toMatchObject({ checked: 1, drift: 1, remediated: 1 });
    expect(crm.users.get(1002)?.ACTIVE).toBe(false);
    // The next audit finds nothing.
    const again = await runAuditLocally({ connections, ledger });
    expect(again.ok && again.totals).toMatchObject({ checked: 1, stillOff: 1, drift: 0 });
  });

  it('pages through many offboarded people, reading the user list once, not each account', async () => {
    // Prepare: 1,100 people offboarded (three pages of the ledger); one switched on again
    const people = Array.from({ length: 1100 }, (_, i) => `leaver${String(i).padStart(4, '0')}@example.com`);
    const { crm, ledger, connections } = await offboarded(people);
    const back = [...crm.users.values()].find((u) => u.EMAIL_ADDRESS === 'leaver0777@example.com');
    if (back) back.ACTIVE = true;
    const before = crm.requests.length;
    // Act
    const result = await runAuditLocally({ connections, ledger });
    // Assess: every account checked, the drift found on the second page
    expect(result.ok && result.totals).toMatchObject({
      checked: 1100,
      stillOff: 1099,
      drift: 1,
      unchecked: 0,
    });
    // The CRM's user list (1,103 users, 500 a page) was read once for the whole audit, in three
    // pages, where reading each account would cost 1,100 requests.
    const sent = crm.requests.slice(before).map((r) => `${r.method} ${r.path}`);
    expect(sent).toEqual(Array(3).fill('GET /v3.1/Users'));
  }, 60_000);

  it('goes on in a new execution before its history grows long, and reports the whole ledger', async () => {
    // Prepare: 1,100 people offboarded (three pages); an event budget that fits one page
    const people = Array.from({ length: 1100 }, (_, i) => `leaver${String(i).padStart(4, '0')}@example.com`);
    const { crm, ledger, connections } = await offboarded(people);
    const back = [...crm.users.values()].find((u) => u.EMAIL_ADDRESS === 'leaver1050@example.com');
    if (back) back.ACTIVE = true;
    const executions: string[] = [];
    // Act
    const result = await runAuditLocally({
      connections,
      ledger,
      eventBudget: 40,
      onExecution: (id) => executions.push(id),
    });
    // Assess: three executions, each with one page; the last reports everything, the drift on
    // the last page included, as one execution would have
    expect(executions).toHaveLength(3);
    expect(result.ok && result.totals).toMatchObject({
      checked: 1100,
      stillOff: 1099,
      drift: 1,
      unchecked: 0,
    });
    expect(result.ok && result.totals.driftFound).toEqual([
      expect.objectContaining({ email: 'leaver1050@example.com', connection: 'crm' }),
    ]);
  }, 60_000);
});
