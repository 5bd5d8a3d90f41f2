import { afterEach, describe, expect, it } from 'vitest';
import { requestPacing } from '../../lambdas/shared/pacing';
import { runBulkLocally } from '../../local/bulk';
import type { LocalConnection } from '../../local/runner';
import { type InsightlySandbox, SAMPLE_USERS, startInsightlySandbox } from '../../sandboxes/insightly';

/**
 * Many people at once against a vendor that enforces its rate limit: with the connection's
 * pace kept by the workflow, 429s are the exception, not the method. (How many 429s an
 * unpaced run gets depends on how fast the machine sends, so it is a benchmark figure, not a
 * test: `npm run bench -- --only bulk`.)
 */

// More writes than the vendor's burst: sent as fast as they could go, some would be refused.
const RATE = 20;
const PEOPLE = Array.from({ length: 2 * RATE }, (_, i) => `leaver${i}@example.com`);
let box: InsightlySandbox | undefined;
afterEach(async () => {
  await box?.close();
  box = undefined;
  requestPacing.reset();
});

async function vendor(): Promise<InsightlySandbox> {
  box = await startInsightlySandbox({
    users: [...SAMPLE_USERS, ...PEOPLE.map((email) => ({ EMAIL_ADDRESS: email }))],
    ratePerSecond: RATE,
  });
  return box;
}

function connection(sandbox: InsightlySandbox, paced: boolean): LocalConnection {
  return {
    ref: {
      name: 'insightly',
      type: 'insightly',
      baseUrl: sandbox.baseUrl,
      ...(paced ? { rateLimit: { requests: RATE, perSeconds: 1 } } : {}),
    },
    secret: { apiKey: 'sandbox-api-key' },
  };
}

describe('bulk offboarding at the vendor rate limit', () => {
  it('paced: everyone offboarded without a single 429', async () => {
    // Prepare
    const sandbox = await vendor();
    // Act
    const result = await runBulkLocally({
      connections: [connection(sandbox, true)],
      emails: PEOPLE,
      retryPauseMs: 50,
    });
    // Assess
    expect(result).toMatchObject({
      ok: true,
      bulk: { people: PEOPLE.length, status: 'succeeded', failed: [], failedCount: 0 },
    });
    expect(result.ok && result.bulk.outcomes).toEqual({ deactivated: PEOPLE.length });
    expect(sandbox.requests.filter((r) => r.method === 'PUT')).toHaveLength(PEOPLE.length);
    expect(sandbox.counts().throttled).toBe(0);
  });

  it('unpaced: each retry after a 429 goes on from where the last stopped, writing no account twice', async () => {
    // Prepare
    const sandbox = await vendor();
    // Act: each retry waits long enough for the vendor to take a few more writes
    const result = await runBulkLocally({
      connections: [connection(sandbox, false)],
      emails: PEOPLE,
      retryPauseMs: 300,
    });
    // Assess
    const written = sandbox.requests
      .filter((r) => r.method === 'PUT' && r.status === 200)
      .map((r) => (r.body as { USER_ID: number }).USER_ID);
    expect(sandbox.counts().throttled).toBeGreaterThan(0);
    expect(written).toHaveLength(new Set(written).size);
    expect(result.ok && result.bulk.outcomes).toEqual({ deactivated: PEOPLE.length });
  });
});
