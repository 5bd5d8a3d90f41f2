import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Context } from 'aws-lambda';

export type JSONValue = Parameters<StateMachine['run']>[0];

import {
  ExecutionAbortedError,
  ExecutionError,
  StateMachine,
  type StateMachineDefinition,
} from 'aws-local-stepfunctions';
import { createGainsightConnector } from '../lambdas/connectors/gainsight/connector';
import { createInsightlyConnector } from '../lambdas/connectors/insightly/connector';
import { createRapid7InsightvmConnector } from '../lambdas/connectors/rapid7-insightvm/connector';
import { createRapid7PlatformConnector } from '../lambdas/connectors/rapid7-platform/connector';
import { createScimConnector } from '../lambdas/connectors/scim/connector';
import { brakeHandler } from '../lambdas/handlers/brake';
import { claimHandler } from '../lambdas/handlers/claim';
import { connectorHandler } from '../lambdas/handlers/connector';
import { normalizeHandler } from '../lambdas/handlers/normalize';
import { recordHandler } from '../lambdas/handlers/record';
import { restorePlanHandler } from '../lambdas/handlers/restore-plan';
import { handler as summarizeHandler } from '../lambdas/handlers/summarize';
import type { BrakeConfig, PauseAnswers } from '../lambdas/shared/brake';
import type { ConnectionRef, ConnectionType } from '../lambdas/shared/connections';
import { keepsBrake, type Ledger } from '../lambdas/shared/ledger';
import type { SecretResolver } from '../lambdas/shared/secrets';
import type { ConnectorFactory, StepEnvironment } from '../lambdas/shared/steps';
import { causeMessage, type OffboardSummary } from '../lambdas/shared/summary';
import { SqliteLedger } from './sqlite-ledger';
import { LocalTaskStore, type PersonTask, type PersonTaskPayload, type PersonTaskResult } from './tasks';

/** The deployed state machine's definition file: the local runner executes the very same file. */
export const OFFBOARD_USER_ASL = fileURLToPath(
  new URL('../statemachines/offboard-user.asl.json', import.meta.url),
);

/** Task states of offboard-user.asl.json that run a connector step. */
export const CONNECTOR_STEPS = [
  'Lookup',
  'GetRecord',
  'Deactivate',
  'Verify',
  'Settle',
  'Reactivate',
  'Verify reactivated',
] as const;
export type ConnectorStep =
  | (typeof CONNECTOR_STEPS)[number]
  | 'AskPerson'
  | 'Offboard the list'
  | 'Verify the list'
  | 'Settle the list'
  | 'Count the single runs'
  | 'Check against the user list';

/** The connector behind each connection type, as the deployed functions bundle them. */
export const CONNECTOR_FACTORIES: Record<ConnectionType, ConnectorFactory> = {
  insightly: createInsightlyConnector,
  'rapid7-insightvm': createRapid7InsightvmConnector,
  'rapid7-platform': createRapid7PlatformConnector,
  gainsight: createGainsightConnector,
  scim: createScimConnector,
  'insightly-scim': createScimConnector,
  'gainsight-scim': createScimConnector,
};

/** A connection for a local run: where it points, and its secret JSON (from the config file). */
export interface LocalConnection {
  ref: ConnectionRef;
  secret: unknown;
}

/** Reported as each connection moves through its steps. */
export interface ProgressEvent {
  connection: string;
  step: ConnectorStep;
  phase: 'started' | 'succeeded' | 'failed';
  errorName?: string;
}

export interface LocalRunOptions {
  connections: LocalConnection[];
  /** The execution input, exactly as it would be pasted into the console. */
  input: unknown;
  onProgress?: (event: ProgressEvent) => void;
  /**
   * Replaces every Retry pause with this many milliseconds (tests). Left out, the ASL's own
   * backoff applies, as in AWS.
   */
  retryPauseMs?: number;
  /** Replaces the wait for a future-dated termination with this many milliseconds (tests). */
  waitMs?: number;
  executionName?: string;
  /**
   * Asked when a connection's account must be switched off by a person (its API cannot).
   * Absent, such a connection fails with a clear error.
   */
  askPerson?: (task: PersonTask) => Promise<PersonTaskResult>;
  /** Receives the 'Offboarding Finished' event the state machine publishes (EventBridge, deployed). */
  onResultEvent?: (event: { source: string; detailType: string; detail: unknown }) => void;
  /**
   * Where the outcomes, and the before-state ahead of every write, are recorded (the command
   * line opens one). Absent, a ledger in memory serves this run only.
   */
  ledger?: Ledger;
  /** Stops the run where it is (as StopExecution would): it ends with the error `Execution.Aborted`. */
  signal?: AbortSignal;
  /**
   * The safety brake (the command line always passes the config's, defaults filled in):
   * counted in the ledger's brake state. Absent, the brake's states let every run through
   * uncounted (library callers and tests that offboard many people on purpose).
   */
  brake?: LocalBrake;
}

/** A pause's `release-brake` task, as the state machine hands it to task-notify. */
export interface BrakeReleaseRequest {
  taskId: string;
  executionId: string;
  timeoutSeconds: number;
  details: { count: number; limit: number; windowMinutes: number; people: number; email?: string };
}

/** The brake of local runs: its settings, and who is asked to release a pause. */
export interface LocalBrake {
  config: BrakeConfig;
  /**
   * Opens or joins the pause's task (one task id for every waiting run) and waits for its
   * answer. Absent, a paused run cannot be released: it stops as refused.
   */
  release?: (
    request: BrakeReleaseRequest,
  ) => Promise<{ ok: true; by?: string } | { ok: false; reason: string; by?: string }>;
  /** The task store, for who answered a pause and when (FileTaskStore fits). */
  answers?: PauseAnswers;
}

/** Ledgers that keep no brake state themselves (wrappers in tests) share this one, per process. */
let memoryBrake: SqliteLedger | undefined;

/**
 * The overrides of the brake's Task states (offboard-user and offboard-bulk name them alike):
 * the real brake handler on the ledger's brake state, and the wait on the pause's task.
 */
export function brakeTasks(
  options: Pick<LocalRunOptions, 'brake'>,
  ledger: Ledger,
): Record<string, (input: JSONValue) => Promise<JSONValue>> {
  const brake = options.brake;
  if (!brake) {
    const pass = async () => ({ Payload: { counted: false } }) as JSONValue;
    return { 'Count toward the brake': pass };
  }
  memoryBrake ??= SqliteLedger.inMemory();
  const store = keepsBrake(ledger) ? ledger : memoryBrake;
  const handler = brakeHandler({
    ledger: () => store,
    config: () => brake.config,
    blobs: () => ledger.blobs(),
    ...(brake.answers ? { answers: () => brake.answers } : {}),
  });
  const call = async (input: unknown) =>
    invoke(handler, (input as { Payload: unknown }).Payload, 'offboard-local-brake');
  return {
    'Count toward the brake': call,
    'Note the release': call,
    'Note the refusal': call,
    "Wait for the brake's release": async (input: unknown): Promise<JSONValue> => {
      const { taskId, executionId, timeoutSeconds, details } = (input as { Payload: BrakeReleaseRequest })
        .Payload;
      if (!brake.release) {
        throw Object.assign(new Error('the safety brake paused this run, and this run has no one to ask'), {
          name: 'Task.Refused',
        });
      }
      const answer = await brake.release({ taskId, executionId, timeoutSeconds, details });
      const at = new Date().toISOString();
      // As SendTaskSuccess's output, and SendTaskFailure's Task.Refused with a JSON cause.
      if (answer.ok) return { ok: true, by: answer.by ?? null, at } as JSONValue;
      throw Object.assign(new Error(JSON.stringify({ reason: answer.reason, by: answer.by, at })), {
        name: 'Task.Refused',
      });
    },
  };
}

/** A connection type's function, locally (deployed, `<stack>-<type>`). */
export const localFunctionName = (type: string): string => `offboard-local-${type}`;

/** The connections as a local state carries them: each named with its type's function. */
export function localRefs(connections: readonly LocalConnection[]) {
  return connections.map((c) => ({ ...c.ref, functionName: localFunctionName(c.ref.type) }));
}

/**
 * What a local execution failed with, as `{ name, message }` (a Lambda error's message read
 * out of its JSON cause); anything that is not an execution's own failure is thrown on.
 */
export function executionFailure(error: unknown): { name: string; message: string } {
  if (error instanceof ExecutionAbortedError)
    return { name: 'Execution.Aborted', message: 'the run was stopped' };
  if (!(error instanceof ExecutionError)) throw error;
  const cause = error.cause as Error;
  return { name: cause.name, message: causeMessage(cause.message) };
}

/** The ledger a run writes to: the caller's, or one in memory for this run. */
function ledgerFor(options: Pick<LocalRunOptions, 'ledger'>): Ledger {
  return options.ledger ?? SqliteLedger.inMemory();
}

export type LocalRunResult =
  | { ok: true; summary: OffboardSummary; executionId: string }
  | { ok: false; error: { name: string; message: string }; executionId: string };

/**
 * Runs offboard-user.asl.json in-process (aws-local-stepfunctions). Task states call the
 * real Lambda handlers; the only difference from AWS is where secrets come from (the
 * config, instead of Secrets Manager).
 */
export async function runLocally(options: LocalRunOptions): Promise<LocalRunResult> {
  const refs = localRefs(options.connections);
  const ledger = ledgerFor(options);
  const normalize = normalizeHandler(() => refs);
  const record = recordHandler(() => ledger);
  const claim = claimHandler(() => ledger);
  const plan = restorePlanHandler(() => ledger);
  const connectorTask = connectorTasks(options.connections, ledger, options.onProgress);

  const askPerson = async (input: unknown) => {
    // The task-notify payload (lambda:invoke.waitForTaskToken), as deployed.
    const payload = (input as { Payload: PersonTaskPayload }).Payload;
    // Locally each task gets its own token (the interpreter has one static $$.Task.Token).
    const token = LocalTaskStore.newToken();
    const d = payload.details;
    const task: PersonTask = {
      token,
      connection: d.connection,
      type: d.type,
      email: d.email,
      userId: d.userId,
      why: d.why,
      executionId: payload.executionId,
      timeoutSeconds: payload.timeoutSeconds,
      instructions:
        `Switch off the account of ${d.email} (user id ${d.userId}) in ${d.type} (connection ${d.connection}): ${d.why}. ` +
        `Then run: offboard task complete ${token}. If you cannot, run: offboard task fail ${token} --reason <why>.`,
    };
    options.onProgress?.({ connection: task.connection, step: 'AskPerson', phase: 'started' });
    if (!options.askPerson) {
      throw lambdaError(
        'Config.Invalid',
        `${task.connection}: a person must switch this account off, and this run has no one to ask`,
      );
    }
    const answer = await options.askPerson(task);
    if (!answer.ok) {
      options.onProgress?.({
        connection: task.connection,
        step: 'AskPerson',
        phase: 'failed',
        errorName: 'Task.Refused',
      });
      // As SendTaskFailure: the error `Task.Refused`, the reason as the plain-text cause.
      const cause =
        answer.cause ?? `${task.connection}: the person did not switch the account off: ${answer.reason}`;
      throw Object.assign(new Error(cause), { name: 'Task.Refused' });
    }
    options.onProgress?.({ connection: task.connection, step: 'AskPerson', phase: 'succeeded' });
    // As SendTaskSuccess's output (answerTask's `{taskId, ok, by, at}`): the task's id where
    // the answer names it, for the evidence of who switched the account off.
    const taskId = (answer as { taskId?: unknown }).taskId;
    return {
      ...(typeof taskId === 'string' ? { taskId } : {}),
      ok: true,
      by: answer.by ?? null,
      at: new Date().toISOString(),
    };
  };

  const executionName = options.executionName ?? randomUUID();
  const executionId = `arn:aws:states:local:000000000000:execution:offboard-user:${executionName}`;
  const machine = loadStateMachine(OFFBOARD_USER_ASL);
  const retryOverrides =
    options.retryPauseMs === undefined
      ? undefined
      : Object.fromEntries(
          ['Normalize', ...CONNECTOR_STEPS, 'Summarize'].map((s) => [s, options.retryPauseMs as number]),
        );
  const execution = machine.run(options.input as never, {
    overrides: {
      taskResourceLocalHandlers: {
        Normalize: async (input) =>
          invoke(normalize, (input as { Payload: unknown }).Payload, 'offboard-local-normalize'),
        'Ask a person': askPerson,
        'Find what was switched off': async (input) =>
          invoke(plan, (input as { Payload: unknown }).Payload, 'offboard-local-restore-plan'),
        'Claim the termination': async (input) =>
          invoke(claim, (input as { Payload: unknown }).Payload, 'offboard-local-claim'),
        ...brakeTasks(options, ledger),
        'Publish the result': async (input) => {
          const [entry] = (
            input as { Entries: Array<{ Source: string; DetailType: string; Detail: unknown }> }
          ).Entries;
          if (entry)
            options.onResultEvent?.({
              source: entry.Source,
              detailType: entry.DetailType,
              detail: entry.Detail,
            });
          return { Entries: [{ EventId: randomUUID() }], FailedEntryCount: 0 };
        },
        'Record outcomes': async (input) =>
          invoke(record, (input as { Payload: unknown }).Payload, 'offboard-local-record'),
        Summarize: async (input) =>
          invoke(summarizeHandler, (input as { Payload: unknown }).Payload, 'offboard-local-summarize'),
        ...Object.fromEntries(CONNECTOR_STEPS.map((step) => [step, connectorTask(step)])),
      },
      ...(retryOverrides ? { retryIntervalOverrides: retryOverrides } : {}),
      ...(options.waitMs === undefined
        ? {}
        : { waitTimeOverrides: { 'Wait for the next step': options.waitMs } }),
    },
    context: {
      Execution: {
        Id: executionId,
        Name: executionName,
        Input: options.input,
        StartTime: new Date().toISOString(),
      },
      // Each person task gets its own token in the override; this only satisfies the path.
      Task: { Token: 'local-task-token' },
    } as never,
  });
  options.signal?.addEventListener('abort', () => execution.abort(), { once: true });
  try {
    const summary = (await execution.result) as unknown as OffboardSummary;
    return { ok: true, summary, executionId };
  } catch (error) {
    return { ok: false, error: executionFailure(error), executionId };
  }
}

/**
 * The override of a Task state that runs a connector step: the connection's type picks the
 * handler (as the deployed FunctionName does), secrets come from the local config.
 */
export function connectorTasks(
  connections: readonly LocalConnection[],
  ledger: Ledger,
  onProgress?: (event: ProgressEvent) => void,
) {
  const secrets = new Map(connections.map((c) => [c.ref.name, c.secret]));
  const resolveSecret: SecretResolver = async (connection) => secrets.get(connection.name);
  // As deployed, each type's function knows only its own connections, from its own
  // configuration: the payload names a connection, it never says where it is.
  const handlers = new Map(
    Object.entries(CONNECTOR_FACTORIES).map(([type, factory]) => {
      const own = connections.filter((c) => c.ref.type === type).map((c) => c.ref);
      const environment: StepEnvironment = {
        connections: () => own,
        resolveSecret,
        ledger: () => ledger,
        blobs: () => ledger.blobs(),
      };
      return [type, connectorHandler(factory, environment)];
    }),
  );
  return (step: ConnectorStep) => async (input: unknown) => {
    const payload = (input as { Payload: { connection: ConnectionRef } }).Payload;
    const name = payload.connection.name;
    onProgress?.({ connection: name, step, phase: 'started' });
    const handler = handlers.get(payload.connection.type);
    if (!handler)
      throw lambdaError('Config.Invalid', `${name}: no connector for type ${payload.connection.type}`);
    try {
      const result = await invoke(handler, payload, localFunctionName(payload.connection.type));
      onProgress?.({ connection: name, step, phase: 'succeeded' });
      return result;
    } catch (error) {
      onProgress?.({ connection: name, step, phase: 'failed', errorName: (error as Error).name });
      throw error;
    }
  };
}

/**
 * The override of a `states:startExecution.sync:2` Task that starts offboard-user: the
 * child runs in-process, and its summary comes back under `Output` as in AWS. The parent's
 * link (AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID) is Step Functions' business, not input.
 */
export function childOffboarding(options: Omit<LocalRunOptions, 'input'>) {
  return async (input: unknown): Promise<JSONValue> => {
    // The parent's link stays in the child's input, as Step Functions keeps it: the brake
    // reads it to leave a bulk run's hand-off uncounted (its bulk run counted it).
    const child = (input as { Input: Record<string, unknown> }).Input;
    const result = await runLocally({ ...options, input: child });
    if (!result.ok)
      throw Object.assign(new Error(JSON.stringify(result.error)), { name: 'States.TaskFailed' });
    return { Output: result.summary } as unknown as JSONValue;
  };
}

const machines = new Map<string, StateMachine>();

/**
 * The state machine of an ASL file, read once per process. Runs of one StateMachine are
 * independent of each other. Not validated here, as the interpreter would on every start
 * (about 80 ms, and again in every Map iteration): every definition is validated with
 * asl-validator in CI (test/statemachines/definitions.test.ts) and when the CLI is built
 * (build/cli.ts).
 */
export function loadStateMachine(file: string): StateMachine {
  let machine = machines.get(file);
  if (!machine) {
    const definition = JSON.parse(readFileSync(file, 'utf8')) as StateMachineDefinition;
    machine = new StateMachine(definition, { validationOptions: { noValidate: true } });
    machines.set(file, machine);
  }
  return machine;
}

export type AnyHandler = (event: never, context: Context) => Promise<unknown>;

/**
 * Calls a handler the way `lambda:invoke` would: the result comes back as `{ Payload }`,
 * and a thrown error reaches the state machine with the name as the error and Lambda's
 * `{errorType, errorMessage}` JSON as the cause, as in AWS.
 */
export async function invoke(
  handler: AnyHandler,
  payload: unknown,
  functionName: string,
): Promise<JSONValue> {
  try {
    // A JSON round trip, like the wire: handlers never share objects with the interpreter.
    const event = JSON.parse(JSON.stringify(payload ?? null)) as never;
    const result = await handler(event, fakeContext(functionName));
    return { Payload: JSON.parse(JSON.stringify(result ?? null)) as JSONValue };
  } catch (error) {
    const e = error as Error;
    throw lambdaError(e.name || 'Error', e.message);
  }
}

function lambdaError(name: string, message: string): Error {
  const error = new Error(JSON.stringify({ errorType: name, errorMessage: message }));
  error.name = name;
  return error;
}

/**
 * How long each function may run, as deployed (lib/offboard-stack.ts): connectors 150 s (a bulk
 * or audit step reads a whole user list), the rest 30 s. Middy stops a handler just before.
 */
const LOCAL_TIMEOUT_MS = (functionName: string) =>
  CONNECTOR_FUNCTION_NAMES.has(functionName) ? 150_000 : 30_000;
const CONNECTOR_FUNCTION_NAMES = new Set(Object.keys(CONNECTOR_FACTORIES).map(localFunctionName));

function fakeContext(functionName: string): Context {
  const deadline = Date.now() + LOCAL_TIMEOUT_MS(functionName);
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:${functionName}`,
    memoryLimitInMB: CONNECTOR_FUNCTION_NAMES.has(functionName) ? '1024' : '256',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}
