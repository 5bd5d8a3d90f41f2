import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { EXIT, main } from '../../cli/main';
import { type InsightlySandbox, startInsightlySandbox } from '../../sandboxes/insightly';
import { run } from '../helpers/cli';

/**
 * The safety brake as an operator meets it on the command line: a list longer than the limit
 * pauses before any vendor write, prints one task, and waits for `offboard task` (or its page).
 */

const dir = mkdtempSync(join(tmpdir(), 'offboard-cli-brake-'));
process.env.OFFBOARD_LEDGER_DIR = join(dir, 'ledger');
process.env.OFFBOARD_TASKS_DIR = join(dir, 'tasks');
const sandboxes: InsightlySandbox[] = [];
afterEach(async () => {
  await Promise.all(sandboxes.splice(0).map((b) => b.close()));
});

const people = ['leaver1@example.com', 'leaver2@example.com', 'leaver3@example.com'];

/** A sandbox holding the three leavers, a config with a brake of 2 an hour, and the list. */
async function prepare(name: string): Promise<{ box: InsightlySandbox; config: string; list: string }> {
  const box = await startInsightlySandbox({
    apiKeys: { 'key-good-0001': 1001 },
    users: [
      { EMAIL_ADDRESS: 'admin@example.com', ADMINISTRATOR: true },
      ...people.map((e) => ({ EMAIL_ADDRESS: e })),
    ],
  });
  sandboxes.push(box);
  const config = join(dir, `${name}.json`);
  writeFileSync(
    config,
    JSON.stringify({
      connections: [
        { name: 'crm', type: 'insightly', baseUrl: box.baseUrl, secret: { apiKey: 'key-good-0001' } },
      ],
      brake: { limit: 2, windowMinutes: 60 },
    }),
  );
  const list = join(dir, `${name}.txt`);
  writeFileSync(list, people.join('\n'));
  return { box, config, list };
}

const active = (box: InsightlySandbox) =>
  people.filter((email) => [...box.users.values()].find((u) => u.EMAIL_ADDRESS === email)?.ACTIVE !== false);

/** Starts a command without waiting for it, and keeps what it prints as it prints it. */
function start(args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = main(args, { out: (t) => out.push(t), err: (t) => err.push(t) });
  return { code, text: () => [...out, ...err].join('\n'), stdout: () => out.join('\n') };
}

/** Waits (no fixed sleep decides the outcome) until the run prints the pause's task id. */
async function pauseId(text: () => string): Promise<string> {
  for (let i = 0; i < 600; i++) {
    const id = /offboard task complete (\S+)/.exec(text())?.[1];
    if (id) return id;
    await sleep(50);
  }
  throw new Error(`the run never printed a task:\n${text()}`);
}

describe('offboard run --emails past the brake', () => {
  it('pauses before any write, asks once, and goes on when released; the ledger says who released it', async () => {
    // Prepare
    const { box, config, list } = await prepare('released');
    // Act: the run pauses on the brake
    const running = start(['run', '--config', config, '--emails', list]);
    const id = await pauseId(running.text);
    // Assess: one task, saying why, and nobody switched off while it waits
    expect(running.text()).toContain('THE SAFETY BRAKE PAUSED THIS RUN');
    expect(running.text()).toContain('Waiting: a bulk run of 3 people');
    expect(running.text()).toMatch(/http:\/\/127\.0\.0\.1:\d+\//);
    expect(active(box)).toEqual(people);
    // Act: a person releases it from another terminal: told how many runs it lets through,
    // confirmed on a number that is not the one waiting, then on the one that is
    const asked = await run(['task', 'complete', id]);
    const wrong = await run(['task', 'complete', id, '--waiting', '2']);
    const answer = await run(['task', 'complete', id, '--waiting', '1']);
    // Assess: nothing goes on before the person confirmed the number waiting now
    expect(asked.code).toBe(EXIT.usage);
    expect(asked.stderr).toContain(
      `releasing the safety brake lets through the 1 run waiting on it now; to release them, confirm that number: offboard task complete ${id} --waiting 1`,
    );
    expect(wrong.code).toBe(EXIT.usage);
    expect(wrong.stderr).toContain('1 run waits on this release now, not "2"');
    expect(answer.code).toBe(EXIT.ok);
    expect(answer.stdout).toContain('the brake is released: the paused runs go on');
    expect(await running.code).toBe(EXIT.ok);
    expect(running.stdout()).toContain('Offboarded 3 people');
    expect(active(box)).toEqual([]);
    const report = await run(['report', '--brake', '--json']);
    expect(report.code).toBe(EXIT.ok);
    const { pauses } = JSON.parse(report.stdout) as { pauses: Array<Record<string, unknown>> };
    expect(pauses).toHaveLength(1);
    expect(pauses[0]).toMatchObject({ id, outcome: 'released', limit: 2 });
    expect(pauses[0]?.by).toEqual(expect.any(String));
    expect(pauses[0]?.at).toEqual(expect.any(String));
  });

  it('refused: the run fails with Brake.Refused and nobody is switched off', async () => {
    const { box, config, list } = await prepare('refused');
    const running = start(['run', '--config', config, '--emails', list]);
    const id = await pauseId(running.text);
    const answer = await run(['task', 'fail', id, '--reason', 'the HR feed is wrong']);
    expect(answer.code).toBe(EXIT.ok);
    expect(await running.code).toBe(EXIT.failed);
    expect(running.text()).toContain('Brake.Refused');
    expect(running.text()).toContain('the HR feed is wrong');
    expect(active(box)).toEqual(people);
    const report = await run(['report', '--brake']);
    expect(report.stdout).toMatch(new RegExp(`${id}.*refused`));
  });

  it('a dry run of the same list never pauses', async () => {
    const { box, config, list } = await prepare('dry');
    const { code, stdout } = await run(['run', '--config', config, '--emails', list, '--dry-run']);
    expect(code).toBe(EXIT.ok);
    expect(stdout).toContain('would-deactivate 3');
    expect(active(box)).toEqual(people);
  });
});
