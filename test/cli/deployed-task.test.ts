import { userInfo } from 'node:os';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../cli/main';
import { DynamoDbTaskStore } from '../../lambdas/shared/task-store';
import { run } from '../helpers/cli';
import { createTestStack, type TestStack, useMoto } from '../helpers/moto';

/**
 * `offboard task complete|fail <id> --stack` on moto's server: the task opened in the stack's
 * table by the real DynamoDbTaskStore is answered once (moto's default Step Functions backend
 * accepts SendTaskSuccess/Failure for any token); a second answer is refused, exit 1.
 */

const moto = useMoto();
let stack: TestStack;

beforeAll(async () => {
  stack = await createTestStack(moto(), 'Offboard');
});

const store = () =>
  new DynamoDbTaskStore(stack.outputs.LedgerTableName ?? '', new DynamoDBClient(moto().clientConfig));

async function opened(
  id: string,
  kind: 'deactivate-account' | 'release-brake' = 'deactivate-account',
): Promise<void> {
  // Opened now: an answer after its deadline is refused, as the page's expired link is.
  const now = new Date();
  await store().openOrJoin(
    {
      id,
      kind,
      createdAt: now.toISOString(),
      deadline: new Date(now.getTime() + 7 * 86_400_000).toISOString(),
      remindAt: new Date(now.getTime() + 6 * 86_400_000).toISOString(),
      executionId: 'arn:aws:states:eu-west-1:123456789012:execution:Offboard-OffboardUser:ask',
      details: {
        email: 'sam.lee@example.com',
        connection: 'crm',
        type: 'insightly',
        userId: '1002',
        why: 'no API',
      },
    },
    'token-of-the-waiting-run',
  );
}

describe('offboard task --stack', () => {
  it('complete records the answer once, by whom, and a second answer is refused', async () => {
    // Prepare
    await opened('task-complete-0000000001');

    // Act
    const first = await run(['task', 'complete', 'task-complete-0000000001', '--stack', 'Offboard']);
    const second = await run([
      'task',
      'fail',
      'task-complete-0000000001',
      '--reason',
      'no',
      '--stack',
      'Offboard',
    ]);

    // Assess
    expect(first.code).toBe(EXIT.ok);
    expect(first.stdout).toContain('Task task-complete-0000000001 completed');
    expect(second.code).toBe(EXIT.failed);
    expect(second.stderr).toContain('already answered');
    const record = await store().get('task-complete-0000000001');
    expect(record?.answer).toMatchObject({ ok: true, by: userInfo().username });
  });

  it('fail records the reason; an unknown task is exit 2', async () => {
    // Prepare
    await opened('task-fail-00000000000001');

    // Act
    const failed = await run([
      'task',
      'fail',
      'task-fail-00000000000001',
      '--reason',
      'no access',
      '--stack',
      'Offboard',
    ]);
    const unknown = await run(['task', 'complete', 'no-such-task-0000000001', '--stack', 'Offboard']);

    // Assess
    expect(failed.code).toBe(EXIT.ok);
    expect((await store().get('task-fail-00000000000001'))?.answer).toMatchObject({
      ok: false,
      reason: 'no access',
    });
    expect(unknown.code).toBe(EXIT.usage);
    expect(unknown.stderr).toContain('no task no-such-task-0000000001 in stack Offboard');
  });

  it('releasing the brake is confirmed on the number of runs waiting now, as on the page', async () => {
    // Prepare: a pause one run waits on
    await opened('brake-pause-000000000001', 'release-brake');
    const release = ['task', 'complete', 'brake-pause-000000000001', '--stack', 'Offboard'];
    // Act
    const asked = await run(release);
    const confirmed = await run([...release, '--waiting', '1']);
    // Assess: the first answer records nothing; the confirmed one releases it
    expect(asked.code).toBe(EXIT.usage);
    expect(asked.stderr).toContain(
      'lets through the 1 run waiting on it now; to release them, confirm that number: offboard task complete brake-pause-000000000001 --waiting 1 --stack Offboard',
    );
    expect(confirmed.code).toBe(EXIT.ok);
    expect(confirmed.stdout).toContain('the brake is released');
    expect((await store().get('brake-pause-000000000001'))?.answer).toMatchObject({ ok: true });
  });
});
