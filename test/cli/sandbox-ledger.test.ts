import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { EXIT } from '../../cli/main';
import { type InsightlySandbox, startInsightlySandbox } from '../../sandboxes/insightly';
import { run } from '../helpers/cli';

/**
 * Runs against the built-in sandboxes never mix with the ledger of real runs: a sandbox
 * starts afresh with every command, so what a run did to it means nothing later (an audit
 * would take every sandbox account it switched off for drift).
 */

const dir = mkdtempSync(join(tmpdir(), 'offboard-sandbox-ledger-'));
const sandboxConfig = join(dir, 'sandboxes.json');
const mixedConfig = join(dir, 'mixed.json');
let box: InsightlySandbox;

beforeAll(async () => {
  vi.stubEnv('OFFBOARD_LEDGER_DIR', join(dir, 'ledger'));
  box = await startInsightlySandbox();
  writeFileSync(sandboxConfig, JSON.stringify({ connections: [{ name: 'crm', type: 'insightly' }] }));
  writeFileSync(
    mixedConfig,
    JSON.stringify({
      connections: [
        { name: 'crm', type: 'insightly' },
        { name: 'real', type: 'insightly', baseUrl: box.baseUrl, secret: { apiKey: 'sandbox-api-key' } },
      ],
    }),
  );
});
afterAll(async () => {
  vi.unstubAllEnvs();
  await box.close();
});

describe('the ledger of sandbox runs', () => {
  it('a sandbox run, then an audit: no fake drift, nothing in the real ledger', async () => {
    // Act
    const offboarding = await run(['run', '--config', sandboxConfig, '--email', 'jane.doe@example.com']);
    const audit = await run(['audit', '--config', sandboxConfig]);
    const report = await run(['report', '--email', 'jane.doe@example.com']);
    // Assess
    expect(offboarding.code).toBe(EXIT.ok);
    expect(offboarding.stderr).toContain('recorded in memory only');
    expect(audit.code).toBe(EXIT.ok);
    expect(audit.stdout).toContain('0 accounts checked');
    expect(report.stdout).toContain('No ledger entries');
  });

  it('a config that mixes sandboxes and real vendors is refused, and nothing is sent', async () => {
    const mixed = await run(['run', '--config', mixedConfig, '--email', 'jane.doe@example.com']);
    expect(mixed.code).toBe(EXIT.usage);
    expect(mixed.stderr).toContain('mixes built-in sandboxes');
    expect(box.requests).toEqual([]);
  });
});
