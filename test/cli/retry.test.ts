import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../cli/main';
import type { LedgerEntry } from '../../lambdas/shared/ledger';
import type { OffboardSummary } from '../../lambdas/shared/summary';
import { type InsightlySandbox, startInsightlySandbox } from '../../sandboxes/insightly';
import { run } from '../helpers/cli';

/**
 * `offboard retry`: a run where one vendor failed is resumed on that vendor only, the ledger
 * links the two runs, and a retry after success has nothing to do.
 */

const dir = mkdtempSync(join(tmpdir(), 'offboard-retry-'));
process.env.OFFBOARD_LEDGER_DIR = join(dir, 'ledger');
const config = join(dir, 'config.json');
const JANE = 'jane.doe@example.com';
let healthy: InsightlySandbox;
let broken: InsightlySandbox;

beforeAll(async () => {
  healthy = await startInsightlySandbox();
  broken = await startInsightlySandbox();
  writeFileSync(
    config,
    JSON.stringify({
      connections: [
        { name: 'crm', type: 'insightly', baseUrl: healthy.baseUrl, secret: { apiKey: 'sandbox-api-key' } },
        { name: 'crm-eu', type: 'insightly', baseUrl: broken.baseUrl, secret: { apiKey: 'sandbox-api-key' } },
      ],
    }),
  );
});
afterAll(async () => {
  await Promise.all([healthy.close(), broken.close()]);
});

const entriesOf = async (email: string) =>
  (JSON.parse((await run(['report', '--email', email, '--json'])).stdout) as { entries: LedgerEntry[] })
    .entries;

describe('offboard retry', () => {
  let first: OffboardSummary;

  it('a partial run says how to retry it: the failed connection only, linked to the run', async () => {
    // Prepare: the EU tenant refuses the key once (a credential being rotated)
    broken.addFault({ status: 401, times: 1 });

    // Act
    const result = await run(['run', '--config', config, '--email', JANE, '--json']);

    // Assess
    expect(result.code).toBe(EXIT.failed);
    first = JSON.parse(result.stdout) as OffboardSummary;
    expect(first.status).toBe('partial');
    const executionId = (await entriesOf(JANE)).find((e) => e.connection === 'crm-eu')?.executionId;
    expect(first.retry).toEqual({ email: JANE, connections: ['crm-eu'], retryOf: executionId });
  });

  it('re-runs only what failed: the healthy vendor gets no request, and the ledger links both runs', async () => {
    // Prepare
    const [healthyBefore, brokenBefore] = [healthy.requests.length, broken.requests.length];

    // Act
    const result = await run(['retry', JANE, '--config', config, '--json']);

    // Assess
    expect(result.code).toBe(EXIT.ok);
    const summary = JSON.parse(result.stdout) as OffboardSummary;
    expect(summary.connections.map((c) => [c.name, c.outcome])).toEqual([['crm-eu', 'deactivated']]);
    expect(summary.retry).toBeUndefined();
    expect(healthy.requests.length).toBe(healthyBefore);
    expect(broken.requests.length).toBeGreaterThan(brokenBefore);
    expect(broken.users.get(1002)?.ACTIVE).toBe(false);
    const retried = (await entriesOf(JANE)).filter(
      (e) => e.outcome === 'deactivated' && e.connection === 'crm-eu',
    );
    expect(retried).toHaveLength(1);
    expect(retried[0]?.retryOf).toBe(first.retry?.retryOf);
    expect(retried[0]?.executionId).not.toBe(first.retry?.retryOf);
  });

  it('a second retry after success has nothing to do: exit 0, nothing sent', async () => {
    // Prepare
    const sent = healthy.requests.length + broken.requests.length;

    // Act: by the person, and by the first run's execution
    const byEmail = await run(['retry', JANE, '--config', config]);
    const byRun = await run(['retry', first.retry?.retryOf ?? '', '--config', config]);

    // Assess
    for (const result of [byEmail, byRun]) {
      expect(result.code).toBe(EXIT.ok);
      expect(result.stderr).toContain('nothing to retry');
    }
    expect(healthy.requests.length + broken.requests.length).toBe(sent);
  });

  it('a bad or unknown target is exit 2, with nothing sent', async () => {
    // Prepare
    const sent = healthy.requests.length + broken.requests.length;
    const unknownRun = 'arn:aws:states:local:000000000000:execution:offboard-user:no-such-run';

    // Act
    const results = await Promise.all([
      run(['retry', 'not an address', '--config', config]),
      run(['retry', 'nobody@example.com', '--config', config]),
      run(['retry', unknownRun, '--config', config]),
      run(['retry', JANE]),
      run(['retry', '--config', config]),
    ]);

    // Assess
    expect(results.map((r) => r.code)).toEqual([2, 2, 2, 2, 2]);
    expect(results[0]?.stderr).toContain('neither an email nor an execution ARN');
    expect(results[1]?.stderr).toContain('no real run for nobody@example.com');
    expect(results[2]?.stderr).toContain(`holds no run ${unknownRun}`);
    expect(results[3]?.stderr).toContain('--config <file> (or --stack <name>) is required');
    expect(healthy.requests.length + broken.requests.length).toBe(sent);
  });

  it('answers --help with its own usage', async () => {
    const { code, stdout } = await run(['retry', '--help']);
    expect(code).toBe(EXIT.ok);
    expect(stdout).toContain('offboard retry <email | execution-arn> --config <file>');
  });
});
