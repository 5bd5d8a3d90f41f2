import { z } from 'zod';
import { CONNECTION_TYPES } from './connections';

export const OUTCOMES = [
  'deactivated',
  'already-inactive',
  'not-found',
  'would-deactivate',
  'failed',
  // Reactivation (a mistaken termination): the account restored from the ledger's before-state.
  'reactivated',
  'would-reactivate',
  'already-active',
  'nothing-to-restore',
  // The scheduled audit: an account this workflow switched off, found active again.
  'drift',
] as const;
export type Outcome = (typeof OUTCOMES)[number];

/** One connection's result in the summary: the command line's and the execution's output. */
export interface ConnectionOutcome {
  name: string;
  type: string;
  outcome: Outcome;
  userId?: string;
  error?: { name: string; message: string };
  /**
   * Who answered this connection's task "Done" (its API cannot switch the account off), when,
   * and which task: deactivated, they switched it off by hand; failed, the account was still on.
   */
  person?: PersonAnswer;
}

/** Who answered a person's task "Done", when (ISO 8601), and which task (absent: not known). */
export interface PersonAnswer {
  by?: string;
  at: string;
  taskId?: string;
}

/** Longest name or task id kept: the answer is evidence, not a place to store things. */
const PERSON_TEXT_LIMIT = 120;

/**
 * Who answered a person's task, from the task's output as it reached the state (deployed,
 * answerTask's `{taskId, ok, by, at}`; local runs `{ok, by, at}`, `by` null when no one was
 * named). Only these three are kept, cut to size: anyone allowed SendTaskSuccess could send more.
 */
export function personAnswer(output: unknown): PersonAnswer | undefined {
  if (output === null || typeof output !== 'object') return undefined;
  const { by, at, taskId } = output as Record<string, unknown>;
  if (typeof at !== 'string') return undefined;
  const text = (value: unknown) =>
    typeof value === 'string' && value.trim() ? value.trim().slice(0, PERSON_TEXT_LIMIT) : undefined;
  const name = text(by);
  const task = text(taskId);
  return { ...(name ? { by: name } : {}), at: at.slice(0, 40), ...(task ? { taskId: task } : {}) };
}

export interface OffboardSummary {
  email: string;
  dryRun: boolean;
  /** `duplicate`: a resent HR event; the execution named in `duplicateOf` does the work. */
  status: 'succeeded' | 'partial' | 'failed' | 'duplicate';
  connections: ConnectionOutcome[];
  duplicateOf?: string;
  /** Present only when the outcomes could not be written to the ledger (the evidence is missing). */
  ledgerError?: { name: string; message: string };
  /**
   * Present when a connection failed: the execution input that runs this again on the failed
   * connections only (`offboard retry`, or paste it into the console), linked to this run.
   */
  retry?: RetryInput;
}

/**
 * The input of a run that retries only what failed: a valid execution input (Normalize reads
 * it as any other), with the run it retries in `retryOf`. A dry run's retry is a dry run, a
 * reactivation's retry a reactivation: a retry never turns into something else.
 */
export interface RetryInput {
  email: string;
  connections: string[];
  retryOf: string;
  dryRun?: true;
  reactivate?: true;
}

/** A Map iteration's result as the ASL builds it; `error` is Step Functions' `{Error, Cause}`. */
const branchResultSchema = z.object({
  name: z.string(),
  type: z.enum(CONNECTION_TYPES),
  outcome: z.enum(OUTCOMES),
  userId: z.string().optional(),
  error: z.object({ Error: z.string(), Cause: z.string().optional() }).optional(),
  /** A person's answer to this connection's task ("Deactivated by a person"). */
  person: z.unknown().optional(),
  /** On failure, the iteration's state as it stood: it tells whether a user had been found. */
  state: z
    .object({
      lookup: z.object({ value: z.object({ userId: z.string().optional() }).loose() }).optional(),
      person: z.unknown().optional(),
    })
    .loose()
    .optional(),
});

export const summarizeInputSchema = z.object({
  email: z.string(),
  dryRun: z.boolean(),
  results: z.array(branchResultSchema),
  /** What the Record step answered: a count, or Step Functions' `{Error, Cause}` when it failed. */
  ledger: z
    .union([
      z.object({ recorded: z.number() }),
      z.object({ Error: z.string(), Cause: z.string().optional() }),
    ])
    .optional(),
  /** The execution: what a retry of this run names in `retryOf`. */
  executionId: z.string().optional(),
  reactivate: z.boolean().optional(),
});

/** The input that retries the failed connections of a run (none failed: undefined). */
export function retryInputOf(run: {
  email: string;
  dryRun: boolean;
  reactivate?: boolean | undefined;
  executionId: string;
  connections: readonly ConnectionOutcome[];
}): RetryInput | undefined {
  // A person's refusal of a task is a failure too (Task.Refused): retrying asks again.
  const failed = run.connections.filter((c) => c.outcome === 'failed').map((c) => c.name);
  if (failed.length === 0) return undefined;
  return {
    email: run.email,
    connections: [...new Set(failed)],
    retryOf: run.executionId,
    ...(run.dryRun ? { dryRun: true as const } : {}),
    ...(run.reactivate ? { reactivate: true as const } : {}),
  };
}

/**
 * Builds the summary. A Lambda error reaches a Catch as a JSON `Cause`
 * (`{"errorType","errorMessage","trace"}`); other failures (timeouts, runtime errors) as
 * plain text. Both become `{ name, message }`, with no stack trace.
 */
export function summarize(input: unknown): OffboardSummary {
  const { email, dryRun, results, ledger, executionId, reactivate } = summarizeInputSchema.parse(input);
  const connections = results.map((result): ConnectionOutcome => {
    const outcome: ConnectionOutcome = { name: result.name, type: result.type, outcome: result.outcome };
    const userId = result.userId ?? result.state?.lookup?.value.userId;
    if (userId !== undefined) outcome.userId = userId;
    if (result.error) outcome.error = { name: result.error.Error, message: causeMessage(result.error.Cause) };
    const person = personAnswer(result.person ?? result.state?.person);
    if (person) outcome.person = person;
    return outcome;
  });
  const failed = connections.filter((c) => c.outcome === 'failed').length;
  const status = failed === 0 ? 'succeeded' : failed === connections.length ? 'failed' : 'partial';
  const summary: OffboardSummary = { email, dryRun, status, connections };
  if (ledger && 'Error' in ledger)
    summary.ledgerError = { name: ledger.Error, message: causeMessage(ledger.Cause) };
  const retry = executionId
    ? retryInputOf({ email, dryRun, reactivate, executionId, connections })
    : undefined;
  if (retry) summary.retry = retry;
  return summary;
}

export function causeMessage(cause: string | undefined): string {
  if (!cause) return '';
  try {
    const parsed = JSON.parse(cause) as { errorMessage?: unknown };
    if (typeof parsed.errorMessage === 'string') return parsed.errorMessage;
  } catch {
    // Not JSON: Step Functions' own errors carry plain text.
  }
  return cause;
}

/**
 * What a child execution (`startExecution.sync:2`) failed with, from the `{Error, Cause}` its
 * parent's Catch receives: Step Functions wraps it as `States.TaskFailed` with the child's
 * DescribeExecution output as the Cause (its own `Error` and `Cause` inside); a local run as
 * `{name, message}`. The child's own error is what a person must read.
 */
export function childFailure(error: { Error: string; Cause?: string | undefined }): {
  name: string;
  message: string;
} {
  try {
    const inner = JSON.parse(error.Cause ?? '') as Record<string, unknown>;
    const name = inner.Error ?? inner.error ?? inner.name;
    const cause = inner.Cause ?? inner.cause ?? inner.message;
    if (typeof name === 'string') {
      return { name, message: typeof cause === 'string' ? causeMessage(cause) : '' };
    }
  } catch {
    // Not JSON: Step Functions' own words.
  }
  return { name: error.Error, message: causeMessage(error.Cause) };
}

/** A bulk run: totals first, then the people who need a look. */
export interface BulkSummary {
  dryRun: boolean;
  people: number;
  status: 'succeeded' | 'partial' | 'failed';
  /** Connections by outcome, over everyone. */
  outcomes: Partial<Record<Outcome, number>>;
  /** Each connection's totals, and where its every result is kept (`resultsRef`, the evidence store). */
  connections: Array<{
    name: string;
    type: string;
    outcomes: Partial<Record<Outcome, number>>;
    failed: number;
    /** The connection as a whole failed (its credential, its user list): nobody was offboarded there. */
    error?: { name: string; message: string };
    resultsRef?: { sha256: string; bytes: number };
  }>;
  /**
   * People with a failed connection, with what failed: the first few of each connection (all of
   * them are in the ledger, `offboard report --status failed`). `failedCount` counts them all.
   */
  failed: Array<{
    email: string;
    connections: ConnectionOutcome[];
    error?: { name: string; message: string };
  }>;
  /** Failed connections of people, over everyone (the list above may show only the first). */
  failedCount: number;
  /** Present when a connection's outcomes could not be written to the ledger: the run then fails. */
  ledgerError?: { name: string; message: string };
  /**
   * Present when someone failed somewhere: where the failed people of each connection are
   * listed, for `offboard retry <this execution>` (which also drops those who succeeded since).
   */
  retry?: BulkRetryInput;
}

/**
 * What retries a bulk run's failures, kept small whatever the number of people: per failed
 * connection its count, the first few people, and where all of them are: the connection's
 * results (`resultsRef`, every person's outcome there), or, for a connection that failed as a
 * whole, the run's list (`peopleRef`: everyone failed there).
 */
export interface BulkRetryInput {
  retryOf: string;
  dryRun?: true;
  /** The run's checked list (a JSON array of addresses) in the evidence store. */
  peopleRef?: { sha256: string; bytes: number };
  connections: Array<{
    name: string;
    failed: number;
    /** The first few failed people (all of them: `resultsRef`, or the whole list). */
    emails: string[];
    resultsRef?: { sha256: string; bytes: number };
    /** The connection failed as a whole: everyone on the list is to be retried there. */
    everyone?: true;
  }>;
}

const stepErrorSchema = z.object({ Error: z.string(), Cause: z.string().optional() });
const described = (e: { Error: string; Cause?: string | undefined }) => ({
  name: e.Error,
  message: causeMessage(e.Cause),
});

/** One connection's part of a bulk run, as the bulk state machine's Map leaves it. */
const bulkConnectionSchema = z.union([
  z.object({
    name: z.string(),
    type: z.string(),
    verified: z.object({
      /** By outcome, the single runs of people handed off included (`handoff`: not finished). */
      counts: z.record(z.string(), z.number()),
      failed: z.array(
        z.object({
          email: z.string(),
          userId: z.string().optional(),
          error: z.object({ name: z.string(), message: z.string() }).optional(),
        }),
      ),
      failedCount: z.number(),
      handoff: z.array(z.string()),
      resultsRef: z.object({ sha256: z.string(), bytes: z.number() }),
      /** A single run of a person handed off could not record its outcomes. */
      ledgerError: z.object({ name: z.string(), message: z.string() }).optional(),
    }),
  }),
  /** The writes were made, but the ledger refused their outcomes. */
  z.object({ name: z.string(), type: z.string(), ledgerError: stepErrorSchema }),
  z.object({ name: z.string(), type: z.string(), error: stepErrorSchema }),
]);

/**
 * Totals of a bulk run from each connection's counts (the single runs of people handed off
 * included). Only the first failures are named, so the output stays small whatever the
 * number of people; each connection's full results are in the evidence store.
 */
export function summarizeBulk(input: unknown): BulkSummary {
  const { dryRun, people, results, executionId, peopleRef } = z
    .object({
      dryRun: z.boolean(),
      people: z.number(),
      results: z.array(bulkConnectionSchema),
      /** The execution: what a retry of this run names in `retryOf`. */
      executionId: z.string().optional(),
      peopleRef: z.object({ sha256: z.string(), bytes: z.number() }).optional(),
    })
    .parse(input);
  const outcomes: Partial<Record<Outcome, number>> = {};
  const add = (into: Partial<Record<Outcome, number>>, outcome: Outcome, count = 1) => {
    into[outcome] = (into[outcome] ?? 0) + count;
  };
  const byPerson = new Map<string, BulkSummary['failed'][number]>();
  const connections: BulkSummary['connections'] = [];
  let failedCount = 0;
  let ledgerError: BulkSummary['ledgerError'];
  const retries: BulkRetryInput['connections'] = [];
  for (const result of results) {
    if (!('verified' in result)) {
      const error = described('ledgerError' in result ? result.ledgerError : result.error);
      if ('ledgerError' in result) ledgerError = error;
      connections.push({ name: result.name, type: result.type, outcomes: {}, failed: people, error });
      failedCount += people;
      retries.push({ name: result.name, failed: people, emails: [], everyone: true });
      continue;
    }
    if (result.verified.ledgerError) ledgerError = result.verified.ledgerError;
    const own: Partial<Record<Outcome, number>> = {};
    let unfinished = 0;
    for (const [outcome, count] of Object.entries(result.verified.counts)) {
      // A hand-off whose single run was never counted is not a result: it is failed.
      if (outcome === 'handoff') unfinished += count;
      else add(own, outcome as Outcome, count);
    }
    if (unfinished > 0) add(own, 'failed', unfinished);
    for (const f of result.verified.failed) {
      const person = byPerson.get(f.email) ?? { email: f.email, connections: [] };
      person.connections.push({
        name: result.name,
        type: result.type,
        outcome: 'failed',
        ...(f.userId ? { userId: f.userId } : {}),
        ...(f.error ? { error: f.error } : {}),
      });
      byPerson.set(f.email, person);
    }
    for (const [outcome, count] of Object.entries(own)) add(outcomes, outcome as Outcome, count);
    const failed = result.verified.failedCount + unfinished;
    failedCount += failed;
    if (failed > 0)
      retries.push({
        name: result.name,
        failed,
        emails: result.verified.failed.slice(0, RETRY_SHOWN).map((f) => f.email),
        resultsRef: result.verified.resultsRef,
      });
    connections.push({
      name: result.name,
      type: result.type,
      outcomes: own,
      failed,
      resultsRef: result.verified.resultsRef,
    });
  }
  const total = people * results.length;
  const status = failedCount === 0 ? 'succeeded' : failedCount >= total ? 'failed' : 'partial';
  return {
    dryRun,
    people,
    status,
    outcomes,
    connections,
    failed: [...byPerson.values()],
    failedCount,
    ...(ledgerError ? { ledgerError } : {}),
    ...(executionId && retries.length > 0
      ? {
          retry: {
            retryOf: executionId,
            ...(dryRun ? { dryRun: true as const } : {}),
            ...(peopleRef ? { peopleRef } : {}),
            connections: retries,
          },
        }
      : {}),
  };
}

/** Failed people a bulk summary's retry names per connection (all of them are in `resultsRef`). */
const RETRY_SHOWN = 5;
