import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { SendTaskFailureCommand, SendTaskSuccessCommand, SFNClient } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { EXIT } from '../../cli/main';
import { LocalTaskStore, type PersonTask } from '../../local/tasks';
import { run } from '../helpers/cli';

/** `offboard task complete|fail`: a person answers the task the workflow gave them. */

const sfn = mockClient(SFNClient);

function task(token: string): PersonTask {
  return {
    token,
    connection: 'rapid7-cloud',
    type: 'rapid7-platform',
    email: 'jane.doe@example.com',
    userId: 'u-1',
    instructions: 'Switch off …',
  };
}

beforeEach(() => {
  sfn.reset();
  vi.stubEnv('OFFBOARD_TASKS_DIR', mkdtempSync(join(tmpdir(), 'offboard-tasks-')));
  vi.stubEnv('AWS_REGION', 'us-east-1');
});
afterEach(() => {
  vi.unstubAllEnvs();
});

describe('offboard task, for a local run waiting in another terminal', () => {
  it('complete resumes the waiting run', async () => {
    // Prepare: a local run published a task and waits for its answer
    const store = new LocalTaskStore();
    const token = LocalTaskStore.newToken();
    await store.publish(task(token));
    const answer = store.waitForAnswer(token);
    // Act
    const { code, stdout } = await run(['task', 'complete', token]);
    // Assess
    expect(code).toBe(EXIT.ok);
    expect(stdout).toContain('the local run resumes');
    await expect(answer).resolves.toEqual({ ok: true });
    expect(await store.isPending(token)).toBe(false);
    expect(sfn.calls()).toHaveLength(0);
  });

  it('fail hands the reason to the run', async () => {
    const store = new LocalTaskStore();
    const token = LocalTaskStore.newToken();
    await store.publish(task(token));
    const answer = store.waitForAnswer(token);
    expect((await run(['task', 'fail', token, '--reason', 'no admin access'])).code).toBe(EXIT.ok);
    await expect(answer).resolves.toEqual({ ok: false, reason: 'no admin access' });
  });

  it('a reason given twice is refused, and the waiting run gets no answer', async () => {
    // Prepare
    const store = new LocalTaskStore();
    const token = LocalTaskStore.newToken();
    await store.publish(task(token));
    // Act
    const { code, stderr } = await run(['task', 'fail', token, '--reason', 'no access', '--reason', 'done']);
    // Assess: today the last reason silently won
    expect(code).toBe(EXIT.usage);
    expect(stderr).toContain('task: --reason is given more than once');
    expect(await store.isPending(token)).toBe(true);
    expect(sfn.calls()).toHaveLength(0);
  });

  it('an id that is neither a local task nor a task token is refused, and nothing is sent', async () => {
    // Prepare: a typo of a task id, no --stack
    // Act
    const { code, stderr } = await run(['task', 'complete', 'TtUlBsj_QbvhqT5PYFLdFx']);
    // Assess: before, it went to Step Functions as a token and failed with "Region is missing"
    expect(code).toBe(EXIT.usage);
    // (naming where it looked: this file's own directory, not the default .offboard/tasks)
    expect(stderr).toContain(
      `task: no local task TtUlBsj_QbvhqT5PYFLdFx in ${relative(process.cwd(), String(process.env.OFFBOARD_TASKS_DIR))}; a deployed task needs --stack <name>`,
    );
    expect(sfn.calls()).toHaveLength(0);
  });

  it.each([
    [
      'a pasted page link',
      `https://abc.lambda-url.eu-west-1.on.aws/?link=${'4e52d06c'.repeat(4)}.d.mxe5v61s.${'x'.repeat(60)}`,
    ],
    ['a path', `${'../'.repeat(40)}etc/passwd`],
    [
      'two ids',
      `${'4e52d06c'.repeat(4)} ${'4e52d06c'.repeat(4)} ${'4e52d06c'.repeat(4)} ${'4e52d06c'.repeat(4)}`,
    ],
    ['a token with a line break', `${'A'.repeat(60)}\n${'B'.repeat(60)}`],
    ['an id longer than any token', 'A'.repeat(3_000)],
  ])('%s is refused as no task id, and nothing is sent', async (_, id) => {
    const { code, stderr } = await run(['task', 'complete', id]);
    expect(code).toBe(EXIT.usage);
    expect(stderr).toContain("is not a task id (the id is in the task's email)");
    expect(stderr.length).toBeLessThan(400);
    expect(sfn.calls()).toHaveLength(0);
  });

  it('with --stack, a path is refused before the stack is looked up', async () => {
    // Prepare: an endpoint nothing answers on, so any AWS call would fail otherwise
    vi.stubEnv('AWS_ENDPOINT_URL', 'http://127.0.0.1:9');
    // Act
    const { code, stderr } = await run(['task', 'complete', '../x', '--stack', 'Offboard']);
    // Assess
    expect(code).toBe(EXIT.usage);
    expect(stderr).toContain("task: '../x' is not a task id");
  });

  it('complete with a reason is refused: a reason is for fail', async () => {
    const { code, stderr } = await run(['task', 'complete', LocalTaskStore.newToken(), '--reason', 'done']);
    expect(code).toBe(EXIT.usage);
    expect(stderr).toContain('task complete: --reason is for task fail');
    expect(sfn.calls()).toHaveLength(0);
  });

  it('fail without a reason is a usage error', async () => {
    const { code, stderr } = await run(['task', 'fail', LocalTaskStore.newToken()]);
    expect(code).toBe(EXIT.usage);
    expect(stderr).toContain('--reason <why> is required');
  });
});

/** A Step Functions task token's shape: hundreds of characters (these are not real). */
const token = (tag: string) => `AQCEAAAAKgAAAAMAAAAAAAAAA${tag}${'x'.repeat(600)}`;

describe('offboard task, for a deployed execution', () => {
  it('complete sends SendTaskSuccess with the token', async () => {
    sfn.on(SendTaskSuccessCommand).resolves({});
    const { code } = await run(['task', 'complete', token('deployed')]);
    expect(code).toBe(EXIT.ok);
    const calls = sfn.commandCalls(SendTaskSuccessCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.args[0].input.taskToken).toBe(token('deployed'));
    expect(JSON.parse(calls[0]?.args[0].input.output ?? '{}')).toMatchObject({
      completedAt: expect.any(String),
    });
  });

  it('fail sends SendTaskFailure named Task.Refused, with the reason as cause', async () => {
    sfn.on(SendTaskFailureCommand).resolves({});
    await run(['task', 'fail', token('refused'), '--reason', 'account is managed by SSO']);
    expect(sfn.commandCalls(SendTaskFailureCommand)[0]?.args[0].input).toEqual({
      taskToken: token('refused'),
      error: 'Task.Refused',
      cause: 'account is managed by SSO',
    });
  });

  it('exits 1 and says why when Step Functions refuses the token', async () => {
    sfn
      .on(SendTaskSuccessCommand)
      .rejects(Object.assign(new Error('Invalid token'), { name: 'InvalidToken' }));
    const { code, stderr } = await run(['task', 'complete', token('stale')]);
    expect(code).toBe(EXIT.failed);
    expect(stderr).toContain('InvalidToken: Invalid token');
  });
});
