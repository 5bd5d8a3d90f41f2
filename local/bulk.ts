import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { StateMachine } from 'aws-local-stepfunctions';
import { normalizeBulkHandler } from '../lambdas/handlers/normalize-bulk';
import { handler as summarizeBulkHandler } from '../lambdas/handlers/summarize-bulk';
import { ConfigError } from '../lambdas/shared/errors';
import { MAX_INLINE_PEOPLE } from '../lambdas/shared/people';
import type { BulkSummary } from '../lambdas/shared/summary';
import {
  brakeTasks,
  childOffboarding,
  connectorTasks,
  executionFailure,
  invoke,
  type JSONValue,
  type LocalRunOptions,
  loadStateMachine,
  localRefs,
} from './runner';
import { SqliteLedger } from './sqlite-ledger';

/** The deployed bulk workflow's definition: the local run executes the very same file. */
export const OFFBOARD_BULK_ASL = fileURLToPath(
  new URL('../statemachines/offboard-bulk.asl.json', import.meta.url),
);

/** Task states of offboard-bulk.asl.json that run a connector step, by the connection's type. */
export const BULK_STEPS = [
  'Offboard the list',
  'Verify the list',
  'Settle the list',
  'Count the single runs',
] as const;

/** Where a local run's list is "in S3": the list is handed over in memory, and read as the S3 path reads it. */
const LOCAL_LIST = { bucket: 'offboard-local', key: 'people.json' };

export type LocalBulkResult = (
  | { ok: true; bulk: BulkSummary; executionId: string }
  | { ok: false; error: { name: string; message: string }; executionId: string }
) & {
  /** With `measureStates`: the largest state input or output of the run. */
  largestState?: LargestState;
};

/**
 * The largest input or output of any state of a run (the execution's own included), as the
 * UTF-8 bytes of its JSON: Step Functions fails a state whose input or output exceeds 256 KB.
 */
export interface LargestState {
  state: string;
  io: 'input' | 'output';
  bytes: number;
}

export interface BulkOptions extends Omit<LocalRunOptions, 'input'> {
  emails: string[];
  dryRun?: boolean;
  connectionNames?: string[];
  /** The bulk run this one retries (`offboard retry`): its ledger entries carry it. */
  retryOf?: string;
}

/**
 * Offboards many people as the deployed bulk workflow does: each connection reads its
 * vendor's user list once and works through everyone, and only the people who need a person
 * (or whose account changed since it was read) get a single run. Up to 200 people travel
 * inline, as in the console; more are read as a list in S3 would be.
 */
export async function runBulkLocally(options: BulkOptions): Promise<LocalBulkResult> {
  const { emails, dryRun = false, connectionNames, retryOf, ...run } = options;
  const list = emails.length <= MAX_INLINE_PEOPLE ? { emails } : { source: LOCAL_LIST };
  return runBulkWorkflowLocally({
    ...run,
    input: {
      ...list,
      dryRun,
      ...(connectionNames ? { connections: connectionNames } : {}),
      ...(retryOf ? { retryOf } : {}),
    },
    list: JSON.stringify(emails),
  });
}

/**
 * Runs offboard-bulk.asl.json in-process: the real handlers for its Task states, the
 * connectors' bulk steps through the same functions a single run uses, and one offboard-user
 * run where AWS starts a child execution.
 */
export async function runBulkWorkflowLocally(
  options: Omit<LocalRunOptions, 'input'> & {
    input: unknown;
    /** What the list "in S3" holds (`runBulkLocally`); absent, an S3 source is refused. */
    list?: string;
    /**
     * Weighs every state's input and output from the execution's event log, and returns the
     * largest (`largestState`): what tests of the 256 KB limit assert on.
     */
    measureStates?: boolean;
  },
): Promise<LocalBulkResult> {
  const ledger = options.ledger ?? SqliteLedger.inMemory();
  const shared = { ...options, ledger };
  const refs = localRefs(options.connections);
  const readList = async (bucket: string, key: string): Promise<string> => {
    if (options.list !== undefined && bucket === LOCAL_LIST.bucket && key === LOCAL_LIST.key)
      return options.list;
    throw new ConfigError('a local run reads no S3 list: give the emails');
  };
  const checkList = normalizeBulkHandler(
    () => refs,
    readList,
    () => ledger.blobs(),
  );
  const connectorTask = connectorTasks(options.connections, ledger, options.onProgress);
  const machine = loadStateMachine(OFFBOARD_BULK_ASL);
  const name = randomUUID();
  const executionId = `arn:aws:states:local:000000000000:execution:offboard-bulk:${name}`;
  const execution = machine.run(options.input as JSONValue, {
    overrides: {
      taskResourceLocalHandlers: {
        'Check the list': async (input) =>
          invoke(checkList, (input as { Payload: unknown }).Payload, 'offboard-local-normalize-bulk'),
        ...Object.fromEntries(BULK_STEPS.map((step) => [step, connectorTask(step)])),
        'Offboard one person': childOffboarding(shared),
        ...brakeTasks(options, ledger),
        'Summarize the bulk run': async (input) =>
          invoke(
            summarizeBulkHandler,
            (input as { Payload: unknown }).Payload,
            'offboard-local-summarize-bulk',
          ),
      },
      ...(options.retryPauseMs === undefined
        ? {}
        : {
            retryIntervalOverrides: Object.fromEntries(
              BULK_STEPS.map((step) => [step, options.retryPauseMs as number]),
            ),
          }),
    },
    context: {
      Execution: { Id: executionId, Name: name, Input: options.input, StartTime: new Date().toISOString() },
      // The brake's wait names the pause's task; this only satisfies the path (as in runLocally).
      Task: { Token: 'local-task-token' },
    } as never,
  });
  options.signal?.addEventListener('abort', () => execution.abort(), { once: true });
  // The log closes when the execution ends, however it ends.
  const measured = options.measureStates ? largestStateOf(execution.eventLogs) : undefined;
  const measure = async () => {
    const largestState = await measured;
    return largestState ? { largestState } : {};
  };
  try {
    const bulk = (await execution.result) as unknown as BulkSummary;
    return { ok: true, bulk, executionId, ...(await measure()) };
  } catch (error) {
    return { ok: false, error: executionFailure(error), executionId, ...(await measure()) };
  }
}

/** The largest state input or output in an execution's event log (Map iterations' included). */
async function largestStateOf(
  events: ReturnType<StateMachine['run']>['eventLogs'],
): Promise<LargestState | undefined> {
  let largest: LargestState | undefined;
  const weigh = (state: string, io: LargestState['io'], value: unknown) => {
    const bytes = Buffer.byteLength(JSON.stringify(value ?? null));
    if (!largest || bytes > largest.bytes) largest = { state, io, bytes };
  };
  for await (const event of events) {
    if (event.type === 'ExecutionStarted') weigh('(execution)', 'input', event.input);
    else if (event.type === 'ExecutionSucceeded') weigh('(execution)', 'output', event.output);
    else if (event.type === 'StateEntered') weigh(event.state.name, 'input', event.state.input);
    else if (event.type === 'StateExited') weigh(event.state.name, 'output', event.state.output);
  }
  return largest;
}
