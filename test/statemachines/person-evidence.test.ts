import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { formatLedger, formatLedgerCsv } from '../../cli/format';
import { EXIT, main } from '../../cli/main';
import { type LedgerEntry, ledgerEntries } from '../../lambdas/shared/ledger';
import { openLocalLedger } from '../../local/ledger';
import { runLocally } from '../../local/runner';
import { RAPID7_PLATFORM_SANDBOX_KEY, startRapid7PlatformSandbox } from '../../sandboxes/rapid7-platform';
import { run } from '../helpers/cli';
import { sandboxStarter } from '../helpers/sandboxes';

/**
 * The evidence of an account a person switched off by hand (the vendor's API cannot): the
 * ledger keeps who answered the task, when, and which task, and `offboard report` shows it.
 * Rapid7's Insight Platform has no API to switch a user off, so every run against it asks a
 * person; the sandbox's `disableUser` is that person's click in the vendor's console.
 */

const JANE = 'jane.doe@example.com';
const startPlatform = sandboxStarter(startRapid7PlatformSandbox, (r) => r.method !== 'GET');

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'offboard-person-'));
  vi.stubEnv('OFFBOARD_TASKS_DIR', join(dir, 'tasks'));
  vi.stubEnv('OFFBOARD_LEDGER_DIR', join(dir, 'ledger'));
  return () => vi.unstubAllEnvs();
});

function connectionTo(baseUrl: string) {
  return {
    ref: { name: 'rapid7-cloud', type: 'rapid7-platform' as const, baseUrl },
    secret: { apiKey: RAPID7_PLATFORM_SANDBOX_KEY },
  };
}

/** Starts `offboard run` in-process, and resolves with the task's id once the run waits for it. */
async function runWaitingForPerson(baseUrl: string) {
  const config = join(dir, 'config.json');
  const { ref, secret } = connectionTo(baseUrl);
  writeFileSync(config, JSON.stringify({ connections: [{ ...ref, secret }] }));
  const out: string[] = [];
  let waiting: () => void = () => undefined;
  const printed = new Promise<void>((resolve) => {
    waiting = resolve;
  });
  const write = (text: string) => {
    out.push(text);
    if (text.includes('Waiting for an answer')) waiting();
  };
  const finished = main(['run', '--config', config, '--email', JANE, '--json'], { out: write, err: write });
  await Promise.race([printed, finished]);
  const ids = [...out.join('\n').matchAll(/offboard task complete (\S+)/g)].map((m) => m[1]);
  const taskId = ids.at(-1);
  if (!taskId) throw new Error(`no task id in what the run printed:\n${out.join('\n')}`);
  return { taskId, finished };
}

async function ledgerOf(email: string): Promise<LedgerEntry[]> {
  const { entries } = JSON.parse((await run(['report', '--email', email, '--json'])).stdout) as {
    entries: LedgerEntry[];
  };
  return entries;
}

describe('a person switched the account off by hand: the evidence says who, when, which task', () => {
  it('offboard task complete <id>: the ledger entry and offboard report name who answered, and when', async () => {
    // Prepare: a run waits for a person to switch Jane off in the Insight Platform
    const sandbox = await startPlatform();
    const waiting = await runWaitingForPerson(sandbox.baseUrl);
    // Act: the person switches the account off in the vendor's console, then answers the task
    sandbox.disableUser(JANE);
    const answered = await run(['task', 'complete', waiting.taskId]);
    expect(answered.code).toBe(EXIT.ok);
    expect(await waiting.finished).toBe(EXIT.ok);
    // Assess: the entry of the connection carries who and when; the table shows it
    const who = userInfo().username;
    const entry = (await ledgerOf(JANE)).find((e) => e.outcome === 'deactivated');
    expect(entry?.person).toMatchObject({
      by: who,
      at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      taskId: waiting.taskId,
    });
    const report = await run(['report', '--email', JANE]);
    expect(report.code).toBe(EXIT.ok);
    expect(report.stdout).toMatch(
      new RegExp(`rapid7-cloud\\s+rapid7-platform\\s+deactivated.*switched off by hand: ${who}, \\d{4}-`),
    );
    const csv = await run(['report', '--email', JANE, '--format', 'csv']);
    const [header, ...rows] = csv.stdout.split('\n');
    expect(header?.split(',')).toContain('person');
    expect(rows.find((r) => r.includes(',deactivated,'))).toContain(who);
  }, 60_000);

  it('offboard task fail <id>: the failed entry keeps who could not, and why', async () => {
    // Prepare
    const sandbox = await startPlatform();
    const waiting = await runWaitingForPerson(sandbox.baseUrl);
    // Act
    const answered = await run(['task', 'fail', waiting.taskId, '--reason', 'the account is managed by SSO']);
    expect(answered.code).toBe(EXIT.ok);
    expect(await waiting.finished).toBe(EXIT.failed);
    // Assess: the refusal's words, who included, are the evidence
    const who = userInfo().username;
    const entry = (await ledgerOf(JANE)).find((e) => e.outcome === 'failed');
    expect(entry?.error).toEqual({
      name: 'Task.Refused',
      message: `rapid7-cloud: ${who} could not switch the account off: the account is managed by SSO`,
    });
    const report = await run(['report', '--email', JANE]);
    expect(report.stdout).toContain(`Task.Refused: rapid7-cloud: ${who} could not switch the account off`);
  }, 60_000);

  it('a library caller answering for Ann Admin: her name in the ledger, the summary and the report', async () => {
    // Prepare
    const sandbox = await startPlatform();
    const { ledger, close } = await openLocalLedger(join(dir, 'ledger'));
    // Act
    const result = await runLocally({
      connections: [connectionTo(sandbox.baseUrl)],
      input: { email: JANE },
      ledger,
      askPerson: async (task) => {
        sandbox.disableUser(task.email);
        return { ok: true, by: 'Ann Admin' };
      },
    });
    await close();
    // Assess
    expect(result.ok && result.summary.connections[0]).toMatchObject({
      outcome: 'deactivated',
      person: { by: 'Ann Admin' },
    });
    const entry = (await ledgerOf(JANE)).find((e) => e.outcome === 'deactivated');
    expect(entry?.person?.by).toBe('Ann Admin');
    expect((await run(['report', '--email', JANE])).stdout).toContain('switched off by hand: Ann Admin, ');
  }, 60_000);

  it('a person said done but the account is still on: the failure keeps who said so', async () => {
    // Prepare: the person answers without switching anything off
    const sandbox = await startPlatform();
    const { ledger, close } = await openLocalLedger(join(dir, 'ledger'));
    // Act
    const result = await runLocally({
      connections: [connectionTo(sandbox.baseUrl)],
      input: { email: JANE },
      ledger,
      retryPauseMs: 1,
      askPerson: async () => ({ ok: true, by: 'Ann Admin' }),
    });
    await close();
    // Assess: failed (the API still shows it on), and the entry says whose word it was
    expect(result.ok && result.summary.connections[0]?.outcome).toBe('failed');
    const entry = (await ledgerOf(JANE)).find((e) => e.outcome === 'failed');
    expect(entry?.error?.name).toBe('Vendor.NotYetApplied');
    expect(entry?.person?.by).toBe('Ann Admin');
    const report = (await run(['report', '--email', JANE])).stdout;
    expect(report).toContain('Vendor.NotYetApplied');
    expect(report).toContain('Ann Admin said it was done');
    expect(report).not.toContain('switched off by hand');
  }, 60_000);
});

describe('the deployed answer (answerTask: SendTaskSuccess with {taskId, ok, by, at})', () => {
  const branch = {
    name: 'rapid7-cloud',
    type: 'rapid7-platform',
    outcome: 'deactivated',
    userId: 'u-1',
    person: { taskId: 'TtUlq3Jd0x9wPp2m4aZ1kQ', ok: true, by: 'Ann Admin', at: '2026-12-01T09:13:00.000Z' },
  };
  const record = (results: unknown[]) =>
    ledgerEntries(
      {
        email: JANE,
        dryRun: false,
        results,
        executionId: 'arn:aws:states:eu-west-1:1:execution:offboard-user:x',
        startedAt: '2026-12-01T09:00:00.000Z',
      },
      '2026-12-01T09:14:00.000Z',
    );

  it('the entry keeps who, when and the task, and the report names the task', () => {
    // Act
    const [entry] = record([branch]);
    // Assess
    expect(entry?.person).toEqual({
      by: 'Ann Admin',
      at: '2026-12-01T09:13:00.000Z',
      taskId: 'TtUlq3Jd0x9wPp2m4aZ1kQ',
    });
    const table = formatLedger(JANE, entry ? [entry] : []);
    expect(table).toContain(
      'switched off by hand: Ann Admin, 2026-12-01T09:13:00.000Z (task TtUlq3Jd0x9wPp2m4aZ1kQ)',
    );
    const [header, row] = formatLedgerCsv(entry ? [entry] : []).split('\n');
    const column = header?.split(',').indexOf('person') ?? -1;
    expect(column).toBeGreaterThan(-1);
    expect(row).toContain('Ann Admin');
  });

  it('keeps the evidence small: only who, when and the task, with a name cut to size', () => {
    // Prepare: an answer sent with more than the task page sends (anyone with SendTaskSuccess may)
    const bloated = {
      ...branch,
      person: { ...branch.person, by: 'A'.repeat(10_000), extra: 'x'.repeat(100_000) },
    };
    // Act
    const [entry] = record([bloated]);
    // Assess
    expect(Object.keys(entry?.person ?? {}).sort()).toEqual(['at', 'by', 'taskId']);
    expect(JSON.stringify(entry?.person).length).toBeLessThan(400);
  });

  it('an entry with no person (the API switched it off) says nothing of one', () => {
    const [entry] = record([{ ...branch, person: undefined }]);
    expect(entry).not.toHaveProperty('person');
    expect(formatLedger(JANE, entry ? [entry] : [])).not.toContain('by hand');
  });
});
