import { parseArgs } from 'node:util';
import { isReactivation, type LedgerEntry, settledHistory } from '../lambdas/shared/ledger';
import { EXECUTION_ARN, normalizeInput, offboardRequestSchema } from '../lambdas/shared/request';
import type { BulkSummary, OffboardSummary, RetryInput } from '../lambdas/shared/summary';
import { stripControl } from '../lambdas/shared/text';
import type { ProgressEvent } from '../local/runner';
import type { DeployedStack as DeployedStackType } from './deployed';
import { EXIT, type Io, loadConfig, offboard, offboardMany, runDeployed, summaryExit } from './main';

/** What to retry, found in a person's ledger history. */
export type RetryPlan =
  | { kind: 'retry'; input: RetryInput }
  /** Everything has succeeded since (exit 0). */
  | { kind: 'nothing'; message: string }
  /** The ledger holds no such run (exit 2). */
  | { kind: 'unknown'; message: string };

/** One bulk run of a bulk run's retry: the people who failed on the same connections. */
export interface BulkRetryRun {
  emails: string[];
  connections: string[];
  retryOf: string;
  dryRun?: true;
}

/** What `offboard retry <bulk execution>` runs: a plan, with its runs when there is something to retry. */
export type BulkRetryPlan = { kind: 'bulk'; runs: BulkRetryRun[] } | Exclude<RetryPlan, { kind: 'retry' }>;

interface Run {
  executionId: string;
  dryRun: boolean;
  reactivate: boolean;
  at: string;
  entries: LedgerEntry[];
}

/**
 * A connection's outcome still wants a retry: it failed, or its run stopped after the write
 * was sent (a write-ahead entry and no outcome: reading the account decides).
 */
const unsettled = (entry: LedgerEntry) => entry.outcome === 'failed' || entry.outcome === 'deactivating';

/** The runs in a history, by execution, oldest first. */
export function runsOf(history: readonly LedgerEntry[]): Run[] {
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
    if (isReactivation(entry)) run.reactivate = true;
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

/**
 * The bulk runs that retry a bulk run's failures: each person on the connections where their
 * latest outcome since the bulk run started (its own, a hand-off's single run, a retry's) is
 * still failed, or where nothing was recorded (a hand-off that never finished, a connection
 * that failed as a whole). A real reactivation since leaves the person out: they were
 * reinstated. People who failed on the same connections share one run, so each person is in
 * one run only: the brake counts them once, and their retry is one execution.
 * `people` maps each person the bulk run may have failed to the connections to look at, with
 * their ledger history.
 */
export function bulkRetryRuns(
  bulk: { executionId: string; dryRun: boolean; startedAt: string },
  people: ReadonlyMap<string, { connections: readonly string[]; history: readonly LedgerEntry[] }>,
): BulkRetryRun[] {
  const runs = new Map<string, BulkRetryRun>();
  for (const [email, { connections, history }] of people) {
    const since = settledHistory(history).filter((e) => e.at >= bulk.startedAt);
    if (!bulk.dryRun && since.some((e) => !e.dryRun && isReactivation(e))) continue;
    const failed = [...new Set(connections)].filter((name) => {
      let latest: LedgerEntry | undefined;
      for (const e of since)
        if (e.connection === name && e.dryRun === bulk.dryRun && !isReactivation(e))
          if (!latest || e.at >= latest.at) latest = e;
      return !latest || unsettled(latest);
    });
    if (failed.length === 0) continue;
    const key = JSON.stringify([...failed].sort());
    const run = runs.get(key) ?? {
      emails: [],
      connections: failed,
      retryOf: bulk.executionId,
      ...(bulk.dryRun ? { dryRun: true as const } : {}),
    };
    run.emails.push(email);
    runs.set(key, run);
  }
  return [...runs.values()];
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
  if (plan.kind === 'bulk') {
    for (const run of plan.runs)
      checkRetry(run, (r) =>
        normalizeInput(
          { email: r.emails[0], connections: r.connections, retryOf: r.retryOf, dryRun: r.dryRun === true },
          config.connections,
        ),
      );
    return retryBulk(plan.runs, json, io, (run, sub) =>
      offboardMany(
        config,
        run.emails,
        { dryRun: run.dryRun === true, connections: run.connections, retryOf: run.retryOf },
        json,
        sub,
      ),
    );
  }
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
async function localPlan(target: string): Promise<RetryPlan | BulkRetryPlan> {
  const [{ openLocalLedger }, { SqliteLedger }] = await Promise.all([
    import('../local/ledger'),
    import('../local/sqlite-ledger'),
  ]);
  const local = await openLocalLedger();
  try {
    let email = target;
    if (EXECUTION_ARN.test(target)) {
      // A local execution lives only in its process: the ledger remembers whose it was.
      const emails =
        local.ledger instanceof SqliteLedger ? local.ledger.emailsOfExecution(target, EVERYONE) : [];
      const [only] = emails;
      if (!only) return { kind: 'unknown', message: `the ledger (${local.where}) holds no run ${target}` };
      if (emails.length > 1 || BULK_EXECUTION.test(target))
        return await localBulkPlan(local.ledger, target, emails);
      email = only;
    }
    return retryInput(await local.ledger.history(email), target);
  } finally {
    await local.close();
  }
}

/** No limit on the people of one execution (SQLite's LIMIT -1). */
const EVERYONE = -1;
/** A local bulk run's execution (local/bulk.ts names its executions so). */
const BULK_EXECUTION = /:execution:offboard-bulk:/;

/**
 * A local bulk run's retry, from the ledger: everyone it recorded, on every connection it
 * recorded anything for, kept where their latest outcome since is still failed (or missing).
 */
async function localBulkPlan(
  ledger: import('../lambdas/shared/ledger').Ledger,
  target: string,
  emails: readonly string[],
): Promise<BulkRetryPlan> {
  const histories = new Map<string, LedgerEntry[]>();
  for (const email of emails) histories.set(email, await ledger.history(email));
  const own = [...histories.values()].flat().filter((e) => e.executionId === target);
  const connections = [...new Set(own.map((e) => e.connection))];
  const startedAt = own.map((e) => e.startedAt ?? e.at).sort()[0] ?? '';
  const dryRun = own.some((e) => e.dryRun);
  const runs = bulkRetryRuns(
    { executionId: target, dryRun, startedAt },
    new Map([...histories].map(([email, history]) => [email, { connections, history }])),
  );
  return runs.length > 0
    ? { kind: 'bulk', runs }
    : {
        kind: 'nothing',
        message: `nothing to retry for ${target} (a bulk run of ${emails.length} people): nobody's latest outcome on its connections is failed`,
      };
}

/**
 * Runs a bulk retry's runs one after the other, each as `offboard run --emails` runs a list;
 * exit 1 when any of them left a failure. With --json, one document: the run's summary, or
 * the list of them when the people failed on different connections.
 */
async function retryBulk(
  runs: readonly BulkRetryRun[],
  json: boolean,
  io: Io,
  start: (run: BulkRetryRun, io: Io) => Promise<number>,
): Promise<number> {
  const documents: string[] = [];
  const sub: Io = json ? { out: (text) => documents.push(text), err: io.err } : io;
  let code: number = EXIT.ok;
  for (const run of runs) {
    if (!json)
      io.err(
        stripControl(
          `offboard: retrying ${run.emails.length} ${run.emails.length === 1 ? 'person' : 'people'} on ${run.connections.join(', ')}${run.dryRun ? ' (dry run)' : ''}, retry of ${run.retryOf}`,
        ),
      );
    code = Math.max(code, await start(run, sub));
  }
  if (json) io.out(documents.length === 1 ? (documents[0] as string) : `[\n${documents.join(',\n')}\n]`);
  return code;
}

/** Prints why there is nothing to run: exit 0 (all done since) or 2 (no such run). */
function said(plan: Exclude<RetryPlan, { kind: 'retry' }>, io: Io): number {
  io.err(`offboard: retry: ${stripControl(plan.message)}`);
  return plan.kind === 'nothing' ? EXIT.ok : EXIT.usage;
}

/** The retry's input, checked as Normalize will (a connection removed from the config since: exit 2). */
function checkRetry<T>(input: T, check: (input: T) => unknown): void {
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
        const refused = await notRedriven(stack, target, described);
        if (refused) {
          io.err(`offboard: retry: ${stripControl(refused.message)}`);
          return refused.kind === 'nothing' ? EXIT.ok : EXIT.failed;
        }
        return await redrive(stack, target, noWait, json, io);
      }
      const output = described.output as BulkSummary | undefined;
      if (typeof output?.people === 'number')
        return await retryBulkDeployed(stack, target, output, described.startDate, noWait, json, io);
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

/**
 * A deployed bulk run's retry: the failed people of each connection from its results in the
 * evidence bucket (the summary's `retry`), each person's history from the deployed ledger,
 * and one bulk execution per set of connections, started as `offboard run --emails --stack`.
 */
async function retryBulkDeployed(
  stack: DeployedStackType,
  target: string,
  summary: BulkSummary,
  startDate: Date | undefined,
  noWait: boolean,
  json: boolean,
  io: Io,
): Promise<number> {
  const { retry } = summary;
  if (!retry)
    return said(
      { kind: 'nothing', message: `nothing to retry for ${target}: its summary names no failure` },
      io,
    );
  const [{ S3BlobStore }, { MAX_INLINE_PEOPLE }] = await Promise.all([
    import('../lambdas/shared/evidence'),
    import('../lambdas/shared/people'),
  ]);
  const blobs = new S3BlobStore(stack.output('EvidenceBucketName'), stack.s3);
  const everyone = retry.peopleRef ? ((await blobs.get(retry.peopleRef)) as string[]) : [];
  const failedOn = new Map<string, string[]>();
  for (const connection of retry.connections) {
    const emails = connection.everyone
      ? everyone
      : connection.resultsRef
        ? ((await blobs.get(connection.resultsRef)) as Array<{ email: string; outcome: string }>)
            .filter((r) => r.outcome === 'failed' || r.outcome === 'handoff')
            .map((r) => r.email)
        : connection.emails;
    for (const email of emails) failedOn.set(email, [...(failedOn.get(email) ?? []), connection.name]);
  }
  const ledger = await stack.ledger();
  const people = new Map<string, { connections: string[]; history: LedgerEntry[] }>();
  for (const [email, connections] of failedOn)
    people.set(email, { connections, history: await ledger.history(email) });
  const runs = bulkRetryRuns(
    { executionId: target, dryRun: retry.dryRun === true, startedAt: startDate?.toISOString() ?? '' },
    people,
  );
  if (runs.length === 0)
    return said(
      {
        kind: 'nothing',
        message: `nothing to retry for ${target} (a bulk run of ${summary.people} people): nobody's latest outcome on its failed connections is failed`,
      },
      io,
    );
  return retryBulk(runs, json, io, (run, sub) =>
    runDeployed(
      stack.ref,
      'BulkStateMachineArn',
      async (opened: DeployedStackType) => ({
        ...(run.emails.length <= MAX_INLINE_PEOPLE
          ? { emails: run.emails }
          : { source: await opened.uploadList(run.emails) }),
        dryRun: run.dryRun === true,
        connections: run.connections,
        retryOf: run.retryOf,
      }),
      { json, wait: !noWait },
      sub,
    ),
  );
}

/**
 * Why an execution that did not succeed must not simply go on where it stopped: someone
 * stopped it on purpose (StopExecution: perhaps the wrong person), a person kept the safety
 * brake on, or the person was reactivated (or offboarded) since it started. A redrive re-runs
 * the original input without reading any of that.
 */
async function notRedriven(
  stack: DeployedStackType,
  target: string,
  described: { status?: string; error?: { name?: string }; input?: unknown; startDate?: Date },
): Promise<{ kind: 'nothing' | 'refused'; message: string } | undefined> {
  if (described.status === 'ABORTED')
    return {
      kind: 'refused',
      message: `${target} was stopped on purpose (StopExecution), so it is not resumed: if the offboarding is still wanted, start it again with offboard run --stack`,
    };
  if (described.error?.name === 'Brake.Refused')
    return {
      kind: 'refused',
      message: `${target} was stopped by the safety brake, which a person kept on (offboard report --brake --stack shows who): if the offboarding is still wanted, start it again with offboard run --stack, which the brake counts`,
    };
  const input = described.input as
    | { email?: unknown; reactivate?: unknown; detail?: { email?: unknown } }
    | undefined;
  const email = input?.email ?? input?.detail?.email;
  if (typeof email !== 'string' || !described.startDate) return undefined;
  const reactivate = input?.reactivate === true;
  const started = described.startDate.toISOString();
  // The other kind of run since this one started: a reinstated person is not switched off again.
  // An offboarding since (a reactivation's redrive would undo it); a reactivation since, one
  // with nothing to restore included (an offboarding's redrive would switch them off).
  const over = (e: LedgerEntry) =>
    reactivate ? ['deactivated', 'already-inactive'].includes(e.outcome) : isReactivation(e);
  const since = (await (await stack.ledger()).history(email.trim())).find(
    (e) => !e.dryRun && e.at > started && over(e),
  );
  if (!since) return undefined;
  return {
    kind: 'nothing',
    message: `${target} was ${reactivate ? 'offboarded' : 'reactivated'} over since, by ${since.executionId}: nothing to retry`,
  };
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
  return summary?.connections ? summaryExit(summary) : EXIT.ok;
}
