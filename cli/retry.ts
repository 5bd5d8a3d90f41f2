import { parseArgs } from 'node:util';
import { type LedgerEntry, settledHistory } from '../lambdas/shared/ledger';
import { EXECUTION_ARN, normalizeInput, offboardRequestSchema } from '../lambdas/shared/request';
import type { OffboardSummary, RetryInput } from '../lambdas/shared/summary';
import { stripControl } from '../lambdas/shared/text';
import type { ProgressEvent } from '../local/runner';
import type { DeployedStack as DeployedStackType } from './deployed';
import { EXIT, type Io, loadConfig, offboard } from './main';

/** What to retry, found in a person's ledger history. */
export type RetryPlan =
  | { kind: 'retry'; input: RetryInput }
  /** Everything has succeeded since (exit 0). */
  | { kind: 'nothing'; message: string }
  /** The ledger holds no such run (exit 2). */
  | { kind: 'unknown'; message: string };

interface Run {
  executionId: string;
  dryRun: boolean;
  reactivate: boolean;
  at: string;
  entries: LedgerEntry[];
}

const REACTIVATION_OUTCOMES = new Set([
  'reactivated',
  'would-reactivate',
  'already-active',
  'nothing-to-restore',
]);

/**
 * A connection's outcome still wants a retry: it failed, or its run stopped after the write
 * was sent (a write-ahead entry and no outcome: reading the account decides).
 */
const unsettled = (entry: LedgerEntry) => entry.outcome === 'failed' || entry.outcome === 'deactivating';

/** The runs in a history, by execution, oldest first. */
function runsOf(history: readonly LedgerEntry[]): Run[] {
  const runs = new Map<string, Run>();
  for (const entry of settledHistory(history)) {
    const run = runs.get(entry.executionId) ?? {
      executionId: entry.executionId,
      dryRun: entry.dryRun,
      reactivate: false,
      at: entry.at,
      entries: [],
    };
    run.entries.push(entry);
    // Entries written before `reactivate` was kept say it through their outcomes.
    if (entry.reactivate || REACTIVATION_OUTCOMES.has(entry.outcome)) run.reactivate = true;
    if (entry.at > run.at) run.at = entry.at;
    runs.set(entry.executionId, run);
  }
  return [...runs.values()].sort((a, b) => a.at.localeCompare(b.at));
}

/**
 * What `offboard retry` runs, from one person's ledger history (oldest first, as
 * `Ledger.history` gives it). `target` is the person's email (their latest real run, and
 * whatever has failed since the last run of the other kind: an offboarding after a
 * reactivation starts afresh) or an execution ARN (that run's failures). A connection is
 * retried only while its latest outcome, among runs of the same kind (dry or real, offboarding
 * or reactivation), is still failed. `retryOf` is the latest run that failed on one of them.
 */
export function retryInput(history: readonly LedgerEntry[], target: string): RetryPlan {
  const runs = runsOf(history);
  const byExecution = EXECUTION_ARN.test(target);
  let base: Run | undefined;
  if (byExecution) {
    base = runs.find((r) => r.executionId === target);
    if (!base) return { kind: 'unknown', message: `the ledger holds no run ${target}` };
  } else {
    base = runs.filter((r) => !r.dryRun).at(-1);
    if (!base)
      return {
        kind: 'unknown',
        message: `the ledger holds no real run for ${target}${runs.length > 0 ? ' (only dry runs: name one by its execution to retry it as a dry run)' : ''}`,
      };
  }
  const { dryRun, reactivate } = base;
  // A real run of the other kind since undoes what is left to do: an offboarding is not
  // resumed over a reactivation (the person was reinstated), nor the reverse.
  const lastOther = runs.filter((r) => !r.dryRun && r.reactivate !== reactivate).at(-1);
  if (!dryRun && lastOther && lastOther.at > base.at) {
    return {
      kind: 'nothing',
      message: `${base.executionId} was ${reactivate ? 'offboarded' : 'reactivated'} over since, by ${lastOther.executionId}: nothing to retry`,
    };
  }
  const from = byExecution ? base.at : lastOther && !dryRun ? lastOther.at : '';
  const same = runs.filter(
    (r) =>
      r.dryRun === dryRun &&
      r.reactivate === reactivate &&
      (byExecution ? r === base || r.at > from : r.at > from),
  );
  // Each connection's latest outcome among those runs (an execution named: only its connections).
  const latest = new Map<string, LedgerEntry>();
  const wanted = byExecution ? new Set(base.entries.filter(unsettled).map((e) => e.connection)) : undefined;
  for (const run of same)
    for (const entry of run.entries) {
      if (wanted && !wanted.has(entry.connection)) continue;
      const seen = latest.get(entry.connection);
      if (!seen || entry.at >= seen.at) latest.set(entry.connection, entry);
    }
  const failed = [...latest.values()].filter(unsettled).sort((a, b) => a.at.localeCompare(b.at));
  const last = failed.at(-1);
  if (!last) {
    const who = byExecution ? `${target} (${base.entries[0]?.email ?? ''})` : target;
    return {
      kind: 'nothing',
      message: `nothing to retry for ${who}: no connection's latest outcome is failed`,
    };
  }
  return {
    kind: 'retry',
    input: {
      email: last.email,
      connections: failed.map((e) => e.connection),
      retryOf: last.executionId,
      ...(dryRun ? { dryRun: true as const } : {}),
      ...(reactivate ? { reactivate: true as const } : {}),
    },
  };
}

/** A mistake in how the command was called: said, exit 2, nothing sent. */
class RetryUsage extends Error {}

/** The email or execution ARN of `offboard retry <target>`, checked before anything is read. */
function checkTarget(target: string): string {
  const trimmed = target.trim();
  if (EXECUTION_ARN.test(trimmed)) return trimmed;
  const email = offboardRequestSchema.shape.email.safeParse(trimmed);
  if (email.success) return email.data;
  throw new RetryUsage(
    `retry: '${target.slice(0, 200)}' is neither an email nor an execution ARN (arn:aws:states:<region>:<account>:execution:<state machine>:<name>)`,
  );
}

/**
 * `offboard retry <email | execution-arn>`: finds what failed in the ledger and runs only
 * that, locally through the same path as `offboard run`, or deployed as a new execution.
 */
export async function retryCommand(args: string[], io: Io): Promise<number> {
  try {
    return await retry(args, io);
  } catch (error) {
    if (!(error instanceof RetryUsage)) throw error;
    io.err(`offboard: ${stripControl(error.message)}`);
    return EXIT.usage;
  }
}

async function retry(args: string[], io: Io): Promise<number> {
  let parsed: ReturnType<typeof parseRetryArgs>;
  try {
    parsed = parseRetryArgs(args);
  } catch (error) {
    throw new RetryUsage(`retry: ${(error as Error).message} (offboard retry --help)`);
  }
  const { values, positionals } = parsed;
  if (positionals.length !== 1)
    throw new RetryUsage('retry: give one email or execution ARN (offboard retry --help)');
  const target = checkTarget(positionals[0] ?? '');
  const json = values.json === true;
  if (typeof values.stack === 'string') {
    if (typeof values.config === 'string') throw new RetryUsage('retry: give --config or --stack, not both');
    return retryDeployed(
      target,
      { stack: values.stack, region: values.region },
      values['no-wait'] === true,
      json,
      io,
    );
  }
  if (typeof values.config !== 'string')
    throw new RetryUsage('retry: --config <file> (or --stack <name>) is required');
  if (values.region !== undefined || values['no-wait'])
    throw new RetryUsage('retry: --region and --no-wait go with --stack');
  const config = loadConfig(values.config, io);
  const plan = await localPlan(target);
  if (plan.kind !== 'retry') return said(plan, io);
  checkRetry(plan.input, (input) => normalizeInput(input, config.connections));
  if (!json) io.err(retrying(plan.input));
  return offboard(config, plan.input, json, io);
}

function parseRetryArgs(args: string[]) {
  return parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      config: { type: 'string' },
      stack: { type: 'string' },
      region: { type: 'string' },
      'no-wait': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
  });
}

/** The plan from the local ledger (.offboard/, or OFFBOARD_LEDGER_DIR). */
async function localPlan(target: string): Promise<RetryPlan> {
  const [{ openLocalLedger }, { SqliteLedger }] = await Promise.all([
    import('../local/ledger'),
    import('../local/sqlite-ledger'),
  ]);
  const local = await openLocalLedger();
  try {
    let email = target;
    if (EXECUTION_ARN.test(target)) {
      // A local execution lives only in its process: the ledger remembers whose it was.
      const emails = local.ledger instanceof SqliteLedger ? local.ledger.emailsOfExecution(target) : [];
      const [only] = emails;
      if (!only) return { kind: 'unknown', message: `the ledger (${local.where}) holds no run ${target}` };
      if (emails.length > 1) return bulkTarget(target);
      email = only;
    }
    return retryInput(await local.ledger.history(email), target);
  } finally {
    await local.close();
  }
}

/** A bulk run is retried person by person: its summary's `retry` lists them. */
function bulkTarget(target: string): RetryPlan {
  return {
    kind: 'unknown',
    message: `${target} offboarded many people (a bulk run): retry each with offboard retry <email>, or run the failed people again with offboard run --emails <file> --connections <the failed ones>`,
  };
}

/** Prints why there is nothing to run: exit 0 (all done since) or 2 (no such run). */
function said(plan: Exclude<RetryPlan, { kind: 'retry' }>, io: Io): number {
  io.err(`offboard: retry: ${stripControl(plan.message)}`);
  return plan.kind === 'nothing' ? EXIT.ok : EXIT.usage;
}

/** The retry's input, checked as Normalize will (a connection removed from the config since: exit 2). */
function checkRetry(input: RetryInput, check: (input: RetryInput) => unknown): void {
  try {
    check(input);
  } catch (error) {
    throw new RetryUsage(`retry: ${(error as Error).name}: ${(error as Error).message}`);
  }
}

function retrying(input: RetryInput): string {
  return stripControl(
    `offboard: retrying ${input.email} on ${input.connections.join(', ')}${input.dryRun ? ' (dry run)' : ''}${input.reactivate ? ' (reactivation)' : ''}, retry of ${input.retryOf}`,
  );
}

/** Execution statuses RedriveExecution accepts (it re-runs an execution that did not succeed). */
const REDRIVABLE = new Set(['FAILED', 'TIMED_OUT', 'ABORTED']);
/**
 * Failures a redrive cannot mend: a redrive re-enters the failed state with the same input, so
 * refused input is refused again, and the Fail state that reports a ledger that could not be
 * written fails again (a new execution re-reads each account and records it instead).
 */
const NOT_REDRIVEN = new Set(['Input.Invalid', 'Ledger.WriteFailed']);

/**
 * Deployed: an execution that FAILED (or timed out, or was stopped) is redriven when a redrive
 * can mend it; otherwise a new OffboardUser execution runs the failed connections, with
 * `retryOf`, found in the deployed ledger.
 */
async function retryDeployed(
  target: string,
  ref: { stack: string; region?: string | undefined },
  noWait: boolean,
  json: boolean,
  io: Io,
): Promise<number> {
  const { DeployedStack, StackError } = await import('./deployed');
  let stack: DeployedStackType;
  try {
    stack = await DeployedStack.open({ stack: ref.stack, ...(ref.region ? { region: ref.region } : {}) });
  } catch (error) {
    if (error instanceof StackError) throw new RetryUsage(error.message);
    throw error;
  }
  try {
    let email = target;
    if (EXECUTION_ARN.test(target)) {
      let described: Awaited<ReturnType<typeof stack.describe>>;
      try {
        described = await stack.describe(target);
      } catch (error) {
        if (error instanceof StackError) throw new RetryUsage(`retry: ${error.message}`);
        throw error;
      }
      if (REDRIVABLE.has(described.status) && !NOT_REDRIVEN.has(described.error?.name ?? '')) {
        return await redrive(stack, target, noWait, json, io);
      }
      const input = described.input as { email?: unknown; detail?: { email?: unknown } } | undefined;
      const given = input?.email ?? input?.detail?.email;
      if (typeof given !== 'string') throw new RetryUsage(`retry: ${target}: its input names no email`);
      email = given.trim();
    }
    const plan = retryInput(await (await stack.ledger()).history(email), target);
    if (plan.kind !== 'retry') return said(plan, io);
    const arn = await stack.start('StateMachineArn', plan.input);
    if (!json) io.err(retrying(plan.input));
    return await followed(stack, arn, noWait, json, io);
  } finally {
    stack.close();
  }
}

/** RedriveExecution: the same execution goes on from the state that failed, with its own input. */
async function redrive(
  stack: { sfn: import('@aws-sdk/client-sfn').SFNClient },
  executionArn: string,
  noWait: boolean,
  json: boolean,
  io: Io,
): Promise<number> {
  const { RedriveExecutionCommand } = await import('@aws-sdk/client-sfn');
  try {
    await stack.sfn.send(new RedriveExecutionCommand({ executionArn }));
  } catch (error) {
    // Past 14 days, or a definition changed since: Step Functions says why, and nothing ran.
    io.err(
      `offboard: retry: redrive ${executionArn}: ${stripControl(`${(error as Error).name}: ${(error as Error).message}`)}`,
    );
    return EXIT.failed;
  }
  if (!json) io.err(`offboard: redriving ${executionArn} from the state that failed`);
  return followed(stack as never, executionArn, noWait, json, io);
}

/** Follows a deployed execution (or, with --no-wait, prints its ARN) and reports its summary. */
async function followed(
  stack: DeployedStackType,
  executionArn: string,
  noWait: boolean,
  json: boolean,
  io: Io,
): Promise<number> {
  if (noWait) {
    io.out(json ? JSON.stringify({ executionArn }, null, 2) : executionArn);
    return EXIT.ok;
  }
  const { formatProgress, formatSummary } = await import('./format');
  const end = await stack.follow(executionArn, {
    onProgress: json
      ? undefined
      : (event: ProgressEvent) => {
          const line = formatProgress(event);
          if (line) io.err(line);
        },
  });
  const summary = end.output as OffboardSummary | undefined;
  if (json)
    io.out(JSON.stringify(summary ?? { executionArn, status: end.status, error: end.error }, null, 2));
  else if (summary?.connections) io.out(`\n${formatSummary(summary)}`);
  if (end.status !== 'SUCCEEDED') {
    if (!json)
      io.err(
        stripControl(
          `offboard: ${executionArn}: ${end.status}${end.error ? `: ${end.error.name}: ${end.error.message}` : ''}`,
        ),
      );
    return EXIT.failed;
  }
  return summary?.connections?.some((c) => c.outcome === 'failed') ? EXIT.failed : EXIT.ok;
}
