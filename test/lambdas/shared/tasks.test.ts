import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbTaskStore } from '../../../lambdas/shared/task-store';
import { answerTask, type TaskRecord, type TaskResumer, taskTimes } from '../../../lambdas/shared/tasks';
import { type LocalDynamo, startDynalite } from '../../helpers/dynalite';

/** Tasks in the ledger table (dynalite: the real DynamoDB API): opened, joined, answered once. */

let dynamo: LocalDynamo;
let store: DynamoDbTaskStore;
let n = 0;
beforeAll(async () => {
  dynamo = await startDynalite();
  await dynamo.createTable('ledger', true);
  store = new DynamoDbTaskStore('ledger', dynamo.client);
});
afterAll(async () => {
  await dynamo.close();
});

const now = new Date('2026-11-01T09:00:00Z');
function task(kind: TaskRecord['kind'] = 'deactivate-account'): Omit<TaskRecord, 'tokens' | 'answer'> {
  n++;
  return {
    id: `task${n}`,
    kind,
    createdAt: now.toISOString(),
    ...taskTimes(now, 604_800),
    executionId: 'arn:aws:states:eu-west-1:1:execution:offboard-user:run-1',
    details: {
      email: 'jane.doe@example.com',
      connection: 'rapid7-cloud',
      type: 'rapid7-platform',
      userId: 'u-1',
      why: 'no API',
    },
  };
}

/** Records what it was asked to resume, as Step Functions would receive it. */
class RecordingResumer implements TaskResumer {
  calls: Array<{ token: string; ok: boolean; error?: string; cause?: string; output?: unknown }> = [];
  async succeed(token: string, output: unknown) {
    this.calls.push({ token, ok: true, output });
  }
  async fail(token: string, error: string, cause: string) {
    this.calls.push({ token, ok: false, error, cause });
  }
}

describe('DynamoDbTaskStore', () => {
  it('opens a task once; a second run with the same id joins it', async () => {
    const t = task('release-brake');
    const first = await store.openOrJoin(t, 'token-a');
    const second = await store.openOrJoin(t, 'token-b');
    const again = await store.openOrJoin(t, 'token-b');
    expect(first.created).toBe(true);
    expect(second.created).toBe(false);
    expect(again.record.tokens).toEqual(['token-a', 'token-b']);
    expect(await store.get(t.id)).toMatchObject({
      id: t.id,
      kind: 'release-brake',
      deadline: '2026-11-08T09:00:00.000Z',
    });
  });

  it('records an answer once: the second answer changes nothing', async () => {
    const t = task();
    await store.openOrJoin(t, 'token-a');
    const first = await store.answer(t.id, { ok: true, by: 'Ann', at: '2026-11-02T10:00:00Z' });
    const second = await store.answer(t.id, {
      ok: false,
      reason: 'late',
      by: 'Bob',
      at: '2026-11-02T11:00:00Z',
    });
    expect(first.first).toBe(true);
    expect(second).toMatchObject({ first: false, record: { answer: { ok: true, by: 'Ann' } } });
    expect((await store.get(t.id))?.answer).toEqual({ ok: true, by: 'Ann', at: '2026-11-02T10:00:00Z' });
  });

  it('an answer to an unknown task is Task.NotFound', async () => {
    await expect(store.answer('nope', { ok: true, by: 'Ann', at: now.toISOString() })).rejects.toMatchObject({
      name: 'Task.NotFound',
    });
    expect(await store.get('nope')).toBeUndefined();
  });

  it('a reminder is due 24 h before the deadline, once, and never for an answered task', async () => {
    const open = task();
    const answered = task();
    await store.openOrJoin(open, 'token-a');
    await store.openOrJoin(answered, 'token-b');
    await store.answer(answered.id, { ok: true, by: 'Ann', at: now.toISOString() });
    const dayBefore = new Date('2026-11-07T09:00:00Z');
    expect((await store.dueReminders(new Date('2026-11-07T08:59:00Z'))).map((t) => t.id)).not.toContain(
      open.id,
    );
    const due = (await store.dueReminders(dayBefore)).map((t) => t.id);
    expect(due).toContain(open.id);
    expect(due).not.toContain(answered.id);
    expect(await store.markReminded(open.id)).toBe(true);
    expect(await store.markReminded(open.id)).toBe(false);
    expect((await store.dueReminders(dayBefore)).map((t) => t.id)).not.toContain(open.id);
  });
});

describe('answerTask', () => {
  it('"Done" resumes every waiting run with who answered', async () => {
    const t = task('release-brake');
    await store.openOrJoin(t, 'token-a');
    await store.openOrJoin(t, 'token-b');
    const resumer = new RecordingResumer();
    await answerTask({ store, resumer }, t.id, { ok: true, by: 'Ann', at: '2026-11-02T10:00:00Z' });
    expect(resumer.calls.map((c) => [c.token, c.ok])).toEqual([
      ['token-a', true],
      ['token-b', true],
    ]);
    expect(resumer.calls[0]?.output).toMatchObject({ taskId: t.id, by: 'Ann' });
  });

  it('"I could not" fails the run with Task.Refused, who and why', async () => {
    const t = task();
    await store.openOrJoin(t, 'token-a');
    const resumer = new RecordingResumer();
    await answerTask({ store, resumer }, t.id, {
      ok: false,
      reason: 'managed by SSO',
      by: 'Ann',
      at: now.toISOString(),
    });
    expect(resumer.calls).toEqual([
      {
        token: 'token-a',
        ok: false,
        error: 'Task.Refused',
        cause: 'rapid7-cloud: Ann could not switch the account off: managed by SSO',
      },
    ]);
  });

  it('a second answer resumes nothing', async () => {
    const t = task();
    await store.openOrJoin(t, 'token-a');
    const resumer = new RecordingResumer();
    await answerTask({ store, resumer }, t.id, { ok: true, by: 'Ann', at: now.toISOString() });
    const again = await answerTask({ store, resumer }, t.id, {
      ok: false,
      reason: 'x',
      by: 'Bob',
      at: now.toISOString(),
    });
    expect(again.first).toBe(false);
    expect(resumer.calls).toHaveLength(1);
  });
});
