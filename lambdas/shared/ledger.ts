import {
  DynamoDBClient,
  PutItemCommand,
  QueryCommand,
  type QueryCommandOutput,
} from '@aws-sdk/client-dynamodb';
import { z } from 'zod';
import { LedgerUnavailableError } from './errors';
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
    await Promise.all(
      entries.map((entry) =>
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
      ),
    ).catch((error: Error & { $retryable?: unknown; $metadata?: { httpStatusCode?: number } }) => {
      const status = error.$metadata?.httpStatusCode ?? 0;
      if (error.$retryable || status >= 500 || /Throttl|Throughput|RequestLimit/.test(error.name)) {
        throw new LedgerUnavailableError(`ledger ${this.tableName}: ${error.name}: ${error.message}`, {
          cause: error,
        });
      }
      throw error;
    });
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
