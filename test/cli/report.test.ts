import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../cli/main';
import { type InsightlySandbox, startInsightlySandbox } from '../../sandboxes/insightly';
import { run } from '../helpers/cli';

/** `offboard report`: the evidence of earlier runs, as a table, JSON or CSV. */

const dir = mkdtempSync(join(tmpdir(), 'offboard-report-'));
process.env.OFFBOARD_LEDGER_DIR = join(dir, 'ledger');
let box: InsightlySandbox;
let before: unknown;
const config = join(dir, 'config.json');

beforeAll(async () => {
  // Prepare: a dry run, then the real run, each a separate command as a person would type them
  box = await startInsightlySandbox();
  before = structuredClone(box.users.get(1002));
  writeFileSync(
    config,
    JSON.stringify({
      connections: [
        { name: 'crm', type: 'insightly', baseUrl: box.baseUrl, secret: { apiKey: 'sandbox-api-key' } },
      ],
    }),
  );
  expect((await run(['run', '--config', config, '--email', 'jane.doe@example.com', '--dry-run'])).code).toBe(
    EXIT.ok,
  );
  expect((await run(['run', '--config', config, '--email', 'jane.doe@example.com'])).code).toBe(EXIT.ok);
});
afterAll(async () => {
  await box.close();
});

describe('offboard report', () => {
  it('prints every run as a table, oldest first', async () => {
    const { code, stdout } = await run(['report', '--email', 'Jane.Doe@example.com']);
    expect(code).toBe(EXIT.ok);
    expect(stdout).toContain('Ledger for Jane.Doe@example.com (2 entries)');
    expect(stdout).toMatch(
      /crm\s+insightly\s+would-deactivate\s+1002\s+dry run[\s\S]*crm\s+insightly\s+deactivated\s+1002\s+real/,
    );
  });

  it('--json holds every entry, the write-ahead one included, with the before-state exactly as the vendor had it', async () => {
    const { stdout } = await run(['report', '--email', 'jane.doe@example.com', '--json']);
    const { entries } = JSON.parse(stdout) as { entries: Array<{ outcome: string }> };
    expect(entries.map((e) => e.outcome)).toEqual(['would-deactivate', 'deactivating', 'deactivated']);
    expect(entries.find((e) => e.outcome === 'deactivated')).toMatchObject({ before });
    expect(entries.find((e) => e.outcome === 'deactivating')).toMatchObject({ before });
  });

  it('--format csv gives auditors one row per entry', async () => {
    const { stdout } = await run(['report', '--email', 'jane.doe@example.com', '--format', 'csv']);
    const [header, ...rows] = stdout.split('\n');
    expect(header).toBe('at,email,connection,type,outcome,userId,dryRun,executionId,error,before,person');
    // Every entry, as --json: the write-ahead entry is evidence too.
    expect(rows).toHaveLength(3);
    expect(rows[1]).toContain(',deactivating,1002,false,');
    expect(rows[2]).toContain(',deactivated,1002,false,');
    expect(rows[2]).toContain('""PROFILE_ID"":7');
  });

  it('--since leaves out what came before, and refuses what is not a date', async () => {
    const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
    expect((await run(['report', '--email', 'jane.doe@example.com', '--since', tomorrow])).stdout).toContain(
      'No ledger entries',
    );
    const bad = await run(['report', '--email', 'jane.doe@example.com', '--since', 'last tuesday']);
    expect(bad.code).toBe(EXIT.usage);
    expect(bad.stderr).toContain('is not a date');
  });
});

describe('offboard audit', () => {
  it('finds an account switched on again (exit 1), and with --remediate switches it off (exit 0)', async () => {
    // Prepare: someone re-enables Jane in the CRM after her offboarding
    const jane = box.users.get(1002);
    if (jane) jane.ACTIVE = true;
    // Act
    const found = await run(['audit', '--config', config]);
    // Assess
    expect(found.code).toBe(EXIT.failed);
    expect(found.stdout).toContain('1 accounts checked, 0 still off, 1 active again');
    expect(found.stdout).toContain('drift: jane.doe@example.com on crm (user 1002)');
    const fixed = await run(['audit', '--config', config, '--remediate']);
    expect(fixed.code).toBe(EXIT.ok);
    expect(fixed.stdout).toContain('(1 switched off again)');
    expect(box.users.get(1002)?.ACTIVE).toBe(false);
    expect((await run(['report', '--email', 'jane.doe@example.com'])).stdout).toMatch(
      /drift[\s\S]*deactivated/,
    );
  });
});

describe('offboard reactivate and run --event', () => {
  it('reactivate restores the account as the ledger kept it; an HR event file offboards again', async () => {
    // Act: a mistaken termination is undone
    const restored = await run([
      'reactivate',
      '--config',
      config,
      '--email',
      'jane.doe@example.com',
      '--json',
    ]);
    // Assess
    expect(restored.code).toBe(EXIT.ok);
    expect(JSON.parse(restored.stdout).connections[0]).toMatchObject({
      outcome: 'reactivated',
      userId: '1002',
    });
    expect(box.users.get(1002)?.ACTIVE).toBe(true);
    // And the HR system's event offboards her once more, as the deployed rule would.
    const event = join(dir, 'event.json');
    writeFileSync(
      event,
      JSON.stringify({
        id: 'evt-9',
        source: 'com.example.hr',
        'detail-type': 'Employee Terminated',
        // Dated, as EventBridge dates every event: an undated one counts from the day it is
        // run, and the resend below could fall on the next day.
        time: new Date().toISOString(),
        detail: { email: 'jane.doe@example.com', employeeId: 'E-1002' },
      }),
    );
    const offboarded = await run(['run', '--config', config, '--event', event, '--json']);
    expect(JSON.parse(offboarded.stdout).connections[0].outcome).toBe('deactivated');
    const resent = await run(['run', '--config', config, '--event', event, '--json']);
    expect(JSON.parse(resent.stdout)).toMatchObject({ status: 'duplicate' });
  });
});
