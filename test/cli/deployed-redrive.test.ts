import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DescribeExecutionCommand,
  ListExecutionsCommand,
  SFNClient,
  StartExecutionCommand,
  StopExecutionCommand,
} from '@aws-sdk/client-sfn';
import { describe, expect, it } from 'vitest';
import { EXIT } from '../../cli/main';
import { MemoryBlobStore } from '../../lambdas/shared/evidence';
import { DynamoDbLedger } from '../../lambdas/shared/ledger';
import { run } from '../helpers/cli';
import { createStandIn, createTestStack, useMotoPerStory } from '../helpers/moto';

/**
 * `offboard retry <execution-arn> --stack` on an execution that did not succeed: a redrive
 * re-runs the original input without reading anything, so it is refused where that would
 * undo a person's decision: an execution stopped on purpose, one the safety brake stopped, and
 * an offboarding whose person was reactivated since. moto has no RedriveExecution: a call to it
 * would fail the command with a different message and exit code than the refusals asserted.
 */

const JANE = 'jane.doe@example.com';
const ownMoto = useMotoPerStory();

/**
 * A moto server (its own: the executing backend runs one execution a server) with the stack
 * `Offboard`, whose OffboardUser is `definition` when given (moto runs Pass and Fail states),
 * and one execution of it for Jane, run to its end.
 */
async function stackWithExecution(definition?: object) {
  const moto = await ownMoto();
  const sfn = new SFNClient(moto.clientConfig);
  const machine = definition ? await createStandIn(moto, JSON.stringify(definition)) : undefined;
  const stack = await createTestStack(moto, 'Offboard', machine ? { StateMachineArn: machine } : {});
  const stateMachineArn = stack.outputs.StateMachineArn ?? '';
  const { executionArn = '' } = await sfn.send(
    new StartExecutionCommand({ stateMachineArn, input: JSON.stringify({ email: JANE }) }),
  );
  // Polled, not timed: the executing backend runs it in a thread.
  for (let i = 0; definition && i < 400; i++) {
    const { status } = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    if (status !== 'RUNNING') break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const executions = async () =>
    (await sfn.send(new ListExecutionsCommand({ stateMachineArn }))).executions?.length ?? 0;
  const ledger = new DynamoDbLedger(
    stack.outputs.LedgerTableName ?? '',
    new DynamoDBClient(moto.clientConfig),
    () => new MemoryBlobStore(),
  );
  return { sfn, executionArn, executions, ledger };
}

const failingWith = (error: string) => ({
  StartAt: 'Stop',
  States: { Stop: { Type: 'Fail', Error: error, Cause: 'as the real state machine ends' } },
});

describe('offboard retry <execution-arn> --stack does not redrive', () => {
  it('an execution someone stopped on purpose (ABORTED): exit 1, nothing started', async () => {
    // Prepare
    const { sfn, executionArn, executions } = await stackWithExecution();
    await sfn.send(new StopExecutionCommand({ executionArn, error: 'Operator', cause: 'wrong person' }));
    // Act
    const { code, stderr } = await run(['retry', executionArn, '--stack', 'Offboard']);
    // Assess
    expect(code).toBe(EXIT.failed);
    expect(stderr).toContain('was stopped on purpose (StopExecution), so it is not resumed');
    expect(stderr).not.toContain('redrive');
    expect(await executions()).toBe(1);
    sfn.destroy();
  });

  it('an execution the safety brake stopped (Brake.Refused): exit 1, naming the brake', async () => {
    const { sfn, executionArn, executions } = await stackWithExecution(failingWith('Brake.Refused'));
    const { status } = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    expect(status).toBe('FAILED');
    const { code, stderr } = await run(['retry', executionArn, '--stack', 'Offboard']);
    expect(code).toBe(EXIT.failed);
    expect(stderr).toContain('was stopped by the safety brake, which a person kept on');
    expect(stderr).not.toContain('redrive');
    expect(await executions()).toBe(1);
    sfn.destroy();
  });

  it('an offboarding whose person was reactivated since: exit 0, nothing to retry', async () => {
    // Prepare: the offboarding failed (timed out waiting for a person); Jane was reinstated after
    const { sfn, executionArn, executions, ledger } = await stackWithExecution(failingWith('States.Timeout'));
    await ledger.record([
      {
        email: JANE,
        connection: 'crm',
        type: 'insightly',
        outcome: 'reactivated',
        dryRun: false,
        reactivate: true,
        userId: '1002',
        at: new Date(Date.now() + 1000).toISOString(),
        executionId: 'arn:aws:states:eu-west-1:123456789012:execution:Offboard-OffboardUser:reinstate',
      },
    ]);
    // Act
    const { code, stderr } = await run(['retry', executionArn, '--stack', 'Offboard']);
    // Assess
    expect(stderr).toContain(
      'was reactivated over since, by arn:aws:states:eu-west-1:123456789012:execution:',
    );
    expect(stderr).not.toContain('redrive');
    expect(code).toBe(EXIT.ok);
    expect(await executions()).toBe(1);
    sfn.destroy();
  });
});
