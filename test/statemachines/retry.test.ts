import { afterEach, describe, expect, it } from 'vitest';
import { retryInput } from '../../cli/retry';
import type { LedgerEntry } from '../../lambdas/shared/ledger';
import { type LocalLedger, openLocalLedger } from '../../local/ledger';
import { type LocalConnection, runLocally } from '../../local/runner';
import { type InsightlySandbox, startInsightlySandbox } from '../../sandboxes/insightly';

/**
 * offboard-user.asl.json, retried: the summary of a run where a connection failed carries the
 * input that runs that connection again, Normalize accepts it, and the retry's ledger entries
 * name the run they retry. A retry of an HR event's run is not taken for a resent event.
 */

const opened: Array<LocalLedger | InsightlySandbox> = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((o) => o.close()));
});

const JANE = 'jane.doe@example.com';

async function setUp() {
  const [healthy, broken] = await Promise.all([startInsightlySandbox(), startInsightlySandbox()]);
  const local = await openLocalLedger(null);
  opened.push(healthy, broken, local);
  const connections: LocalConnection[] = [
    {
      ref: { name: 'crm', type: 'insightly', baseUrl: healthy.baseUrl },
      secret: { apiKey: 'sandbox-api-key' },
    },
    {
      ref: { name: 'crm-eu', type: 'insightly', baseUrl: broken.baseUrl },
      secret: { apiKey: 'sandbox-api-key' },
    },
  ];
  return { healthy, broken, ledger: local.ledger, connections };
}

const terminated = {
  version: '0',
  id: 'evt-0001',
  'detail-type': 'Employee Terminated',
  source: 'com.example.hr',
  time: '2026-11-23T09:00:00Z',
  detail: { email: JANE, employeeId: 'E-1002' },
};

describe('retrying a run', () => {
  it("an HR event's partial run is resumed on its failed connection, not refused as a duplicate", async () => {
    // Prepare: the HR event's run, the EU tenant down for its lookup
    const { healthy, broken, ledger, connections } = await setUp();
    broken.addFault({ status: 401, times: 1 });
    const first = await runLocally({ connections, ledger, input: terminated });
    if (!first.ok) throw new Error(`first run failed: ${first.error.message}`);
    const healthyRequests = healthy.requests.length;

    // Act: the summary's retry input, as pasted into the console
    const retry = await runLocally({ connections, ledger, input: first.summary.retry });

    // Assess
    expect(first.summary.retry).toEqual({ email: JANE, connections: ['crm-eu'], retryOf: first.executionId });
    expect(retry.ok && retry.summary).toMatchObject({
      status: 'succeeded',
      connections: [{ name: 'crm-eu', outcome: 'deactivated' }],
    });
    expect(healthy.requests.length).toBe(healthyRequests);
    const entries = await ledger.history(JANE);
    expect(entries.filter((e) => e.executionId === retry.executionId && e.outcome === 'deactivated')).toEqual(
      [expect.objectContaining({ connection: 'crm-eu', retryOf: first.executionId })],
    );
    expect(entries.filter((e) => e.executionId === first.executionId).every((e) => !e.retryOf)).toBe(true);
  });

  it('a dry run that failed is retried as a dry run', async () => {
    // Prepare
    const { broken, ledger, connections } = await setUp();
    broken.addFault({ status: 401, times: 1 });

    // Act
    const result = await runLocally({ connections, ledger, input: { email: JANE, dryRun: true } });

    // Assess
    expect(result.ok && result.summary.retry).toEqual({
      email: JANE,
      connections: ['crm-eu'],
      retryOf: result.executionId,
      dryRun: true,
    });
  });

  it.each([
    ['not an ARN', 'last tuesday'],
    ['a number', 42],
    ['an ARN of something else', 'arn:aws:lambda:eu-west-1:123456789012:function:offboard'],
  ])('refuses retryOf that is %s: Input.Invalid, nothing sent', async (_what, retryOf) => {
    // Prepare
    const { healthy, broken, ledger, connections } = await setUp();

    // Act
    const result = await runLocally({ connections, ledger, input: { email: JANE, retryOf } });

    // Assess
    expect(result.ok).toBe(false);
    expect(!result.ok && result.error).toMatchObject({
      name: 'Input.Invalid',
      message: expect.stringContaining('retryOf'),
    });
    expect(healthy.requests.length + broken.requests.length).toBe(0);
  });
});

/** Ledger entries as a test writes them: one connection's outcome in one run. */
function entry(
  run: string,
  at: string,
  connection: string,
  outcome: LedgerEntry['outcome'],
  more: Partial<LedgerEntry> = {},
): LedgerEntry {
  return {
    email: JANE,
    connection,
    type: 'insightly',
    outcome,
    dryRun: false,
    at: `2026-11-30T10:${at}:00.000Z`,
    executionId: `arn:aws:states:eu-west-1:123456789012:execution:OffboardUser:${run}`,
    ...more,
  };
}
const arn = (run: string) => `arn:aws:states:eu-west-1:123456789012:execution:OffboardUser:${run}`;

describe('retryInput: what is still failed, from the ledger', () => {
  it('a later success elsewhere removes a connection; what still fails is retried, from the run that failed it last', () => {
    const history = [
      entry('a', '00', 'crm', 'failed'),
      entry('a', '00', 'hr', 'failed'),
      entry('a', '00', 'wiki', 'deactivated'),
      entry('b', '05', 'crm', 'deactivated'), // run b was limited to crm
      entry('c', '07', 'hr', 'failed', { dryRun: true }), // a dry run does not count for a real retry
    ];
    expect(retryInput(history, JANE)).toEqual({
      kind: 'retry',
      input: { email: JANE, connections: ['hr'], retryOf: arn('a') },
    });
    expect(retryInput(history, arn('a'))).toEqual({
      kind: 'retry',
      input: { email: JANE, connections: ['hr'], retryOf: arn('a') },
    });
  });

  it('never resumes an offboarding over a reactivation since: the person was reinstated', () => {
    const history = [
      entry('a', '00', 'crm', 'failed'),
      entry('a', '00', 'hr', 'deactivated'),
      entry('b', '05', 'hr', 'reactivated', { reactivate: true }),
    ];
    expect(retryInput(history, JANE)).toMatchObject({ kind: 'nothing' });
    expect(retryInput(history, arn('a'))).toMatchObject({ kind: 'nothing' });
  });

  it("a reactivation's failure is retried as a reactivation", () => {
    const history = [
      entry('a', '00', 'crm', 'deactivated'),
      entry('b', '05', 'crm', 'failed', { reactivate: true }),
    ];
    expect(retryInput(history, JANE)).toEqual({
      kind: 'retry',
      input: { email: JANE, connections: ['crm'], retryOf: arn('b'), reactivate: true },
    });
  });

  it('a run that stopped after its write was sent is retried: reading the account decides', () => {
    const history = [entry('a', '00', 'crm', 'deactivating')];
    expect(retryInput(history, JANE)).toMatchObject({ kind: 'retry', input: { connections: ['crm'] } });
  });

  it('an unknown run or person is unknown', () => {
    expect(retryInput([], JANE)).toMatchObject({ kind: 'unknown' });
    expect(retryInput([entry('a', '00', 'crm', 'failed')], arn('zzz'))).toMatchObject({ kind: 'unknown' });
  });
});
