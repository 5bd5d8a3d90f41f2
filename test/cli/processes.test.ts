import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { EXIT, main } from '../../cli/main';
import { openLocalLedger } from '../../local/ledger';
import { type InsightlySandbox, SAMPLE_USERS, startInsightlySandbox } from '../../sandboxes/insightly';

/**
 * `offboard` as separate processes, as people and scripts really start it: several at once
 * on one ledger, and one killed the moment after its write reached the vendor.
 */

const CLI = resolve('bin/offboard-cli.mjs');
const opened: Array<{ close(): Promise<void> }> = [];
const children: ChildProcess[] = [];
afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
  await Promise.all(opened.splice(0).map((o) => o.close()));
});

/** A scratch directory with a config pointing at `box`, and the ledger directory the commands share. */
function workspace(box: InsightlySandbox) {
  const dir = mkdtempSync(join(tmpdir(), 'offboard-processes-'));
  const config = join(dir, 'offboard.json');
  writeFileSync(
    config,
    JSON.stringify({
      connections: [
        { name: 'crm', type: 'insightly', baseUrl: box.baseUrl, secret: { apiKey: 'sandbox-api-key' } },
      ],
    }),
  );
  return { config, ledgerDir: join(dir, 'ledger') };
}

/** `offboard <args>` in its own process, on the project's Node. */
function offboard(args: string[], ledgerDir: string) {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { ...process.env, OFFBOARD_LEDGER_DIR: ledgerDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<{ code: number | null; signal: string | null; stderr: string }>((done) =>
    child.on('exit', (code, signal) => done({ code, signal, stderr })),
  );
  return { child, exited };
}

async function until(condition: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe('offboard as separate processes', () => {
  it('eight runs started together all succeed, and the ledger holds every entry', async () => {
    // Prepare
    const leavers = Array.from({ length: 8 }, (_, i) => `leaver${i}@example.com`);
    const box = await startInsightlySandbox({
      users: [...SAMPLE_USERS, ...leavers.map((email) => ({ EMAIL_ADDRESS: email }))],
    });
    opened.push(box);
    const { config, ledgerDir } = workspace(box);

    // Act
    const runs = await Promise.all(
      leavers.map((email) => offboard(['run', '--config', config, '--email', email], ledgerDir).exited),
    );

    // Assess
    expect(runs.map((r) => r.code)).toEqual(Array(8).fill(EXIT.ok));
    const local = await openLocalLedger(ledgerDir);
    opened.push(local);
    for (const email of leavers) {
      expect((await local.ledger.history(email)).map((e) => e.outcome)).toEqual([
        'deactivating',
        'deactivated',
      ]);
    }
  }, 180_000);

  it('killed right after its write reached the vendor, it leaves the before-state, and reactivate restores it', async () => {
    // Prepare: the vendor applies the PUT and never answers it.
    const box = await startInsightlySandbox();
    opened.push(box);
    const before = structuredClone(box.users.get(1002));
    box.loseAnswers({ method: 'PUT', mode: 'hang', times: 1 });
    const { config, ledgerDir } = workspace(box);

    // Act: the run is killed (SIGKILL: no clean-up of any kind) once the write is applied.
    const run = offboard(['run', '--config', config, '--email', 'jane.doe@example.com'], ledgerDir);
    await until(() => box.requests.some((r) => r.method === 'PUT' && r.status === 200), 'the PUT');
    run.child.kill('SIGKILL');
    expect((await run.exited).signal).toBe('SIGKILL');

    // Assess: switched off at the vendor; the ledger has the write-ahead entry, whole.
    expect(box.users.get(1002)?.ACTIVE).toBe(false);
    const local = await openLocalLedger(ledgerDir);
    const history = await local.ledger.history('jane.doe@example.com');
    await local.close();
    expect(history).toEqual([expect.objectContaining({ outcome: 'deactivating', userId: '1002', before })]);

    // Act: the termination was a mistake.
    vi.stubEnv('OFFBOARD_LEDGER_DIR', ledgerDir);
    const out: string[] = [];
    const code = await main(['reactivate', '--config', config, '--email', 'jane.doe@example.com'], {
      out: (t) => out.push(t),
      err: () => undefined,
    });
    vi.unstubAllEnvs();

    // Assess: the account is back exactly as it was.
    expect(code).toBe(EXIT.ok);
    expect(out.join('\n')).toMatch(/crm\s+insightly\s+reactivated\s+1002/);
    expect({ ...box.users.get(1002), DATE_UPDATED_UTC: '' }).toEqual({ ...before, DATE_UPDATED_UTC: '' });
  }, 120_000);
});
