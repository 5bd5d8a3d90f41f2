import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DOCUMENTED_RATE_LIMITS,
  DynamoDbSlotStore,
  effectiveRateLimit,
  MemorySlotStore,
  Pacer,
  type SlotStore,
} from '../../../lambdas/shared/pacing';
import { type LocalDynamo, startDynalite } from '../../helpers/dynalite';

/** Pacing: one connection's requests spaced at its rate limit, across every execution. */

/** Records every slot handed out, to check their spacing. */
function recording(store: SlotStore): { store: SlotStore; slots: number[] } {
  const slots: number[] = [];
  return {
    slots,
    store: {
      async reserve(key, now, interval, maxWait) {
        const slot = await store.reserve(key, now, interval, maxWait);
        if (slot !== undefined) slots.push(slot);
        return slot;
      },
    },
  };
}

describe('Pacer with the in-process store (local runs)', () => {
  it('spaces concurrent requests one interval apart', async () => {
    // Prepare: 100 requests a second, so 10 ms apart
    const { store, slots } = recording(new MemorySlotStore());
    const pacer = new Pacer(store);
    const started = performance.now();
    // Act: ten steps ask at once
    await Promise.all(
      Array.from({ length: 10 }, () => pacer.acquire('crm', { requests: 100, perSeconds: 1 })),
    );
    // Assess
    const sorted = [...slots].sort((a, b) => a - b);
    for (let i = 1; i < sorted.length; i++)
      expect((sorted[i] ?? 0) - (sorted[i - 1] ?? 0)).toBeCloseTo(10, 5);
    expect(performance.now() - started).toBeGreaterThanOrEqual(85);
  });

  it('keeps connections apart: one busy connection does not slow another', async () => {
    const pacer = new Pacer(new MemorySlotStore());
    const busy = Array.from({ length: 20 }, () => pacer.acquire('busy', { requests: 100, perSeconds: 1 }));
    const started = performance.now();
    await pacer.acquire('quiet', { requests: 100, perSeconds: 1 });
    expect(performance.now() - started).toBeLessThan(8);
    await Promise.all(busy);
  });

  it('hands a far slot back to the state machine as a rate-limit error, reserving nothing', async () => {
    // Prepare: 1 request a second and a 1.5 s longest wait: the third waiter would wait 2 s
    const { store, slots } = recording(new MemorySlotStore());
    const pacer = new Pacer(store, 1_500);
    const limit = { requests: 1, perSeconds: 1 };
    await pacer.acquire('crm', limit);
    const second = pacer.acquire('crm', limit);
    // Act
    const third = pacer.acquire('crm', limit);
    // Assess
    await expect(third).rejects.toMatchObject({
      name: 'Vendor.RateLimited',
      message: expect.stringContaining('crm: paced'),
    });
    await second;
    expect(slots).toHaveLength(2);
  });

  it('names an hour-scale wait Vendor.RateLimitedHourly, for the hour-long retrier', async () => {
    const pacer = new Pacer(new MemorySlotStore(), 1_000);
    const hourly = { requests: 100, perSeconds: 3600 };
    await pacer.acquire('gainsight', hourly);
    await expect(pacer.acquire('gainsight', hourly)).rejects.toMatchObject({
      name: 'Vendor.RateLimitedHourly',
    });
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

  it('gives concurrent Lambdas distinct slots, one interval apart', async () => {
    // Prepare: three "Lambdas", each with its own client and store on the same table
    const stores = [0, 1, 2].map(() => recording(new DynamoDbSlotStore('offboard-pacing', dynamo.client)));
    const limit = { requests: 50, perSeconds: 1 };
    // Act: four requests each, all at once
    await Promise.all(
      stores.flatMap(({ store }) =>
        Array.from({ length: 4 }, () => new Pacer(store).acquire('insightly-prod', limit)),
      ),
    );
    // Assess
    const slots = stores.flatMap((s) => s.slots).sort((a, b) => a - b);
    expect(slots).toHaveLength(12);
    for (let i = 1; i < slots.length; i++)
      expect((slots[i] ?? 0) - (slots[i - 1] ?? 0)).toBeGreaterThanOrEqual(20);
  });
});

describe('effectiveRateLimit', () => {
  it('takes the config first, then the vendor documented limit; false means none', () => {
    expect(effectiveRateLimit('insightly', undefined)).toEqual(DOCUMENTED_RATE_LIMITS.insightly);
    expect(effectiveRateLimit('insightly', { requests: 5, perSeconds: 1 })).toEqual({
      requests: 5,
      perSeconds: 1,
    });
    expect(effectiveRateLimit('insightly', false)).toBeUndefined();
    expect(effectiveRateLimit('rapid7-insightvm', undefined)).toBeUndefined();
  });
});
