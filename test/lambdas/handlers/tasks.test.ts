import { randomBytes } from 'node:crypto';
import { SendTaskFailureCommand, SendTaskSuccessCommand, SFNClient } from '@aws-sdk/client-sfn';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { taskNotifyHandler } from '../../../lambdas/handlers/task-notify';
import { taskPageHandler } from '../../../lambdas/handlers/task-page';
import { taskRemindHandler } from '../../../lambdas/handlers/task-remind';
import type { TaskEmail } from '../../../lambdas/shared/task-email';
import { SfnTaskResumer } from '../../../lambdas/shared/task-resumer';
import { DynamoDbTaskStore } from '../../../lambdas/shared/task-store';
import { type LocalDynamo, startDynalite } from '../../helpers/dynalite';

/** The deployed task functions: notify (from the state machine), the page (function URL), reminders. */

const sfn = mockClient(SFNClient);
const key = randomBytes(32);
const PAGE = 'https://abc.lambda-url.eu-west-1.on.aws/';
const context = {
  functionName: 'task',
  awsRequestId: 'r',
  getRemainingTimeInMillis: () => 30_000,
} as unknown as Context;

let dynamo: LocalDynamo;
let store: DynamoDbTaskStore;
let mails: TaskEmail[];
let now: Date;
beforeAll(async () => {
  dynamo = await startDynalite();
  await dynamo.createTable('ledger', true);
  store = new DynamoDbTaskStore('ledger', dynamo.client);
});
afterAll(async () => {
  await dynamo.close();
});
beforeEach(() => {
  sfn.reset();
  sfn.on(SendTaskSuccessCommand).resolves({});
  sfn.on(SendTaskFailureCommand).resolves({});
  mails = [];
  now = new Date('2026-11-01T09:00:00Z');
});

const deps = {
  store: () => store,
  resumer: () => new SfnTaskResumer(new SFNClient({ region: 'eu-west-1' })),
  key: async () => key,
  mail: () => async (mail: TaskEmail) => {
    mails.push(mail);
  },
  pageUrl: () => PAGE,
  now: () => now,
};
const notify = taskNotifyHandler(deps);
const page = taskPageHandler(() => ({ ...deps, store, resumer: deps.resumer(), now: () => now }));
const remind = taskRemindHandler(deps);

const deactivate = (token: string) => ({
  kind: 'deactivate-account',
  taskToken: token,
  executionId: 'arn:aws:states:eu-west-1:1:execution:offboard-user:run-1',
  timeoutSeconds: 604_800,
  details: {
    email: 'jane.doe@example.com',
    connection: 'rapid7-cloud',
    type: 'rapid7-platform',
    userId: 'u-1',
    why: 'no API to switch users off',
  },
});

function urlEvent(method: string, url: string, body?: string): APIGatewayProxyEventV2 {
  const parsed = new URL(url);
  return {
    rawPath: parsed.pathname,
    rawQueryString: parsed.search.slice(1),
    requestContext: { http: { method } },
    ...(body === undefined ? {} : { body: Buffer.from(body).toString('base64'), isBase64Encoded: true }),
  } as unknown as APIGatewayProxyEventV2;
}

const linksIn = (mail: TaskEmail | undefined) => {
  const urls = mail?.text.match(/https:\/\/\S+/g) ?? [];
  return { done: urls[0] ?? '', failed: urls[1] ?? '' };
};

describe('task-notify', () => {
  it('emails the task in plain text with the two links, once, however often Step Functions retries', async () => {
    await notify(deactivate('tok-1'), context);
    await notify(deactivate('tok-1'), context);
    expect(mails).toHaveLength(1);
    const mail = mails[0];
    expect(mail?.subject).toBe('offboard: switch off jane.doe@example.com in rapid7-cloud by 2026-11-08');
    expect(mail?.text).toContain('System:     rapid7-platform (connection rapid7-cloud)');
    expect(mail?.text).toContain('By:         2026-11-08 09:00 UTC');
    expect(mail?.text).toMatch(/Done:\n {2}https:\/\/abc\.lambda-url\.eu-west-1\.on\.aws\/\?link=/);
    expect(mail?.text).toContain('I could not:');
    expect(mail?.text).not.toContain('tok-1');
    expect(sfn.calls()).toHaveLength(0);
  });

  it('a run joining an answered brake task goes on at once, with no email', async () => {
    const brake = {
      kind: 'release-brake',
      taskId: 'pause-1',
      executionId: 'e',
      timeoutSeconds: 86_400,
      details: { count: 30, limit: 25, windowMinutes: 60, emails: ['a@example.com'] },
    };
    await notify({ ...brake, taskToken: 'tok-a' }, context);
    expect(mails[0]?.text).toContain('Offboardings in the window: 30 (limit 25 in 60 minutes)');
    expect(mails[0]?.text).toContain('Release:');
    expect(mails[0]?.text).toContain('Keep stopped:');
    await store.answer('pause-1', { ok: true, by: 'Ann', at: now.toISOString() });
    const result = await notify({ ...brake, taskToken: 'tok-b' }, context);
    expect(result).toMatchObject({ taskId: 'pause-1', answered: true });
    expect(mails).toHaveLength(1);
    expect(sfn.commandCalls(SendTaskSuccessCommand).map((c) => c.args[0].input.taskToken)).toEqual(['tok-b']);
  });

  it('a payload that is not a task is Input.Invalid, and nothing is emailed', async () => {
    await expect(notify({ kind: 'deactivate-account' }, context)).rejects.toMatchObject({
      name: 'Input.Invalid',
    });
    expect(mails).toHaveLength(0);
  });
});

describe('task-page (function URL)', () => {
  it('GET shows the task and acts on nothing; POST with a name resumes the run', async () => {
    await notify(deactivate('tok-2'), context);
    const { done } = linksIn(mails[0]);
    const shown = await page(urlEvent('GET', done));
    expect(shown.statusCode).toBe(200);
    expect(shown.body).toContain('jane.doe@example.com');
    expect(shown.headers?.['content-security-policy']).toContain("default-src 'none'");
    expect(sfn.calls()).toHaveLength(0);
    const link = new URL(done).searchParams.get('link') ?? '';
    const posted = await page(
      urlEvent('POST', PAGE, new URLSearchParams({ link, by: 'Ann <b>Admin</b>' }).toString()),
    );
    expect(posted.statusCode).toBe(200);
    expect(sfn.commandCalls(SendTaskSuccessCommand)[0]?.args[0].input.taskToken).toBe('tok-2');
    const again = await page(urlEvent('GET', done));
    expect(again.body).toContain('This task was already answered');
    expect(again.body).toContain('Ann &lt;b&gt;Admin&lt;/b&gt; switched the account off');
  });

  it('"I could not" without a reason is refused with the form again; with one it fails the run', async () => {
    await notify(deactivate('tok-3'), context);
    const link = new URL(linksIn(mails[0]).failed).searchParams.get('link') ?? '';
    const missing = await page(urlEvent('POST', PAGE, new URLSearchParams({ link, by: 'Ann' }).toString()));
    expect(missing.statusCode).toBe(400);
    expect(missing.body).toContain('Please say why you could not.');
    expect(sfn.calls()).toHaveLength(0);
    await page(urlEvent('POST', PAGE, new URLSearchParams({ link, by: 'Ann', reason: 'SSO' }).toString()));
    expect(sfn.commandCalls(SendTaskFailureCommand)[0]?.args[0].input).toEqual({
      taskToken: 'tok-3',
      error: 'Task.Refused',
      cause: 'rapid7-cloud: Ann could not switch the account off: SSO',
    });
  });

  it('an expired link says so and resumes nothing', async () => {
    await notify(deactivate('tok-4'), context);
    const link = new URL(linksIn(mails[0]).done).searchParams.get('link') ?? '';
    now = new Date('2026-11-08T09:00:01Z');
    const posted = await page(urlEvent('POST', PAGE, new URLSearchParams({ link, by: 'Ann' }).toString()));
    expect(posted.statusCode).toBe(410);
    expect(posted.body).toContain('This link has expired');
    expect(sfn.calls()).toHaveLength(0);
  });
});

describe('task-remind', () => {
  it('reminds once, 24 h before the deadline, with the same links', async () => {
    await notify(deactivate('tok-5'), context);
    const id = new URL(linksIn(mails[0]).done).searchParams.get('link')?.split('.')[0];
    now = new Date('2026-11-07T09:30:00Z');
    await remind({}, context);
    await remind({}, context);
    const reminders = mails.filter(
      (m) => m.subject.startsWith('Reminder:') && m.text.includes(`Task ${id},`),
    );
    expect(reminders).toHaveLength(1);
    expect(reminders[0]?.text).toContain('its deadline is 2026-11-08 09:00 UTC');
  });
});
