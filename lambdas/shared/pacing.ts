import { AsyncLocalStorage } from 'node:async_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type AttributeValue,
  ConditionalCheckFailedException,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
} from '@aws-sdk/client-dynamodb';
import type { z } from 'zod';
import type { ConnectionRef, ConnectionType, rateLimitSchema } from './connections';
import { HourlyRateLimitedError, type OffboardError, QuotaExhaustedError, RateLimitedError } from './errors';

/**
 * A connection's limit: at most `requests` in each fixed window of `perSeconds` seconds and,
 * with `requestsPerDay`, at most that many in each UTC day too.
 */
export type RateLimit = z.infer<typeof rateLimitSchema>;

/**
 * The vendors' documented limits, used for a connection that points at the real vendor and
 * sets none itself. Rapid7 publishes none; a SCIM app's depends on the app (set it per
 * connection); Insightly's daily quota depends on the plan. Built-in sandboxes have no limit
 * unless a test or benchmark gives one.
 */
export const DOCUMENTED_RATE_LIMITS: Partial<Record<ConnectionType, RateLimit>> = {
  insightly: { requests: 10, perSeconds: 1 },
  // "100 requests per hour and 1,000 per day, fixed windows" (vendor-contracts/gainsight).
  gainsight: { requests: 100, perSeconds: 3600, requestsPerDay: 1000 },
  'gainsight-scim': { requests: 100, perSeconds: 3600, requestsPerDay: 1000 },
};

/** Longest a step waits for its slots inside a Lambda; beyond it the state machine waits instead. */
export const MAX_PACING_WAIT_MS = 5_000;

/**
 * The longest wait the state machine's retries cover: `Vendor.RateLimitedHourly` is retried
 * from 60 s doubling to 10 minutes, 10 attempts (75 minutes). A slot farther away than this
 * (a day's quota spent in the morning) would outlast every retry, so the connection fails at
 * once with `Vendor.QuotaExhausted` and says when to run again.
 */
export const MAX_RETRIED_WAIT_MS = 75 * 60_000;

/** Beyond this wait a step is retried on the hourly schedule, not the seconds-scale one. */
const HOURLY_RETRY_FROM_MS = 60_000;

const DAY_MS = 86_400_000;

/** Windows this short are also kept as a token bucket (see {@link PaceWindow.bucket}). */
export const BUCKET_WINDOW_MAX_MS = 60_000;

/**
 * One window of a limit: at most `requests` in each window of `ms` milliseconds. A window
 * starts at a multiple of `ms` since the epoch, so every execution and every Lambda agrees on
 * where it starts, as a vendor whose "window starts at a fixed time" does.
 */
export interface PaceWindow {
  requests: number;
  ms: number;
  /**
   * Also a token bucket, refilled by `requests` each `ms`, holding the window's size less a
   * tenth (see {@link capacityOf}). Per-second limits are often token buckets (API gateways),
   * and a vendor that documents "10 a second" seldom says which: a fixed window alone would
   * send 10 at the end of one second and 10 more at the start of the next, which a bucket
   * refuses. Keeping both satisfies either. Hourly and daily windows are fixed windows only,
   * as Gainsight documents.
   */
  bucket: boolean;
}

/**
 * The most requests a window lets go at once. A bucket window keeps a tenth of its size (at
 * least one) back: requests leave here at the vendor's exact rate but reach it a little
 * early or late, and the vendor's own bucket must have a token for one that comes early. The
 * rate stays the vendor's; only the burst is smaller.
 */
export function capacityOf(window: PaceWindow): number {
  if (!window.bucket) return window.requests;
  return Math.max(1, window.requests - Math.max(1, Math.floor(window.requests / 10)));
}

/** The windows a limit counts in: its own, and a UTC day when it has `requestsPerDay`. */
export function windowsOf(limit: RateLimit): PaceWindow[] {
  const ms = Math.round(limit.perSeconds * 1000);
  const windows = [{ requests: limit.requests, ms, bucket: ms <= BUCKET_WINDOW_MAX_MS }];
  if (limit.requestsPerDay !== undefined) {
    windows.push({ requests: limit.requestsPerDay, ms: DAY_MS, bucket: false });
  }
  return windows;
}

/** When the window of length `ms` that holds `time` started. */
export function windowStart(time: number, ms: number): number {
  return Math.floor(time / ms) * ms;
}

/** Requests counted in one window: the window that starts at `start`. */
export interface WindowCount {
  start: number;
  count: number;
  /** A bucket window's tokens, as they were at `tokensAt` (epoch ms). */
  tokens?: number;
  tokensAt?: number;
}

/**
 * A connection's counts, one per window length (the key, in ms). Only the latest window of
 * each length is kept: an earlier one is over, or was skipped by a reservation that did not
 * fit in it (its few unused slots are then not handed out: erring on the side of fewer).
 */
export type WindowCounts = Record<string, WindowCount>;

/** A bucket window's tokens at `time` (not before its last change): full when never used. */
function tokensAt(kept: WindowCount | undefined, window: PaceWindow, time: number): number {
  if (kept?.tokens === undefined || kept.tokensAt === undefined) return capacityOf(window);
  const refilled = (Math.max(0, time - kept.tokensAt) * window.requests) / window.ms;
  return Math.min(capacityOf(window), kept.tokens + refilled);
}

/** Floating-point slack when comparing tokens. */
const EPSILON = 1e-9;

/**
 * The first time at or after `now` when `count` more requests fit in every window, and the
 * counts once they are taken. Pure: both stores decide with it.
 */
export function firstFit(
  counts: Readonly<WindowCounts>,
  windows: readonly PaceWindow[],
  count: number,
  now: number,
): { at: number; counts: WindowCounts } {
  let at = now;
  // Each pass moves `at` later or changes nothing; a day window's jump settles the shorter
  // ones, so a few passes always suffice.
  for (let pass = 0; pass < 1000; pass++) {
    let moved = false;
    for (const window of windows) {
      const start = windowStart(at, window.ms);
      const kept = counts[String(window.ms)];
      if (kept && kept.start > start) {
        // A later window already holds reservations: the ones before it are closed.
        at = kept.start;
        moved = true;
      } else if ((kept?.start === start ? kept.count : 0) + count > window.requests) {
        at = start + window.ms;
        moved = true;
      } else if (window.bucket && kept?.tokensAt !== undefined && kept.tokensAt > at) {
        // The bucket was last drawn on by a reservation still ahead: count from there.
        at = kept.tokensAt;
        moved = true;
      } else if (window.bucket && tokensAt(kept, window, at) + EPSILON < count) {
        const missing = count - tokensAt(kept, window, at);
        at += Math.max(1, Math.ceil((missing * window.ms) / window.requests));
        moved = true;
      }
    }
    if (!moved) break;
  }
  const next: WindowCounts = { ...counts };
  for (const window of windows) {
    const start = windowStart(at, window.ms);
    const kept = counts[String(window.ms)];
    const taken: WindowCount = { start, count: (kept?.start === start ? kept.count : 0) + count };
    if (window.bucket) {
      taken.tokens = Math.max(0, tokensAt(kept, window, at) - count);
      taken.tokensAt = at;
    }
    next[String(window.ms)] = taken;
  }
  return { at, counts: next };
}

/**
 * The counts after giving back `count` unused slots reserved at `at`: to the window that
 * holds them, when it is still the one counted, and to a bucket's tokens whatever window
 * has come since (they are then spent at the end of the queue). Undefined when there is
 * nothing to change.
 */
export function givenBack(
  counts: Readonly<WindowCounts>,
  windows: readonly PaceWindow[],
  count: number,
  at: number,
): WindowCounts | undefined {
  const next: WindowCounts = { ...counts };
  let changed = false;
  for (const window of windows) {
    const kept = counts[String(window.ms)];
    if (!kept) continue;
    const back: WindowCount = { ...kept };
    if (kept.start === windowStart(at, window.ms) && kept.count > 0) {
      back.count = Math.max(0, kept.count - count);
      changed = true;
    }
    if (kept.tokens !== undefined && kept.tokensAt !== undefined) {
      back.tokens = Math.min(capacityOf(window), kept.tokens + count);
      changed = true;
    }
    next[String(window.ms)] = back;
  }
  return changed ? next : undefined;
}

/** What a store answers to a request for slots. */
export interface SlotOffer {
  /** When the slots are (or would be) free, epoch ms. */
  at: number;
  /** True when they were reserved; false when they are too far away, and nothing was taken. */
  taken: boolean;
  /** The store could not settle a race (many writers at once): nothing was taken. */
  busy?: boolean;
}

/**
 * Where request slots are counted: per connection, the count of each of its windows, shared
 * by every execution that talks to that connection.
 */
export interface SlotStore {
  /**
   * Takes `count` slots at once in every window, at the first time at or after `now` where
   * they all fit (all or none: never some now and the rest later). Takes nothing when that
   * time is more than `maxWaitMs` away.
   */
  take(
    key: string,
    windows: readonly PaceWindow[],
    count: number,
    now: number,
    maxWaitMs: number,
  ): Promise<SlotOffer>;
  /** Gives back `count` slots taken for `at` and not used, to the windows that still hold them. */
  giveBack(key: string, windows: readonly PaceWindow[], count: number, at: number): Promise<void>;
}

/** In one process: local runs, where every execution shares the process. */
export class MemorySlotStore implements SlotStore {
  readonly #counts = new Map<string, WindowCounts>();

  async take(
    key: string,
    windows: readonly PaceWindow[],
    count: number,
    now: number,
    maxWaitMs: number,
  ): Promise<SlotOffer> {
    const fit = firstFit(this.#counts.get(key) ?? {}, windows, count, now);
    if (fit.at - now > maxWaitMs) return { at: fit.at, taken: false };
    this.#counts.set(key, fit.counts);
    return { at: fit.at, taken: true };
  }

  async giveBack(key: string, windows: readonly PaceWindow[], count: number, at: number): Promise<void> {
    const next = givenBack(this.#counts.get(key) ?? {}, windows, count, at);
    if (next) this.#counts.set(key, next);
  }
}

/** Lost races after which a take gives up (and the step is retried by the state machine). */
const MAX_RACES = 50;

/**
 * In DynamoDB: deployed runs, where concurrent executions run in separate Lambdas. One item a
 * connection holds the start and count of each of its windows (and a short window's bucket):
 * one conditional write then takes slots in the hour and the day together (all or none, no
 * transaction needed, and the GetItem and PutItem the stack already grants). The
 * write is conditional on the version read (optimistic locking: on a race, read again and
 * retry after a short random pause).
 */
export class DynamoDbSlotStore implements SlotStore {
  constructor(
    readonly tableName: string,
    readonly client: DynamoDBClient = new DynamoDBClient({}),
  ) {}

  async take(
    key: string,
    windows: readonly PaceWindow[],
    count: number,
    now: number,
    maxWaitMs: number,
  ): Promise<SlotOffer> {
    let at = now;
    for (let race = 0; race < MAX_RACES; race++) {
      const { counts, version } = await this.#read(key);
      const fit = firstFit(counts, windows, count, now);
      at = fit.at;
      if (fit.at - now > maxWaitMs) return { at: fit.at, taken: false };
      if (await this.#write(key, fit.counts, version)) return { at: fit.at, taken: true };
      await sleep(Math.random() * 5 * (race + 1));
    }
    return { at, taken: false, busy: true };
  }

  async giveBack(key: string, windows: readonly PaceWindow[], count: number, at: number): Promise<void> {
    for (let race = 0; race < MAX_RACES; race++) {
      const { counts, version } = await this.#read(key);
      const next = givenBack(counts, windows, count, at);
      if (!next || (await this.#write(key, next, version))) return;
      await sleep(Math.random() * 5 * (race + 1));
    }
  }

  async #read(key: string): Promise<{ counts: WindowCounts; version: string | undefined }> {
    const { Item } = await this.client.send(
      new GetItemCommand({
        TableName: this.tableName,
        Key: { pk: { S: `pace#${key}` } },
        ConsistentRead: true,
      }),
    );
    const counts: WindowCounts = {};
    for (const [ms, value] of Object.entries(Item?.windows?.M ?? {})) {
      const [start, count, tokens, tokensAt] = ['start', 'count', 'tokens', 'tokensAt'].map((name) =>
        Number(value.M?.[name]?.N ?? Number.NaN),
      ) as [number, number, number, number];
      if (!Number.isFinite(start) || !Number.isFinite(count)) continue;
      const bucket = Number.isFinite(tokens) && Number.isFinite(tokensAt);
      counts[ms] = bucket ? { start, count, tokens, tokensAt } : { start, count };
    }
    return { counts, version: Item?.ver?.N };
  }

  /** Writes the counts if the item is still at `version`; false when another writer came first. */
  async #write(key: string, counts: WindowCounts, version: string | undefined): Promise<boolean> {
    const windows: Record<string, AttributeValue> = {};
    let ends = 0;
    for (const [ms, window] of Object.entries(counts)) {
      const numbers: Record<string, AttributeValue> = {};
      for (const [name, value] of Object.entries(window)) {
        if (typeof value === 'number') numbers[name] = { N: String(value) };
      }
      windows[ms] = { M: numbers };
      ends = Math.max(ends, window.start + Number(ms));
    }
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: {
            pk: { S: `pace#${key}` },
            windows: { M: windows },
            ver: { N: String(Number(version ?? 0) + 1) },
            // Old items clean themselves up (TTL on `expires`, seconds): a day after the last window.
            expires: { N: String(Math.ceil(ends / 1000) + 86_400) },
          },
          // No version yet: a new item, or one written before windows were counted.
          ConditionExpression: version === undefined ? 'attribute_not_exists(ver)' : 'ver = :ver',
          ...(version === undefined ? {} : { ExpressionAttributeValues: { ':ver': { N: version } } }),
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }
}

/** Slots reserved for one step: `left` of them may still be used, until their window ends. */
export class Reservation {
  /** Slots not used yet. */
  left: number;
  /** The end of the shortest window they were counted in: a request after it is another window's. */
  readonly until: number;

  constructor(
    readonly connection: string,
    readonly windows: readonly PaceWindow[],
    /** When the slots were free (the step waited until then). */
    readonly at: number,
    readonly count: number,
  ) {
    this.left = count;
    this.until = Math.min(...windows.map((window) => windowStart(at, window.ms) + window.ms));
  }

  /**
   * Uses one slot for a request sent at `now`. False when none is left, or when their window
   * has ended: the vendor counts that request in the next window, so it takes a slot there.
   */
  use(now: number): boolean {
    if (this.left <= 0 || now >= this.until) return false;
    this.left--;
    return true;
  }
}

/** Time, for the pacer: the system's, or a test's. */
export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const systemClock: Clock = { now: () => Date.now(), sleep: (ms) => sleep(ms) };

/**
 * Keeps one connection's requests under its limit, across every execution that shares the
 * store: 429s become the exception, not the method. Requests inside a window go at once; a
 * step takes the slots it needs together. When they are near (the next window starts within
 * `maxWaitMs`), the step waits for them; when they are far (an hourly window spent), the
 * step fails with a rate-limit error, reserving nothing, and the state machine's Retry does
 * the waiting, not a sleeping Lambda.
 */
export class Pacer {
  constructor(
    readonly store: SlotStore,
    readonly maxWaitMs: number = MAX_PACING_WAIT_MS,
    readonly clock: Clock = systemClock,
  ) {}

  /**
   * Reserves `count` slots at once (all or none) and resolves when they may be used. More
   * than a window lets go at once ({@link capacityOf}) can never be free together, so a
   * larger count is lowered to that.
   *
   * @throws RateLimitedError, HourlyRateLimitedError or QuotaExhaustedError when the slots are
   *   further away than the step may wait: nothing is reserved.
   */
  async reserve(connection: string, limit: RateLimit, count: number): Promise<Reservation> {
    const windows = windowsOf(limit);
    const wanted = Math.max(1, Math.min(Math.ceil(count), ...windows.map(capacityOf)));
    const now = this.clock.now();
    const offer = await this.store.take(connection, windows, wanted, now, this.maxWaitMs);
    if (!offer.taken) throw pacedError(connection, limit, wanted, offer, now);
    // Timers may fire a millisecond before the wall clock reaches their time: a request sent
    // then would count in the window before, which the vendor already holds full.
    for (let left = offer.at - now; left > 0; left = offer.at - this.clock.now())
      await this.clock.sleep(left);
    return new Reservation(connection, windows, offer.at, wanted);
  }

  /** Resolves when the connection may send one request (see {@link Pacer.reserve}). */
  async acquire(connection: string, limit: RateLimit): Promise<void> {
    await this.reserve(connection, limit, 1);
  }

  /** Gives the reservation's unused slots back, so that other steps may use them. */
  async release(reservation: Reservation): Promise<void> {
    const unused = reservation.left;
    if (unused <= 0) return;
    reservation.left = 0;
    await this.store.giveBack(reservation.connection, reservation.windows, unused, reservation.at);
  }
}

function describeLimit(limit: RateLimit): string {
  const window = `${limit.requests} per ${limit.perSeconds} s`;
  return limit.requestsPerDay === undefined ? window : `${window} and ${limit.requestsPerDay} a day`;
}

function pacedError(
  connection: string,
  limit: RateLimit,
  count: number,
  offer: SlotOffer,
  now: number,
): OffboardError {
  const slots = count === 1 ? 'the next request slot' : `the next ${count} request slots (one step's)`;
  if (offer.busy) {
    return new RateLimitedError(
      `${connection}: paced: the pacing table was too busy to reserve ${slots}; nothing was sent; the state machine tries again`,
    );
  }
  const wait = offer.at - now;
  const when = new Date(offer.at).toISOString();
  if (wait > MAX_RETRIED_WAIT_MS) {
    return new QuotaExhaustedError(
      `${connection}: paced: the limit of ${describeLimit(limit)} is used up until ${when}, ` +
        `longer than the state machine retries; nothing was sent: run again after then`,
    );
  }
  const message =
    `${connection}: paced: ${slots} under the limit of ${describeLimit(limit)} ${count === 1 ? 'is' : 'are'} ` +
    `${Math.ceil(wait / 1000)} s away (${when}), more than ${MAX_PACING_WAIT_MS / 1000} s; nothing was sent; ` +
    'the state machine waits';
  // Minutes away (an hourly window spent): wait on the hourly schedule, as for its 429s.
  return wait > HOURLY_RETRY_FROM_MS ? new HourlyRateLimitedError(message) : new RateLimitedError(message);
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

/**
 * Requests a step sends in the common case. The uncommon ones take a slot each when they
 * come: a SCIM lookup's second query (the userName matched nobody), Insightly's check of its
 * API key's owner (once per warm Lambda), InsightVM's site and asset-group grants (restricted
 * roles), an OAuth token. Reserving for them every time would make every step wait for slots
 * it mostly gives back: at Insightly's 10 a second, 100 people took 1.38 times the floor
 * with the read reserving 2, and 1.11 times with 1 (`npm run bench -- --only bulk`).
 */
const STEP_REQUESTS: Readonly<Record<string, number>> = {
  lookup: 1,
  getRecord: 1,
  // The read right before the write, and the write: never one without the other.
  deactivate: 2,
  verify: 1,
  settle: 1,
  // The step's read, the connector's own check of the account, and the write.
  reactivate: 3,
  verifyReactivated: 1,
};

/**
 * How many requests a step usually sends ({@link STEP_REQUESTS}): reserved together before
 * it starts, so that it never holds some slots while it waits for the rest. Unused ones are
 * given back when it ends; a request beyond them takes a slot of its own.
 */
export function expectedRequests(step: string): number {
  return STEP_REQUESTS[step] ?? 1;
}

/**
 * The pace this process keeps, per connection name. One per process, so every execution
 * running in it (local runs) or every step of a warm Lambda shares it; the DynamoDB store
 * shares the counts across Lambdas.
 *
 * - `step` runs a workflow step with the slots it usually needs reserved at once;
 * - `before` is called by HttpClient before every request: it uses one of the step's
 *   reserved slots, or takes a slot of its own;
 * - `hold` keeps every request to a connection back until a vendor's `Retry-After`.
 */
class RequestPacing {
  readonly #limits = new Map<string, RateLimit>();
  /** Until when a connection must not be sent anything (a vendor's `Retry-After`), epoch ms. */
  readonly #holds = new Map<string, number>();
  /** The running step's reservations, by connection: what its requests draw on. */
  readonly #reserved = new AsyncLocalStorage<ReadonlyMap<string, Reservation>>();
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

  /**
   * Reserves `count` slots of the connection at once (all or none); undefined when it is not
   * paced. Waits when they are near; throws a rate-limit error, reserving nothing, when far.
   */
  async reserve(connection: string, count: number): Promise<Reservation | undefined> {
    await this.#waitForHold(connection);
    const limit = this.#limits.get(connection);
    return limit ? this.pacer().reserve(connection, limit, count) : undefined;
  }

  /**
   * Runs one workflow step under the connection's pace: the requests the step usually sends
   * ({@link expectedRequests}) are reserved first, all at once, and its requests use them;
   * the ones left over are given back when it ends.
   */
  async step<T>(
    connection: Pick<ConnectionRef, 'name' | 'rateLimit'>,
    step: string,
    work: () => Promise<T>,
  ): Promise<T> {
    this.limit(connection.name, connection.rateLimit);
    const reservation = await this.reserve(connection.name, expectedRequests(step));
    if (!reservation) return work();
    const scope = new Map(this.#reserved.getStore() ?? []);
    scope.set(connection.name, reservation);
    try {
      return await this.#reserved.run(scope, work);
    } finally {
      // Giving back is a courtesy to other steps: if it fails, the slots lapse with their
      // window, and the step's own result (or error) is what must reach the state machine.
      await this.pacer()
        .release(reservation)
        .catch(() => undefined);
    }
  }

  /** Waits for the connection's next slot (or throws a rate-limit error for the state machine). */
  async before(connection: string): Promise<void> {
    await this.#waitForHold(connection);
    if (this.#reserved.getStore()?.get(connection)?.use(this.pacer().clock.now())) return;
    const limit = this.#limits.get(connection);
    if (limit) await this.pacer().acquire(connection, limit);
  }

  async #waitForHold(connection: string): Promise<void> {
    const until = this.#holds.get(connection);
    if (until === undefined) return;
    const wait = until - Date.now();
    if (wait > MAX_PACING_WAIT_MS) {
      const message = `${connection}: the vendor asked to wait until ${new Date(until).toISOString()} (Retry-After); the state machine waits`;
      throw wait > HOURLY_RETRY_FROM_MS ? new HourlyRateLimitedError(message) : new RateLimitedError(message);
    }
    if (wait > 0) await sleep(wait);
    else this.#holds.delete(connection);
  }

  /** Deployed: the DynamoDB table the stack names; locally: this process's memory. */
  pacer(): Pacer {
    const table = process.env.OFFBOARD_PACING_TABLE;
    this.#pacer ??= new Pacer(table ? new DynamoDbSlotStore(table) : new MemorySlotStore());
    return this.#pacer;
  }

  /** For tests and benchmarks: a fresh store (and so fresh counts), or the pacer given. */
  reset(pacer?: Pacer): void {
    this.#pacer = pacer;
    this.#limits.clear();
    this.#holds.clear();
  }
}

export const requestPacing = new RequestPacing();
