/**
 * Bulk: N people in one go against sandboxes that enforce each vendor's documented rate
 * (Insightly 10 requests a second; Gainsight's 100 an hour, scaled down to 100 in 10 s so
 * the run takes a minute and a half, not eight hours), each connection paced by the same
 * limit in fixed windows. Figures: total time over the floor (the vendor calls divided by the
 * allowed rate, for the slowest connection), the share of requests answered 429, and failures.
 */
import { MemorySlotStore, Pacer, requestPacing, windowStart } from '../lambdas/shared/pacing';
import { runBulkLocally } from '../local/bulk';
import type { LocalConnection } from '../local/runner';
import {
  GAINSIGHT_SANDBOX_ACCESS_KEY,
  SAMPLE_USERS as GAINSIGHT_USERS,
  startGainsightSandbox,
} from '../sandboxes/gainsight';
import { SAMPLE_USERS as INSIGHTLY_USERS, startInsightlySandbox } from '../sandboxes/insightly';
import { type PacingWatch, watchedStore } from './pace-person';
import type { SectionResult } from './section';
import { fixed } from './support';

const PEOPLE = Number(process.env.BENCH_BULK_PEOPLE ?? 200);
/** People in flight at once (the bulk state machine's MaxConcurrency plays this part in AWS). */
const CONCURRENCY = Number(process.env.BENCH_BULK_CONCURRENCY ?? 40);
const INSIGHTLY_RATE = { requests: 10, perSeconds: 1 };
/** Gainsight's 100 an hour, 360 times faster. */
const GAINSIGHT_WINDOW = { limit: 100, windowMs: 10_000 };

/**
 * The sandbox's clock for its rate windows, so that they start where the pacer's do (at
 * multiples of their length since the epoch): its first reading, taken when the windows are
 * made, is the start of the current window. A real tenant's windows start at its own fixed
 * time, which the pacer cannot know: see the note.
 */
function epochAlignedClock(windowMs: number): () => number {
  let first = true;
  return () => {
    if (!first) return Date.now();
    first = false;
    return windowStart(Date.now(), windowMs);
  };
}

export async function run(): Promise<SectionResult> {
  const emails = Array.from({ length: PEOPLE }, (_, i) => `leaver${String(i).padStart(4, '0')}@example.com`);
  const insightly = await startInsightlySandbox({
    users: [...INSIGHTLY_USERS, ...emails.map((email) => ({ EMAIL_ADDRESS: email }))],
    ratePerSecond: INSIGHTLY_RATE.requests,
  });
  const gainsight = await startGainsightSandbox({
    users: [
      ...GAINSIGHT_USERS,
      ...emails.map((Email, i) => ({ Email, FirstName: 'Leaver', LastName: String(i) })),
    ],
    rateLimit: GAINSIGHT_WINDOW,
    now: epochAlignedClock(GAINSIGHT_WINDOW.windowMs),
  });
  const connections: LocalConnection[] = [
    {
      ref: { name: 'insightly', type: 'insightly', baseUrl: insightly.baseUrl, rateLimit: INSIGHTLY_RATE },
      secret: { apiKey: 'sandbox-api-key' },
    },
    {
      // The same fixed window as the sandbox's: up to 100 at once in each 10 s.
      ref: {
        name: 'gainsight',
        type: 'gainsight',
        baseUrl: gainsight.baseUrl,
        rateLimit: { requests: GAINSIGHT_WINDOW.limit, perSeconds: GAINSIGHT_WINDOW.windowMs / 1000 },
      },
      secret: { accessKey: GAINSIGHT_SANDBOX_ACCESS_KEY },
    },
  ];
  const watches = new Map<string, PacingWatch>();
  requestPacing.reset(new Pacer(watchedStore(new MemorySlotStore(), watches)));
  try {
    const started = performance.now();
    const bulk = await runBulkLocally({ connections, emails, concurrency: CONCURRENCY });
    const seconds = (performance.now() - started) / 1000;

    const rows: (string | number)[][] = [];
    const perConnection = [
      {
        name: 'insightly',
        counts: insightly.counts(),
        perSecond: INSIGHTLY_RATE.requests / INSIGHTLY_RATE.perSeconds,
      },
      {
        name: 'gainsight',
        counts: gainsight.counts(),
        perSecond: GAINSIGHT_WINDOW.limit / (GAINSIGHT_WINDOW.windowMs / 1000),
      },
    ].map(({ name, counts, perSecond }) => {
      const floor = (counts.total - counts.throttled) / perSecond;
      return {
        name,
        requests: counts.total,
        throttled: counts.throttled,
        floor,
        share: counts.throttled / Math.max(1, counts.total),
        pacing: watches.get(name),
      };
    });
    const floor = Math.max(...perConnection.map((c) => c.floor));
    for (const c of perConnection) {
      const p = c.pacing;
      rows.push([
        c.name,
        c.requests,
        c.throttled,
        `${fixed(c.share * 100, 2)} %`,
        fixed(c.floor, 1),
        p ? `${p.waits} (${fixed(p.waitedMs / 1000, 0)} s) / ${p.refusals}` : '—',
      ]);
    }
    const failures = bulk.failed.length;
    const ratio = seconds / floor;
    const throttledShare =
      perConnection.reduce((n, c) => n + c.throttled, 0) /
      Math.max(
        1,
        perConnection.reduce((n, c) => n + c.requests, 0),
      );
    rows.push([
      'all',
      bulk.people,
      failures,
      `${fixed(throttledShare * 100, 2)} %`,
      `${fixed(seconds, 1)} s wall / ${fixed(floor, 1)} s floor = ${fixed(ratio, 2)}×`,
      '',
    ]);
    const aims = {
      noFailure: failures === 0,
      underFloorRatio: ratio < 1.25,
      underThrottledShare: throttledShare < 0.05,
    };
    return {
      title: `Bulk: ${PEOPLE} people, ${CONCURRENCY} at a time, Insightly at 10 req/s and Gainsight at 100 per 10 s`,
      columns: [
        'connection',
        'requests',
        '429s (all: failed people)',
        'share 429',
        'floor s (all: result)',
        'paced: waits in step / refused',
      ],
      rows,
      json: {
        people: PEOPLE,
        concurrency: CONCURRENCY,
        seconds,
        floorSeconds: floor,
        ratio,
        throttledShare,
        failures,
        outcomes: bulk.outcomes,
        perConnection,
        aims,
      },
      notes: [
        'Floor: the requests a connection needed (429s excluded) divided by its allowed rate; the run can be no faster than its slowest connection.',
        'Pacing: fixed windows, as the vendors count (a window of a minute or less is also a token bucket); a step reserves the requests it usually sends at once, shared by all executions (in AWS, in DynamoDB). "waits in step": reservations that waited (in all, s) for a later window inside the step; "refused": reservations more than 5 s away, handed to the state machine, whose Retry (1 s doubling, full jitter) comes back at a random time.',
        "FLATTERING: the Gainsight sandbox's windows are made to start where the pacer's do (multiples of 10 s); a real tenant's start at its own fixed time, and a boundary the two disagree on may cost a 429 per window. Insightly's sandbox is a token bucket (10 a second, burst 10), paced by fixed 1 s windows that are also a bucket (burst 9: one kept back for the jitter of arrivals).",
        `Aims: no failure (${aims.noFailure ? 'met' : 'MISSED'}), under 1.25× the floor (${aims.underFloorRatio ? 'met' : 'MISSED'}), under 5 % of requests throttled (${aims.underThrottledShare ? 'met' : 'MISSED'}).`,
      ],
      summary: [
        `bulk ${PEOPLE} people: ${fixed(ratio, 2)}× the floor, ${fixed(throttledShare * 100, 2)} % throttled, ${failures} failed`,
      ],
    };
  } finally {
    requestPacing.reset();
    await Promise.all([insightly.close(), gainsight.close()]);
  }
}
