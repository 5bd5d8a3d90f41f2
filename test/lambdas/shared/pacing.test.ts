import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type Clock,
  DOCUMENTED_RATE_LIMITS,
  DynamoDbSlotStore,
  effectiveRateLimit,
  MemorySlotStore,
  Pacer,
  type RateLimit,
  requestPacing,
  type SlotStore,
} from '../../../lambdas/shared/pacing';
import { type LocalDynamo, startDynalite } from '../../helpers/dynalite';
import { rejectionOf } from '../../helpers/errors';

/**
 * Pacing as vendors count: fixed windows (Gainsight: 100 an hour and 1,000 a day), requests
 * inside a window at once, a step's slots reserved together. Every story runs on a clock the
 * test moves itself: nothing depends on how fast the machine is.
 */

const GAINSIGHT = DOCUMENTED_RATE_LIMITS.gainsight as RateLimit;
const HOUR = 3_600_000;
/** 2026-12-01 00:00 UTC: a day window, and an hour window, start here. */
const MIDNIGHT = Date.UTC(2026, 11, 1);

/** A clock that only moves when the test, or a sleeping pacer, moves it. */
function testClock(start: number): Clock & { set(time: number): void; slept: number[] } {
  let time = start;
  const slept: number[] = [];
  return {
    now: () => time,
    sleep: async (ms) => {
      slept.push(ms);
      time += ms;
    },
    set: (value) => {
      time = value;
    },
    slept,
  };
}

/** Counts, per connection, the slots a store handed out and took back. */
function counting(store: SlotStore): SlotStore & { taken: number[]; givenBack: number[] } {
  const taken: number[] = [];
  const givenBack: number[] = [];
  return {
    taken,
    givenBack,
    async take(key, windows, count, now, maxWait) {
      const offer = await store.take(key, windows, count, now, maxWait);
      if (offer.taken) taken.push(count);
      return offer;
    },
    async giveBack(key, windows, count, at) {
      givenBack.push(count);
      await store.giveBack(key, windows, count, at);
    },
  };
}

/** `n` single requests one after another; how many went (the rest were refused). */
async function send(pacer: Pacer, connection: string, limit: RateLimit, n: number): Promise<number> {
  let sent = 0;
  for (let i = 0; i < n; i++) {
    await pacer.acquire(connection, limit);
    sent++;
  }
  return sent;
}

describe('Pacer: fixed windows', () => {
  it('lets every request of a window go at once: 100 to Gainsight in one hour, no wait', async () => {
    // Prepare
    const clock = testClock(MIDNIGHT + 12 * HOUR + 10 * 60_000);
    const pacer = new Pacer(new MemorySlotStore(), 5_000, clock);

    // Act
    const sent = await send(pacer, 'gainsight', GAINSIGHT, 100);

    // Assess
    expect(sent).toBe(100);
    expect(clock.slept).toEqual([]);
  });

  it('makes the 101st wait for the next window when it starts within seconds', async () => {
    // Prepare: 100 sent at 12:59:57
    const clock = testClock(MIDNIGHT + 13 * HOUR - 3_000);
    const pacer = new Pacer(new MemorySlotStore(), 5_000, clock);
    await send(pacer, 'gainsight', GAINSIGHT, 100);

    // Act
    await pacer.acquire('gainsight', GAINSIGHT);

    // Assess: it went at 13:00:00, not a moment before
    expect(clock.slept).toEqual([3_000]);
    expect(clock.now()).toBe(MIDNIGHT + 13 * HOUR);
  });

  it('hands the 101st to the state machine when the next window is far, taking nothing from that window', async () => {
    // Prepare: 100 sent at 12:10
    const clock = testClock(MIDNIGHT + 12 * HOUR + 10 * 60_000);
    const pacer = new Pacer(new MemorySlotStore(), 5_000, clock);
    await send(pacer, 'gainsight', GAINSIGHT, 100);

    // Act
    const refused = await rejectionOf(pacer.acquire('gainsight', GAINSIGHT));
    clock.set(MIDNIGHT + 13 * HOUR);
    const nextHour = await send(pacer, 'gainsight', GAINSIGHT, 100);

    // Assess: the hourly retrier waits; the next window still holds all 100
    expect(refused.name).toBe('Vendor.RateLimitedHourly');
    expect(refused.message).toMatch(
      /^gainsight: paced: the next request slot under the limit of 100 per 3600 s and 1000 a day is 3000 s away \(2026-12-01T13:00:00.000Z\)/,
    );
    expect(nextHour).toBe(100);
    expect(clock.slept).toEqual([]);
  });

  it('makes the 11th Insightly request of a second wait for the next second, inside the Lambda', async () => {
    // Prepare: ten in the second that started 250 ms ago (the tenth on the bucket's refill)
    const clock = testClock(MIDNIGHT + 250);
    const pacer = new Pacer(new MemorySlotStore(), 5_000, clock);
    const insightly = DOCUMENTED_RATE_LIMITS.insightly as RateLimit;
    await send(pacer, 'insightly', insightly, 10);
    const waited = clock.slept.length;

    // Act
    await pacer.acquire('insightly', insightly);

    // Assess: sent at 1.000 s, not a moment before
    expect(waited).toBe(1);
    expect(clock.now()).toBe(MIDNIGHT + 1_000);
  });

  it('keeps a per-second limit as a token bucket too: 9 at once (one kept back), the 10th on the refill, the 11th next second', async () => {
    // Prepare
    const clock = testClock(MIDNIGHT + 500);
    const pacer = new Pacer(new MemorySlotStore(), 5_000, clock);
    const insightly = DOCUMENTED_RATE_LIMITS.insightly as RateLimit;

    // Act
    await send(pacer, 'insightly', insightly, 11);

    // Assess: 100 ms for a token; then the second's 10 are spent: wait for 1.000 s
    expect(clock.slept).toEqual([100, 400]);
    expect(clock.now()).toBe(MIDNIGHT + 1_000);
  });

  it('keeps an hourly limit as a fixed window only, as Gainsight counts: 100 at 12:59:59 and 100 at 13:00', async () => {
    const clock = testClock(MIDNIGHT + 13 * HOUR - 1_000);
    const pacer = new Pacer(new MemorySlotStore(), 5_000, clock);
    await send(pacer, 'gainsight', GAINSIGHT, 100);
    clock.set(MIDNIGHT + 13 * HOUR);
    await expect(send(pacer, 'gainsight', GAINSIGHT, 100)).resolves.toBe(100);
    expect(clock.slept).toEqual([]);
  });

  it('counts the day too: once 1,000 are spent, the connection fails until midnight instead of retrying all day', async () => {
    // Prepare: 100 in each of the first ten hours of the day
    const clock = testClock(MIDNIGHT);
    const pacer = new Pacer(new MemorySlotStore(), 5_000, clock);
    for (let hour = 0; hour < 10; hour++) {
      clock.set(MIDNIGHT + hour * HOUR);
      await send(pacer, 'gainsight', GAINSIGHT, 100);
    }

    // Act: the eleventh hour has room, the day has none
    clock.set(MIDNIGHT + 10 * HOUR);
    const morning = await rejectionOf(pacer.acquire('gainsight', GAINSIGHT));
    clock.set(MIDNIGHT + 23 * HOUR + 30 * 60_000);
    const lateEvening = await rejectionOf(pacer.acquire('gainsight', GAINSIGHT));
    clock.set(MIDNIGHT + 24 * HOUR);
    const tomorrow = await send(pacer, 'gainsight', GAINSIGHT, 100);

    // Assess: 14 hours is beyond every retry; 30 minutes is the hourly retrier's to wait
    expect(morning.name).toBe('Vendor.QuotaExhausted');
    expect(morning.message).toBe(
      'gainsight: paced: the limit of 100 per 3600 s and 1000 a day is used up until 2026-12-02T00:00:00.000Z, ' +
        'longer than the state machine retries; nothing was sent: run again after then',
    );
    expect(lateEvening.name).toBe('Vendor.RateLimitedHourly');
    expect(tomorrow).toBe(100);
  });

  it("reserves a step's slots all or none: two do not fit in one, and the one is left for a single request", async () => {
    // Prepare: 9 of 10 spent this hour
    const clock = testClock(MIDNIGHT + 5 * 60_000);
    const limit = { requests: 10, perSeconds: 3600 };
    const pacer = new Pacer(new MemorySlotStore(), 5_000, clock);
    await send(pacer, 'crm', limit, 9);

    // Act
    const pair = await rejectionOf(pacer.reserve('crm', limit, 2));
    const single = await pacer.reserve('crm', limit, 1);

    // Assess
    expect(pair.name).toBe('Vendor.RateLimitedHourly');
    expect(pair.message).toContain("the next 2 request slots (one step's)");
    expect(single.count).toBe(1);
  });

  it('keeps connections apart: a spent window on one does not slow another', async () => {
    const clock = testClock(MIDNIGHT);
    const pacer = new Pacer(new MemorySlotStore(), 5_000, clock);
    await send(pacer, 'busy', GAINSIGHT, 100);
    await expect(send(pacer, 'quiet', GAINSIGHT, 100)).resolves.toBe(100);
    expect(clock.slept).toEqual([]);
  });
});

describe('requestPacing.step: a step reserves what it usually sends', () => {
  afterEach(() => {
    requestPacing.reset();
  });

  const gainsight = (rateLimit: RateLimit) => ({ name: 'gainsight', rateLimit });

  it("sends a step's requests on its reserved slots, gives back what it did not use, and pays for extras one by one", async () => {
    // Prepare
    const store = counting(new MemorySlotStore());
    requestPacing.reset(new Pacer(store, 5_000, testClock(MIDNIGHT)));
    const limit = { requests: 10, perSeconds: 3600 };

    // Act: a deactivation (2 expected) that sends 3; a read (1 expected) that sends none
    await requestPacing.step(gainsight(limit), 'deactivate', async () => {
      for (let i = 0; i < 3; i++) await requestPacing.before('gainsight');
    });
    await requestPacing.step(gainsight(limit), 'getRecord', async () => undefined);

    // Assess: 2 at once, then 1; the unused read slot came back, so 7 are left
    expect(store.taken).toEqual([2, 1, 1]);
    expect(store.givenBack).toEqual([1]);
    await expect(requestPacing.reserve('gainsight', 7)).resolves.toBeDefined();
  });

  it('refuses a two-request step before it sends anything when only one slot is left', async () => {
    // Prepare: 9 of 10 spent
    requestPacing.reset(new Pacer(new MemorySlotStore(), 5_000, testClock(MIDNIGHT)));
    const limit = { requests: 10, perSeconds: 3600 };
    await requestPacing.step(gainsight(limit), 'lookup', async () => {
      for (let i = 0; i < 9; i++) await requestPacing.before('gainsight');
    });
    let sent = 0;

    // Act
    const refused = await rejectionOf(
      requestPacing.step(gainsight(limit), 'deactivate', async () => {
        await requestPacing.before('gainsight');
        sent++;
      }),
    );

    // Assess: not the read without the write
    expect(refused.name).toBe('Vendor.RateLimitedHourly');
    expect(sent).toBe(0);
  });

  it('keeps concurrent steps on their own reservations', async () => {
    // Prepare: 5 a second; two deactivations (a read and a write each) run at once
    const store = counting(new MemorySlotStore());
    requestPacing.reset(new Pacer(store, 5_000, testClock(MIDNIGHT)));
    const scim = { name: 'scim', rateLimit: { requests: 5, perSeconds: 1 } };
    const lookup = () =>
      requestPacing.step(scim, 'deactivate', async () => {
        await requestPacing.before('scim');
        await Promise.resolve();
        await requestPacing.before('scim');
      });

    // Act
    await Promise.all([lookup(), lookup()]);

    // Assess: two reservations of two, nothing taken besides, nothing left over
    expect(store.taken).toEqual([2, 2]);
    expect(store.givenBack).toEqual([]);
  });

  it('lets an unpaced connection through without a store', async () => {
    const store = counting(new MemorySlotStore());
    requestPacing.reset(new Pacer(store, 5_000, testClock(MIDNIGHT)));
    await requestPacing.step({ name: 'console' }, 'deactivate', async () => {
      await requestPacing.before('console');
    });
    expect(store.taken).toEqual([]);
  });
});

describe('Pacer with the DynamoDB store (deployed runs, many Lambdas)', () => {
  let dynamo: LocalDynamo;
  beforeAll(async () => {
    dynamo = await startDynalite();
    await dynamo.createTable('offboard-pacing');
  });
  afterAll(async () => {
    await dynamo.close();
  });

  /** Three "Lambdas": each its own client-side store on the one table, all at `time`. */
  const lambdas = (time: number) =>
    [0, 1, 2].map(
      () => new Pacer(new DynamoDbSlotStore('offboard-pacing', dynamo.client), 0, testClock(time)),
    );

  it('never lets concurrent Lambdas past the window: 30 requests at once, 10 an hour, exactly 10 go', async () => {
    // Prepare
    const limit = { requests: 10, perSeconds: 3600 };
    const pacers = lambdas(MIDNIGHT + 60_000);

    // Act: ten requests from each, all at once
    const results = await Promise.allSettled(
      pacers.flatMap((pacer) => Array.from({ length: 10 }, () => pacer.acquire('gainsight-a', limit))),
    );

    // Assess
    const refused = results.filter((r) => r.status === 'rejected');
    expect(results.length - refused.length).toBe(10);
    expect(refused.map((r) => (r as PromiseRejectedResult).reason.name)).toEqual(
      Array(20).fill('Vendor.RateLimitedHourly'),
    );
  });

  it('gives each step all of its slots or none, whichever Lambda asks: three of four steps of three fit in ten', async () => {
    // Prepare
    const limit = { requests: 10, perSeconds: 3600 };
    const pacers = lambdas(MIDNIGHT + 60_000);

    // Act
    const results = await Promise.allSettled(
      pacers.flatMap((pacer) => Array.from({ length: 4 }, () => pacer.reserve('gainsight-b', limit, 3))),
    );

    // Assess: 3 × 3 = 9 taken; the tenth slot is left for a single request, then the window is spent
    const granted = results.filter((r) => r.status === 'fulfilled');
    expect(granted).toHaveLength(3);
    const [last] = lambdas(MIDNIGHT + 60_000);
    await expect(last?.acquire('gainsight-b', limit)).resolves.toBeUndefined();
    await expect(last?.acquire('gainsight-b', limit)).rejects.toMatchObject({
      name: 'Vendor.RateLimitedHourly',
    });
  });

  it('opens the next window afresh, and takes back slots a step did not use', async () => {
    // Prepare: the window spent, one step holding 3 it will not use
    const limit = { requests: 5, perSeconds: 3600 };
    const [pacer] = lambdas(MIDNIGHT + 60_000) as [Pacer];
    await pacer.reserve('gainsight-c', limit, 2);
    const unused = await pacer.reserve('gainsight-c', limit, 3);

    // Act
    await pacer.release(unused);
    const again = await pacer.reserve('gainsight-c', limit, 3);
    const [nextHour] = lambdas(MIDNIGHT + HOUR) as [Pacer];
    const fresh = await nextHour.reserve('gainsight-c', limit, 5);

    // Assess
    expect(again.count).toBe(3);
    expect(fresh.at).toBe(MIDNIGHT + HOUR);
    await expect(nextHour.acquire('gainsight-c', limit)).rejects.toMatchObject({
      name: 'Vendor.RateLimitedHourly',
    });
  });

  it("keeps a per-second limit's bucket in the table: another Lambda sees what the first spent", async () => {
    // Prepare: one Lambda sends 10 at 0.9 s
    const limit = { requests: 10, perSeconds: 1 };
    const [first] = lambdas(MIDNIGHT + 900) as [Pacer];
    await first.reserve('insightly-e', limit, 9);
    const [second] = lambdas(MIDNIGHT + 1_000) as [Pacer];

    // Act: at 1.0 s, a new second, and one token refilled
    const pair = await rejectionOf(second.reserve('insightly-e', limit, 2));
    const single = await second.reserve('insightly-e', limit, 1);

    // Assess
    expect(pair.name).toBe('Vendor.RateLimited');
    expect(single.at).toBe(MIDNIGHT + 1_000);
  });

  it('takes over an item the evenly spacing pacer left behind', async () => {
    // Prepare: the old format, a "next free time" far ahead
    await dynamo.client.send(
      new PutItemCommand({
        TableName: 'offboard-pacing',
        Item: { pk: { S: 'pace#gainsight-d' }, next: { N: String(MIDNIGHT + 10 * HOUR) } },
      }),
    );
    const [pacer] = lambdas(MIDNIGHT) as [Pacer];

    // Act and Assess
    await expect(pacer.reserve('gainsight-d', GAINSIGHT, 2)).resolves.toMatchObject({ at: MIDNIGHT });
  });
});

describe('effectiveRateLimit', () => {
  it('takes the config first, then the vendor documented limit; false means none', () => {
    expect(effectiveRateLimit('insightly', undefined)).toEqual({ requests: 10, perSeconds: 1 });
    expect(effectiveRateLimit('gainsight', undefined)).toEqual({
      requests: 100,
      perSeconds: 3600,
      requestsPerDay: 1000,
    });
    expect(effectiveRateLimit('insightly', { requests: 5, perSeconds: 1 })).toEqual({
      requests: 5,
      perSeconds: 1,
    });
    expect(effectiveRateLimit('insightly', false)).toBeUndefined();
    expect(effectiveRateLimit('rapid7-insightvm', undefined)).toBeUndefined();
  });
});
