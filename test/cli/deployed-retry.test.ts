import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DescribeExecutionCommand,
  ListExecutionsCommand,
  SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../cli/main';
import { MemoryBlobStore } from '../../lambdas/shared/evidence';
import { DynamoDbLedger, type LedgerEntry } from '../../lambdas/shared/ledger';
import { run } from '../helpers/cli';
import { createTestStack, type TestStack, useMoto } from '../helpers/moto';

/**
 * `offboard retry --stack` on moto's server: what failed is read from the stack's DynamoDB
 * ledger (written by the real DynamoDbLedger), and a new OffboardUser execution is started
 * with only the failed connections and `retryOf` (moto's default backend keeps the input; the
 * execution stays RUNNING, so it is never redriven here).
 */

const moto = useMoto();
let stack: TestStack;
const SAM = 'sam.lee@example.com';

beforeAll(async () => {
  stack = await createTestStack(moto(), 'Offboard');
});

async function withSfn<T>(act: (sfn: SFNClient) => Promise<T>): Promise<T> {
  const sfn = new SFNClient(moto().clientConfig);
  try {
    return await act(sfn);
  } finally {
    sfn.destroy();
  }
}

const executions = () =>
  withSfn(
    async (sfn) =>
      (await sfn.send(new ListExecutionsCommand({ stateMachineArn: stack.outputs.StateMachineArn })))
        .executions ?? [],
  );
const inputOf = (executionArn: string) =>
  withSfn(async (sfn) =>
    JSON.parse((await sfn.send(new DescribeExecutionCommand({ executionArn }))).input ?? 'null'),
  );

function ledger(): DynamoDbLedger {
  return new DynamoDbLedger(
    stack.outputs.LedgerTableName ?? '',
    new DynamoDBClient(moto().clientConfig),
    () => new MemoryBlobStore(),
  );
}

const entry = (
  executionId: string,
  connection: string,
  outcome: LedgerEntry['outcome'],
  at: string,
): LedgerEntry => ({
  email: SAM,
  connection,
  type: 'insightly',
  outcome,
  dryRun: false,
  userId: '1002',
  at,
  startedAt: at,
  executionId,
  ...(outcome === 'failed'
    ? { error: { name: 'Vendor.AuthFailed', message: `${connection}: HTTP 401` } }
    : {}),
});

describe('offboard retry --stack', () => {
  let first: string;

  it('by execution: starts OffboardUser on the failed connection only, linked to the run it retries', async () => {
    // Prepare: a real execution in the stack, whose EU connection failed
    first = await withSfn(
      async (sfn) =>
        (
          await sfn.send(
            new StartExecutionCommand({
              stateMachineArn: stack.outputs.StateMachineArn,
              name: 'first',
              input: JSON.stringify({ email: SAM }),
            }),
          )
        ).executionArn ?? '',
    );
    await ledger().record([
      entry(first, 'crm', 'deactivated', '2026-11-30T10:00:00.000Z'),
      entry(first, 'crm-eu', 'failed', '2026-11-30T10:00:01.000Z'),
    ]);
    const before = (await executions()).length;

    // Act
    const result = await run(['retry', first, '--stack', 'Offboard', '--no-wait']);

    // Assess
    expect(result.code).toBe(EXIT.ok);
    const started = result.stdout.trim();
    expect(await executions()).toHaveLength(before + 1);
    expect(await inputOf(started)).toEqual({ email: SAM, connections: ['crm-eu'], retryOf: first });
  });

  it('by email: the same, from the person’s latest real run', async () => {
    // Prepare
    const before = (await executions()).length;

    // Act
    const result = await run(['retry', SAM, '--stack', 'Offboard', '--no-wait', '--json']);

    // Assess
    expect(result.code).toBe(EXIT.ok);
    const { executionArn } = JSON.parse(result.stdout) as { executionArn: string };
    expect(await executions()).toHaveLength(before + 1);
    expect(await inputOf(executionArn)).toEqual({ email: SAM, connections: ['crm-eu'], retryOf: first });
  });

  it('starts nothing once the connection succeeded since, nor for an unknown person or execution', async () => {
    // Prepare: a retry recorded its success
    const retry = 'arn:aws:states:eu-west-1:123456789012:execution:Offboard-OffboardUser:retry';
    await ledger().record([
      { ...entry(retry, 'crm-eu', 'deactivated', '2026-11-30T11:00:00.000Z'), retryOf: first },
    ]);
    const before = (await executions()).length;
    const unknown = 'arn:aws:states:eu-west-1:123456789012:execution:Offboard-OffboardUser:no-such-run';

    // Act
    const [byEmail, byRun, nobody, noRun] = await Promise.all([
      run(['retry', SAM, '--stack', 'Offboard', '--no-wait']),
      run(['retry', first, '--stack', 'Offboard', '--no-wait']),
      run(['retry', 'nobody@example.com', '--stack', 'Offboard', '--no-wait']),
      run(['retry', unknown, '--stack', 'Offboard', '--no-wait']),
    ]);

    // Assess
    expect([byEmail.code, byRun.code, nobody.code, noRun.code]).toEqual([0, 0, 2, 2]);
    expect(byEmail.stderr).toContain('nothing to retry');
    expect(byRun.stderr).toContain('nothing to retry');
    expect(nobody.stderr).toContain('no real run for nobody@example.com');
    expect(noRun.stderr).toContain('not found');
    expect(await executions()).toHaveLength(before);
  });
});
