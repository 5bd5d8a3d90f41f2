import { setTimeout as sleep } from 'node:timers/promises';
import {
  ConditionalCheckFailedException,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
} from '@aws-sdk/client-dynamodb';
import type { z } from 'zod';
import type { ConnectionRef, ConnectionType, rateLimitSchema } from './connections';
import { HourlyRateLimitedError, type OffboardError, RateLimitedError } from './errors';

/** At most `requests` requests every `perSeconds` seconds, for one connection. */
export type RateLimit = z.infer<typeof rateLimitSchema>;

/**
 * The vendors' documented limits, used for a connection that points at the real vendor and
 * sets none itself. Rapid7 publishes none; a SCIM app's depends on the app (set it per
 * connection). Built-in sandboxes have no limit unless a test or benchmark gives one.
 */
export const DOCUMENTED_RATE_LIMITS: Partial<Record<ConnectionType, RateLimit>> = {
  insightly: { requests: 10, perSeconds: 1 },
  gainsight: { requests: 100, perSeconds: 3600 },
  'gainsight-scim': { requests: 100, perSeconds: 3600 },
};

/** Longest a step waits for its slot inside a Lambda; beyond it the state machine waits instead. */
export const MAX_PACING_WAIT_MS = 5_000;

/**
 * Where reserved request slots are kept: one "next free time" per connection, shared by
 * every execution that talks to that connection.
 */
export interface SlotStore {
  /**
   * Reserves the first free slot at or after `now` and moves the next free time one
   * interval past it; returns the slot's time. Returns undefined, reserving nothing, when
   * that slot is more than `maxWaitMs` away.
   */
  reserve(key: string, now: number, intervalMs: number, maxWaitMs: number): Promise<number | undefined>;
}

/** In one process: local runs, where every execution shares the process. */
export class MemorySlotStore implements SlotStore {
  readonly #next = new Map<string, number>();

  async reserve(
    key: string,
    now: number,
    intervalMs: number,
    maxWaitMs: number,
  ): Promise<number | undefined> {
    const slot = Math.max(now, this.#next.get(key) ?? 0);
    if (slot - now > maxWaitMs) return undefined;
    this.#next.set(key, slot + intervalMs);
    return slot;
  }
}

/**
 * In DynamoDB: deployed runs, where concurrent executions run in separate Lambdas. One
 * item a connection; a conditional write on the value read makes the reservation atomic
 * (optimistic locking: on a race, read again and retry).
 */
export class DynamoDbSlotStore implements SlotStore {
  constructor(
    readonly tableName: string,
    readonly client: DynamoDBClient = new DynamoDBClient({}),
  ) {}

  async reserve(
    key: string,
    now: number,
    intervalMs: number,
    maxWaitMs: number,
  ): Promise<number | undefined> {
    for (let attempt = 0; attempt < 20; attempt++) {
      const { Item } = await this.client.send(
        new GetItemCommand({
          TableName: this.tableName,
          Key: { pk: { S: `pace#${key}` } },
          ConsistentRead: true,
        }),
      );
      const current = Item?.next?.N;
      const slot = Math.max(now, current === undefined ? 0 : Number(current));
      if (slot - now > maxWaitMs) return undefined;
      try {
        await this.client.send(
          new PutItemCommand({
            TableName: this.tableName,
            Item: {
              pk: { S: `pace#${key}` },
              next: { N: String(slot + intervalMs) },
              // Old items clean themselves up (TTL on `expires`, seconds).
              expires: { N: String(Math.ceil((slot + intervalMs) / 1000) + 86_400) },
            },
            ConditionExpression: current === undefined ? 'attribute_not_exists(pk)' : '#next = :current',
            ...(current === undefined
              ? {}
              : {
                  ExpressionAttributeNames: { '#next': 'next' },
                  ExpressionAttributeValues: { ':current': { N: current } },
                }),
          }),
        );
        return slot;
      } catch (error) {
        if (error instanceof ConditionalCheckFailedException) continue;
        throw error;
      }
    }
    // Twenty lost races in a row: treat as busy and let the state machine come back.
    return undefined;
  }
}

/**
 * Spaces one connection's requests evenly at its rate limit, across every execution that
 * shares the store: 429s become the exception, not the method. A step waits for its slot
 * when it is near; when it is far (an hourly limit, a long queue), the step fails with a
 * rate-limit error and the state machine's Retry does the waiting, not a sleeping Lambda.
 */
export class Pacer {
  constructor(
    readonly store: SlotStore,
    readonly maxWaitMs: number = MAX_PACING_WAIT_MS,
    readonly now: () => number = Date.now,
  ) {}

  /** Resolves when the connection may send its next request. */
  async acquire(connection: string, limit: RateLimit): Promise<void> {
    const intervalMs = (limit.perSeconds * 1000) / limit.requests;
    const now = this.now();
    const slot = await this.store.reserve(connection, now, intervalMs, this.maxWaitMs);
    if (slot === undefined) throw pacedError(connection, limit);
    if (slot > now) await sleep(slot - now);
  }
}

function pacedError(connection: string, limit: RateLimit): OffboardError {
  const message =
    `${connection}: paced: the next request slot under the limit of ${limit.requests} per ` +
    `${limit.perSeconds} s is more than ${MAX_PACING_WAIT_MS / 1000} s away; the state machine waits`;
  // A slot an hour-limited vendor gives out minutes apart: wait minutes, as for its 429s.
  return limit.perSeconds >= 600 ? new HourlyRateLimitedError(message) : new RateLimitedError(message);
}

/**
 * The pace for a connection to a real vendor: the config's own `rateLimit`, none when the
 * config says `false`, else the vendor's documented limit.
 */
export function effectiveRateLimit(
  type: ConnectionType,
  configured: RateLimit | false | undefined,
): RateLimit | undefined {
  if (configured === false) return undefined;
  return configured ?? DOCUMENTED_RATE_LIMITS[type];
}

/** A connection's pace, for the step about to talk to it. */
export function rateLimitOf(connection: ConnectionRef): RateLimit | undefined {
  return connection.rateLimit;
}

/**
 * The pace this process keeps, per connection name: set by each step for its connection
 * (`limit`), applied by HttpClient before every request (`before`). One per process, so
 * every execution running in it (local runs) or every step of a warm Lambda shares it; the
 * DynamoDB store shares it across Lambdas.
 */
class RequestPacing {
  readonly #limits = new Map<string, RateLimit>();
  /** Until when a connection must not be sent anything (a vendor's `Retry-After`), epoch ms. */
  readonly #holds = new Map<string, number>();
  #pacer: Pacer | undefined;

  /** The connection's pace for the requests about to be sent; undefined: none. */
  limit(connection: string, limit: RateLimit | undefined): void {
    if (limit) this.#limits.set(connection, limit);
    else this.#limits.delete(connection);
  }

  /**
   * Holds every request to the connection until `until` (epoch ms), as a vendor's
   * `Retry-After` asks: a step about to send waits when that is near, and hands the wait to
   * the state machine (a rate-limit error) when it is far. In one process for all its
   * executions (locally) or for the steps of one warm Lambda (deployed).
   */
  hold(connection: string, until: number): void {
    if (until > (this.#holds.get(connection) ?? 0)) this.#holds.set(connection, until);
  }

  /** Waits for the connection's next slot (or throws a rate-limit error for the state machine). */
  async before(connection: string): Promise<void> {
    const until = this.#holds.get(connection);
    if (until !== undefined) {
      const wait = until - Date.now();
      if (wait > MAX_PACING_WAIT_MS) {
        const message = `${connection}: the vendor asked to wait until ${new Date(until).toISOString()} (Retry-After); the state machine waits`;
        throw wait > 60_000 ? new HourlyRateLimitedError(message) : new RateLimitedError(message);
      }
      if (wait > 0) await sleep(wait);
      else this.#holds.delete(connection);
    }
    const limit = this.#limits.get(connection);
    if (limit) await this.pacer().acquire(connection, limit);
  }

  /** Deployed: the DynamoDB table the stack names; locally: this process's memory. */
  pacer(): Pacer {
    const table = process.env.OFFBOARD_PACING_TABLE;
    this.#pacer ??= new Pacer(table ? new DynamoDbSlotStore(table) : new MemorySlotStore());
    return this.#pacer;
  }

  /** For tests and benchmarks: a fresh store (and so fresh slots). */
  reset(pacer?: Pacer): void {
    this.#pacer = pacer;
    this.#limits.clear();
    this.#holds.clear();
  }
}

export const requestPacing = new RequestPacing();
