import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DescribeExecutionCommand, ListExecutionsCommand, SFNClient } from '@aws-sdk/client-sfn';
import { beforeAll, describe, expect, it } from 'vitest';
import { StackError, stackOutputs } from '../../cli/deployed';
import { EXIT } from '../../cli/main';
import { MemoryBlobStore } from '../../lambdas/shared/evidence';
import { DynamoDbLedger, type LedgerEntry } from '../../lambdas/shared/ledger';
import { run } from '../helpers/cli';
import { createTestStack, type TestStack, useMoto } from '../helpers/moto';

/**
 * The command line against a deployed stack, on moto's server: CloudFormation outputs, Step
 * Functions executions (moto's default backend: an execution keeps its input and stays
 * RUNNING), the ledger in DynamoDB written by the real DynamoDbLedger.
 */

const moto = useMoto();
const dir = mkdtempSync(join(tmpdir(), 'offboard-deployed-'));
let stack: TestStack;

beforeAll(async () => {
  stack = await createTestStack(moto(), 'Offboard');
});

async function executionsOf(key: 'StateMachineArn' | 'BulkStateMachineArn' | 'AuditStateMachineArn') {
  const sfn = new SFNClient(moto().clientConfig);
  try {
    const listed = await sfn.send(new ListExecutionsCommand({ stateMachineArn: stack.outputs[key] }));
    return listed.executions ?? [];
  } finally {
    sfn.destroy();
  }
}

async function inputOf(executionArn: string): Promise<unknown> {
  const sfn = new SFNClient(moto().clientConfig);
  try {
    const described = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    return JSON.parse(described.input ?? 'null');
  } finally {
    sfn.destroy();
  }
}

function ledger(): DynamoDbLedger {
  return new DynamoDbLedger(
    stack.outputs.LedgerTableName ?? '',
    new DynamoDBClient(moto().clientConfig),
    () => new MemoryBlobStore(),
  );
}

describe('stack outputs', () => {
  it('reads the outputs of a deployed stack through the standard chain (AWS_ENDPOINT_URL at moto)', async () => {
    // Act
    const outputs = await stackOutputs({ stack: 'Offboard' });
    // Assess
    expect(outputs).toEqual(stack.outputs);
    expect(Object.keys(outputs).sort()).toEqual(
      [
        'AuditStateMachineArn',
        'BulkStateMachineArn',
        'BulkBucketName',
        'EvidenceBucketName',
        'LedgerTableName',
        'StateMachineArn',
        'TaskPageUrl',
        'TaskTopicArn',
      ].sort(),
    );
    expect(outputs.StateMachineArn).toMatch(
      /^arn:aws:states:eu-west-1:\d+:stateMachine:Offboard-OffboardUser$/,
    );
  });

  it('names a stack that does not exist, and the region it looked in', async () => {
    const error = await stackOutputs({ stack: 'NoSuchStack', region: 'eu-west-1' }).catch((e) => e);
    expect(error).toBeInstanceOf(StackError);
    expect(error.message).toMatch(/^stack NoSuchStack: not found in eu-west-1/);
  });
});

describe('offboard run --stack --no-wait', () => {
  it('starts OffboardUser with exactly the input a local run would take, and prints the ARN alone', async () => {
    // Act
    const { code, stdout } = await run([
      'run',
      '--stack',
      'Offboard',
      '--email',
      'jane.doe@example.com',
      '--dry-run',
      '--connections',
      'crm,hr',
      '--no-wait',
    ]);
    // Assess
    expect(code).toBe(EXIT.ok);
    expect(stdout).toMatch(/^arn:aws:states:eu-west-1:\d+:execution:Offboard-OffboardUser:[\w-]+$/);
    expect(await inputOf(stdout)).toEqual({
      email: 'jane.doe@example.com',
      dryRun: true,
      connections: ['crm', 'hr'],
    });
  });

  it('starts OffboardBulk with the list inline', async () => {
    const list = join(dir, 'leavers.csv');
    writeFileSync(list, 'email\na.one@example.com\nb.two@example.com\n');
    const { code, stdout } = await run(['run', '--stack', 'Offboard', '--emails', list, '--no-wait']);
    expect(code).toBe(EXIT.ok);
    expect(stdout).toContain(':execution:Offboard-OffboardBulk:');
    expect(await inputOf(stdout)).toEqual({
      emails: ['a.one@example.com', 'b.two@example.com'],
      dryRun: false,
    });
  });

  it('takes the stack from the config file ("stack", "region"), and reactivate and audit start their machines', async () => {
    const config = join(dir, 'deployed.json');
    writeFileSync(
      config,
      JSON.stringify({
        stack: 'Offboard',
        region: 'eu-west-1',
        connections: [
          {
            name: 'crm',
            type: 'insightly',
            baseUrl: 'https://api.na1.insightly.com/v3.1',
            secretId: 'offboard/crm',
          },
        ],
      }),
    );
    const reactivate = await run([
      'reactivate',
      '--config',
      config,
      '--email',
      'jane.doe@example.com',
      '--no-wait',
    ]);
    const audit = await run(['audit', '--stack', 'Offboard', '--remediate', '--no-wait']);
    expect([reactivate.code, audit.code]).toEqual([EXIT.ok, EXIT.ok]);
    expect(await inputOf(reactivate.stdout)).toEqual({
      email: 'jane.doe@example.com',
      dryRun: false,
      reactivate: true,
    });
    expect(audit.stdout).toContain(':execution:Offboard-OffboardAudit:');
    expect(await inputOf(audit.stdout)).toEqual({ remediate: true });
  });
});

describe('bad input starts nothing', () => {
  it('exits 2 on an unknown stack, a bad region, a bad email or an unknown connection, and no execution exists', async () => {
    // Prepare
    const before = (await executionsOf('StateMachineArn')).length;
    const config = join(dir, 'one-connection.json');
    writeFileSync(
      config,
      JSON.stringify({
        stack: 'Offboard',
        connections: [
          {
            name: 'crm',
            type: 'insightly',
            baseUrl: 'https://api.na1.insightly.com/v3.1',
            secretId: 'offboard/crm',
          },
        ],
      }),
    );
    // Act
    const unknown = await run(['run', '--stack', 'Nope', '--email', 'jane.doe@example.com']);
    const region = await run([
      'run',
      '--stack',
      'Offboard',
      '--region',
      'moon-1',
      '--email',
      'jane.doe@example.com',
    ]);
    const email = await run(['run', '--stack', 'Offboard', '--email', 'jane.doe at example.com']);
    const connection = await run([
      'run',
      '--config',
      config,
      '--email',
      'jane.doe@example.com',
      '--connections',
      'crm,erp',
    ]);
    // Assess
    expect(unknown).toMatchObject({ code: EXIT.usage });
    expect(unknown.stderr).toContain('stack Nope: not found in eu-west-1');
    expect(region).toMatchObject({ code: EXIT.usage });
    expect(region.stderr).toContain("--region 'moon-1' is not an AWS region name");
    expect(email).toMatchObject({ code: EXIT.usage });
    expect(email.stderr).toContain("'jane.doe at example.com' is not a valid email address");
    expect(connection).toMatchObject({ code: EXIT.usage });
    expect(connection.stderr).toContain('erp');
    expect((await executionsOf('StateMachineArn')).length).toBe(before);
  });

  it('refuses a config of Secrets Manager connections without a stack, and names --stack', async () => {
    const config = join(dir, 'secret-ids.json');
    writeFileSync(
      config,
      JSON.stringify({
        connections: [
          {
            name: 'crm',
            type: 'insightly',
            baseUrl: 'https://api.na1.insightly.com/v3.1',
            secretId: 'offboard/crm',
          },
        ],
      }),
    );
    const { code, stderr } = await run(['run', '--config', config, '--email', 'jane.doe@example.com']);
    expect(code).toBe(EXIT.usage);
    expect(stderr).toContain('connection(s) \'crm\': "secretId" names a Secrets Manager secret');
    expect(stderr).toContain('give --stack <name>');
  });
});

describe('report and status against the deployed ledger', () => {
  const entry = (executionId: string, connection: string, outcome: LedgerEntry['outcome']): LedgerEntry => ({
    email: 'sam.lee@example.com',
    connection,
    type: 'insightly',
    outcome,
    dryRun: false,
    userId: '1002',
    before: { USER_ID: 1002, ACTIVE: true },
    at: '2026-11-30T10:00:00.000Z',
    startedAt: '2026-11-30T09:59:00.000Z',
    executionId,
  });

  it('report --stack prints what the real DynamoDbLedger wrote to the stack table', async () => {
    // Prepare
    await ledger().record([
      entry('arn:aws:states:eu-west-1:123456789012:execution:Offboard-OffboardUser:r1', 'crm', 'deactivated'),
    ]);
    // Act
    const table = await run(['report', '--stack', 'Offboard', '--email', 'sam.lee@example.com']);
    const json = await run(['report', '--stack', 'Offboard', '--email', 'sam.lee@example.com', '--json']);
    // Assess
    expect(table.code).toBe(EXIT.ok);
    expect(table.stdout).toContain('Ledger for sam.lee@example.com (1 entries)');
    expect(table.stdout).toMatch(
      /2026-11-30T10:00:00.000Z\s+crm\s+insightly\s+deactivated\s+1002\s+real\s+2 fields kept/,
    );
    expect(JSON.parse(json.stdout).entries).toHaveLength(1);
  });

  it('status <arn> shows a running execution and the outcomes recorded so far', async () => {
    // Prepare: an execution (moto keeps it RUNNING) and what its steps recorded
    const started = await run(['run', '--stack', 'Offboard', '--email', 'kim.park@example.com', '--no-wait']);
    const arn = started.stdout;
    await ledger().record([{ ...entry(arn, 'crm', 'deactivated'), email: 'kim.park@example.com' }]);
    // Act
    const byArn = await run(['status', arn, '--stack', 'Offboard']);
    const byEmail = await run(['status', 'kim.park@example.com', '--stack', 'Offboard', '--json']);
    // Assess
    expect(byArn.code).toBe(EXIT.ok);
    expect(byArn.stdout).toContain(`Execution ${arn}`);
    expect(byArn.stdout).toContain('Status: RUNNING');
    expect(byArn.stdout).toMatch(/crm\s+insightly\s+deactivated\s+1002/);
    expect(byEmail.code).toBe(EXIT.ok);
    const shown = JSON.parse(byEmail.stdout);
    expect(
      shown.executions.map((e: { executionArn: string; status: string }) => [e.executionArn, e.status]),
    ).toEqual([[arn, 'RUNNING']]);
  });

  it('status of a person with no executions says so', async () => {
    const { code, stdout } = await run(['status', 'nobody@example.com', '--stack', 'Offboard']);
    expect(code).toBe(EXIT.ok);
    expect(stdout).toBe('No executions recorded for nobody@example.com in stack Offboard.');
  });
});
