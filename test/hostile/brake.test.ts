import { afterEach, describe, expect, it } from 'vitest';
import { runBulkWorkflowLocally } from '../../local/bulk';
import { openLocalLedger } from '../../local/ledger';
import type { BrakeReleaseRequest } from '../../local/runner';
import { runLocally } from '../../local/runner';
import { SAMPLE_USERS, startInsightlySandbox } from '../../sandboxes/insightly';
import { leavers, summaryOf } from '../helpers/bulk';

/**
 * Getting past the safety brake by claiming to be a bulk run's hand-off: a hand-written input
 * can name a bulk execution, but the brake lets through only people that bulk run counted.
 */

const opened: Array<{ close(): Promise<void> | void }> = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((o) => o.close()));
});

describe('a forged hand-off', () => {
  it('naming a real bulk run does not let someone off its list past the brake', async () => {
    // Prepare: a bulk run of two fills a limit of 2; the intruder is not on its list
    const people = leavers(2);
    const box = await startInsightlySandbox({
      users: [...SAMPLE_USERS, ...[...people, 'ceo@example.com'].map((email) => ({ EMAIL_ADDRESS: email }))],
    });
    const local = await openLocalLedger(null);
    opened.push(box, local);
    const connections = [
      {
        ref: { name: 'insightly', type: 'insightly' as const, baseUrl: box.baseUrl },
        secret: { apiKey: 'sandbox-api-key' },
      },
    ];
    const asked: BrakeReleaseRequest[] = [];
    const brake = {
      config: { limit: 2, windowMinutes: 60 },
      release: async (request: BrakeReleaseRequest) => {
        asked.push(request);
        return { ok: false as const, reason: 'not expected', by: 'sam@example.com' };
      },
    };
    const bulk = await runBulkWorkflowLocally({
      connections,
      ledger: local.ledger,
      brake,
      input: { emails: people },
    });
    expect(summaryOf(bulk).status).toBe('succeeded');
    const writes = box.requests.filter((r) => r.method !== 'GET').length;
    // Act: a hand-written input that claims to be that bulk run's hand-off
    const forged = await runLocally({
      connections,
      ledger: local.ledger,
      brake,
      input: { email: 'ceo@example.com', AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID: bulk.executionId },
    });
    // Assess: counted like anyone else, so paused (and, refused, stopped): nothing written
    expect(asked).toHaveLength(1);
    expect(forged).toMatchObject({ ok: false, error: { name: 'Brake.Refused' } });
    expect(box.requests.filter((r) => r.method !== 'GET')).toHaveLength(writes);
  });
});
