import {
  ConditionalCheckFailedException,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  type QueryCommandOutput,
  ScanCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { z } from 'zod';
import { ConfigError, LedgerUnavailableError } from './errors';
import { causeMessage, OUTCOMES } from './summary';

/**
 * One connection's outcome for one person, as evidence: who, where, which account, what
 * happened, the account as it was before (enough to restore it), when, and which execution.
 */
export interface LedgerEntry {
  email: string;
  connection: string;
  type: string;
  outcome: (typeof OUTCOMES)[number];
  dryRun: boolean;
  userId?: string;
  /** The vendor's record as read before any change (absent when none was read). */
  before?: Record<string, unknown>;
  error?: { name: string; message: string };
  /** When the execution started (ISO 8601): entries of one run share it. */
  at: string;
  executionId: string;
}

const entrySchema = z.object({
  email: z.string(),
  connection: z.string(),
  type: z.string(),
  outcome: z.enum(OUTCOMES),
  dryRun: z.boolean(),
  userId: z.string().optional(),
  before: z.record(z.string(), z.unknown()).optional(),
  error: z.object({ name: z.string(), message: z.string() }).optional(),
  at: z.string(),
  executionId: z.string(),
});

/**
 * The ledger table: one partition a person (`person#<email>`), one item per connection per
 * execution, sorted by time. Keys are derived from the execution, so a retried write lands
 * on the same item instead of adding a second one.
 */
export class Ledger {
  constructor(
    readonly tableName: string,
    readonly client: DynamoDBClient = new DynamoDBClient({}),
  ) {}

  async record(entries: readonly LedgerEntry[]): Promise<void> {
    // One PutItem an entry: a run has a handful, and each is its own idempotent write.
    const writes: Promise<unknown>[] = entries.map((entry) =>
      this.client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: {
            pk: { S: personKey(entry.email) },
            sk: { S: `${entry.at}#${entry.executionId}#${entry.connection}` },
            entry: { S: JSON.stringify(entrySchema.parse(entry)) },
          },
        }),
      ),
    );
    // And where each account stands now, for the audit to re-check: the latest real outcome
    // wins (a retried older write does not overwrite a newer state).
    for (const entry of entries) {
      const state = entry.dryRun ? undefined : ACCOUNT_STATE[entry.outcome];
      if (!state || !entry.userId) continue;
      writes.push(
        this.client
          .send(
            new PutItemCommand({
              TableName: this.tableName,
              Item: {
                pk: { S: personKey(entry.email) },
                sk: { S: `state#${entry.connection}` },
                email: { S: entry.email },
                connection: { S: entry.connection },
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
    await Promise.all(writes).catch((error: unknown) => {
      throw unavailable(this.tableName, error);
    });
  }

  /**
   * One page of the accounts this workflow switched off and that should still be off: what
   * the scheduled audit re-checks. `cursor` continues where the previous page stopped.
   */
  async offboardedAccounts(
    cursor?: string,
    limit = 200,
  ): Promise<{ accounts: OffboardedAccount[]; cursor?: string }> {
    const page = await this.client.send(
      new ScanCommand({
        TableName: this.tableName,
        FilterExpression: 'begins_with(sk, :state) AND st = :off',
        ExpressionAttributeValues: { ':state': { S: 'state#' }, ':off': { S: 'off' } },
        Limit: limit,
        ...(cursor ? { ExclusiveStartKey: JSON.parse(cursor) } : {}),
      }),
    );
    const accounts = (page.Items ?? []).map((item) => ({
      email: item.email?.S ?? '',
      connection: item.connection?.S ?? '',
      type: item.type?.S ?? '',
      userId: item.userId?.S ?? '',
    }));
    return { accounts, ...(page.LastEvaluatedKey ? { cursor: JSON.stringify(page.LastEvaluatedKey) } : {}) };
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
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: {
            ...Key,
            executionId: { S: claimant.executionId },
            eventId: { S: claimant.eventId },
            at: { S: claimant.at },
            expires: { N: String(Math.floor(Date.parse(claimant.at) / 1000) + CLAIM_DAYS * 86_400) },
          },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      return { duplicate: false, firstExecutionId: claimant.executionId };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw unavailable(this.tableName, error);
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

  /** Everything recorded for a person, oldest first; `since` keeps entries at or after it. */
  async history(email: string, since?: Date): Promise<LedgerEntry[]> {
    const entries: LedgerEntry[] = [];
    let startKey: QueryCommandOutput['LastEvaluatedKey'];
    do {
      const page = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: since ? 'pk = :pk AND sk >= :since' : 'pk = :pk',
          ExpressionAttributeValues: {
            ':pk': { S: personKey(email) },
            ...(since ? { ':since': { S: since.toISOString() } } : {}),
          },
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of page.Items ?? []) {
        if (item.entry?.S) entries.push(entrySchema.parse(JSON.parse(item.entry.S)) as LedgerEntry);
      }
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return entries;
  }
}

/** Throttling, 5xx and network trouble become Ledger.Unavailable (retried); the rest stays as is. */
function unavailable(table: string, error: unknown): unknown {
  const e = error as Error & { $retryable?: unknown; $metadata?: { httpStatusCode?: number } };
  const status = e.$metadata?.httpStatusCode ?? 0;
  if (e.$retryable || status >= 500 || /Throttl|Throughput|RequestLimit/.test(e.name)) {
    return new LedgerUnavailableError(`ledger ${table}: ${e.name}: ${e.message}`, { cause: error });
  }
  return error;
}

/** A person's account on a connection, switched off by this workflow. */
export interface OffboardedAccount {
  email: string;
  connection: string;
  type: string;
  userId: string;
}

/** Which outcomes leave an account off, and which put it back on. */
const ACCOUNT_STATE: Partial<Record<LedgerEntry['outcome'], 'off' | 'on'>> = {
  deactivated: 'off',
  'already-inactive': 'off',
  reactivated: 'on',
  'already-active': 'on',
};

/** How long a termination's claim keeps resent events out. */
const CLAIM_DAYS = 30;

function personKey(email: string): string {
  return `person#${email.trim().toLowerCase()}`;
}

const branchSchema = z
  .object({
    name: z.string(),
    type: z.string(),
    outcome: z.enum(OUTCOMES),
    userId: z.string().optional(),
    before: z.record(z.string(), z.unknown()).optional(),
    error: z.object({ Error: z.string(), Cause: z.string().optional() }).optional(),
    state: z
      .object({
        lookup: z.object({ value: z.object({ userId: z.string().optional() }).loose() }).optional(),
        record: z
          .object({ value: z.object({ fields: z.record(z.string(), z.unknown()) }).loose() })
          .optional(),
      })
      .loose()
      .optional(),
  })
  .loose();

export const recordInputSchema = z.object({
  email: z.string(),
  dryRun: z.boolean(),
  results: z.array(branchSchema),
  executionId: z.string(),
  startedAt: z.string(),
});

/** The ledger entries of one execution, from the Map's per-connection results. */
export function ledgerEntries(input: unknown): LedgerEntry[] {
  const { email, dryRun, results, executionId, startedAt } = recordInputSchema.parse(input);
  return results.map((result) => {
    const entry: LedgerEntry = {
      email,
      connection: result.name,
      type: result.type,
      outcome: result.outcome,
      dryRun,
      at: startedAt,
      executionId,
    };
    const userId = result.userId ?? result.state?.lookup?.value.userId;
    if (userId !== undefined) entry.userId = userId;
    const before = result.before ?? result.state?.record?.value.fields;
    if (before) entry.before = before;
    if (result.error) entry.error = { name: result.error.Error, message: causeMessage(result.error.Cause) };
    return entry;
  });
}

/** What a reactivation restores on one connection: the last real deactivation's before-state. */
export interface Restore {
  userId: string;
  before: Record<string, unknown>;
  deactivatedAt: string;
  executionId: string;
}

/**
 * For each connection, the account to restore: the most recent real (not dry-run)
 * `deactivated` entry that kept a before-state. Null where the ledger holds none: there is
 * nothing this workflow switched off there, so nothing to switch back on.
 */
export function restorePlan(
  history: readonly LedgerEntry[],
  connections: readonly string[],
): Record<string, Restore | null> {
  const plan: Record<string, Restore | null> = Object.fromEntries(connections.map((name) => [name, null]));
  for (const entry of history) {
    if (!(entry.connection in plan) || entry.dryRun || entry.outcome !== 'deactivated') continue;
    if (!entry.before || !entry.userId) continue;
    // History comes oldest first: a later deactivation replaces an earlier one.
    plan[entry.connection] = {
      userId: entry.userId,
      before: entry.before,
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
  deployed ??= new Ledger(table);
  return deployed;
}
