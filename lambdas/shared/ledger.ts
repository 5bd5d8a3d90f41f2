import {
  type AttributeValue,
  ConditionalCheckFailedException,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  type QueryCommandOutput,
  ScanCommand,
  type ScanCommandOutput,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { z } from 'zod';
import { ConfigError, LedgerUnavailableError, LedgerWriteFailedError } from './errors';
import { type BlobRef, type BlobStore, blobRefSchema, evidenceFromEnv } from './evidence';
import { causeMessage, OUTCOMES, type PersonAnswer, personAnswer } from './summary';

/**
 * What the ledger records besides the run's outcomes: `deactivating`, the write-ahead entry a
 * connector writes right before it sends a deactivation, with the account as it was. Whatever
 * happens next (a lost answer, a timeout, the process killed), the before-state is kept.
 */
export const LEDGER_OUTCOMES = [...OUTCOMES, 'deactivating'] as const;
export type LedgerOutcome = (typeof LEDGER_OUTCOMES)[number];

/**
 * One connection's outcome for one person, as evidence: who, where, which account, what
 * happened, the account as it was before (enough to restore it), when, and which execution.
 */
export interface LedgerEntry {
  email: string;
  connection: string;
  type: string;
  /**
   * Which tenant the connection reached (a digest of its type and base URL): a before-state is
   * only ever restored, and an account only audited, through a connection that reaches it.
   * Absent on entries written before it was kept.
   */
  endpoint?: string;
  outcome: LedgerOutcome;
  dryRun: boolean;
  userId?: string;
  /** The vendor's record as read before any change (absent when none was read). */
  before?: Record<string, unknown>;
  /** The same, kept whole in the evidence store because it is too large to carry inline. */
  beforeRef?: BlobRef;
  error?: { name: string; message: string };
  /**
   * When it happened (ISO 8601), by the clock of the step that recorded it: what orders a
   * person's history, what `--since` filters on, and what decides the latest state. (An
   * execution that waited days for effectiveAt or for a person acts long after it started.)
   */
  at: string;
  /**
   * When the execution started: with the execution and the connection, the entry's key, so
   * that a retried step rewrites its own entry instead of adding one. Absent: `at`.
   */
  startedAt?: string;
  executionId: string;
  /** The execution this one retried (`offboard retry`): what links a retry to the run it resumes. */
  retryOf?: string;
  /** The run restored accounts (a reactivation): a failure in it is never retried as a deactivation. */
  reactivate?: boolean;
  /**
   * The person who answered this connection's task "Done" (the vendor's API cannot switch the
   * account off): on a `deactivated` entry, they switched it off by hand; on a `failed` one,
   * they said so but the account was still on.
   */
  person?: PersonAnswer;
}

const personAnswerSchema = z.object({
  by: z.string().optional(),
  at: z.string(),
  taskId: z.string().optional(),
});

export const entrySchema = z.object({
  email: z.string(),
  connection: z.string(),
  type: z.string(),
  endpoint: z.string().optional(),
  outcome: z.enum(LEDGER_OUTCOMES),
  dryRun: z.boolean(),
  userId: z.string().optional(),
  before: z.record(z.string(), z.unknown()).optional(),
  beforeRef: blobRefSchema.optional(),
  error: z.object({ name: z.string(), message: z.string() }).optional(),
  at: z.string(),
  startedAt: z.string().optional(),
  executionId: z.string(),
  retryOf: z.string().optional(),
  reactivate: z.boolean().optional(),
  person: personAnswerSchema.optional(),
});

/**
 * Where the evidence is kept: DynamoDB when deployed, SQLite for local runs. Both keep the
 * same entries under the same keys and answer the same questions.
 */
export interface Ledger {
  /**
   * Writes entries (outcomes, or a write-ahead `deactivating` entry), and where each account
   * stands now for the audit. A retried write of the same entry changes nothing. Throws
   * `Ledger.Unavailable` (retried) or `Ledger.WriteFailed`: the evidence is never dropped
   * silently.
   */
  record(entries: readonly LedgerEntry[]): Promise<void>;
  /** See {@link DynamoDbLedger.claim}. */
  claim(
    key: string,
    claimant: { executionId: string; eventId: string; at: string },
  ): Promise<{ duplicate: boolean; firstExecutionId: string }>;
  /** Everything recorded for a person, oldest first; `since` keeps entries at or after it. */
  history(email: string, since?: Date): Promise<LedgerEntry[]>;
  /** One page of the accounts this workflow switched off and that should still be off. */
  offboardedAccounts(
    cursor?: string,
    limit?: number,
  ): Promise<{ accounts: OffboardedAccount[]; cursor?: string }>;
  /** Where before-states too large for an entry are kept whole. */
  readonly blobs: () => BlobStore;
}

/**
 * A brake item kept beside the entries: the key (`pause#…`, `grant#…`) under the brake's
 * partition, and its JSON value (see lambdas/shared/brake.ts).
 */
export interface BrakeRecord {
  key: string;
  value: Record<string, unknown>;
}

/**
 * The safety brake's storage (lambdas/shared/brake.ts): one state item, changed only by
 * optimistic version (so concurrent executions count one at a time), and records (each pause,
 * each bulk run's grant) written with it. Both ledgers keep it in their own store, beside the
 * entries; a ledger without it gets an in-memory brake that serves one process only.
 */
export interface BrakeLedger {
  /** The brake's state (undefined before the first count) and its version (0 before it). */
  brakeState(): Promise<{ state: unknown; version: number }>;
  /**
   * Writes the state if its version is still `version` (then it becomes `version + 1`) and
   * the records with it; false, and nothing written, when another execution changed it first.
   */
  saveBrakeState(state: unknown, version: number, records?: readonly BrakeRecord[]): Promise<boolean>;
  /** The records whose key starts with `prefix`, in key order. */
  brakeRecords(prefix: string): Promise<BrakeRecord[]>;
}

/** True when the ledger keeps the brake's state itself (both real ledgers do). */
export function keepsBrake(ledger: unknown): ledger is BrakeLedger {
  const l = ledger as Partial<BrakeLedger> | undefined;
  return typeof l?.brakeState === 'function' && typeof l.saveBrakeState === 'function';
}

/** The partition of the brake's state and records. No person's key (`person#…`) can equal it. */
export const BRAKE_PK = 'brake';
/** The sort key of the brake's state item. */
export const BRAKE_STATE_SK = 'window';

/**
 * Entries larger than this keep their before-state in the evidence store instead: DynamoDB
 * refuses items over 400 KB, and the keys and attributes need room too.
 */
export const LEDGER_ITEM_LIMIT = 350 * 1024;

/**
 * The entry as it is stored: checked, and with a before-state that would not fit moved whole
 * into the evidence store (the entry keeps its reference).
 */
export async function storableEntry(entry: LedgerEntry, blobs: () => BlobStore): Promise<string> {
  const checked = entrySchema.parse(entry) as LedgerEntry;
  const text = JSON.stringify(checked);
  if (Buffer.byteLength(text) <= LEDGER_ITEM_LIMIT || !checked.before) return text;
  const { before, ...rest } = checked;
  const beforeRef = await blobs().put(before);
  return JSON.stringify({ ...rest, beforeRef });
}

/**
 * Sort key of an entry: the execution's start, the execution and the connection, so that a
 * retried step lands on its own entry; an intent beside its run's outcome. (Entries are read
 * back in the order of `at`, when they happened.)
 */
export function entryKey(entry: LedgerEntry): string {
  return entry.outcome === 'deactivating' ? `${runKey(entry)}#intent` : runKey(entry);
}

/** The run and connection an entry belongs to: the key an intent and its outcome share. */
const runKey = (entry: LedgerEntry) =>
  `${entry.startedAt ?? entry.at}#${entry.executionId}#${entry.connection}`;

/** Where the account stands after an entry, for the audit: undefined when the entry does not say. */
export function accountState(entry: LedgerEntry): 'off' | 'on' | undefined {
  return entry.dryRun ? undefined : ACCOUNT_STATE[entry.outcome as keyof typeof ACCOUNT_STATE];
}

/**
 * The ledger table: one partition a person (`person#<email>`), one item per connection per
 * execution, sorted by time. Keys are derived from the execution, so a retried write lands
 * on the same item instead of adding a second one.
 */
export class DynamoDbLedger implements Ledger, BrakeLedger {
  constructor(
    readonly tableName: string,
    readonly client: DynamoDBClient = new DynamoDBClient({}),
    readonly blobs: () => BlobStore = evidenceFromEnv,
  ) {}

  async record(entries: readonly LedgerEntry[]): Promise<void> {
    // One PutItem an entry: a run has a handful, and each is its own idempotent write.
    const writes: Promise<unknown>[] = entries.map(async (entry) =>
      this.client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: {
            pk: { S: personKey(entry.email) },
            sk: { S: entryKey(entry) },
            entry: { S: await storableEntry(entry, this.blobs) },
          },
        }),
      ),
    );
    // And where each account stands now, for the audit to re-check: the latest real outcome
    // wins (a retried older write does not overwrite a newer state).
    for (const entry of entries) {
      const state = accountState(entry);
      if (!state || !entry.userId) continue;
      writes.push(
        this.client
          .send(
            new PutItemCommand({
              TableName: this.tableName,
              Item: {
                pk: { S: personKey(entry.email) },
                sk: { S: stateKey(entry) },
                email: { S: entry.email },
                connection: { S: entry.connection },
                ...(entry.endpoint ? { endpoint: { S: entry.endpoint } } : {}),
                type: { S: entry.type },
                userId: { S: entry.userId },
                st: { S: state },
                at: { S: entry.at },
              },
              ConditionExpression: 'attribute_not_exists(pk) OR #at <= :at',
              ExpressionAttributeNames: { '#at': 'at' },
              ExpressionAttributeValues: { ':at': { S: entry.at } },
            }),
          )
          .catch((error: unknown) => {
            if (error instanceof ConditionalCheckFailedException) return undefined as never;
            throw error;
          }),
      );
    }
    const settled = await Promise.allSettled(writes);
    const failed = settled.find((result) => result.status === 'rejected');
    if (failed) throw ledgerError(this.tableName, failed.reason);
  }

  /**
   * One page of the accounts this workflow switched off and that should still be off: what
   * the scheduled audit re-checks. `cursor` continues where the previous page stopped.
   */
  async offboardedAccounts(
    cursor?: string,
    limit = 200,
  ): Promise<{ accounts: OffboardedAccount[]; cursor?: string }> {
    // A Scan's Limit counts the items it reads before the filter, and most items are entries,
    // not account states: one Scan of 500 held some 160 accounts, so the audit took three
    // times the pages (and state transitions) it needed. Scans go on until the page is full;
    // each reads at most what is still missing, so none overshoots and the cursor stays exact.
    const accounts: OffboardedAccount[] = [];
    let next: Record<string, AttributeValue> | undefined = cursor ? JSON.parse(cursor) : undefined;
    do {
      const page: ScanCommandOutput = await this.client.send(
        new ScanCommand({
          TableName: this.tableName,
          FilterExpression: 'begins_with(sk, :state) AND st = :off',
          ExpressionAttributeValues: { ':state': { S: 'state#' }, ':off': { S: 'off' } },
          Limit: limit - accounts.length,
          ...(next ? { ExclusiveStartKey: next } : {}),
        }),
      );
      for (const item of page.Items ?? []) {
        accounts.push({
          email: item.email?.S ?? '',
          connection: item.connection?.S ?? '',
          ...(item.endpoint?.S ? { endpoint: item.endpoint.S } : {}),
          type: item.type?.S ?? '',
          userId: item.userId?.S ?? '',
        });
      }
      next = page.LastEvaluatedKey;
    } while (next && accounts.length < limit);
    return { accounts, ...(next ? { cursor: JSON.stringify(next) } : {}) };
  }

  /**
   * Claims a termination for this execution, once: the first event's execution gets it, a
   * resent event's execution finds it taken and is recorded on the claim as a duplicate. A
   * retry of the claiming execution gets its own claim back. Claims expire after 30 days.
   */
  async claim(
    key: string,
    claimant: { executionId: string; eventId: string; at: string },
  ): Promise<{ duplicate: boolean; firstExecutionId: string }> {
    const Key = { pk: { S: key }, sk: { S: 'claim' } };
    const now = Math.floor(Date.parse(claimant.at) / 1000);
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: {
            ...Key,
            executionId: { S: claimant.executionId },
            eventId: { S: claimant.eventId },
            at: { S: claimant.at },
            expires: { N: String(now + CLAIM_DAYS * 86_400) },
          },
          // An expired claim no longer counts, whether or not DynamoDB's TTL (which may lag by
          // days) has removed it yet.
          ConditionExpression: 'attribute_not_exists(pk) OR expires < :now',
          ExpressionAttributeValues: { ':now': { N: String(now) } },
        }),
      );
      return { duplicate: false, firstExecutionId: claimant.executionId };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw ledgerError(this.tableName, error);
    }
    const { Item } = await this.client.send(
      new GetItemCommand({ TableName: this.tableName, Key, ConsistentRead: true }),
    );
    const first = Item?.executionId?.S ?? 'unknown';
    if (first === claimant.executionId) return { duplicate: false, firstExecutionId: first };
    await this.client.send(
      new UpdateItemCommand({
        TableName: this.tableName,
        Key,
        UpdateExpression: 'SET duplicates = list_append(if_not_exists(duplicates, :none), :one)',
        ExpressionAttributeValues: {
          ':none': { L: [] },
          ':one': {
            L: [
              {
                M: {
                  executionId: { S: claimant.executionId },
                  eventId: { S: claimant.eventId },
                  at: { S: claimant.at },
                },
              },
            ],
          },
        },
      }),
    );
    return { duplicate: true, firstExecutionId: first };
  }

  async brakeState(): Promise<{ state: unknown; version: number }> {
    try {
      const { Item } = await this.client.send(
        new GetItemCommand({
          TableName: this.tableName,
          Key: { pk: { S: BRAKE_PK }, sk: { S: BRAKE_STATE_SK } },
          ConsistentRead: true,
        }),
      );
      if (!Item?.state?.S) return { state: undefined, version: 0 };
      return { state: JSON.parse(Item.state.S), version: Number(Item.version?.N ?? '0') };
    } catch (error) {
      throw ledgerError(this.tableName, error);
    }
  }

  async saveBrakeState(
    state: unknown,
    version: number,
    records: readonly BrakeRecord[] = [],
  ): Promise<boolean> {
    try {
      // DynamoDB has transactions, but one conditional write on one item is all the
      // counting needs: the records follow, keyed by what they are, so rewriting one is harmless.
      await this.client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: {
            pk: { S: BRAKE_PK },
            sk: { S: BRAKE_STATE_SK },
            state: { S: JSON.stringify(state) },
            version: { N: String(version + 1) },
          },
          ConditionExpression: version === 0 ? 'attribute_not_exists(pk)' : 'version = :v',
          ...(version === 0 ? {} : { ExpressionAttributeValues: { ':v': { N: String(version) } } }),
        }),
      );
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw ledgerError(this.tableName, error);
    }
    const puts = records.map((record) =>
      this.client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: { pk: { S: BRAKE_PK }, sk: { S: record.key }, entry: { S: JSON.stringify(record.value) } },
        }),
      ),
    );
    const failed = (await Promise.allSettled(puts)).find((result) => result.status === 'rejected');
    if (failed) throw ledgerError(this.tableName, failed.reason);
    return true;
  }

  async brakeRecords(prefix: string): Promise<BrakeRecord[]> {
    const records: BrakeRecord[] = [];
    let startKey: QueryCommandOutput['LastEvaluatedKey'];
    do {
      const page: QueryCommandOutput = await this.client
        .send(
          new QueryCommand({
            TableName: this.tableName,
            KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
            ExpressionAttributeValues: { ':pk': { S: BRAKE_PK }, ':prefix': { S: prefix } },
            ExclusiveStartKey: startKey,
          }),
        )
        .catch((error: unknown) => {
          throw ledgerError(this.tableName, error);
        });
      for (const item of page.Items ?? []) {
        if (item.sk?.S && item.entry?.S) records.push({ key: item.sk.S, value: JSON.parse(item.entry.S) });
      }
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return records;
  }

  /** Everything recorded for a person, oldest first; `since` keeps entries at or after it. */
  async history(email: string, since?: Date): Promise<LedgerEntry[]> {
    const entries: LedgerEntry[] = [];
    let startKey: QueryCommandOutput['LastEvaluatedKey'];
    do {
      // A person's partition is small: read it whole, and filter on when things happened
      // (the key holds when their execution started, which may be long before).
      const page = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': { S: personKey(email) } },
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of page.Items ?? []) {
        if (item.entry?.S) entries.push(entrySchema.parse(JSON.parse(item.entry.S)) as LedgerEntry);
      }
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return inOrder(entries, since);
  }
}

/**
 * Entries in the order they happened (`at`, then key), from `since` on. A write-ahead intent
 * and its outcome written within one millisecond (a fast machine) keep their real order: the
 * intent first, whatever their keys say.
 */
export function inOrder(entries: readonly LedgerEntry[], since?: Date): LedgerEntry[] {
  const from = since?.toISOString() ?? '';
  const rank = (e: LedgerEntry) => (e.outcome === 'deactivating' ? 0 : 1);
  const tie = (a: LedgerEntry, b: LedgerEntry) => runKey(a).localeCompare(runKey(b)) || rank(a) - rank(b);
  return entries
    .filter((e) => e.at >= from)
    .sort((a, b) => (a.at === b.at ? tie(a, b) : a.at < b.at ? -1 : 1));
}

/**
 * Throttling, 5xx and network trouble become Ledger.Unavailable (retried); anything else
 * (access denied, an item DynamoDB refuses) is Ledger.WriteFailed: never swallowed.
 */
export function ledgerError(table: string, error: unknown): Error {
  if (error instanceof LedgerUnavailableError || error instanceof LedgerWriteFailedError) return error;
  const e = error as Error & { $retryable?: unknown; $metadata?: { httpStatusCode?: number } };
  const status = e.$metadata?.httpStatusCode ?? 0;
  const message = `ledger ${table}: ${e.name}: ${e.message}`;
  if (
    e.$retryable ||
    status >= 500 ||
    /Throttl|Throughput|RequestLimit|ECONN|socket/i.test(`${e.name} ${e.message}`)
  ) {
    return new LedgerUnavailableError(message, { cause: error });
  }
  return new LedgerWriteFailedError(message, { cause: error });
}

/** A person's account on a connection, switched off by this workflow. */
export interface OffboardedAccount {
  email: string;
  connection: string;
  /** Which tenant (see {@link LedgerEntry.endpoint}); absent on older entries. */
  endpoint?: string;
  type: string;
  userId: string;
}

/** Where an account stands is kept per connection and tenant. */
export function stateKey(entry: Pick<LedgerEntry, 'connection' | 'endpoint'>): string {
  return `state#${entry.connection}${entry.endpoint ? `#${entry.endpoint}` : ''}`;
}

/** Which outcomes leave an account off, and which put it back on. */
const ACCOUNT_STATE: Partial<Record<LedgerOutcome, 'off' | 'on'>> = {
  deactivated: 'off',
  'already-inactive': 'off',
  reactivated: 'on',
  'already-active': 'on',
};

/** How long a termination's claim keeps resent events out. */
export const CLAIM_DAYS = 30;

/** The partition of a person's entries: the address, ignoring case. */
export function personKey(email: string): string {
  return `person#${email.trim().toLowerCase()}`;
}

/** A record as it travels in the state: the fields inline, or a reference to them in the evidence store. */
const stateRecordSchema = z
  .object({
    id: z.string().optional(),
    fields: z.record(z.string(), z.unknown()).optional(),
    fieldsRef: blobRefSchema.optional(),
  })
  .loose();

const branchSchema = z
  .object({
    name: z.string(),
    type: z.string(),
    outcome: z.enum(OUTCOMES),
    userId: z.string().optional(),
    /** The account as read before any change (every outcome that read one carries it). */
    record: stateRecordSchema.optional(),
    error: z.object({ Error: z.string(), Cause: z.string().optional() }).optional(),
    /** The task's answer, where a person answered "Done" (deployed, answerTask's output). */
    person: z.unknown().optional(),
    state: z
      .object({
        lookup: z.object({ value: z.object({ userId: z.string().optional() }).loose() }).optional(),
        record: z.object({ value: stateRecordSchema }).loose().optional(),
        person: z.unknown().optional(),
      })
      .loose()
      .optional(),
  })
  .loose();

export const recordInputSchema = z.object({
  email: z.string(),
  dryRun: z.boolean(),
  /** The run's connections, for each one's endpoint. */
  connections: z.array(z.object({ name: z.string(), endpoint: z.string().optional() }).loose()).optional(),
  results: z.array(branchSchema),
  executionId: z.string(),
  startedAt: z.string(),
  /** Whether the run was a reactivation (the state's `reactivate`). */
  reactivate: z.boolean().optional(),
  /**
   * The execution's input as Step Functions keeps it (`$$.Execution.Input`), for its `retryOf`:
   * Normalize checked it before anything ran. Read from there so the state keeps its shape.
   */
  input: z.unknown().optional(),
});

/** The `retryOf` of an execution's input, when it has one (Normalize has checked it). */
export function retryOfInput(input: unknown): string | undefined {
  if (input === null || typeof input !== 'object') return undefined;
  const retryOf = (input as { retryOf?: unknown }).retryOf;
  return typeof retryOf === 'string' ? retryOf : undefined;
}

/**
 * The ledger entries of one execution, from the Map's per-connection results, recorded `at`
 * now (the Record step's clock) under the execution's start.
 */
export function ledgerEntries(input: unknown, at = new Date().toISOString()): LedgerEntry[] {
  const {
    email,
    dryRun,
    results,
    executionId,
    startedAt,
    connections,
    reactivate,
    input: started,
  } = recordInputSchema.parse(input);
  const retryOf = retryOfInput(started);
  const endpoints = new Map((connections ?? []).map((c) => [c.name, c.endpoint]));
  return results.map((result) => {
    const endpoint = endpoints.get(result.name);
    const entry: LedgerEntry = {
      email,
      connection: result.name,
      ...(endpoint ? { endpoint } : {}),
      type: result.type,
      outcome: result.outcome,
      dryRun,
      at,
      startedAt,
      executionId,
      ...(retryOf ? { retryOf } : {}),
      ...(reactivate ? { reactivate } : {}),
    };
    const userId = result.userId ?? result.state?.lookup?.value.userId;
    if (userId !== undefined) entry.userId = userId;
    const record = result.record ?? result.state?.record?.value;
    if (record?.fields) entry.before = record.fields;
    else if (record?.fieldsRef) entry.beforeRef = record.fieldsRef;
    if (result.error) entry.error = { name: result.error.Error, message: causeMessage(result.error.Cause) };
    const person = personAnswer(result.person ?? result.state?.person);
    if (person) entry.person = person;
    return entry;
  });
}

/** Outcomes only a reactivation records (entries written before `reactivate` was kept). */
export const REACTIVATION_OUTCOMES: ReadonlySet<string> = new Set([
  'reactivated',
  'would-reactivate',
  'already-active',
  'nothing-to-restore',
]);

/** An entry a reactivation wrote (one with nothing to restore included). */
export const isReactivation = (entry: LedgerEntry): boolean =>
  entry.reactivate === true || REACTIVATION_OUTCOMES.has(entry.outcome);

/**
 * A person's history as people read it: each write-ahead entry (`deactivating`) is left
 * out when its run recorded the connection's outcome, since the outcome says what became
 * of it. An intent without an outcome stays: its run stopped after the write was sent.
 */
export function settledHistory(entries: readonly LedgerEntry[]): LedgerEntry[] {
  const settled = new Set(
    entries.filter((e) => e.outcome !== 'deactivating').map((e) => `${e.executionId}\u0000${e.connection}`),
  );
  return entries.filter(
    (e) => e.outcome !== 'deactivating' || !settled.has(`${e.executionId}\u0000${e.connection}`),
  );
}

/** What a reactivation restores on one connection: the before-state of the last real deactivation. */
export interface Restore {
  userId: string;
  /** The account's fields before the deactivation, inline or as a reference into the evidence store. */
  before?: Record<string, unknown>;
  beforeRef?: BlobRef;
  deactivatedAt: string;
  executionId: string;
}

/**
 * For each connection, the account to restore: the most recent real (not dry-run)
 * deactivation that kept a before-state, be it a finished one (`deactivated`) or one whose
 * write was about to be sent (`deactivating`, the write-ahead entry: a run killed or cut
 * off after its write still leaves it). Null where the ledger holds none: this workflow
 * switched nothing off there, or nothing since a reactivation undid it (each deactivation
 * is undone once). A reactivation reads the account before writing, so an intent whose
 * write never landed finds the account still on and leaves it alone.
 */
export function restorePlan(
  history: readonly LedgerEntry[],
  connections: ReadonlyArray<string | { name: string; endpoint?: string | undefined }>,
): Record<string, Restore | null> {
  const wanted = connections.map((c) => (typeof c === 'string' ? { name: c } : c));
  const endpoints = new Map(wanted.map((c) => [c.name, 'endpoint' in c ? c.endpoint : undefined]));
  const plan: Record<string, Restore | null> = Object.fromEntries(wanted.map((c) => [c.name, null]));
  for (const entry of inOrder(history)) {
    if (!(entry.connection in plan) || entry.dryRun) continue;
    // Only what was read through a connection reaching the same tenant (another config's
    // connection of the same name is another place).
    const endpoint = endpoints.get(entry.connection);
    if (endpoint && entry.endpoint && endpoint !== entry.endpoint) continue;
    // A reactivation that found the account back on, or put it back, has undone the
    // deactivation before it: a later run must not switch on an account someone has
    // switched off since (the person really left, and IT did it by hand).
    if (entry.outcome === 'reactivated' || entry.outcome === 'already-active') {
      plan[entry.connection] = null;
      continue;
    }
    if (entry.outcome !== 'deactivated' && entry.outcome !== 'deactivating') continue;
    if (!(entry.before || entry.beforeRef) || !entry.userId) continue;
    // In the order things happened: a later deactivation replaces an earlier one.
    plan[entry.connection] = {
      userId: entry.userId,
      ...(entry.before ? { before: entry.before } : { beforeRef: entry.beforeRef }),
      deactivatedAt: entry.at,
      executionId: entry.executionId,
    };
  }
  return plan;
}

let deployed: Ledger | undefined;

/**
 * The deployed ledger, named by the stack in `OFFBOARD_LEDGER_TABLE`; one client per warm
 * Lambda. Every handler that reads or writes the ledger gets it here.
 */
export function ledgerFromEnv(): Ledger {
  const table = process.env.OFFBOARD_LEDGER_TABLE;
  if (!table) throw new ConfigError('OFFBOARD_LEDGER_TABLE is not set: the stack names the ledger table');
  deployed ??= new DynamoDbLedger(table);
  return deployed;
}
