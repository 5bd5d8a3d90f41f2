import { afterEach, describe, expect, it } from 'vitest';
import { Ledger } from '../../lambdas/shared/ledger';
import { type LocalLedger, openLocalLedger } from '../../local/ledger';
import { runLocally } from '../../local/runner';
import { type InsightlySandbox, startInsightlySandbox } from '../../sandboxes/insightly';

/** The Record step of offboard-user.asl.json: every outcome, with the before-state, in the ledger. */

const opened: Array<LocalLedger | InsightlySandbox> = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((o) => o.close()));
});

async function setUp() {
  const box = await startInsightlySandbox();
  const local = await openLocalLedger(null);
  opened.push(box, local);
  const connections = [
    {
      ref: { name: 'insightly', type: 'insightly' as const, baseUrl: box.baseUrl },
      secret: { apiKey: 'sandbox-api-key' },
    },
  ];
  return { box, ledger: local.ledger, connections };
}

describe('the ledger after an offboarding', () => {
  it('holds the account exactly as it was before the change, enough to restore it', async () => {
    // Prepare
    const { box, ledger, connections } = await setUp();
    const before = structuredClone(box.users.get(1002));
    // Act
    const result = await runLocally({ connections, input: { email: 'jane.doe@example.com' }, ledger });
    // Assess
    const [entry, ...more] = await ledger.history('jane.doe@example.com');
    expect(more).toEqual([]);
    expect(entry).toMatchObject({
      connection: 'insightly',
      type: 'insightly',
      outcome: 'deactivated',
      userId: '1002',
      dryRun: false,
      executionId: result.executionId,
      before,
    });
    expect(box.users.get(1002)?.ACTIVE).toBe(false);
  });

  it('records dry runs, not-found and failures too, each as what it was', async () => {
    const { box, ledger, connections } = await setUp();
    box.addFault({ method: 'GET', path: /Users$/, status: 401, times: 1 });
    await runLocally({ connections, input: { email: 'marcus.lee@example.com', dryRun: true }, ledger });
    await runLocally({ connections, input: { email: 'marcus.lee@example.com' }, ledger });
    await runLocally({ connections, input: { email: 'nobody@example.com' }, ledger });
    expect(
      (await ledger.history('marcus.lee@example.com')).map(
        (e) => `${e.outcome}${e.dryRun ? ' (dry run)' : ''}`,
      ),
    ).toEqual(['failed (dry run)', 'deactivated']);
    expect((await ledger.history('nobody@example.com')).map((e) => e.outcome)).toEqual(['not-found']);
  });

  it('publishes an "Offboarding Finished" event carrying the summary, for other tools', async () => {
    const { ledger, connections } = await setUp();
    const events: unknown[] = [];
    const result = await runLocally({
      connections,
      ledger,
      input: { email: 'jane.doe@example.com' },
      onResultEvent: (event) => events.push(event),
    });
    expect(events).toEqual([
      { source: 'offboard', detailType: 'Offboarding Finished', detail: result.ok && result.summary },
    ]);
  });

  it('does not undo the offboarding when the ledger cannot be written: the summary says so', async () => {
    // Prepare: a ledger whose table does not exist
    const { box, connections } = await setUp();
    const local = opened[1] as LocalLedger;
    const broken = new Ledger('no-such-table', local.ledger.client);
    // Act
    const result = await runLocally({
      connections,
      input: { email: 'jane.doe@example.com' },
      ledger: broken,
    });
    // Assess
    expect(result.ok && result.summary.connections[0]?.outcome).toBe('deactivated');
    expect(result.ok && result.summary.ledgerError).toMatchObject({ name: 'ResourceNotFoundException' });
    expect(box.users.get(1002)?.ACTIVE).toBe(false);
  });
});
