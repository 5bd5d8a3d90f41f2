import { afterEach, describe, expect, it } from 'vitest';
import type { Ledger, LedgerEntry } from '../../lambdas/shared/ledger';
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
    const [intent, entry, ...more] = await ledger.history('jane.doe@example.com');
    expect(more).toEqual([]);
    // Written before the PUT was sent: the same before-state, should the run stop half way.
    expect(intent).toMatchObject({ outcome: 'deactivating', userId: '1002', before });
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
    box.addFault({ method: 'GET', path: /Users\/Search$/, status: 401, times: 1 });
    await runLocally({ connections, input: { email: 'marcus.lee@example.com', dryRun: true }, ledger });
    await runLocally({ connections, input: { email: 'marcus.lee@example.com' }, ledger });
    await runLocally({ connections, input: { email: 'nobody@example.com' }, ledger });
    expect(
      (await ledger.history('marcus.lee@example.com')).map(
        (e) => `${e.outcome}${e.dryRun ? ' (dry run)' : ''}`,
      ),
    ).toEqual(['failed (dry run)', 'deactivating', 'deactivated']);
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

  it('fails the execution, loudly, when the outcomes cannot be written; the summary still goes out', async () => {
    // Prepare: a ledger that takes the write-ahead entry but refuses the outcomes.
    const { box, ledger, connections } = await setUp();
    const refusing: Ledger = {
      ...ledger,
      blobs: ledger.blobs,
      history: ledger.history.bind(ledger),
      claim: ledger.claim.bind(ledger),
      offboardedAccounts: ledger.offboardedAccounts.bind(ledger),
      record: async (entries: readonly LedgerEntry[]) => {
        if (entries.some((e) => e.outcome !== 'deactivating')) {
          throw Object.assign(new Error('ledger offboard-ledger: AccessDeniedException'), {
            name: 'Ledger.WriteFailed',
          });
        }
        return ledger.record(entries);
      },
    };
    const events: Array<{ detail: unknown }> = [];
    // Act
    const result = await runLocally({
      connections,
      input: { email: 'jane.doe@example.com' },
      ledger: refusing,
      onResultEvent: (event) => events.push(event),
    });
    // Assess
    expect(result).toMatchObject({ ok: false, error: { name: 'Ledger.WriteFailed' } });
    expect(events[0]?.detail).toMatchObject({
      status: 'succeeded',
      connections: [{ outcome: 'deactivated' }],
      ledgerError: { name: 'Ledger.WriteFailed' },
    });
    expect(box.users.get(1002)?.ACTIVE).toBe(false);
    // The before-state was written ahead, so a reactivation can still restore it.
    expect((await ledger.history('jane.doe@example.com')).map((e) => e.outcome)).toEqual(['deactivating']);
  });

  it('sends no write when the ledger cannot take the before-state first', async () => {
    // Prepare
    const { box, ledger, connections } = await setUp();
    (ledger as unknown as { close(): void }).close();
    // Act
    const result = await runLocally({ connections, input: { email: 'jane.doe@example.com' }, ledger });
    // Assess
    expect(box.users.get(1002)?.ACTIVE).toBe(true);
    expect(box.requests.filter((r) => r.method === 'PUT')).toEqual([]);
    expect(result).toMatchObject({ ok: false, error: { name: 'Ledger.WriteFailed' } });
  });
});
