/**
 * Bulk runs and the audit, by the directory: each vendor's user list is read once a run, in
 * its largest pages, and everyone is matched against it by the rules of a single lookup. Only
 * the accounts that need a write are read again (in batches where the vendor can), written
 * (in batches where the vendor can), and verified by reading the list again.
 *
 * The safety rules are the single run's: the account written is the person's own (not a
 * secondary address, never two accounts), protected accounts are never switched off, the
 * account is read afresh right before its write and anything changed means planning again,
 * and the before-state is in the ledger before the write is sent.
 */
import {
  type BatchDeactivatingConnector,
  type Connector,
  canDeactivate,
  canDeactivateInBatches,
  canReadDirectory,
  type DirectoryConnector,
  type UserRecord,
} from '../connectors/types';
import { type BulkRun, bulkRunName } from './bulk-run';
import { answersFor, checkFresh, checkPlanned } from './checks';
import type { ConnectionRef } from './connections';
import { endpointOf } from './deployed';
import { Directory, isPerson } from './directory';
import {
  ConfigError,
  InvalidInputError,
  NotYetAppliedError,
  RecordChangedError,
  WriteRefusedError,
} from './errors';
import { type BlobRef, type BlobStore, workName } from './evidence';
import type { Ledger, LedgerEntry } from './ledger';
import { type Redactor, redactDeep } from './redact';
import { causeMessage, childFailure } from './summary';

/**
 * People planned and read afresh together. A chunk's accounts are read right before its
 * writes: the larger it is, the fewer reads, and the longer the moment between a read and the
 * last write it covers. A hundred writes is ten seconds at Insightly's pace.
 */
export const BULK_CHUNK = 100;

/**
 * A bulk step stops starting chunks after this long, and the state machine calls it again
 * where it stopped: its Lambda (150 s) never times out mid-chunk.
 */
export const BULK_BUDGET_MS = 60_000;

/** Ledger entries written in one call (a DynamoDB write each, two for an outcome). */
const LEDGER_BATCH = 100;

/** Each step's read of its run's `BulkRun`, once per step (the context is the step's). */
const runs = new WeakMap<BulkContext, Promise<BulkRun>>();
function bulkRunOf(context: BulkContext): Promise<BulkRun> {
  let run = runs.get(context);
  if (!run) {
    run = context.blobs.getNamed(bulkRunName(context.executionId)).then((kept) => (kept ?? {}) as BulkRun);
    runs.set(context, run);
  }
  return run;
}

/** What became of one person on one connection, in a bulk run. */
export interface BulkResult {
  email: string;
  /**
   * `pending`: written, not yet seen off (the verification decides); `handoff`: needs the
   * single run (a person switches it off, or it changed since it was read and must be planned
   * again), which the state machine starts for this person on this connection.
   */
  outcome:
    | 'not-found'
    | 'already-inactive'
    | 'would-deactivate'
    | 'pending'
    | 'deactivated'
    | 'failed'
    | 'handoff';
  userId?: string;
  error?: { name: string; message: string };
  /** The account as read before the write (pending, deactivated): what a reactivation restores. */
  before?: Record<string, unknown>;
}

/** A connection's bulk run as kept between its steps (`BlobStore.putNamed`). */
interface Progress {
  /** People done so far, in the list's order. */
  next: number;
  results: BulkResult[];
  /**
   * Results of the chunk under way (from `next`), kept after each write: a step retried after a
   * rate limit or an outage sends none of these writes again.
   */
  partial?: Record<string, BulkResult>;
  /** People a chunk holds: who may have a write without a result, should the step die. */
  chunk?: number;
  /** Set once the outcomes are in the ledger. */
  recorded?: boolean;
  /** Hand-offs whose single runs have been counted (`bulkHandoff`), in the order handed off. */
  handedOff?: number;
  /** A single run of a person handed off could not record its outcomes. */
  ledgerError?: { name: string; message: string };
}

/**
 * People handed to single runs at a time: the state holds one page of them and its runs'
 * results, whatever the number of people a person must switch off.
 */
export const HANDOFF_PAGE = 40;
/** What a bulk step needs besides the connector: all from the function's own configuration. */
export interface BulkContext {
  connector: Connector;
  connection: ConnectionRef;
  ledger: Ledger;
  blobs: BlobStore;
  redact: Redactor;
  executionId: string;
  startedAt: string;
  dryRun: boolean;
  /** The step's clock (tests). */
  now?: () => number;
}

/** Counts by outcome: what the state keeps of a connection's bulk run. */
export type BulkCounts = Partial<Record<BulkResult['outcome'], number>>;

/** What `bulkDeactivate` answers: whether everyone was seen, and the counts so far. */
export interface BulkStepResult {
  done: boolean;
  processed: number;
  people: number;
  counts: BulkCounts;
}

/** At most this many failures travel in the state by name; all of them are in the ledger. */
export const SHOWN_FAILURES = 25;

/** What `bulkVerify` answers once everything is settled: small, whatever the number of people. */
export interface BulkVerifyResult {
  counts: BulkCounts;
  /** The first failures, by name (all of them are in the ledger and in `resultsRef`). */
  failed: Array<{ email: string; userId?: string; error?: { name: string; message: string } }>;
  failedCount: number;
  /** People the single run finishes on this connection (a person's task, a record that changed). */
  handoff: string[];
  /** Every person's result on this connection, kept whole in the evidence store. */
  resultsRef: BlobRef;
  /** A single run of a person handed off could not record its outcomes: the bulk run fails at its end. */
  ledgerError?: { name: string; message: string };
}

/** The directory snapshot of this run and connection: read once, kept for the run's other steps. */
export async function runDirectory(context: BulkContext): Promise<Directory> {
  const name = workName('directory', context.executionId, context.connection.name);
  const kept = (await context.blobs.getNamed(name)) as { users: UserRecord[]; readAt: number } | undefined;
  if (kept) return new Directory(kept.users, kept.readAt);
  // The read's start: the moment its earliest page could date from.
  const readAt = (context.now ?? Date.now)();
  const users = await directoryConnector(context).readDirectory();
  await context.blobs.putNamed(name, { users, readAt });
  return new Directory(users, readAt);
}

function directoryConnector({ connector, connection }: BulkContext): DirectoryConnector {
  if (!canReadDirectory(connector)) {
    throw new ConfigError(`${connection.name}: the ${connection.type} connector cannot read its user list`);
  }
  return connector;
}

const progressName = (context: BulkContext) => workName('bulk', context.executionId, context.connection.name);

/**
 * Works through the list from where the last call stopped, a chunk at a time, until everyone
 * is done or the time budget is spent; each chunk's results are kept before the next starts,
 * so a step retried by the state machine (a rate limit, a timeout) does not redo them.
 */
export async function bulkDeactivate(
  context: BulkContext,
  people: readonly string[],
): Promise<BulkStepResult> {
  const now = context.now ?? Date.now;
  const started = now();
  const name = progressName(context);
  const progress = ((await context.blobs.getNamed(name)) as Progress | undefined) ?? { next: 0, results: [] };
  if (progress.next < people.length) {
    const directory = await runDirectory(context);
    const limit = canDeactivateInBatches(context.connector) ? await context.connector.batchLimit() : 1;
    const chunk = Math.max(BULK_CHUNK, limit);
    progress.chunk = chunk;
    while (progress.next < people.length && now() - started < BULK_BUDGET_MS) {
      const emails = people.slice(progress.next, progress.next + chunk);
      progress.partial ??= {};
      const partial = progress.partial;
      const save = async (done: ReadonlyMap<string, BulkResult>) => {
        for (const [email, result] of done) partial[email] = result;
        await context.blobs.putNamed(name, progress);
      };
      progress.results.push(...(await deactivateChunk(context, directory, emails, limit, partial, save)));
      progress.next += emails.length;
      progress.partial = {};
      await context.blobs.putNamed(name, progress);
    }
  }
  return {
    done: progress.next >= people.length,
    processed: progress.next,
    people: people.length,
    counts: countOf(progress.results),
  };
}

/** An account planned for a write, and when it was last read (the read that vouches for it). */
interface Target {
  email: string;
  record: UserRecord;
  readAt: number;
}

/** One chunk: match and plan everyone, then write, each write within `FRESH_MS` of a read. */
async function deactivateChunk(
  context: BulkContext,
  directory: Directory,
  emails: readonly string[],
  limit: number,
  done: Readonly<Record<string, BulkResult>>,
  save: (results: ReadonlyMap<string, BulkResult>) => Promise<void>,
): Promise<BulkResult[]> {
  const { connector } = context;
  const label = context.connection.name;
  const now = context.now ?? Date.now;
  const results = new Map<string, BulkResult>(Object.entries(done));
  // Where the list lacks part of the record (InsightVM), each account is read before its write
  // is planned: then a few are planned and written at a time, so that a step retried after a
  // rate limit reads again only those, not the whole chunk.
  const complete = directoryConnector(context).directoryComplete;
  const whole = canDeactivate(connector) && connector.writesWholeRecord === true;
  const group = complete ? emails.length : Math.max(limit, 1);
  for (let start = 0; start < emails.length; start += group) {
    await planAndWrite(emails.slice(start, start + group));
  }
  return emails.map((email) => results.get(email) as BulkResult);

  async function planAndWrite(some: readonly string[]): Promise<void> {
    let queue: Target[] = [];
    for (const email of some) {
      // Written by an earlier attempt of this step: its result stands, nothing is sent again.
      if (results.has(email)) continue;
      try {
        const found = directory.find(label, email);
        if (!found.found) {
          results.set(email, { email, outcome: 'not-found' });
          continue;
        }
        let record = directory.byId(found.userId) as UserRecord;
        let readAt = directory.readAt;
        if (!complete) {
          // The list lacks part of the record (InsightVM's grants): read it whole.
          readAt = now();
          record = await connector.getUser(found.userId);
          answersFor(label, record, found.userId, 'get user');
        }
        const result = await plan(context, email, record);
        if (result) results.set(email, result);
        else queue.push({ email, record, readAt });
      } catch (error) {
        results.set(email, failure(email, error));
      }
    }
    while (queue.length > 0) {
      // Every write is sent within FRESH_MS of a read that showed the account unchanged and
      // still the person's: when the read that planned it is older, the accounts still to be
      // written are read again (in as few requests as the vendor allows) and checked again.
      // A write that sends the whole record back is made from a read right before it, as in a
      // single run: from an older one it would undo an edit made since.
      let batch: Target[];
      if (whole) {
        const head = queue.splice(0, Math.max(limit, 1));
        // Planned from the list: read now. Planned from a read of its own just made (InsightVM
        // reads each account whole before planning it): that read is right before the write.
        const stale = complete || now() - Math.min(...head.map((t) => t.readAt)) > WHOLE_RECORD_FRESH_MS;
        batch = stale ? await refreshed(context, directory, head, limit, results) : head;
      } else {
        if (now() - Math.min(...queue.map((t) => t.readAt)) > FRESH_MS) {
          queue = await refreshed(context, directory, queue, limit, results);
          continue;
        }
        batch = queue.splice(0, Math.max(limit, 1));
      }
      if (batch.length === 0) continue;
      const targets = batch.map((t) => ({ ...t, before: redactDeep(t.record.fields, context.redact) }));
      // Write-ahead: the batch's before-states are in the ledger before its write is sent.
      await recordAll(
        context,
        targets.map(({ email, record, before }) =>
          entry(context, { email, outcome: 'deactivating', userId: record.id, before }),
        ),
      );
      for (const [email, result] of await write(context, targets, limit)) results.set(email, result);
      await save(results);
    }
  }
}

/**
 * Longest a read vouches for an account's write: beyond it the account is read again first.
 * A single run reads right before its write; a bulk run reads the list once and writes for
 * minutes, so this bounds how stale the read behind any write can be.
 */
export const FRESH_MS = 30_000;

/**
 * How old the read behind a write that sends the whole record back (Insightly, InsightVM) may
 * be when it is the account's own read that planned the write (InsightVM reads each account
 * whole before planning it): then it was made right before. Planned from the list, such a write
 * is always preceded by a read of the account.
 */
export const WHOLE_RECORD_FRESH_MS = 2_000;

/** The targets read afresh and checked again; the ones that fail a check get their result. */
async function refreshed(
  context: BulkContext,
  directory: Directory,
  queue: readonly Target[],
  limit: number,
  results: Map<string, BulkResult>,
): Promise<Target[]> {
  const { connector } = context;
  const label = context.connection.name;
  const readAt = (context.now ?? Date.now)();
  const failed = new Map<string, Error>();
  const fresh = await freshRecords(
    context,
    directory,
    queue.map((t) => t.record.id),
    limit,
    failed,
  );
  const kept: Target[] = [];
  for (const { email, record } of queue) {
    try {
      const refused = failed.get(record.id);
      if (refused) throw refused;
      const now = fresh.get(record.id);
      if (!now) {
        results.set(email, { email, outcome: 'not-found', userId: record.id });
        continue;
      }
      let target: UserRecord | undefined;
      try {
        target = await checkFresh(label, record, now, email, connector);
      } catch (error) {
        // Changed since the list was read: the single run plans again from a fresh read.
        if (!(error instanceof RecordChangedError)) throw error;
        results.set(email, { email, outcome: 'handoff', userId: record.id, error: described(error) });
        continue;
      }
      if (!target) {
        // Off already: by someone else, or by this run's own write whose answer was lost.
        results.set(email, { email, ...(await offAlready(context, email, now)) });
        continue;
      }
      kept.push({ email, record: target, readAt });
    } catch (error) {
      results.set(email, failure(email, error, record.id));
    }
  }
  return kept;
}

/** What to do with a found account before any write: undefined when it is to be written. */
async function plan(
  context: BulkContext,
  email: string,
  record: UserRecord,
): Promise<BulkResult | undefined> {
  await checkPlanned(context.connection.name, record, email, context.connector);
  if (!record.active) return { email, outcome: 'already-inactive', userId: record.id };
  if (context.dryRun) return { email, outcome: 'would-deactivate', userId: record.id };
  // No API to switch it off: the single run asks a person, and verifies their work.
  if (!canDeactivate(context.connector)) {
    return {
      email,
      outcome: 'handoff',
      userId: record.id,
      error: {
        name: 'Task.Person',
        message: `the ${context.connection.type} API offers no way to switch an account off`,
      },
    };
  }
  return undefined;
}

/**
 * The accounts read afresh, by id, in the fewest requests: the vendor's batch read, else the
 * user list again when that takes fewer pages than there are accounts, else one read each.
 */
async function freshRecords(
  context: BulkContext,
  directory: Directory,
  ids: readonly string[],
  limit: number,
  failed: Map<string, Error>,
): Promise<Map<string, UserRecord>> {
  const { connector } = context;
  const fresh = new Map<string, UserRecord>();
  if (ids.length === 0) return fresh;
  if (canDeactivateInBatches(connector) && connector.getUsers) {
    const size = Math.max(limit, 1);
    for (let i = 0; i < ids.length; i += size) {
      for (const record of await connector.getUsers(ids.slice(i, i + size))) fresh.set(record.id, record);
    }
    return fresh;
  }
  const complete = canReadDirectory(connector) && connector.directoryComplete;
  if (complete && pagesOf(context, directory) < ids.length) {
    const wanted = new Set(ids);
    for (const record of await connector.readDirectory())
      if (wanted.has(record.id)) fresh.set(record.id, record);
    return fresh;
  }
  for (const id of ids) {
    try {
      fresh.set(id, await connector.getUser(id));
    } catch (error) {
      // This account's own trouble (gone: a 404; refused) is its person's result; the others
      // go on. Anything else is the connection's, and the step is retried.
      if (!PERSONAL_ERRORS.has((error as Error).name)) throw error;
      failed.set(id, error as Error);
    }
  }
  return fresh;
}

/** Requests a read of the whole list costs, as the connector pages it. */
function pagesOf(context: BulkContext, directory: Directory): number {
  const size = (context.connector as Partial<DirectoryConnector>).directoryPageSize ?? 100;
  return Math.ceil((directory.users.length + 1) / size);
}

/** An account found off right before its write: this run's own earlier write, or someone else's. */
async function offAlready(
  context: BulkContext,
  email: string,
  record: UserRecord,
): Promise<Omit<BulkResult, 'email'>> {
  const ours = (await context.ledger.history(email)).find(
    (e) =>
      e.outcome === 'deactivating' &&
      e.executionId === context.executionId &&
      e.connection === context.connection.name &&
      e.userId === record.id,
  );
  return ours
    ? { outcome: 'pending', userId: record.id, ...(ours.before ? { before: ours.before } : {}) }
    : { outcome: 'already-inactive', userId: record.id };
}

/** Sends the writes, in batches where the vendor takes them; each account's answer on its own. */
async function write(
  context: BulkContext,
  targets: ReadonlyArray<{ email: string; record: UserRecord; before: Record<string, unknown> }>,
  limit: number,
): Promise<Map<string, BulkResult>> {
  const { connector } = context;
  const results = new Map<string, BulkResult>();
  const written = (t: (typeof targets)[number]): BulkResult => ({
    email: t.email,
    outcome: 'pending',
    userId: t.record.id,
    before: t.before,
  });
  const refused = (t: (typeof targets)[number], error: unknown): BulkResult => {
    // A version conflict or a refused write: the single run plans again or asks a person.
    if (error instanceof RecordChangedError || error instanceof WriteRefusedError) {
      return { email: t.email, outcome: 'handoff', userId: t.record.id, error: described(error) };
    }
    // Anything else may have been applied before the answer was lost: the read decides.
    return { ...written(t), error: described(error) };
  };
  if (canDeactivateInBatches(connector) && limit > 1) {
    const batches = chunks(targets, limit);
    for (const batch of batches) {
      const answers = new Map(
        (await (connector as BatchDeactivatingConnector).deactivateUsers(batch.map((t) => t.record))).map(
          (a) => [a.id, a],
        ),
      );
      const alone: Array<(typeof targets)[number]> = [];
      for (const t of batch) {
        const answer = answers.get(t.record.id);
        if (answer?.ok) results.set(t.email, written(t));
        // Refused as a request (a SCIM service that takes another PatchOp form): the single
        // write, which knows the other forms, is tried for this account.
        else if (answer?.error.name === 'Vendor.BadRequest') alone.push(t);
        else
          results.set(
            t.email,
            refused(
              t,
              answer?.ok === false
                ? answer.error
                : new Error(`${context.connection.name}: the batch answer left out user ${t.record.id}`),
            ),
          );
      }
      for (const [email, result] of await writeOneByOne(context, alone, written, refused)) {
        results.set(email, result);
      }
    }
    return results;
  }
  return writeOneByOne(context, targets, written, refused);
}

async function writeOneByOne<T extends { email: string; record: UserRecord }>(
  context: BulkContext,
  targets: readonly T[],
  written: (t: T) => BulkResult,
  refused: (t: T, error: unknown) => BulkResult,
): Promise<Map<string, BulkResult>> {
  const { connector } = context;
  const results = new Map<string, BulkResult>();
  if (!canDeactivate(connector)) throw new ConfigError(`${context.connection.name}: cannot write`);
  for (const t of targets) {
    try {
      await connector.deactivateUser(t.record);
      results.set(t.email, written(t));
    } catch (error) {
      // A rate limit, a spent quota or a refused credential is the connection's: the state
      // machine retries the chunk (or gives up on the connection), which reads again and finds
      // this run's own writes through their write-ahead entries. Anything else (an answer
      // lost, a server error on this one account) may or may not have been applied: the
      // verifying read decides, and the rest of the list goes on.
      if (CONNECTION_ERRORS.has((error as Error).name)) throw error;
      results.set(t.email, refused(t, error));
    }
  }
  return results;
}

/**
 * Reads the user list again and settles every written account: off (or gone) is
 * `deactivated`; still on is retried by the state machine (`Vendor.NotYetApplied`) until
 * `final`, when it is `failed`. Then every outcome goes to the ledger, as a single run's do.
 */
export async function bulkVerify(
  context: BulkContext,
  final: boolean,
  unreached?: {
    people: readonly string[];
    error?: { Error: string; Cause?: string | undefined } | undefined;
  },
): Promise<BulkVerifyResult> {
  const name = progressName(context);
  const progress =
    ((await context.blobs.getNamed(name)) as Progress | undefined) ??
    (unreached ? { next: 0, results: [] } : undefined);
  if (!progress) {
    throw new InvalidInputError(`${context.connection.name}: this run has no bulk progress to verify`);
  }
  if (final && unreached && progress.next < unreached.people.length) {
    // The run stopped part way. The chunk under way kept the results of its writes; a write
    // sent just before the step died has at least its write-ahead entry: the read below
    // decides what became of both. Nobody the run did not reach is left unaccounted for.
    const why = unreached.error
      ? { name: unreached.error.Error, message: causeMessage(unreached.error.Cause) }
      : { name: 'Bulk.Stopped', message: 'the bulk run stopped before it reached this person' };
    const underWay = progress.next + (progress.chunk ?? BULK_CHUNK);
    for (const [index, email] of unreached.people.entries()) {
      if (index < progress.next) continue;
      const kept = progress.partial?.[email];
      const intent =
        kept || index >= underWay
          ? undefined
          : (await context.ledger.history(email)).find(
              (e) =>
                e.outcome === 'deactivating' &&
                e.executionId === context.executionId &&
                e.connection === context.connection.name &&
                e.userId !== undefined,
            );
      progress.results.push(
        kept ??
          (intent
            ? {
                email,
                outcome: 'pending',
                userId: intent.userId as string,
                ...(intent.before ? { before: intent.before } : {}),
              }
            : {
                email,
                outcome: 'failed',
                error: { name: why.name, message: `${context.connection.name}: not reached: ${why.message}` },
              }),
      );
    }
    progress.next = unreached.people.length;
    progress.partial = {};
  }
  const waiting = progress.results.filter((r) => r.outcome === 'pending');
  if (waiting.length > 0 && !progress.recorded) {
    let now: Directory;
    try {
      now = new Directory(await directoryConnector(context).readDirectory());
    } catch (error) {
      if (!final) throw error;
      // The last chance, and the list cannot be read (a credential revoked part way): every
      // outcome is still recorded, the written accounts as unverified (their write-ahead
      // entries keep what a reactivation needs).
      for (const result of waiting) {
        result.outcome = 'failed';
        result.error = {
          name: (error as Error).name || 'Error',
          message: `${context.connection.name}: user ${result.userId}: the write was sent, but the user list could not be read to verify it: ${(error as Error).message}`,
        };
      }
      now = new Directory([]);
    }
    let still = 0;
    for (const result of waiting.filter((r) => r.outcome === 'pending')) {
      const record = now.byId(result.userId as string);
      // Gone from the list is off: nobody can sign in with it.
      if (!record || (!record.active && isPerson(record, result.email))) {
        result.outcome = 'deactivated';
        delete result.error;
      } else if (!isPerson(record, result.email)) {
        // The id holds someone else now: what became of the person's account is unknown.
        result.outcome = 'failed';
        result.error = {
          name: 'User.Mismatch',
          message: `${context.connection.name}: user ${result.userId} has the email ${record.email || '(none)'} now, not ${result.email}; check by hand`,
        };
      } else if (final) {
        result.outcome = 'failed';
        result.error ??= {
          name: 'Vendor.NotYetApplied',
          message: `${context.connection.name}: user ${result.userId} is still active after the write`,
        };
      } else {
        still++;
      }
    }
    await context.blobs.putNamed(name, progress);
    if (still > 0) {
      throw new NotYetAppliedError(
        `${context.connection.name}: ${still} of ${waiting.length} accounts written are still active; reading the list again`,
      );
    }
  }
  if (!progress.recorded) {
    await recordAll(
      context,
      progress.results
        .filter((r) => r.outcome !== 'handoff')
        .map((r) =>
          entry(context, {
            email: r.email,
            outcome: r.outcome as LedgerEntry['outcome'],
            ...(r.userId ? { userId: r.userId } : {}),
            ...(r.before ? { before: r.before } : {}),
            ...(r.error ? { error: r.error } : {}),
          }),
        ),
    );
    progress.recorded = true;
    await context.blobs.putNamed(name, progress);
  }
  return verifiedResult(context, progress);
}

/** What the state keeps of a connection's run: counts, the first failures, the next hand-offs. */
async function verifiedResult(context: BulkContext, progress: Progress): Promise<BulkVerifyResult> {
  const failed = progress.results.filter((r) => r.outcome === 'failed');
  const handoff = progress.results.filter((r) => r.outcome === 'handoff').map((r) => r.email);
  return {
    counts: countOf(progress.results),
    failed: failed.slice(0, SHOWN_FAILURES).map(({ email, userId, error }) => ({
      email,
      ...(userId ? { userId } : {}),
      ...(error ? { error } : {}),
    })),
    failedCount: failed.length,
    handoff: handoff.slice(0, HANDOFF_PAGE),
    ...(progress.ledgerError ? { ledgerError: progress.ledgerError } : {}),
    resultsRef: await context.blobs.put(progress.results.map(({ before: _before, ...rest }) => rest)),
  };
}

/** A single run's result for a person handed off, as the bulk state machine's Map leaves it. */
export interface HandoffRun {
  email: string;
  outcome: string;
  connection?: { outcome?: string; userId?: string; error?: { name: string; message: string } };
  error?: { Error: string; Cause?: string };
}

/**
 * Counts the single runs of a page of hand-offs: each person's result becomes what their run
 * did (their run recorded it in the ledger), and the next page is handed out.
 */
export async function bulkHandoff(
  context: BulkContext,
  runs: readonly HandoffRun[],
): Promise<BulkVerifyResult> {
  const name = progressName(context);
  const progress = (await context.blobs.getNamed(name)) as Progress | undefined;
  if (!progress) {
    throw new InvalidInputError(
      `${context.connection.name}: this run has no bulk progress to count hand-offs in`,
    );
  }
  for (const run of runs) {
    const result = progress.results.find((r) => r.email === run.email && r.outcome === 'handoff');
    if (!result) continue;
    const outcome = (run.connection?.outcome ?? run.outcome) as BulkResult['outcome'];
    result.outcome = outcome === 'handoff' ? 'failed' : outcome;
    // A run that failed as a whole says why inside Step Functions' wrapper: its own error.
    const error = run.connection?.error ?? (run.error ? childFailure(run.error) : undefined);
    if (error) result.error = error;
    else delete result.error;
    // Its outcomes (the account may well be off) are not in the ledger: the bulk run fails
    // loudly at its end, as that single run did.
    if (error?.name === 'Ledger.WriteFailed') {
      progress.ledgerError = {
        name: error.name,
        message: `${context.connection.name}: ${run.email}: ${error.message}`,
      };
    }
    if (run.connection?.userId) result.userId = run.connection.userId;
  }
  progress.handedOff = (progress.handedOff ?? 0) + runs.length;
  await context.blobs.putNamed(name, progress);
  return verifiedResult(context, progress);
}

/** What the audit found on one page of a connection's accounts. */
export interface AuditCheckResult {
  checked: number;
  stillOff: number;
  /**
   * The person can sign in again on this connection: the account switched off is active and
   * still theirs, or another account of their own is (provisioned again under a new id). The
   * audit reports each active account, and may switch it off again.
   */
  drift: Array<{ email: string; userId: string }>;
  /** No longer in the user list: nobody can sign in with it, so it counts as still off. */
  gone: number;
}

/**
 * The audit, by the user list: every account this workflow switched off is looked up in one
 * read of the list (kept for the run), not read one at a time. Drift is an account active
 * again that is still the person's (an id given to someone else is not their drift).
 */
export async function auditCheck(
  context: BulkContext,
  accounts: ReadonlyArray<{ email: string; userId: string }>,
): Promise<AuditCheckResult> {
  const directory = await runDirectory(context);
  const drift: AuditCheckResult['drift'] = [];
  let gone = 0;
  let stillOff = 0;
  for (const { email, userId } of accounts) {
    const record = directory.byId(userId);
    if (!record) gone++;
    // The person can sign in again: the account switched off is back on, or they hold another
    // account of their own that is active (provisioned again under a new id, the old id maybe
    // given to someone else). Either way it is their drift, reported by the active account.
    const back = directory
      .ownAccounts(email)
      .filter((account) => account.active)
      .sort((a, b) => (a.id === userId ? -1 : b.id === userId ? 1 : 0));
    if (back.length === 0) {
      stillOff++;
      continue;
    }
    for (const account of back) {
      if (!drift.some((d) => d.email === email && d.userId === account.id)) {
        drift.push({ email, userId: account.id });
      }
    }
  }
  return { checked: accounts.length, stillOff, drift, gone };
}

function entry(
  context: BulkContext,
  fields: Pick<LedgerEntry, 'email' | 'outcome'> & Partial<LedgerEntry>,
): LedgerEntry {
  return {
    connection: context.connection.name,
    endpoint: endpointOf(context.connection),
    type: context.connection.type,
    dryRun: context.dryRun,
    at: new Date().toISOString(),
    startedAt: context.startedAt,
    executionId: context.executionId,
    ...fields,
  };
}

async function recordAll(context: BulkContext, entries: readonly LedgerEntry[]): Promise<void> {
  const { retryOf } = await bulkRunOf(context);
  const linked = retryOf ? entries.map((e) => ({ ...e, retryOf })) : entries;
  for (const part of chunks(linked, LEDGER_BATCH)) await context.ledger.record(part);
}

/**
 * Errors about one person's account, which end that person's run on this connection; any
 * other (a rate limit, an outage, a refused credential) is the connection's, and is thrown
 * for the state machine to retry the step, which picks up where it stopped.
 */
const PERSONAL_ERRORS = new Set([
  'User.Ambiguous',
  'User.NeedsReview',
  'User.Mismatch',
  'User.Protected',
  'Record.Changed',
  'Vendor.WriteRefused',
  'Vendor.BadRequest',
]);

/** Errors that stop a connection's run (retried by the state machine), not one person's. */
const CONNECTION_ERRORS = new Set([
  'Vendor.RateLimited',
  'Vendor.RateLimitedHourly',
  'Vendor.QuotaExhausted',
  'Vendor.AuthFailed',
  'Config.Invalid',
  'Ledger.Unavailable',
  'Ledger.WriteFailed',
]);

function failure(email: string, error: unknown, userId?: string): BulkResult {
  if (!PERSONAL_ERRORS.has((error as Error).name)) throw error;
  return { email, outcome: 'failed', ...(userId ? { userId } : {}), error: described(error) };
}

function described(error: unknown): { name: string; message: string } {
  const e = error as Error;
  return { name: e.name || 'Error', message: e.message };
}

function countOf(results: readonly BulkResult[]): BulkCounts {
  const counts: BulkCounts = {};
  for (const r of results) counts[r.outcome] = (counts[r.outcome] ?? 0) + 1;
  return counts;
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
