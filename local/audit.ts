import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { StateMachine } from 'aws-local-stepfunctions';
import { auditPageHandler } from '../lambdas/handlers/audit-page';
import { auditTallyHandler } from '../lambdas/handlers/audit-tally';
import type { AuditTotals } from '../lambdas/shared/audit';
import type { Ledger } from '../lambdas/shared/ledger';
import {
  childOffboarding,
  connectorTasks,
  executionFailure,
  invoke,
  type LocalConnection,
  type LocalRunOptions,
  loadStateMachine,
  localRefs,
} from './runner';

/** The scheduled audit's definition: the local run executes the same file. */
export const OFFBOARD_AUDIT_ASL = fileURLToPath(
  new URL('../statemachines/offboard-audit.asl.json', import.meta.url),
);

/** One event of an execution's log, as aws-local-stepfunctions reports it (its type is not exported). */
export type ExecutionEvent =
  ReturnType<StateMachine['run']>['eventLogs'] extends AsyncGenerator<infer E> ? E : never;

export interface LocalAuditOptions
  extends Pick<LocalRunOptions, 'onProgress' | 'askPerson' | 'retryPauseMs' | 'brake'> {
  connections: LocalConnection[];
  ledger: Ledger;
  /** Switch drifted accounts off again (through offboard-user), not only report them. */
  remediate?: boolean;
  onDriftEvent?: (totals: AuditTotals) => void;
  /**
   * Receives every event of the audit execution's log as it happens (states entered and
   * exited, retries, Map iterations), to count its transitions and history events (the
   * benchmark). The remediation's child executions are not in it.
   */
  onEvent?: (event: ExecutionEvent) => void;
  /**
   * History events after which the audit goes on in a new execution (tests: a small one);
   * absent, the deployed AUDIT_EVENT_BUDGET. Each execution is run here in turn, and the
   * result is the last one's.
   */
  eventBudget?: number;
  /** Called with each execution's id as it starts (the first, and each that goes on). */
  onExecution?: (executionId: string) => void;
}

type AuditResult =
  | { ok: true; totals: AuditTotals }
  | { ok: false; error: { name: string; message: string } };

/**
 * Runs offboard-audit.asl.json in-process: the ledger pages, each connection's check against
 * its user list (read once a run), and the remediation (an offboard-user run a drifted
 * account, as AWS starts a child execution).
 */
export async function runAuditLocally(options: LocalAuditOptions): Promise<AuditResult> {
  return auditExecution(options, { remediate: options.remediate === true });
}

async function auditExecution(
  options: LocalAuditOptions,
  input: Record<string, unknown>,
): Promise<AuditResult> {
  const refs = localRefs(options.connections);
  const page = auditPageHandler(
    () => options.ledger,
    () => refs,
  );
  const tally = auditTallyHandler(() => options.ledger, options.eventBudget);
  // The audit going on in a new execution: run here in turn; its result is the audit's.
  let wentOn: Promise<AuditResult> | undefined;
  const executionId = `arn:aws:states:local:000000000000:execution:offboard-audit:${randomUUID()}`;
  options.onExecution?.(executionId);
  const connectorTask = connectorTasks(options.connections, options.ledger, options.onProgress);
  const execution = loadStateMachine(OFFBOARD_AUDIT_ASL).run(input as never, {
    overrides: {
      taskResourceLocalHandlers: {
        'Read a page of the ledger': async (input) =>
          invoke(page, (input as { Payload: unknown }).Payload, 'offboard-local-audit-page'),
        'Check against the user list': connectorTask('Check against the user list'),
        'Switch it off again': childOffboarding(options),
        Tally: async (input) =>
          invoke(tally, (input as { Payload: unknown }).Payload, 'offboard-local-audit-tally'),
        'Go on in a new execution': async (start) => {
          const { AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID: _parent, ...next } = (
            start as { Input: Record<string, unknown> }
          ).Input;
          wentOn = auditExecution(options, next);
          return { ExecutionArn: 'arn:aws:states:local:000000000000:execution:offboard-audit:next' };
        },
        'Publish the drift': async (input) => {
          const [entry] = (input as unknown as { Entries: Array<{ Detail: AuditTotals }> }).Entries;
          if (entry) options.onDriftEvent?.(entry.Detail);
          return { Entries: [{ EventId: randomUUID() }], FailedEntryCount: 0 };
        },
      },
      ...(options.retryPauseMs === undefined
        ? {}
        : { retryIntervalOverrides: { 'Check against the user list': options.retryPauseMs } }),
    },
    context: {
      Execution: { Id: executionId, StartTime: new Date().toISOString() },
      StateMachine: { Id: 'arn:aws:states:local:000000000000:stateMachine:offboard-audit' },
    } as never,
  });
  // Read only when asked: the log fills as the execution runs, and ends with it.
  const onEvent = options.onEvent;
  const reading = onEvent
    ? (async () => {
        for await (const event of execution.eventLogs) onEvent(event);
      })()
    : undefined;
  try {
    const output = (await execution.result) as unknown as AuditTotals | { continuedIn: string };
    if ('continuedIn' in output && wentOn) return await wentOn;
    return { ok: true, totals: output as AuditTotals };
  } catch (error) {
    return { ok: false, error: executionFailure(error) };
  } finally {
    await reading;
  }
}
