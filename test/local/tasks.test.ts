import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { EXIT } from '../../cli/main';
import { newPauseId } from '../../lambdas/shared/brake';
import { newTaskId, taskIdForToken, taskTimes } from '../../lambdas/shared/tasks';
import {
  FileTaskStore,
  LocalTaskStore,
  localTaskKey,
  openLocalTask,
  type PersonTask,
} from '../../local/tasks';
import { run } from '../helpers/cli';

/** Local tasks: a file store answered once, and `offboard task complete|fail <id>` from another terminal. */

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'offboard-tasks-'));
  vi.stubEnv('OFFBOARD_TASKS_DIR', dir);
});
afterEach(() => {
  vi.unstubAllEnvs();
});

function personTask(): PersonTask {
  return {
    token: LocalTaskStore.newToken(),
    connection: 'rapid7-cloud',
    type: 'rapid7-platform',
    email: 'jane.doe@example.com',
    userId: 'u-1',
    why: 'no API',
    instructions: 'Switch off …',
  };
}

describe('local tasks', () => {
  it('offboard task complete <id> resumes the waiting run, and a second answer is refused', async () => {
    // Prepare: a local run opened a task and waits on its token
    const task = personTask();
    const record = await openLocalTask(new FileTaskStore(), task);
    const waiting = new LocalTaskStore().waitForAnswer(task.token);
    // Act
    const first = await run(['task', 'complete', record.id]);
    const second = await run(['task', 'fail', record.id, '--reason', 'too late']);
    // Assess
    expect(first.code).toBe(EXIT.ok);
    expect(first.stdout).toContain(`Task ${record.id} completed`);
    await expect(waiting).resolves.toMatchObject({ ok: true });
    expect(second.code).toBe(EXIT.failed);
    expect(second.stderr).toContain(`task ${record.id}: already answered by`);
    expect((await new FileTaskStore().get(record.id))?.answer).toMatchObject({ ok: true });
  });

  it('offboard task fail <id> hands who and why to the run', async () => {
    const task = personTask();
    const record = await openLocalTask(new FileTaskStore(), task);
    const waiting = new LocalTaskStore().waitForAnswer(task.token);
    expect((await run(['task', 'fail', record.id, '--reason', 'managed by SSO'])).code).toBe(EXIT.ok);
    const answer = await waiting;
    expect(answer.ok).toBe(false);
    expect(!answer.ok && answer.reason).toMatch(
      /^rapid7-cloud: .+ could not switch the account off: managed by SSO$/,
    );
  });

  it('a blank reason is a usage error, and nothing is answered', async () => {
    const record = await openLocalTask(new FileTaskStore(), personTask());
    const { code, stderr } = await run(['task', 'fail', record.id, '--reason', '  ']);
    expect(code).toBe(EXIT.usage);
    expect(stderr).toContain('task fail: --reason <why> must say why');
    expect((await new FileTaskStore().get(record.id))?.answer).toBeUndefined();
  });

  it('no task id begins with "-", so the command a run prints is never read as an option', () => {
    // 1,000 ids of each kind: with base64url, one in 64 began with "-" (a flaky CI run found it)
    const ids = Array.from({ length: 1000 }, (_, i) => [
      newTaskId(),
      newPauseId(),
      taskIdForToken(`token-${i}`),
    ]).flat();
    expect(ids.filter((id) => !/^[A-Za-z0-9]/.test(id))).toEqual([]);
  });

  it('a task an older release named with a leading "-" is still answered by its id', async () => {
    // Prepare: a task as an older release opened it (22 characters of base64url)
    const task = personTask();
    const store = new FileTaskStore();
    const now = new Date();
    const id = '-Yq3vT0bX9kLmNpQrStUvw';
    await store.openOrJoin(
      {
        id,
        kind: 'deactivate-account',
        createdAt: now.toISOString(),
        ...taskTimes(now, 604_800),
        executionId: 'local',
        details: {
          email: task.email,
          connection: task.connection,
          type: task.type,
          userId: 'u-1',
          why: 'no API',
        },
      },
      task.token,
    );
    const waiting = new LocalTaskStore().waitForAnswer(task.token);
    // Act
    const answered = await run(['task', 'complete', id]);
    const option = await run(['task', 'complete', '--reason', 'x']);
    // Assess
    expect(answered.code).toBe(EXIT.ok);
    expect(answered.stdout).toContain(`Task ${id} completed`);
    await expect(waiting).resolves.toMatchObject({ ok: true });
    expect(option.code).toBe(EXIT.usage);
    expect(option.stderr).toContain('task: give complete <id> or fail <id>');
  });

  it('a link key cut short (an interrupted write) is replaced, never used to sign links', async () => {
    // Prepare: an empty key file, as an older release's interrupted first run left it
    writeFileSync(join(dir, 'link-key'), '');
    // Act
    const key = await localTaskKey(dir);
    // Assess
    expect(key.length).toBe(32);
    expect(readFileSync(join(dir, 'link-key'))).toEqual(key);
    expect(await localTaskKey(dir)).toEqual(key);
  });

  it.each([
    [
      'the task id, then the token',
      (id: string, _token: string) => id,
      (_id: string, token: string) => token,
    ],
    [
      'the token, then the task id',
      (_id: string, token: string) => token,
      (id: string, _token: string) => id,
    ],
  ])(
    'a task is answered once, by %s: the second answer is refused and the run keeps the first',
    async (_, first, second) => {
      // Prepare: a local run opened its task and waits on its token (both printed to the person)
      const task = personTask();
      const record = await openLocalTask(new FileTaskStore(), task);
      await new LocalTaskStore().publish(task);
      const waiting = new LocalTaskStore().waitForAnswer(task.token);
      // Act
      const done = await run(['task', 'complete', first(record.id, task.token)]);
      const refused = await run(['task', 'fail', second(record.id, task.token), '--reason', 'staying']);
      // Assess
      expect(done.code).toBe(EXIT.ok);
      expect(refused.code).toBe(EXIT.failed);
      expect(refused.stderr).toContain(`task ${second(record.id, task.token)}: already answered by`);
      await expect(waiting).resolves.toMatchObject({ ok: true });
      expect((await new FileTaskStore().get(record.id))?.answer).toMatchObject({ ok: true });
    },
  );

  it('a run of an older release, waiting on its token alone, is answered once', async () => {
    const task = personTask();
    await new LocalTaskStore().publish(task);
    const first = await run(['task', 'fail', task.token, '--reason', 'no access']);
    const second = await run(['task', 'complete', task.token]);
    expect(first.code).toBe(EXIT.ok);
    expect(second.code).toBe(EXIT.failed);
    expect(second.stderr).toContain(`task ${task.token}: already answered; nothing changed`);
    await expect(new LocalTaskStore().waitForAnswer(task.token)).resolves.toEqual({
      ok: false,
      reason: 'no access',
    });
  });

  it('a token planted in a task names no file outside the tasks directory', async () => {
    // Prepare: a task whose token directory holds a path, as someone with write access put it
    const task = personTask();
    const record = await openLocalTask(new FileTaskStore(), task);
    // (named after this test's directory, so no earlier run's file can stand in for it)
    const planted = `../outside-${basename(dir)}`;
    writeFileSync(join(dir, `task-${record.id}.tokens`, 'planted'), planted);
    const waiting = new LocalTaskStore().waitForAnswer(task.token);
    // Act
    const answered = await run(['task', 'complete', record.id]);
    // Assess: the real run is resumed; the planted one is refused, and nothing is written for it
    await expect(waiting).resolves.toMatchObject({ ok: true });
    expect(answered.code).toBe(EXIT.failed);
    expect(answered.stderr).toContain(`not a local run's token: ${planted}`);
    expect(existsSync(join(dir, `${planted}.answer.json`))).toBe(false);
  });

  it('an answer file cut short is named, with what to do, and once deleted the task is answered', async () => {
    // Prepare: an answer whose write was interrupted (an older release, or no hard links)
    const task = personTask();
    const record = await openLocalTask(new FileTaskStore(), task);
    const cut = join(dir, `task-${record.id}.answer.json`);
    writeFileSync(cut, '{"ok":tr');
    const waiting = new LocalTaskStore().waitForAnswer(task.token);
    // Act
    const stuck = await run(['task', 'complete', record.id]);
    rmSync(cut);
    const answered = await run(['task', 'complete', record.id]);
    // Assess
    expect(stuck.code).toBe(EXIT.failed);
    expect(stuck.stderr).toContain(`${cut} is cut short or is not a JSON object`);
    expect(stuck.stderr).toContain('if no offboard command is running, delete it');
    expect(stuck.stderr).not.toContain('undefined');
    expect(answered.code).toBe(EXIT.ok);
    await expect(waiting).resolves.toMatchObject({ ok: true });
  });

  it('a task past its deadline is not answered: the run no longer waits (as the expired link)', async () => {
    const task = { ...personTask(), timeoutSeconds: 60 };
    const record = await openLocalTask(new FileTaskStore(), task, new Date(Date.now() - 120_000));
    const { code, stderr } = await run(['task', 'complete', record.id]);
    expect(code).toBe(EXIT.failed);
    expect(stderr).toContain(`its deadline, ${record.deadline}, has passed`);
    expect((await new FileTaskStore().get(record.id))?.answer).toBeUndefined();
  });

  it('--waiting on a task that releases nothing, or with a token, is refused and nothing is answered', async () => {
    const task = personTask();
    const record = await openLocalTask(new FileTaskStore(), task);
    const byId = await run(['task', 'complete', record.id, '--waiting', '1']);
    const byToken = await run(['task', 'complete', 'A'.repeat(120), '--waiting', '1']);
    const localWithStack = await run(['task', 'complete', task.token, '--stack', 'Offboard']);
    expect(byId.code).toBe(EXIT.usage);
    expect(byId.stderr).toContain(
      '--waiting is for releasing the safety brake; this answer releases nothing',
    );
    expect(byToken.code).toBe(EXIT.usage);
    expect(byToken.stderr).toContain(
      '--waiting is for releasing the safety brake by its task id, not a token',
    );
    expect(localWithStack.code).toBe(EXIT.usage);
    expect(localWithStack.stderr).toContain("a local run's token is answered without --stack");
    expect((await new FileTaskStore().get(record.id))?.answer).toBeUndefined();
  });

  it.each([
    ['cut short', '{"id":"x","ki'],
    ['not a task', 'null'],
  ])('a task file %s is named, exit 1, not a crash', async (_, text) => {
    const record = await openLocalTask(new FileTaskStore(), personTask());
    writeFileSync(join(dir, `task-${record.id}.json`), text);
    const { code, stderr } = await run(['task', 'complete', record.id]);
    expect(code).toBe(EXIT.failed);
    expect(stderr).toContain(`task-${record.id}.json is cut short or is not a JSON object`);
  });
});
