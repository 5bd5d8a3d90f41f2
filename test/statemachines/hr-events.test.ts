import { afterEach, describe, expect, it } from 'vitest';
import { type LocalLedger, openLocalLedger } from '../../local/ledger';
import { type LocalConnection, runLocally } from '../../local/runner';
import { type InsightlySandbox, startInsightlySandbox } from '../../sandboxes/insightly';

/** offboard-user.asl.json started by the HR system's EventBridge event. */

const opened: Array<LocalLedger | InsightlySandbox> = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((o) => o.close()));
});

function terminated(detail: Record<string, unknown>, id = 'evt-0001') {
  return {
    version: '0',
    id,
    'detail-type': 'Employee Terminated',
    source: 'com.example.hr',
    account: '123456789012',
    time: '2026-11-23T09:00:00Z',
    region: 'us-east-1',
    resources: [],
    detail,
  };
}

async function setUp() {
  const box = await startInsightlySandbox();
  const local = await openLocalLedger(null);
  opened.push(box, local);
  const connections: LocalConnection[] = [
    {
      ref: { name: 'insightly', type: 'insightly', baseUrl: box.baseUrl },
      secret: { apiKey: 'sandbox-api-key' },
    },
  ];
  return { box, ledger: local.ledger, connections };
}

describe('an HR event', () => {
  it('offboards the person it names', async () => {
    const { box, ledger, connections } = await setUp();
    const result = await runLocally({
      connections,
      ledger,
      input: terminated({ email: 'jane.doe@example.com', employeeId: 'E-1002', reason: 'resigned' }),
    });
    expect(result.ok && result.summary).toMatchObject({
      status: 'succeeded',
      connections: [{ outcome: 'deactivated' }],
    });
    expect(box.users.get(1002)?.ACTIVE).toBe(false);
  });

  it('sent twice starts one offboarding: the second run is a duplicate that touches no vendor', async () => {
    // Prepare: the first event is handled
    const { box, ledger, connections } = await setUp();
    const first = await runLocally({
      connections,
      ledger,
      input: terminated({ email: 'jane.doe@example.com', employeeId: 'E-1002' }),
    });
    const requestsAfterFirst = box.requests.length;
    // Act: the HR system resends it, with a new event id as resends often have
    const again = await runLocally({
      connections,
      ledger,
      input: terminated({ email: 'jane.doe@example.com', employeeId: 'E-1002' }, 'evt-0002'),
    });
    // Assess
    expect(again.ok && again.summary).toEqual({
      email: 'jane.doe@example.com',
      dryRun: false,
      status: 'duplicate',
      duplicateOf: first.executionId,
      connections: [],
    });
    expect(box.requests.length).toBe(requestsAfterFirst);
    expect(box.requests.filter((r) => r.method === 'PUT')).toHaveLength(1);
  });

  it('future-dated, waits until effectiveAt before any vendor call', async () => {
    const { box, ledger, connections } = await setUp();
    const effectiveAt = new Date(Date.now() + 30 * 86_400_000).toISOString();
    const started = performance.now();
    // The Wait state is shortened to 400 ms here; in AWS it waits until effectiveAt.
    const result = await runLocally({
      connections,
      ledger,
      waitMs: 400,
      input: terminated({ email: 'jane.doe@example.com', effectiveAt }),
    });
    expect(performance.now() - started).toBeGreaterThanOrEqual(400);
    expect(result.ok && result.summary.status).toBe('succeeded');
    expect(box.users.get(1002)?.ACTIVE).toBe(false);
  });

  it('30 days ahead, waits for real: a local timer does not overflow into switching the account off at once', async () => {
    // Prepare: no shortened wait here. Node's timers hold at most 24.8 days; a longer one
    // fires after 1 ms, which would switch Jane off weeks early.
    const { box, ledger, connections } = await setUp();
    const effectiveAt = new Date(Date.now() + 30 * 86_400_000).toISOString();
    const stop = new AbortController();
    // Act: let it wait for half a second, then stop it, as an operator would StopExecution.
    const running = runLocally({
      connections,
      ledger,
      signal: stop.signal,
      input: terminated({ email: 'jane.doe@example.com', effectiveAt }),
    });
    await new Promise((resolve) => setTimeout(resolve, 500));
    stop.abort();
    const result = await running;
    // Assess: still waiting when stopped; nothing sent to the vendor.
    expect(result).toMatchObject({ ok: false, error: { name: 'Execution.Aborted' } });
    expect(box.requests).toEqual([]);
    expect(box.users.get(1002)?.ACTIVE).toBe(true);
  });

  it('dated in the past means now: no wait at all', async () => {
    const { ledger, connections } = await setUp();
    // Were the Wait entered, this run would take a minute and the test would time out.
    const result = await runLocally({
      connections,
      ledger,
      waitMs: 60_000,
      input: terminated({ email: 'jane.doe@example.com', effectiveAt: '2026-01-01T00:00:00Z' }),
    });
    expect(result.ok && result.summary.status).toBe('succeeded');
  }, 10_000);

  it('without an email fails as Input.Invalid, naming the field', async () => {
    const { box, ledger, connections } = await setUp();
    const result = await runLocally({ connections, ledger, input: terminated({ employeeId: 'E-1' }) });
    expect(!result.ok && result.error).toMatchObject({
      name: 'Input.Invalid',
      message: expect.stringContaining('detail.email'),
    });
    expect(box.requests).toEqual([]);
  });
});
