import { randomUUID } from 'node:crypto';
import type { CloudFormationClient, DescribeStacksCommandOutput } from '@aws-sdk/client-cloudformation';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { S3Client } from '@aws-sdk/client-s3';
import type { DescribeExecutionCommandOutput, HistoryEvent, SFNClient } from '@aws-sdk/client-sfn';
import type { Ledger } from '../lambdas/shared/ledger';
import { stripControl } from '../lambdas/shared/text';
import type { ProgressEvent } from '../local/runner';

/**
 * The stack outputs the command line reads (lib/offboard-stack.ts creates them): the state
 * machines to start, the ledger to query, and where lists and evidence are kept.
 */
export const OUTPUT_KEYS = [
  'StateMachineArn',
  'BulkStateMachineArn',
  'AuditStateMachineArn',
  'LedgerTableName',
  'EvidenceBucketName',
  'BulkBucketName',
  'TaskTopicArn',
  'TaskPageUrl',
] as const;
export type OutputKey = (typeof OUTPUT_KEYS)[number];

/** Which deployed stack: its CloudFormation name, and the region (default: the standard chain's). */
export interface StackRef {
  stack: string;
  region?: string;
}

/**
 * The stack cannot be used as asked: no such stack, no credentials, a region that is not
 * one, an output missing. The command line says so and exits 2, having started nothing.
 */
export class StackError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'StackError';
  }
}

// CloudFormation stack names: a letter, then letters, digits and hyphens, up to 128.
const STACK_NAME = /^[A-Za-z][A-Za-z0-9-]{0,127}$/;
// AWS region names: us-east-1, eu-central-2, us-gov-west-1, ap-southeast-4, cn-north-1.
const REGION_NAME = /^[a-z]{2}(-[a-z]+)+-\d{1,2}$/;

/** Checks a stack reference before any request: a typo is named, nothing is sent. */
function checkStackRef(ref: StackRef): StackRef {
  if (!STACK_NAME.test(ref.stack))
    throw new StackError(
      `--stack '${ref.stack}' is not a CloudFormation stack name (a letter, then letters, digits and hyphens)`,
    );
  if (ref.region !== undefined && !REGION_NAME.test(ref.region))
    throw new StackError(`--region '${ref.region}' is not an AWS region name (such as eu-west-1)`);
  return ref;
}

/** The client options of every AWS client here: the region if given, else the standard chain's. */
function clientOptions(ref: StackRef): { region?: string } {
  return ref.region ? { region: ref.region } : {};
}

/**
 * An AWS SDK error as the operator needs it: missing credentials or region get what to do,
 * anything else its name and message. `where` says what was being done.
 */
export function awsError(where: string, error: unknown): Error {
  const e = error as Error & { $metadata?: { httpStatusCode?: number } };
  if (e?.name === 'CredentialsProviderError' || /Could not load credentials/i.test(e?.message ?? ''))
    return new StackError(
      `${where}: no AWS credentials found (the standard chain: AWS_PROFILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, SSO, an instance or task role); sign in (aws sso login) or set AWS_PROFILE`,
      { cause: error },
    );
  if (/Region is missing/i.test(e?.message ?? ''))
    return new StackError(
      `${where}: no AWS region: give --region, "region" in the config, or set AWS_REGION`,
      {
        cause: error,
      },
    );
  if (
    e?.name === 'UnrecognizedClientException' ||
    e?.name === 'InvalidClientTokenId' ||
    e?.name === 'ExpiredToken'
  )
    return new StackError(`${where}: AWS refused the credentials: ${e.name}: ${e.message}`, { cause: error });
  return error instanceof Error ? error : new Error(String(error));
}

/**
 * The stack's outputs, by key (CloudFormation DescribeStacks through the standard credential
 * chain; AWS_ENDPOINT_URL, which the SDK honours, points it elsewhere, as the tests do at moto).
 * A stack that does not exist is a {@link StackError} naming it and the region.
 */
export async function stackOutputs(ref: StackRef): Promise<Record<string, string>> {
  checkStackRef(ref);
  const { CloudFormationClient, DescribeStacksCommand } = await import('@aws-sdk/client-cloudformation');
  const client: CloudFormationClient = new CloudFormationClient(clientOptions(ref));
  try {
    const region = ref.region ?? (await client.config.region().catch(() => undefined));
    let answer: DescribeStacksCommandOutput;
    try {
      answer = await client.send(new DescribeStacksCommand({ StackName: ref.stack }));
    } catch (error) {
      if (/does not exist/.test((error as Error).message ?? ''))
        throw new StackError(
          `stack ${ref.stack}: not found in ${region ?? 'the default region'} (deployed with -c stackName=...? give --region if it is in another region)`,
          { cause: error },
        );
      throw awsError(`stack ${ref.stack}`, error);
    }
    const outputs: Record<string, string> = {};
    for (const output of answer.Stacks?.[0]?.Outputs ?? [])
      if (output.OutputKey && output.OutputValue !== undefined)
        outputs[output.OutputKey] = output.OutputValue;
    return outputs;
  } finally {
    client.destroy();
  }
}

/** The state machines a command starts, by the output that names them. */
export type MachineKey = 'StateMachineArn' | 'BulkStateMachineArn' | 'AuditStateMachineArn';

/** How an execution ended (or stands), as the command line reports it. */
export interface ExecutionEnd {
  executionArn: string;
  status: string;
  /** The execution's output, parsed (a summary, a bulk summary, the audit's totals). */
  output?: unknown;
  error?: { name: string; message: string };
}

/**
 * A deployed stack, ready to use: its outputs and one client of each kind, in its region.
 * `close()` releases the clients' sockets.
 */
export class DeployedStack {
  private constructor(
    readonly ref: StackRef,
    readonly outputs: Record<string, string>,
    readonly sfn: SFNClient,
    readonly dynamodb: DynamoDBClient,
    readonly s3: S3Client,
  ) {}

  /** Reads the stack's outputs and creates the clients (nothing is started). */
  static async open(ref: StackRef): Promise<DeployedStack> {
    const outputs = await stackOutputs(ref);
    const [{ SFNClient }, { DynamoDBClient }, { S3Client }] = await Promise.all([
      import('@aws-sdk/client-sfn'),
      import('@aws-sdk/client-dynamodb'),
      import('@aws-sdk/client-s3'),
    ]);
    const options = clientOptions(ref);
    return new DeployedStack(
      ref,
      outputs,
      new SFNClient(options),
      new DynamoDBClient(options),
      new S3Client(options),
    );
  }

  /** An output the command needs; a stack without it (an older version) is named. */
  output(key: OutputKey): string {
    const value = this.outputs[key];
    if (!value)
      throw new StackError(
        `stack ${this.ref.stack}: has no output ${key} (deployed with an older version of offboard? deploy it again)`,
      );
    return value;
  }

  /** The deployed ledger (DynamoDB), with the evidence bucket for before-states kept whole. */
  async ledger(): Promise<Ledger> {
    const [{ DynamoDbLedger }, { S3BlobStore }] = await Promise.all([
      import('../lambdas/shared/ledger'),
      import('../lambdas/shared/evidence'),
    ]);
    const bucket = this.outputs.EvidenceBucketName;
    const blobs = new S3BlobStore(bucket ?? '', this.s3);
    return new DynamoDbLedger(this.output('LedgerTableName'), this.dynamodb, () => {
      if (!bucket) throw new StackError(`stack ${this.ref.stack}: has no output EvidenceBucketName`);
      return blobs;
    });
  }

  /** Starts an execution of one of the stack's state machines; returns its ARN. */
  async start(machine: MachineKey, input: unknown): Promise<string> {
    const { StartExecutionCommand } = await import('@aws-sdk/client-sfn');
    const stateMachineArn = this.output(machine);
    try {
      const started = await this.sfn.send(
        // A name of our own (as the console gives one): `offboard status` and the ledger show it.
        new StartExecutionCommand({ stateMachineArn, name: randomUUID(), input: JSON.stringify(input) }),
      );
      if (!started.executionArn) throw new Error('StartExecution answered without an executionArn');
      return started.executionArn;
    } catch (error) {
      throw awsError(`start ${machine.replace(/Arn$/, '')}`, error);
    }
  }

  /**
   * Puts a list of people in the stack's bulk bucket (a JSON array), for a bulk run too large
   * to carry inline; returns the bulk input's `source`.
   */
  async uploadList(emails: readonly string[]): Promise<{ bucket: string; key: string }> {
    const { PutObjectCommand } = await import('@aws-sdk/client-s3');
    const bucket = this.output('BulkBucketName');
    const key = `offboard-cli/${new Date().toISOString().slice(0, 10)}/${randomUUID()}.json`;
    try {
      await this.s3.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: key,
          Body: JSON.stringify(emails),
          ContentType: 'application/json',
        }),
      );
    } catch (error) {
      throw awsError(`bulk bucket ${bucket}: put ${key}`, error);
    }
    return { bucket, key };
  }

  /** Where an execution stands now. */
  async describe(
    executionArn: string,
  ): Promise<ExecutionEnd & { input?: unknown; startDate?: Date; stopDate?: Date }> {
    const { DescribeExecutionCommand } = await import('@aws-sdk/client-sfn');
    let described: DescribeExecutionCommandOutput;
    try {
      described = await this.sfn.send(new DescribeExecutionCommand({ executionArn }));
    } catch (error) {
      if ((error as Error).name === 'ExecutionDoesNotExist' || (error as Error).name === 'InvalidArn')
        throw new StackError(`execution ${executionArn}: not found (${(error as Error).name})`, {
          cause: error,
        });
      throw awsError(`execution ${executionArn}`, error);
    }
    return {
      executionArn,
      status: described.status ?? 'UNKNOWN',
      ...(described.output !== undefined ? { output: parseMaybe(described.output) } : {}),
      ...(described.input !== undefined ? { input: parseMaybe(described.input) } : {}),
      ...(described.error || described.cause
        ? { error: executionError(described.error, described.cause) }
        : {}),
      ...(described.startDate ? { startDate: described.startDate } : {}),
      ...(described.stopDate ? { stopDate: described.stopDate } : {}),
    };
  }

  /**
   * The events of an execution after `afterId`, oldest first. Read newest first and stopped at
   * the first event already seen, so a long execution's history is not read again each poll.
   */
  async eventsAfter(executionArn: string, afterId: number): Promise<HistoryEvent[]> {
    const { GetExecutionHistoryCommand } = await import('@aws-sdk/client-sfn');
    const events: HistoryEvent[] = [];
    let nextToken: string | undefined;
    try {
      do {
        const page = await this.sfn.send(
          new GetExecutionHistoryCommand({ executionArn, reverseOrder: true, maxResults: 200, nextToken }),
        );
        const fresh = (page.events ?? []).filter((e) => (e.id ?? 0) > afterId);
        events.push(...fresh);
        const reachedSeen = fresh.length < (page.events ?? []).length;
        nextToken = reachedSeen ? undefined : page.nextToken;
      } while (nextToken);
    } catch (error) {
      throw awsError(`execution ${executionArn}: history`, error);
    }
    return events.sort((a, b) => (a.id ?? 0) - (b.id ?? 0));
  }

  /**
   * Follows an execution to its end: polls its history with backoff (1 s, growing to 10 s
   * while nothing happens), reports progress from the events, and returns how it ended.
   */
  async follow(
    executionArn: string,
    options: { onProgress?: (event: ProgressEvent) => void; pollMs?: number; maxPollMs?: number } = {},
  ): Promise<ExecutionEnd> {
    const first = options.pollMs ?? 1000;
    const most = options.maxPollMs ?? 10_000;
    const progress = new HistoryProgress();
    let lastId = 0;
    let pause = first;
    const report = async () => {
      const events = await this.eventsAfter(executionArn, lastId);
      for (const event of events) {
        lastId = Math.max(lastId, event.id ?? 0);
        const shown = progress.read(event);
        if (shown) options.onProgress?.(shown);
      }
      return events;
    };
    for (;;) {
      const events = await report();
      const now = await this.describe(executionArn);
      if (now.status !== 'RUNNING' && now.status !== 'PENDING_REDRIVE') {
        // What happened between the last read and the end.
        await report();
        return now;
      }
      pause = events.length > 0 ? first : Math.min(most, Math.round(pause * 1.5));
      await new Promise((resolve) => setTimeout(resolve, pause));
    }
  }

  /** The states an execution is in now (entered, not yet exited), from its history. */
  async currentStates(executionArn: string): Promise<string[]> {
    const open = new Map<number, string>();
    const progress = new HistoryProgress();
    for (const event of await this.eventsAfter(executionArn, 0)) {
      progress.read(event);
      const entered = event.stateEnteredEventDetails?.name;
      if (entered && event.type?.endsWith('StateEntered')) open.set(event.id ?? 0, entered);
      const exited = event.stateExitedEventDetails?.name;
      if (exited && event.type?.endsWith('StateExited')) {
        // The most recent open entry of that state closes.
        const id = [...open.entries()].reverse().find(([, name]) => name === exited)?.[0];
        if (id !== undefined) open.delete(id);
      }
    }
    return [...new Set(open.values())];
  }

  close(): void {
    this.sfn.destroy();
    this.dynamodb.destroy();
    this.s3.destroy();
  }
}

/** Connector steps of the ASL whose progress a local run reports, by state name. */
const PROGRESS_STATES: Record<string, ProgressEvent['step']> = {
  Lookup: 'Lookup',
  GetRecord: 'GetRecord',
  Deactivate: 'Deactivate',
  Verify: 'Verify',
  Settle: 'Settle',
  'Ask a person': 'AskPerson',
  Reactivate: 'Reactivate',
  'Verify reactivated': 'Verify reactivated',
  'Offboard the list': 'Offboard the list',
  'Verify the list': 'Verify the list',
  'Settle the list': 'Settle the list',
  'Count the single runs': 'Count the single runs',
  'Check against the user list': 'Check against the user list',
};

/**
 * Reads an execution's history into the progress events a local run reports: a connector
 * step entered is `started` (the connection from the state's input), a task of that step
 * failing is `failed` with its error name (found through the event chain, since events of a
 * Map's iterations interleave).
 */
export class HistoryProgress {
  readonly #events = new Map<number, HistoryEvent>();

  read(event: HistoryEvent): ProgressEvent | undefined {
    if (event.id !== undefined) this.#events.set(event.id, event);
    const entered = event.stateEnteredEventDetails;
    if (entered?.name && event.type?.endsWith('StateEntered')) {
      const step = PROGRESS_STATES[entered.name];
      const connection = connectionOf(entered.input);
      return step && connection ? { connection, step, phase: 'started' } : undefined;
    }
    const failure =
      event.taskFailedEventDetails ??
      event.taskTimedOutEventDetails ??
      event.lambdaFunctionFailedEventDetails;
    if (failure) {
      const start = this.#enteredBefore(event);
      const step = start && PROGRESS_STATES[start.stateEnteredEventDetails?.name ?? ''];
      const connection = start && connectionOf(start.stateEnteredEventDetails?.input);
      if (step && connection)
        return { connection, step, phase: 'failed', ...(failure.error ? { errorName: failure.error } : {}) };
    }
    return undefined;
  }

  /** The StateEntered event a task event belongs to, following previousEventId. */
  #enteredBefore(event: HistoryEvent): HistoryEvent | undefined {
    let at: HistoryEvent | undefined = event;
    for (let hops = 0; at && hops < 50; hops++) {
      if (at !== event && at.type?.endsWith('StateEntered')) return at;
      at = at.previousEventId === undefined ? undefined : this.#events.get(at.previousEventId);
    }
    return undefined;
  }
}

/** The connection a state works on: `$.connection.name` (one person) or `$.connection` in a bulk step. */
function connectionOf(input: string | undefined): string | undefined {
  const state = parseMaybe(input ?? '') as { connection?: { name?: unknown } | string } | undefined;
  const connection = state?.connection;
  if (typeof connection === 'string') return connection;
  return typeof connection?.name === 'string' ? connection.name : undefined;
}

function parseMaybe(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * A failed execution's error. Lambda errors arrive as their name with the message in the
 * cause (`{"errorType","errorMessage"}`); anything else as given.
 */
function executionError(
  error: string | undefined,
  cause: string | undefined,
): { name: string; message: string } {
  const parsed = parseMaybe(cause ?? '') as { errorMessage?: unknown } | undefined;
  const message = typeof parsed?.errorMessage === 'string' ? parsed.errorMessage : (cause ?? '');
  return { name: stripControl(error ?? 'Execution.Failed'), message: stripControl(message) };
}
