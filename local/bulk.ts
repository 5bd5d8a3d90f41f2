import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { ExecutionError } from 'aws-local-stepfunctions';
import { normalizeBulkHandler } from '../lambdas/handlers/normalize-bulk';
import { handler as summarizeBulkHandler } from '../lambdas/handlers/summarize-bulk';
import { ConfigError } from '../lambdas/shared/errors';
import {
  type BulkSummary,
  causeMessage,
  type OffboardSummary,
  summarizeBulk,
} from '../lambdas/shared/summary';
import {
  childOffboarding,
  invoke,
  type JSONValue,
  type LocalRunOptions,
  type LocalRunResult,
  loadStateMachine,
  runLocally,
} from './runner';

/** A person whose execution itself failed (as the deployed bulk run's "Person failed" records it). */
export interface FailedPerson {
  email: string;
  status: 'failed';
  error: { Error: string; Cause: string };
}

/** One bulk run: the totals, and every person's own summary (or why their execution failed). */
export interface LocalBulkResult extends BulkSummary {
  results: Array<OffboardSummary | FailedPerson>;
}

export interface BulkOptions extends Omit<LocalRunOptions, 'input'> {
  emails: string[];
  dryRun?: boolean;
  connectionNames?: string[];
  /**
   * People offboarded at the same time (the bulk state machine's MaxConcurrency). The pace
   * per connection is kept by the shared pacer, whatever this is.
   */
  concurrency?: number;
  onPersonDone?: (summary: OffboardSummary, done: number) => void;
}

/**
 * Offboards many people: each one is a run of the same per-person state machine, as the
 * deployed bulk workflow starts one execution a person. Runs share one process and so one
 * pacer per connection: together they keep each vendor's rate limit.
 */
export async function runBulkLocally(options: BulkOptions): Promise<LocalBulkResult> {
  const { emails, dryRun = false, connectionNames, concurrency = 10, onPersonDone, ...run } = options;
  const results: Array<OffboardSummary | FailedPerson> = new Array(emails.length);
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < emails.length) {
      const index = next++;
      const email = emails[index] as string;
      const input: Record<string, unknown> = { email, dryRun };
      if (connectionNames) input.connections = connectionNames;
      // The evidence of an execution that fails after its summary (the ledger could not be
      // written) is still told: it is what the result event carried.
      let published: OffboardSummary | undefined;
      const result = await runLocally({
        ...run,
        input,
        onResultEvent: (event) => {
          published = event.detail as OffboardSummary;
          run.onResultEvent?.(event);
        },
      });
      // One person's failed execution does not stop the others: it is listed, as deployed.
      results[index] = result.ok
        ? result.summary
        : { email, status: 'failed', error: { Error: result.error.name, Cause: result.error.message } };
      onPersonDone?.(result.ok ? result.summary : (published ?? failedSummary(email, dryRun)), ++done);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, emails.length) }, worker));

  return { ...summarizeBulk({ dryRun, results }), results };
}

/** What the progress line shows for a person whose execution failed before it had a summary. */
function failedSummary(email: string, dryRun: boolean): OffboardSummary {
  return { email, dryRun, status: 'failed', connections: [] };
}

/** The deployed bulk workflow's definition: executed locally on its inline path. */
export const OFFBOARD_BULK_ASL = fileURLToPath(
  new URL('../statemachines/offboard-bulk.asl.json', import.meta.url),
);

/**
 * Runs offboard-bulk.asl.json in-process on its inline path (`emails`): the real checks
 * and totals handlers, and one offboard-user run a person where AWS starts a child
 * execution. The S3 path (a DISTRIBUTED Map reading the list) runs only in AWS.
 */
export async function runBulkWorkflowLocally(
  options: Omit<LocalRunOptions, 'input'> & { input: unknown },
): Promise<LocalRunResult | { ok: true; bulk: BulkSummary }> {
  const refs = options.connections.map((c) => c.ref);
  const noS3 = async (): Promise<never> => {
    throw new ConfigError('a local run reads no S3 list: give emails inline');
  };
  const checkList = normalizeBulkHandler(() => refs, noS3, noS3);
  const machine = loadStateMachine(OFFBOARD_BULK_ASL);
  const name = randomUUID();
  const execution = machine.run(options.input as JSONValue, {
    overrides: {
      taskResourceLocalHandlers: {
        'Check the list': async (input) =>
          invoke(checkList, (input as { Payload: unknown }).Payload, 'offboard-local-normalize-bulk'),
        'Offboard one person': childOffboarding(options),
        'Summarize the bulk run': async (input) =>
          invoke(
            summarizeBulkHandler,
            (input as { Payload: unknown }).Payload,
            'offboard-local-summarize-bulk',
          ),
      },
    },
    context: {
      Execution: { Id: `arn:aws:states:local:000000000000:execution:offboard-bulk:${name}`, Name: name },
    } as never,
  });
  try {
    return { ok: true, bulk: (await execution.result) as unknown as BulkSummary };
  } catch (error) {
    if (!(error instanceof ExecutionError)) throw error;
    const cause = error.cause as Error;
    return {
      ok: false,
      error: { name: cause.name, message: causeMessage(cause.message) },
      executionId: 'offboard-bulk',
    };
  }
}
