import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { Context } from 'aws-lambda';
import { afterEach, describe, expect, it } from 'vitest';
import { formatBrakeHistory } from '../../cli/format';
import { EXIT, main } from '../../cli/main';
import { taskNotifyHandler } from '../../lambdas/handlers/task-notify';
import { type BrakeDecision, countOffboarding } from '../../lambdas/shared/brake';
import type { TaskEmail } from '../../lambdas/shared/task-email';
import { handleTaskPage } from '../../lambdas/shared/task-page';
import type { TaskResumer } from '../../lambdas/shared/tasks';
import { OffboardStack } from '../../lib/offboard-stack';
import { openLocalLedger } from '../../local/ledger';
import { runLocally } from '../../local/runner';
import { SqliteLedger } from '../../local/sqlite-ledger';
import { FileTaskStore } from '../../local/tasks';
import { type InsightlySandbox, startInsightlySandbox } from '../../sandboxes/insightly';
import { run } from '../helpers/cli';

/**
 * Operating the deployed workflow, attacked as an adversary and as a careless operator would:
 * the release of the safety brake, the audit's remediation, what people type on the task page
 * reaching a terminal, and the retry of an execution.
 */

const dir = mkdtempSync(join(tmpdir(), 'offboard-hostile-operations-'));
process.env.OFFBOARD_LEDGER_DIR = join(dir, 'ledger');
process.env.OFFBOARD_TASKS_DIR = join(dir, 'tasks');

const opened: Array<{ close(): Promise<void> | void }> = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((o) => o.close()));
});

const context = {
  functionName: 'task-notify',
  awsRequestId: 'r',
  getRemainingTimeInMillis: () => 30_000,
} as unknown as Context;

/** Records what Step Functions would be told, token by token. */
class RecordingResumer implements TaskResumer {
  readonly succeeded: string[] = [];
  readonly failed: string[] = [];
  async succeed(token: string) {
    this.succeeded.push(token);
  }
  async fail(token: string) {
    this.failed.push(token);
  }
}

/** The brake, the task store and task-notify as deployed, on a ledger in memory and task files. */
function brakeDesk(limit: number) {
  const ledger = SqliteLedger.inMemory();
  const store = new FileTaskStore(mkdtempSync(join(dir, 'desk-')));
  const resumer = new RecordingResumer();
  const key = randomBytes(32);
  const mails: TaskEmail[] = [];
  const notify = taskNotifyHandler({
    store: () => store,
    resumer: () => resumer,
    key: async () => key,
    mail: () => async (mail) => {
      mails.push(mail);
    },
    pageUrl: () => 'https://page.example/',
  });
  const brake = { store: ledger, config: { limit, windowMinutes: 60 } };
  /** One person's run reaching "Count toward the brake", and its wait, as the ASL builds it. */
  const offboard = async (n: number): Promise<BrakeDecision> => {
    const executionId = `arn:aws:states:eu-west-1:1:execution:offboard-user:run-${n}`;
    const email = `leaver${n}@example.com`;
    const decision = await countOffboarding(brake, { executionId, email });
    if ('pause' in decision)
      await notify(
        {
          kind: 'release-brake',
          taskId: decision.pause.id,
          taskToken: `token-${n}`,
          executionId,
          timeoutSeconds: decision.pause.timeoutSeconds,
          details: {
            count: decision.pause.count,
            limit: decision.pause.limit,
            windowMinutes: decision.pause.windowMinutes,
            people: decision.pause.people,
            email,
          },
        },
        context,
      );
    return decision;
  };
  const page = (method: string, url: string, body?: string) =>
    handleTaskPage(
      { method, url, ...(body === undefined ? {} : { body }) },
      { store, resumer, key: async () => key },
    );
  return { offboard, page, mails, resumer, store };
}

/** The form a page shows, filled in as a person's browser would post it. */
function filledForm(html: string, fields: Record<string, string>): string {
  const form = new URLSearchParams();
  for (const [, name, value] of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g))
    form.set(name ?? '', (value ?? '').replaceAll('&amp;', '&').replaceAll('&quot;', '"'));
  for (const [name, value] of Object.entries(fields)) form.set(name, value);
  return form.toString();
}

describe('releasing the safety brake', () => {
  it('does not let through runs that joined the pause after the person looked at the page', async () => {
    // Prepare: a limit of 1; the second leaver opens a pause and its release email goes out
    const desk = brakeDesk(1);
    await desk.offboard(1);
    await desk.offboard(2);
    const [mail] = desk.mails;
    const done = /Release:\n {2}(\S+)/.exec(mail?.text ?? '')?.[1] ?? '';
    const url = new URL(done);
    // The IT lead opens "Release": one run waits, so releasing it looks harmless
    const shown = await desk.page('GET', `${url.pathname}${url.search}`);
    expect(shown.status).toBe(200);
    // Meanwhile a faulty HR feed sends forty more leavers: each joins the open pause
    for (let n = 3; n <= 42; n++) await desk.offboard(n);
    expect(desk.mails).toHaveLength(1);
    // Act: the IT lead confirms the page as it was shown
    const posted = await desk.page(
      'POST',
      `${url.pathname}${url.search}`,
      filledForm(shown.body, { by: 'IT lead' }),
    );
    // Assess: nobody is released on a page that showed one run; the page now says 41 wait
    expect(desk.resumer.succeeded).toEqual([]);
    expect(posted.body).toContain('41');
    expect((await desk.store.get(mail?.text.match(/Task (\S+),/)?.[1] ?? ''))?.answer).toBeUndefined();
    // Confirmed again on the page that shows them all, they are released
    const again = await desk.page(
      'POST',
      `${url.pathname}${url.search}`,
      filledForm(posted.body, { by: 'IT lead' }),
    );
    expect(again.status).toBe(200);
    expect(desk.resumer.succeeded).toHaveLength(41);
  });

  it('the page says how many runs wait on the release now, not only when the email went out', async () => {
    // Prepare: a pause opened by one run, then joined by nine more
    const desk = brakeDesk(1);
    await desk.offboard(1);
    for (let n = 2; n <= 11; n++) await desk.offboard(n);
    const done = /Release:\n {2}(\S+)/.exec(desk.mails[0]?.text ?? '')?.[1] ?? '';
    const url = new URL(done);
    // Act
    const shown = await desk.page('GET', `${url.pathname}${url.search}`);
    // Assess
    expect(shown.body).toMatch(/Runs waiting now<\/dt><dd>10</);
  });
});

describe('what a person types on the task page', () => {
  it('reaches no terminal as control characters: the name is stored without them, and report --brake strips them', async () => {
    // Prepare: a pause, and a "name" that clears the operator's screen and rewrites the line
    const desk = brakeDesk(1);
    await desk.offboard(1);
    await desk.offboard(2);
    const done = /Release:\n {2}(\S+)/.exec(desk.mails[0]?.text ?? '')?.[1] ?? '';
    const url = new URL(done);
    const shown = await desk.page('GET', `${url.pathname}${url.search}`);
    const by = 'Mallory\u001b[2J\u001b[1;1HIT lead (approved by CISO)\u202e';
    // Act
    await desk.page('POST', `${url.pathname}${url.search}`, filledForm(shown.body, { by }));
    const id = /Task (\S+),/.exec(desk.mails[0]?.text ?? '')?.[1] ?? '';
    const answer = (await desk.store.get(id))?.answer;
    const table = formatBrakeHistory([
      {
        id,
        openedAt: '2026-11-01T09:00:00.000Z',
        openedBy: 'run-2',
        email: 'x\u001b]8;;https://evil.example\u0007@example.com',
        count: 2,
        limit: 1,
        windowMinutes: 60,
        deadline: '2026-11-08T09:00:00.000Z',
        waiting: 1,
        people: 1,
        outcome: 'released',
        by,
        at: '2026-11-01T09:05:00.000Z',
      },
    ]);
    // Assess
    expect(answer?.by).toBe('Mallory[2J[1;1HIT lead (approved by CISO)');
    // biome-ignore lint/suspicious/noControlCharactersInRegex: looking for control characters is the point
    expect(table).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e]/);
  });
});

describe('offboard audit --remediate on the laptop', () => {
  const people = ['leaver1@example.com', 'leaver2@example.com', 'leaver3@example.com'];

  async function prepare(): Promise<{ box: InsightlySandbox; config: string }> {
    const box = await startInsightlySandbox({
      apiKeys: { 'key-good-0001': 1001 },
      users: [
        { EMAIL_ADDRESS: 'admin@example.com', ADMINISTRATOR: true },
        ...people.map((e) => ({ EMAIL_ADDRESS: e })),
      ],
    });
    opened.push(box);
    const config = join(dir, 'audit.json');
    writeFileSync(
      config,
      JSON.stringify({
        connections: [
          { name: 'crm', type: 'insightly', baseUrl: box.baseUrl, secret: { apiKey: 'key-good-0001' } },
        ],
        brake: { limit: 2, windowMinutes: 60 },
      }),
    );
    // Offboarded a while ago (counted then, by a brake whose window has long passed)
    const local = await openLocalLedger();
    try {
      const connections = [
        {
          ref: { name: 'crm', type: 'insightly' as const, baseUrl: box.baseUrl },
          secret: { apiKey: 'key-good-0001' },
        },
      ];
      for (const email of people) await runLocally({ connections, ledger: local.ledger, input: { email } });
    } finally {
      await local.close();
    }
    return { box, config };
  }

  it('counts its switch-offs toward the safety brake, as the deployed audit does', async () => {
    // Prepare: all three accounts switched on again (a restore from backup, say)
    const { box, config } = await prepare();
    for (const user of box.users.values())
      if (people.includes(String(user.EMAIL_ADDRESS))) user.ACTIVE = true;
    // Act: the remediation must pause past 2 and ask; a person keeps it stopped
    const out: string[] = [];
    const running = main(['audit', '--config', config, '--remediate'], {
      out: (t) => out.push(t),
      err: (t) => out.push(t),
    });
    let id: string | undefined;
    for (let i = 0; i < 300 && !id; i++) {
      id = /offboard task complete (\S+)/.exec(out.join('\n'))?.[1];
      const settled = await Promise.race([running.then(() => true), sleep(50).then(() => false)]);
      if (settled) break;
    }
    if (id) await run(['task', 'fail', id, '--reason', 'not now']);
    const code = await running;
    // Assess: two switched off again, the third held by the brake
    expect(out.join('\n')).toContain('THE SAFETY BRAKE PAUSED THIS RUN');
    const active = people.filter(
      (email) => [...box.users.values()].find((u) => u.EMAIL_ADDRESS === email)?.ACTIVE !== false,
    );
    expect(active).toHaveLength(1);
    expect(code).toBe(EXIT.failed);
  }, 60_000);
});

describe('the deployed stack', () => {
  it('gives the internet-facing task page, and the task and brake functions, only their own ledger items', () => {
    // Prepare: the stack as deployed (functions not bundled: the template is what counts)
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new OffboardStack(app, 'Offboard', {
      config: {
        connections: [{ name: 'crm', type: 'insightly', baseUrl: 'https://api.na1.insightly.com/v3.1' }],
        hrEvents: false,
      },
    });
    // Act
    const template = Template.fromStack(stack).toJSON() as {
      Resources: Record<string, { Type: string; Properties: Record<string, unknown> }>;
    };
    // Assess: every DynamoDB statement of those roles is held to its partition keys
    const roles = /^(TaskPageFunction|TaskNotifyFunction|TaskRemindFunction|BrakeFunction)Role/;
    const statements = Object.values(template.Resources)
      .filter((r) => r.Type === 'AWS::IAM::Policy')
      .filter((r) =>
        (r.Properties.Roles as Array<{ Ref?: string }>).some((role) => roles.test(role.Ref ?? '')),
      )
      .flatMap(
        (r) => (r.Properties.PolicyDocument as { Statement: Array<Record<string, unknown>> }).Statement,
      )
      .filter((st) => [st.Action].flat().some((a) => String(a).startsWith('dynamodb:')));
    expect(statements.length).toBeGreaterThanOrEqual(4);
    for (const st of statements)
      expect(st.Condition).toMatchObject({
        'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': expect.any(Array) },
      });
  });
});

// The deployed retry's refusals to redrive (stopped on purpose, kept stopped by the brake, the
// person reactivated since) are stories in test/cli/deployed-redrive.test.ts, on moto's server.
