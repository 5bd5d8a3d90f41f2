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

const PEOPLE = Array.from({ length: 12 }, (_, i) => `leaver${i}@example.com`);
let box: InsightlySandbox | undefined;
afterEach(async () => {
  await box?.close();
  box = undefined;
  requestPacing.reset();
});

async function vendor(): Promise<InsightlySandbox> {
  box = await startInsightlySandbox({
    users: [...SAMPLE_USERS, ...PEOPLE.map((email) => ({ EMAIL_ADDRESS: email }))],
    ratePerSecond: 40,
  });
  return box;
}

function connection(sandbox: InsightlySandbox, paced: boolean): LocalConnection {
  return {
    ref: {
      name: 'insightly',
      type: 'insightly',
      baseUrl: sandbox.baseUrl,
      ...(paced ? { rateLimit: { requests: 40, perSeconds: 1 } } : {}),
    },
    secret: { apiKey: 'sandbox-api-key' },
  };
}

describe('bulk offboarding at the vendor rate limit', () => {
  it('paced: everyone offboarded without a single 429', async () => {
    // Prepare
    const sandbox = await vendor();
    // Act
    const bulk = await runBulkLocally({
      connections: [connection(sandbox, true)],
      emails: PEOPLE,
      concurrency: 12,
      retryPauseMs: 50,
    });
    // Assess
    expect(bulk).toMatchObject({
      people: 12,
      status: 'succeeded',
      outcomes: { deactivated: 12 },
      failed: [],
    });
    expect(sandbox.counts().throttled).toBe(0);
  });
});
