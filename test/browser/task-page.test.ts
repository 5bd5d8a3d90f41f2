import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { EXIT, main } from '../../cli/main';
import { signTaskLink, verifyTaskLink } from '../../lambdas/shared/task-links';
import type { TaskRecord } from '../../lambdas/shared/tasks';
import { FileTaskStore, localTaskKey } from '../../local/tasks';
import { RAPID7_PLATFORM_SANDBOX_KEY, startRapid7PlatformSandbox } from '../../sandboxes/rapid7-platform';
import { sandboxStarter } from '../helpers/sandboxes';

/**
 * A person answers a local run's task in a real browser (Debian's Chromium, headless): the
 * run prints the task with its "Done" and "I could not" links, served on 127.0.0.1, and the
 * click resumes it. Rapid7's Insight Platform has no API to switch a user off, so every run
 * against it asks a person.
 */

const CHROMIUM = '/usr/bin/chromium';
const JANE = 'jane.doe@example.com';
const startPlatform = sandboxStarter(startRapid7PlatformSandbox, (r) => r.method !== 'GET');

let browser: Browser | undefined;
beforeAll(async () => {
  if (!existsSync(CHROMIUM)) return;
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, timeout: 60_000 });
}, 90_000);
afterAll(async () => {
  await browser?.close();
});

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'offboard-browser-'));
  vi.stubEnv('OFFBOARD_TASKS_DIR', join(dir, 'tasks'));
  vi.stubEnv('OFFBOARD_LEDGER_DIR', join(dir, 'ledger'));
  return () => vi.unstubAllEnvs();
});

/**
 * Starts `offboard run` in-process against the sandbox, and resolves with what it printed
 * once the task's links are out (the run then waits for an answer).
 */
async function runWaitingForPerson(baseUrl: string) {
  const config = join(dir, 'config.json');
  writeFileSync(
    config,
    JSON.stringify({
      connections: [
        {
          name: 'rapid7-cloud',
          type: 'rapid7-platform',
          baseUrl,
          secret: { apiKey: RAPID7_PLATFORM_SANDBOX_KEY },
        },
      ],
    }),
  );
  const out: string[] = [];
  let linksOut: () => void = () => undefined;
  const printed = new Promise<void>((resolve) => {
    linksOut = resolve;
  });
  const write = (text: string) => {
    out.push(text);
    if (text.includes('Waiting for an answer')) linksOut();
  };
  const finished = main(['run', '--config', config, '--email', JANE, '--json'], { out: write, err: write });
  await Promise.race([printed, finished]);
  const text = out.join('\n');
  const link = (label: string) => {
    const match = new RegExp(`^\\s*${label}:\\n\\s*(http://127\\.0\\.0\\.1:\\d+/\\?link=\\S+)`, 'm').exec(
      text,
    );
    if (!match?.[1]) throw new Error(`no "${label}" link in what the run printed:\n${text}`);
    return match[1];
  };
  return { text, done: link('Done'), failed: link('I could not'), finished, out };
}

function summaryOf(out: string[]) {
  const json = out.find((t) => t.trimStart().startsWith('{'));
  if (!json) throw new Error(`no JSON summary in:\n${out.join('\n')}`);
  return JSON.parse(json) as {
    status: string;
    connections: Array<{ outcome: string; error?: { name: string; message: string } }>;
  };
}

async function openPage(url: string): Promise<Page> {
  if (!browser) throw new Error('no browser');
  const page = await browser.newPage();
  page.setDefaultTimeout(30_000);
  await page.goto(url);
  return page;
}

describe.skipIf(!existsSync(CHROMIUM))('the task page in a browser (Chromium at /usr/bin/chromium)', () => {
  it('"Done": the page shows the task, the person confirms with their name, the run verifies the account off', async () => {
    // Prepare: a run waits for a person to switch Jane off in the Insight Platform
    const sandbox = await startPlatform();
    const run = await runWaitingForPerson(sandbox.baseUrl);
    expect(run.text).toContain('Please switch off this account');
    expect(run.text).toContain(JANE);
    // Act: the person opens "Done", switches the account off in the vendor's console, confirms
    const page = await openPage(run.done);
    await expect(page.locator('h1').textContent()).resolves.toContain('Confirm: the account is switched off');
    const details = await page.locator('dl').textContent();
    expect(details).toContain(JANE);
    expect(details).toContain('rapid7-platform (connection rapid7-cloud)');
    sandbox.disableUser(JANE);
    await page.getByLabel('Your name').fill('Ann Admin');
    await page.getByRole('button', { name: 'Confirm: done' }).click();
    await page.waitForSelector('h1:has-text("Thank you")');
    // Assess: the run goes on, and Verify finds the account off through the API
    expect(await run.finished).toBe(EXIT.ok);
    const summary = summaryOf(run.out);
    expect(summary.status).toBe('succeeded');
    expect(summary.connections[0]?.outcome).toBe('deactivated');
    // The link answered once: opened again, it says who answered
    await page.goto(run.done).catch(() => undefined);
    await page.close();
    const [task] = await tasks();
    expect(task?.answer).toMatchObject({ ok: true, by: 'Ann Admin' });
  }, 120_000);

  it('"I could not": a reason is required, and the run ends failed with it', async () => {
    // Prepare
    const sandbox = await startPlatform();
    const run = await runWaitingForPerson(sandbox.baseUrl);
    const page = await openPage(run.failed);
    await page.getByLabel('Your name').fill('Ann Admin');
    // Act: first without a reason (the browser's own check stops it), then with one
    await page.getByRole('button', { name: 'Send: I could not' }).click();
    expect(
      await page
        .locator('#reason')
        .evaluate((e) => (e as unknown as { validity: { valueMissing: boolean } }).validity.valueMissing),
    ).toBe(true);
    await page.getByLabel('Why not?').fill('the account is managed by SSO');
    await page.getByRole('button', { name: 'Send: I could not' }).click();
    await page.waitForSelector('h1:has-text("Thank you")');
    await page.close();
    // Assess
    expect(await run.finished).toBe(EXIT.failed);
    const connection = summaryOf(run.out).connections[0];
    expect(connection?.outcome).toBe('failed');
    expect(connection?.error?.name).toBe('Task.Refused');
    expect(connection?.error?.message).toContain(
      'Ann Admin could not switch the account off: the account is managed by SSO',
    );
    expect([...sandbox.users.values()].find((u) => u.email === JANE)?.status).toBe('ACTIVE');
  }, 120_000);

  it('a tampered or expired link shows what is wrong and resumes nothing', async () => {
    // Prepare: a run waits; a link with its answer changed, and one past its expiry (signed
    // with the real key, so only the expiry is wrong)
    const sandbox = await startPlatform();
    const run = await runWaitingForPerson(sandbox.baseUrl);
    const url = new URL(run.done);
    const signed = url.searchParams.get('link') ?? '';
    const tampered = new URL(url);
    tampered.searchParams.set('link', signed.replace('.d.', '.f.'));
    const key = await localTaskKey();
    const check = verifyTaskLink(signed, key);
    if (!check.ok) throw new Error('the printed link does not verify');
    const expired = new URL(url);
    expired.searchParams.set('link', signTaskLink({ ...check.link, expires: Date.now() - 1000 }, key));
    // Act
    const page = await openPage(tampered.toString());
    const tamperedTitle = await page.locator('h1').textContent();
    await page.goto(expired.toString());
    const expiredTitle = await page.locator('h1').textContent();
    // Assess: clear pages, no form, the task still open and the run still waiting
    expect(tamperedTitle).toBe('This link is not valid');
    expect(expiredTitle).toBe('This link has expired');
    expect(await page.locator('form').count()).toBe(0);
    const [task] = await tasks();
    expect(task?.answer).toBeUndefined();
    // Then the real link ends the run (so nothing is left waiting)
    sandbox.disableUser(JANE);
    await page.goto(run.done);
    await page.getByLabel('Your name').fill('Ann Admin');
    await page.getByRole('button', { name: 'Confirm: done' }).click();
    await page.waitForSelector('h1:has-text("Thank you")');
    await page.close();
    expect(await run.finished).toBe(EXIT.ok);
  }, 120_000);
});

async function tasks(): Promise<TaskRecord[]> {
  const store = new FileTaskStore(join(dir, 'tasks'));
  const ids = readdirSync(join(dir, 'tasks'))
    .filter((n) => /^task-[A-Za-z0-9_-]+\.json$/.test(n))
    .map((n) => n.slice(5, -5));
  return (await Promise.all(ids.map((id) => store.get(id)))).filter((t): t is TaskRecord => t !== undefined);
}

if (!existsSync(CHROMIUM))
  console.warn(
    `test/browser/task-page.test.ts: skipped: no Chromium at ${CHROMIUM} (apt-get install chromium)`,
  );
