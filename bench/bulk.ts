/**
 * Bulk: 1,000 people per surface, each in a tenant of 5,000 users, through the bulk state
 * machine as deployed (offboard-bulk.asl.json, run in-process): one read of the user list,
 * writes in batches where the vendor takes them, one read to verify. Each surface runs alone,
 * against a sandbox that enforces the vendor's documented rate (Insightly 10 requests a
 * second; Gainsight's 100 an hour, scaled down to 100 in 10 s), and answers two writes with a
 * 429 the pacer could not foresee, so that the state machine's own Retry path runs too.
 *
 * Figures: requests against the floor (two reads of the list, the writes, and the reads a
 * write needs where the list lacks part of the record), 429s, failures, and, where the vendor
 * has a documented rate, wall time against the time the floor's requests take at that rate.
 */
import type { ConnectionType } from '../lambdas/shared/connections';
import { MemorySlotStore, Pacer, requestPacing, windowStart } from '../lambdas/shared/pacing';
import { runBulkLocally } from '../local/bulk';
import { CONNECTOR_FACTORIES, type LocalConnection } from '../local/runner';
import { GAINSIGHT_SANDBOX_ACCESS_KEY, startGainsightSandbox } from '../sandboxes/gainsight';
import { SAMPLE_USERS as INSIGHTLY_SAMPLE_USERS, startInsightlySandbox } from '../sandboxes/insightly';
import {
  SAMPLE_USERS as INSIGHTVM_SAMPLE_USERS,
  RAPID7_INSIGHTVM_SANDBOX_PASSWORD,
  RAPID7_INSIGHTVM_SANDBOX_USERNAME,
  startRapid7InsightvmSandbox,
} from '../sandboxes/rapid7-insightvm';
import { SCIM_SANDBOX_TOKEN, startScimSandbox } from '../sandboxes/scim';
import type { SectionResult } from './section';
import { fixed } from './support';

const PEOPLE = Number(process.env.BENCH_BULK_PEOPLE ?? 1000);
const TENANT = Number(process.env.BENCH_BULK_TENANT ?? 5000);
/** Writes answered 429 by each sandbox, beyond anything the pacer foresees. */
const INJECTED_429S = 2;
const INSIGHTLY_RATE = { requests: 10, perSeconds: 1 };
/** Gainsight's 100 an hour (and 1,000 a day), 360 times faster. */
const GAINSIGHT_WINDOWS = [
  { limit: 100, windowMs: 10_000 },
  { limit: 1000, windowMs: 240_000 },
];

interface Surface {
  type: ConnectionType;
  connection: LocalConnection;
  /** Every request the sandbox answered, with its status. */
  requests: () => ReadonlyArray<{ method: string; path: string; status: number }>;
  /**
   * The state machine's Retry pauses, scaled as the vendor's window is (Gainsight); absent,
   * the ASL's own backoff applies, as in AWS.
   */
  retryPauseMs?: number;
  /** How long `requests` take at the vendor's documented rate, when it documents one. */
  floorTime?: (requests: number) => number;
  /** The write this vendor is sent (to answer two of them 429). */
  addWriteFaults: () => void;
  /** What the floor counts besides the two reads of the list: one write a batch, and reads a write needs. */
  note: string;
  close: () => Promise<void>;
}

/** The sandbox's clock, so its fixed windows start where the pacer's do (see the note). */
function epochAlignedClock(windowMs: number): () => number {
  let first = true;
  return () => {
    if (!first) return Date.now();
    first = false;
    return windowStart(Date.now(), windowMs);
  };
}

const leavers = Array.from({ length: PEOPLE }, (_, i) => `leaver${String(i).padStart(5, '0')}@example.com`);
const stayers = Array.from(
  { length: TENANT - PEOPLE },
  (_, i) => `staff${String(i).padStart(5, '0')}@example.com`,
);
const tenant = [...leavers, ...stayers];

async function start(type: ConnectionType): Promise<Surface> {
  const name = `bulk-${type}`;
  switch (type) {
    case 'insightly': {
      // The API key belongs to an administrator of the sample tenant, as an integration's would.
      const apiKey = 'bench-api-key';
      const s = await startInsightlySandbox({
        users: [...INSIGHTLY_SAMPLE_USERS, ...tenant.map((email) => ({ EMAIL_ADDRESS: email }))],
        apiKeys: { [apiKey]: INSIGHTLY_SAMPLE_USERS[0]?.USER_ID ?? 1001 },
        ratePerSecond: INSIGHTLY_RATE.requests,
      });
      return {
        type,
        connection: {
          ref: { name, type, baseUrl: s.baseUrl, rateLimit: INSIGHTLY_RATE },
          secret: { apiKey },
        },
        requests: () => s.requests,
        floorTime: (requests) => requests / (INSIGHTLY_RATE.requests / INSIGHTLY_RATE.perSeconds),
        addWriteFaults: () => s.addFault({ method: 'PUT', status: 429, times: INJECTED_429S }),
        note: 'one PUT a person, and the read right before it (the PUT sends the whole user back)',
        close: () => s.close(),
      };
    }
    case 'gainsight': {
      const s = await startGainsightSandbox({
        users: tenant.map((Email, i) => ({ Email, FirstName: 'Person', LastName: String(i) })),
        rateLimit: GAINSIGHT_WINDOWS,
        now: epochAlignedClock(GAINSIGHT_WINDOWS[0]?.windowMs ?? 10_000),
      });
      return {
        type,
        connection: {
          ref: {
            name,
            type,
            baseUrl: s.baseUrl,
            rateLimit: { requests: 100, perSeconds: 10, requestsPerDay: 1000 },
          },
          secret: { accessKey: GAINSIGHT_SANDBOX_ACCESS_KEY },
        },
        requests: () => s.requests,
        // Vendor.RateLimitedHourly is retried from 60 s: 360 times faster, as the window is.
        retryPauseMs: 60_000 / 360,
        // Whole windows: the first is spent at once, each further one waits 10 s.
        floorTime: (requests) => (Math.ceil(requests / 100) - 1) * 10,
        addWriteFaults: () => s.addFault({ method: 'PUT', status: 429, times: INJECTED_429S }),
        note: 'one status call a batch of 50',
        close: () => s.close(),
      };
    }
    case 'rapid7-insightvm': {
      const username = RAPID7_INSIGHTVM_SANDBOX_USERNAME;
      const s = await startRapid7InsightvmSandbox({
        users: [
          // The integration's own login, a Global Administrator (the console lists users to no one else).
          ...INSIGHTVM_SAMPLE_USERS.slice(0, 1),
          ...tenant.map((email) => ({ login: email, name: email, email })),
        ],
        credentials: { [username]: RAPID7_INSIGHTVM_SANDBOX_PASSWORD },
      });
      return {
        type,
        connection: {
          ref: { name, type, baseUrl: s.baseUrl, ...(s.caCert ? { tls: { caCert: s.caCert } } : {}) },
          secret: { username, password: RAPID7_INSIGHTVM_SANDBOX_PASSWORD },
        },
        requests: () => s.requests,
        addWriteFaults: () => s.addFault({ method: 'PUT', status: 429, times: INJECTED_429S }),
        note: "one PUT a person, and the person's read right before it (the list lacks site and asset-group grants, and the PUT sends the whole user back)",
        close: () => s.close(),
      };
    }
    case 'scim':
    case 'insightly-scim': {
      const bulk = type === 'scim';
      const s = await startScimSandbox({
        users: tenant.map((email) => ({ userName: email, emails: [{ value: email, primary: true }] })),
        auth: { token: SCIM_SANDBOX_TOKEN },
        // A generic SCIM 2.0 app with /Bulk (RFC 7643's example limits); Insightly's has none.
        ...(bulk ? {} : { bulk: { supported: false } }),
      });
      return {
        type,
        connection: { ref: { name, type, baseUrl: s.baseUrl }, secret: { token: SCIM_SANDBOX_TOKEN } },
        requests: () => s.requests,
        addWriteFaults: () =>
          s.addFault({ method: bulk ? 'POST' : 'PATCH', status: 429, times: INJECTED_429S }),
        note: bulk ? 'one POST /Bulk a batch of up to 1,000 PATCHes' : 'one PATCH a person (no /Bulk)',
        close: () => s.close(),
      };
    }
    default:
      throw new Error(`bulk bench: no surface ${type}`);
  }
}

const SURFACES: ConnectionType[] = ['insightly', 'gainsight', 'rapid7-insightvm', 'scim', 'insightly-scim'];

interface Figures {
  surface: string;
  requests: number;
  floor: number;
  listRead: number;
  writes: number;
  reads: number;
  throttled: number;
  retries: number;
  failed: number;
  deactivated: number;
  seconds: number;
  floorSeconds?: number;
  note: string;
}

async function measure(type: ConnectionType): Promise<Figures> {
  const surface = await start(type);
  try {
    // Calibration, outside the run: what one read of the whole list costs here, what a
    // batch takes, and what one person's read costs (InsightVM reads grants besides).
    const connector = CONNECTOR_FACTORIES[type](
      surface.connection.ref,
      surface.connection.secret,
    ) as never as {
      readDirectory(): Promise<Array<{ id: string; email: string }>>;
      directoryComplete: boolean;
      writesWholeRecord?: boolean;
      batchLimit?: () => Promise<number>;
      getUser(id: string): Promise<{ id: string }>;
      deactivateUser(record: unknown): Promise<void>;
    };
    // The calibration keeps the vendor's pace as the run does (a burst of list pages would
    // meet Insightly's 429), and pauses let the window refill before the run, which starts
    // on a full window, as a fresh day's would.
    requestPacing.reset(new Pacer(new MemorySlotStore()));
    const paced = <T>(work: () => Promise<T>) =>
      requestPacing.step(surface.connection.ref, 'calibrate', work);
    const refill = () => new Promise((resolve) => setTimeout(resolve, surface.floorTime ? 1_500 : 0));
    const before = surface.requests().length;
    const users = await paced(() => connector.readDirectory());
    await refill();
    const listRead = surface.requests().length - before;
    const limit = connector.batchLimit
      ? await paced(() => (connector.batchLimit as () => Promise<number>)())
      : 1;
    // A person's own read is part of the floor where the list lacks part of the record
    // (InsightVM), or where the write sends the whole record back (Insightly, InsightVM): it
    // is read right before its write, as in a single run, never written from the older list.
    const ownRead = !connector.directoryComplete || connector.writesWholeRecord === true;
    const one = surface.requests().length;
    if (ownRead) await paced(() => connector.getUser(users.find((u) => u.email === leavers[0])?.id ?? ''));
    await refill();
    const readsPerPerson = ownRead ? surface.requests().length - one : 0;
    // What one write costs this vendor (InsightVM's user write is more than one request),
    // switching off an account that is not in the list.
    const staff = users.find((u) => u.email === stayers[0]);
    const w = surface.requests().length;
    if (staff) await paced(async () => connector.deactivateUser(await connector.getUser(staff.id)));
    await refill();
    const perWrite = surface.requests().length - w - (readsPerPerson || 1);
    const calibration = surface.requests().length;
    const writes = Math.ceil(PEOPLE / Math.max(1, limit)) * Math.max(1, perWrite);
    const reads = readsPerPerson * PEOPLE;
    const floor = 2 * listRead + writes + reads;

    surface.addWriteFaults();
    requestPacing.reset(new Pacer(new MemorySlotStore()));
    let retries = 0;
    const started = performance.now();
    const result = await runBulkLocally({
      connections: [surface.connection],
      emails: leavers,
      ...(surface.retryPauseMs === undefined ? {} : { retryPauseMs: surface.retryPauseMs }),
      onProgress: (event) => {
        if (event.phase === 'failed' && /RateLimited/.test(event.errorName ?? '')) retries++;
      },
    });
    const seconds = (performance.now() - started) / 1000;
    if (!result.ok)
      throw new Error(`${type}: the bulk run failed: ${result.error.name}: ${result.error.message}`);
    const sent = surface.requests().slice(calibration);
    const throttled = sent.filter((r) => r.status === 429).length;
    return {
      surface: type,
      requests: sent.length - throttled,
      floor,
      listRead,
      writes,
      reads,
      throttled,
      retries,
      failed: result.bulk.failedCount,
      deactivated: result.bulk.outcomes.deactivated ?? 0,
      seconds,
      ...(surface.floorTime ? { floorSeconds: surface.floorTime(floor) } : {}),
      note: surface.note,
    };
  } finally {
    requestPacing.reset();
    await surface.close();
  }
}

export async function run(): Promise<SectionResult> {
  const figures: Figures[] = [];
  for (const type of SURFACES) figures.push(await measure(type));
  const rows = figures.map((f) => [
    f.surface,
    f.requests,
    `${f.floor} (${f.listRead} + ${f.listRead} list, ${f.writes} writes${f.reads ? `, ${f.reads} reads` : ''})`,
    `${fixed(f.requests / f.floor, 2)}×`,
    fixed(f.requests / PEOPLE, 3),
    `${f.throttled} (${fixed((f.throttled / Math.max(1, f.requests)) * 100, 2)} %) / ${f.retries}`,
    f.failed,
    f.floorSeconds === undefined
      ? `${fixed(f.seconds, 1)} s`
      : `${fixed(f.seconds, 1)} s / ${fixed(f.floorSeconds, 1)} s`,
  ]);
  const gainsight = figures.find((f) => f.surface === 'gainsight');
  const aims = {
    gainsightUnder100: gainsight !== undefined && gainsight.requests < 100,
    within1_1: figures.every((f) => f.requests <= 1.1 * f.floor),
    throttledUnder1pc: figures.every((f) => f.throttled <= 0.01 * f.requests),
    noFailure: figures.every((f) => f.failed === 0 && f.deactivated === PEOPLE),
  };
  const met = (ok: boolean) => (ok ? 'met' : 'MISSED');
  return {
    title: `Bulk: ${PEOPLE} people per surface, each in a tenant of ${TENANT} users, at the vendors' documented rates`,
    columns: [
      'surface',
      'requests',
      'floor',
      'ratio',
      'per person',
      '429s (share) / state-machine retries',
      'failed',
      'wall / floor time',
    ],
    rows,
    json: { people: PEOPLE, tenant: TENANT, injected429s: INJECTED_429S, figures, aims },
    notes: [
      "Floor: one read of the user list to match everyone and one to verify (each as many pages as the vendor's largest page takes, measured by reading the list once before the run), one write a batch (Gainsight 50, SCIM /Bulk 1,000, else one a person), and each person's own read where the write needs it: the list lacks part of the record (InsightVM's grants), or the write sends the whole record back (Insightly, InsightVM), which is then made from a read right before it, as in a single run, never from the older list. Requests exclude the 429 answers; the calibration read is not counted.",
      `Above the floor: reading the list again when the read behind a write is older than 30 s (every write is sent within 30 s of a read that showed the account unchanged), the API key owner's read (Insightly, once), ServiceProviderConfig (SCIM, once), and the writes the state machine's Retry sends again after the ${INJECTED_429S} injected 429s.`,
      'Time floor: the floor requests at the documented rate (Insightly 10 a second; Gainsight 100 an hour, here 100 in 10 s, in whole windows: a 1,000-person run fits in the first). Surfaces without a documented rate show wall time only.',
      "FLATTERING: the sandboxes answer at once (no latency) on this machine; the Gainsight sandbox's windows are made to start where the pacer's do, and its run's Retry pauses are scaled 360 times, as its window is (a real hourly 429 waits 60 s, then 120 s). Not run: gainsight-scim (100 an hour and 1,000 a day: a thousand people cannot go through it in a day; use the Gainsight REST connection, 50 a request) and rapid7-platform (its API cannot switch an account off: a bulk run hands each person to a person's task).",
      `Aims: Gainsight 1,000 people in under 100 requests (${met(aims.gainsightUnder100)}); every surface within 1.1× its floor (${met(aims.within1_1)}); no 429 beyond 1 % (${met(aims.throttledUnder1pc)}); no failure (${met(aims.noFailure)}).`,
    ],
    summary: figures.map(
      (f) =>
        `bulk ${f.surface}: ${PEOPLE} people in ${f.requests} requests (${fixed(f.requests / f.floor, 2)}× floor ${f.floor}), ${f.throttled} 429s, ${f.failed} failed, ${fixed(f.seconds, 1)} s`,
    ),
  };
}
