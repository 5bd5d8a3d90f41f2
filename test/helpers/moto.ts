/*
 * moto's server (moto 5.2.1, `python3 -m moto.server`): a real AWS API implementation on
 * 127.0.0.1, one per test file. What it does, as far as these tests rely on it:
 *
 * - CloudFormation creates real resources from a template (DynamoDB tables, SNS topics, S3
 *   buckets, Step Functions state machines with any definition) and DescribeStacks returns the
 *   template's Outputs, literal or `Ref`. An unknown stack is a `ValidationError` ("Stack with
 *   id X does not exist"), as in AWS.
 * - Step Functions has two backends, chosen server-wide by `POST /moto-api/config`
 *   (`{"stepfunctions": {"execute_state_machine": true}}`, see {@link Moto.executeStateMachines}):
 *   - by default an execution never runs: StartExecution keeps the input (DescribeExecution
 *     returns it), the status stays RUNNING for good (FAILED with SF_EXECUTION_HISTORY_TYPE=
 *     FAILURE, set before the server starts), there is never an output, and
 *     GetExecutionHistory returns the same four static events ("A State") for every execution.
 *   - with execute_state_machine the definition is interpreted: Pass, Wait, Choice, Succeed
 *     and Fail states run for real and give a real history (PassStateEntered/Exited with the
 *     state's name, ExecutionSucceeded/Failed) and a real output. Lambda tasks would need
 *     moto's Lambda, which needs Docker: not usable here. This backend is separate: it does
 *     not see state machines that CloudFormation created (CloudFormation always writes to the
 *     default backend), so a test creates them with CreateStateMachine and puts their ARNs in
 *     the stack's Outputs as literal values. Without a name, an execution is named "None".
 *     It runs ONE execution per server: the next StartExecution (any state machine) fails
 *     with HTTP 500 (deep-copying the first execution's lock), so a story that follows an
 *     execution starts a server of its own (startMoto).
 *   - SendTaskSuccess/Failure: accepted and ignored by the default backend (any token);
 *     the executing backend resumes a waiting token of its own. RedriveExecution: not
 *     implemented in either.
 * - The AWS SDK v3 reads AWS_ENDPOINT_URL (the configured-endpoints setting), so code that
 *   builds its own clients with the standard chain reaches this server; S3 then uses path
 *   style (the endpoint is an IP address).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { CreateStateMachineCommand, SFNClient } from '@aws-sdk/client-sfn';
import { afterAll, afterEach, beforeAll } from 'vitest';

export interface Moto {
  /** `http://127.0.0.1:<port>` */
  endpoint: string;
  region: string;
  /** What an AWS SDK v3 client needs to reach this server. */
  clientConfig: {
    endpoint: string;
    region: string;
    credentials: { accessKeyId: string; secretAccessKey: string };
  };
  /** Turns on moto's interpreting Step Functions backend (for the whole server). */
  executeStateMachines(on?: boolean): Promise<void>;
  /** Forgets every resource (moto's reset), between stories. */
  reset(): Promise<void>;
  stop(): Promise<void>;
}

/** The environment the code under test reads through the standard credential chain. */
const MOTO_ENV = ['AWS_ENDPOINT_URL', 'AWS_REGION', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'] as const;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

/**
 * Starts moto's server on a free 127.0.0.1 port and waits until it answers (polled, up to
 * `timeoutMs`: a cold Python start takes a few seconds on a busy machine). The caller stops it.
 */
export async function startMoto(
  options: { region?: string; timeoutMs?: number; env?: Record<string, string> } = {},
): Promise<Moto> {
  const region = options.region ?? 'eu-west-1';
  const deadline = Date.now() + (options.timeoutMs ?? 45_000);
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const child = spawn('python3', ['-m', 'moto.server', '-H', '127.0.0.1', '-p', String(port)], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, ...options.env },
    });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString('utf8')).slice(-4000);
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    let gone = false;
    void exited.then(() => {
      gone = true;
    });
    const endpoint = `http://127.0.0.1:${port}`;
    while (!gone && Date.now() < deadline) {
      // Ours, not another file's moto that took the port first: ours says it runs on it.
      const bound = stderr.includes(`Running on ${endpoint}`);
      if (bound && !gone && (await answers(endpoint))) return handle(child, exited, endpoint, region);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    if (!gone) {
      child.kill('SIGKILL');
      throw new Error(`moto server on ${endpoint} did not answer in time; its stderr:\n${stderr}`);
    }
    if (/No module named ['"]?moto/.test(stderr))
      throw new Error(
        "moto is not installed for python3: these tests need its server (pip install 'moto[server]==5.2.1')",
      );
    // Another process took the port between our probe and moto's bind: try another.
    if (attempt >= 3 || Date.now() >= deadline)
      throw new Error(`moto server on ${endpoint} exited before answering; its stderr:\n${stderr}`);
  }
}

/**
 * True when moto itself answers on `endpoint`: its config, as JSON. Not any answer: a server
 * that took the port between our probe and moto's bind must not pass for it.
 */
async function answers(endpoint: string): Promise<boolean> {
  try {
    const response = await fetch(`${endpoint}/moto-api/config`, { signal: AbortSignal.timeout(2000) });
    const config = (await response.json().catch(() => undefined)) as Record<string, unknown> | undefined;
    return response.ok && typeof config === 'object' && config !== null && 'lambda' in config;
  } catch {
    return false;
  }
}

function handle(child: ChildProcess, exited: Promise<number | null>, endpoint: string, region: string): Moto {
  const post = async (path: string, body?: unknown) => {
    const response = await fetch(`${endpoint}${path}`, {
      method: 'POST',
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      headers: { 'content-type': 'application/json' },
    });
    await response.body?.cancel();
    if (!response.ok) throw new Error(`moto ${path}: HTTP ${response.status}`);
  };
  return {
    endpoint,
    region,
    clientConfig: { endpoint, region, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } },
    executeStateMachines: (on = true) =>
      post('/moto-api/config', { stepfunctions: { execute_state_machine: on } }),
    reset: () => post('/moto-api/reset'),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/**
 * One moto server for the calling test file: started before its tests, stopped after them.
 * While it runs, the process environment points the standard credential chain at it
 * (AWS_ENDPOINT_URL, AWS_REGION, fake keys), so code that builds its own clients reaches
 * moto and never AWS; the previous values come back after.
 */
export function useMoto(options: Parameters<typeof startMoto>[0] = {}): () => Moto {
  let moto: Moto | undefined;
  const saved: Record<string, string | undefined> = {};
  beforeAll(async () => {
    moto = await startMoto(options);
    for (const name of MOTO_ENV) saved[name] = process.env[name];
    process.env.AWS_ENDPOINT_URL = moto.endpoint;
    process.env.AWS_REGION = moto.region;
    process.env.AWS_ACCESS_KEY_ID = moto.clientConfig.credentials.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = moto.clientConfig.credentials.secretAccessKey;
  }, 60_000);
  afterAll(async () => {
    for (const name of MOTO_ENV) {
      if (saved[name] === undefined) delete process.env[name];
      else process.env[name] = saved[name];
    }
    await moto?.stop();
  });
  return () => {
    if (!moto) throw new Error('moto is not started: call the getter inside a test or hook');
    return moto;
  };
}

/** What {@link createTestStack} made: the stack's name and its outputs. */
export interface TestStack {
  name: string;
  outputs: Record<string, string>;
}

/**
 * Creates, through moto's CloudFormation, a stack shaped as the deployed one is to the command
 * line: the ledger table (pk/sk), the task topic, the evidence and bulk buckets, and the three
 * state machines with the real ASL definitions, under the output keys the CLI reads.
 * `machines` replaces a state machine output with an ARN of the test's own (moto's executing
 * backend does not see machines created by CloudFormation, see the top of this file).
 */
export async function createTestStack(
  moto: Moto,
  name: string,
  machines: Partial<Record<'StateMachineArn' | 'BulkStateMachineArn' | 'AuditStateMachineArn', string>> = {},
): Promise<TestStack> {
  const { readFileSync } = await import('node:fs');
  const { CloudFormationClient, CreateStackCommand, DescribeStacksCommand } = await import(
    '@aws-sdk/client-cloudformation'
  );
  const asl = (file: string) =>
    readFileSync(new URL(`../../statemachines/${file}.asl.json`, import.meta.url), 'utf8');
  const role = 'arn:aws:iam::123456789012:role/offboard-test';
  const machine = (stateMachineName: string, file: string) => ({
    Type: 'AWS::StepFunctions::StateMachine',
    Properties: { StateMachineName: stateMachineName, DefinitionString: asl(file), RoleArn: role },
  });
  const template = {
    Resources: {
      Ledger: {
        Type: 'AWS::DynamoDB::Table',
        Properties: {
          AttributeDefinitions: [
            { AttributeName: 'pk', AttributeType: 'S' },
            { AttributeName: 'sk', AttributeType: 'S' },
          ],
          KeySchema: [
            { AttributeName: 'pk', KeyType: 'HASH' },
            { AttributeName: 'sk', KeyType: 'RANGE' },
          ],
          BillingMode: 'PAY_PER_REQUEST',
        },
      },
      TaskTopic: { Type: 'AWS::SNS::Topic' },
      Evidence: { Type: 'AWS::S3::Bucket' },
      Bulk: { Type: 'AWS::S3::Bucket' },
      OffboardUser: machine(`${name}-OffboardUser`, 'offboard-user'),
      OffboardBulk: machine(`${name}-OffboardBulk`, 'offboard-bulk'),
      OffboardAudit: machine(`${name}-OffboardAudit`, 'offboard-audit'),
    },
    Outputs: {
      StateMachineArn: { Value: machines.StateMachineArn ?? { Ref: 'OffboardUser' } },
      BulkStateMachineArn: { Value: machines.BulkStateMachineArn ?? { Ref: 'OffboardBulk' } },
      AuditStateMachineArn: { Value: machines.AuditStateMachineArn ?? { Ref: 'OffboardAudit' } },
      LedgerTableName: { Value: { Ref: 'Ledger' } },
      EvidenceBucketName: { Value: { Ref: 'Evidence' } },
      BulkBucketName: { Value: { Ref: 'Bulk' } },
      TaskTopicArn: { Value: { Ref: 'TaskTopic' } },
      TaskPageUrl: { Value: `https://${name.toLowerCase()}.lambda-url.${moto.region}.on.aws/` },
    },
  };
  const cfn = new CloudFormationClient(moto.clientConfig);
  try {
    await cfn.send(new CreateStackCommand({ StackName: name, TemplateBody: JSON.stringify(template) }));
    const described = await cfn.send(new DescribeStacksCommand({ StackName: name }));
    const outputs: Record<string, string> = {};
    for (const o of described.Stacks?.[0]?.Outputs ?? [])
      if (o.OutputKey && o.OutputValue) outputs[o.OutputKey] = o.OutputValue;
    return { name, outputs };
  } finally {
    cfn.destroy();
  }
}

/**
 * A moto server of its own for each story that asks (moto 5.2.1's executing backend runs one
 * execution per server: the next StartExecution fails deep-copying the first one's lock, HTTP
 * 500). The returned function starts one and points the process environment at it, as
 * `useMoto` does; every server started is stopped, and the environment restored, after each story.
 */
export function useMotoPerStory(): () => Promise<Moto> {
  const servers: Moto[] = [];
  const saved: Record<string, string | undefined> = {};
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((m) => m.stop()));
    for (const name of MOTO_ENV) {
      if (saved[name] === undefined) delete process.env[name];
      else process.env[name] = saved[name];
    }
  });
  return async () => {
    const moto = await startMoto();
    if (servers.length === 0) for (const name of MOTO_ENV) saved[name] = process.env[name];
    servers.push(moto);
    process.env.AWS_ENDPOINT_URL = moto.endpoint;
    process.env.AWS_REGION = moto.region;
    process.env.AWS_ACCESS_KEY_ID = moto.clientConfig.credentials.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = moto.clientConfig.credentials.secretAccessKey;
    return moto;
  };
}

/**
 * Turns on moto's executing backend and creates `definition` as the stack's OffboardUser
 * stand-in (Pass, Wait and Fail states: moto's Lambda needs Docker); returns its ARN, for
 * `createTestStack`'s StateMachineArn.
 */
export async function createStandIn(moto: Moto, definition: string): Promise<string> {
  await moto.executeStateMachines();
  const sfn = new SFNClient(moto.clientConfig);
  try {
    const created = await sfn.send(
      new CreateStateMachineCommand({
        name: 'Offboard-OffboardUser',
        definition,
        roleArn: 'arn:aws:iam::123456789012:role/offboard-test',
      }),
    );
    return created.stateMachineArn ?? '';
  } finally {
    sfn.destroy();
  }
}
