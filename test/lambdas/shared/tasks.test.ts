import { BatchWriteItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { personKey } from '../../../lambdas/shared/ledger';
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

describe('reminders in a ledger full of evidence', () => {
  /** Every request the store sends, as the table sees it. */
  function recordingClient(client: DynamoDBClient) {
    const sent: Array<{ command: string; partition: string }> = [];
    const recording = {
      send: (command: { constructor: { name: string }; input: Record<string, never> }) => {
        const input = command.input as {
          Key?: { pk?: { S?: string } };
          Item?: { pk?: { S?: string } };
          ExpressionAttributeValues?: Record<string, { S?: string }>;
        };
        // The partition a request names, as IAM's dynamodb:LeadingKeys sees it (a Scan: none).
        const partition =
          input.Key?.pk?.S ?? input.Item?.pk?.S ?? input.ExpressionAttributeValues?.[':pk']?.S ?? '(none)';
        sent.push({ command: command.constructor.name, partition });
        return client.send(command as never);
      },
    };
    return { client: recording as unknown as DynamoDBClient, sent };
  }

  it("finds exactly the due, open tasks, and reads only task items, never a person's entries", async () => {
    // Prepare: a ledger holding 300 people's evidence, and five tasks opened through the store
    await dynamo.createTable('ledger-full', true);
    const people = Array.from({ length: 300 }, (_, i) => ({
      PutRequest: {
        Item: {
          pk: { S: personKey(`leaver${i}@example.com`) },
          sk: { S: `2026-10-${String((i % 28) + 1).padStart(2, '0')}T10:00:00.000Z#insightly` },
          entry: { S: JSON.stringify({ email: `leaver${i}@example.com`, outcome: 'deactivated' }) },
        },
      },
    }));
    for (let i = 0; i < people.length; i += 25)
      await dynamo.client.send(
        new BatchWriteItemCommand({ RequestItems: { 'ledger-full': people.slice(i, i + 25) } }),
      );
    const setUp = new DynamoDbTaskStore('ledger-full', dynamo.client);
    const open = task(); // reminder due 2026-11-07 09:00, deadline 2026-11-08 09:00
    const answered = task();
    const reminded = task();
    const later = { ...task(), ...taskTimes(new Date('2026-11-05T09:00:00Z'), 604_800) };
    const timedOut = { ...task(), ...taskTimes(new Date('2026-10-20T09:00:00Z'), 604_800) };
    for (const t of [open, answered, reminded, later, timedOut]) await setUp.openOrJoin(t, `token-${t.id}`);
    await setUp.answer(answered.id, { ok: true, by: 'Ann', at: '2026-11-02T10:00:00Z' });
    await setUp.markReminded(reminded.id);
    const { client, sent } = recordingClient(dynamo.client);
    const store = new DynamoDbTaskStore('ledger-full', client);
    const dayBefore = new Date('2026-11-07T09:00:00Z');

    // Act
    const due = await store.dueReminders(dayBefore);

    // Assess: the open task only (not the answered, the reminded, the one not due yet, nor the
    // one past its deadline)
    expect(due.map((t) => t.id)).toEqual([open.id]);
    expect(due[0]).toMatchObject({ kind: 'deactivate-account', tokens: [`token-${open.id}`] });
    // No Scan, and no request names a person's partition: what the reminder's IAM allows
    expect(sent.map((s) => s.command)).not.toContain('ScanCommand');
    for (const { partition } of sent) expect(partition).toMatch(/^(task#.+|task-due)$/);
    // One read per due index item: the open task and the one that timed out (its item, of no
    // use now, is deleted); the answered and reminded ones left the index when answered or reminded
    expect(sent.filter((s) => s.command === 'GetItemCommand')).toHaveLength(2);

    // Act: reminded, and an hour later
    await store.markReminded(open.id);
    sent.length = 0;
    const hourLater = await store.dueReminders(new Date('2026-11-07T10:00:00Z'));

    // Assess: nothing due, and nothing left to read
    expect(hourLater).toEqual([]);
    expect(sent.map((s) => s.command)).toEqual(['QueryCommand']);
    // The later task falls due in its turn
    expect((await store.dueReminders(new Date('2026-11-11T09:00:00Z'))).map((t) => t.id)).toEqual([later.id]);
  });

  it('a notify that stopped after opening the task still gets it reminded: the next run joining it writes the index', async () => {
    // Prepare: the opener's index write fails (the function stopped between its two writes)
    await dynamo.createTable('ledger-stopped', true);
    const failing = {
      send: (command: { constructor: { name: string } }) =>
        command.constructor.name === 'PutItemCommand'
          ? Promise.reject(new Error('Lambda timed out'))
          : dynamo.client.send(command as never),
    } as unknown as DynamoDBClient;
    const brake = task('release-brake');
    await expect(
      new DynamoDbTaskStore('ledger-stopped', failing).openOrJoin(brake, 'token-a'),
    ).rejects.toThrow('Lambda timed out');
    const store = new DynamoDbTaskStore('ledger-stopped', dynamo.client);
    const dayBefore = new Date('2026-11-07T09:00:00Z');
    expect(await store.dueReminders(dayBefore)).toEqual([]);

    // Act: another run waits on the same brake
    const joined = await store.openOrJoin(brake, 'token-b');

    // Assess
    expect(joined.created).toBe(false);
    expect((await store.dueReminders(dayBefore)).map((t) => t.id)).toEqual([brake.id]);
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
