/**
 * Pace: what the vendors' documented limits cost one person, now that a connection's limit is
 * counted in fixed windows as the vendors count (requests inside a window go at once, a step
 * reserves its requests together), with the sandboxes enforcing the same limits:
 *
 * 1. one person on every surface, in a fresh process and in a warm one, aim under 5 s;
 * 2. twenty Gainsight lookups in a row for people who have no account (REST and SCIM, at the
 *    real 100 an hour): none may fail for pacing.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { MemorySlotStore, Pacer, requestPacing } from '../lambdas/shared/pacing';
import { runLocally } from '../local/runner';
import {
  newWatch,
  onePerson,
  type PacingWatch,
  type PersonRun,
  requestsIn,
  SURFACES,
  throttledIn,
  watchedStore,
} from './pace-person';
import type { SectionResult } from './section';
import { fixed, LEAVER, startBenchSandboxes } from './support';

/** Wall time one person may take on every surface, sandboxes answering at once. */
const AIM_SECONDS = 5;
/** A vendor's answer time for the row that shows what latency adds. */
const REAL_LATENCY_MS = 150;
const NOBODY_LOOKUPS = 20;
/** The evenly spaced pacer this replaced: Gainsight's 100 an hour as one request every 36 s. */
const EVEN_SPACING_S = 36;

interface PersonRow {
  label: string;
  run: PersonRun;
  latencyMs: number;
  /** Node start to the result, for the fresh process. */
  processMs?: number;
}

export async function run(): Promise<SectionResult> {
  const person: PersonRow[] = [];
  const fresh = await freshProcess(0);
  person.push({
    label: 'fresh process, first run',
    run: fresh.run,
    latencyMs: 0,
    processMs: fresh.processMs,
  });
  person.push({ label: 'this process, first run', run: await onePerson(0), latencyMs: 0 });
  person.push({ label: 'this process, second run (warm)', run: await onePerson(0), latencyMs: 0 });
  person.push({
    label: `vendors answer after ${REAL_LATENCY_MS} ms`,
    run: await onePerson(REAL_LATENCY_MS),
    latencyMs: REAL_LATENCY_MS,
  });
  const lookups = await nobodyLookups();

  const rows: (string | number)[][] = [];
  for (const row of person) {
    const floor = floorSeconds(row.run, row.latencyMs);
    const seconds = row.run.wallMs / 1000;
    const failed = Object.entries(row.run.outcomes).filter(([, outcome]) => outcome !== 'deactivated');
    rows.push([
      `1 person: ${row.label}`,
      fixed(seconds, 2) +
        (row.processMs === undefined ? '' : ` (${fixed(row.processMs / 1000, 1)} from node start)`),
      fixed(floor, 2),
      `< ${AIM_SECONDS}: ${seconds < AIM_SECONDS ? 'met' : 'MISSED'}`,
      Object.values(row.run.requests).reduce((a, b) => a + b, 0),
      row.run.throttled,
      paced(row.run.pacing),
      failed.length === 0
        ? `all ${SURFACES.length} deactivated`
        : failed.map(([n, o]) => `${n}: ${o}`).join('; '),
    ]);
  }
  for (const l of lookups.surfaces) {
    rows.push([
      `${NOBODY_LOOKUPS} not-found lookups: ${l.name}`,
      fixed(lookups.wallMs / 1000, 2),
      '0.00',
      `no failure: ${l.failed === 0 && l.refusals === 0 ? 'met' : 'MISSED'}`,
      l.requests,
      l.throttled,
      paced(l.pacing),
      `${l.notFound} not-found, ${l.failed} failed (both surfaces in the same runs); then ${LEAVER}: ${l.leaver}`,
    ]);
  }

  const gainsightRequests = fresh.run.requests.gainsight ?? 0;
  const warm = person[2]?.run.wallMs ?? Number.NaN;
  const personAim = person.filter((r) => r.latencyMs === 0).every((r) => r.run.wallMs / 1000 < AIM_SECONDS);
  const allDeactivated = person.every((r) => Object.values(r.run.outcomes).every((o) => o === 'deactivated'));
  const lookupAim = lookups.surfaces.every((l) => l.failed === 0 && l.refusals === 0 && l.throttled === 0);

  return {
    title: `Pace: one person on all ${SURFACES.length} surfaces, and ${NOBODY_LOOKUPS} Gainsight lookups of nobody, at the vendors' documented limits`,
    columns: ['run', 'wall s', 'floor s', 'aim', 'requests', '429s', 'paced', 'outcome'],
    rows,
    json: {
      aimSeconds: AIM_SECONDS,
      person: person.map((r) => ({ ...r, floorSeconds: floorSeconds(r.run, r.latencyMs) })),
      nobodyLookups: lookups,
      aims: { personUnderAim: personAim, allDeactivated, lookupsNeverFailForPacing: lookupAim },
    },
    notes: [
      "Limits, in the sandboxes and in the connections' pacing alike: Insightly 10 requests a second; Gainsight REST " +
        'and SCIM 100 an hour and 1,000 a day, fixed windows. The other surfaces document none (no sandbox limit, no pacing).',
      `floor: what the vendor's answers alone cost along the slowest connection (its requests × the answer time). ` +
        "The limits themselves add nothing for one person: every surface's requests fit in its first window " +
        `(gainsight: ${gainsightRequests} of 100 an hour). With the evenly spaced pacer this replaced (one request every ` +
        `${EVEN_SPACING_S} s), the same person waited ${(gainsightRequests - 1) * EVEN_SPACING_S} s on Gainsight alone, ` +
        `and ${NOBODY_LOOKUPS} lookups ${(NOBODY_LOOKUPS - 1) * EVEN_SPACING_S} s, each wait beyond 5 s handed to the state machine's hourly retrier.`,
      'paced: slots handed out / reservations that waited in the step for the next window / reservations refused ' +
        '(handed to the state machine). A step reserves the requests it sends in the common case at once (lookup 1, ' +
        'read 1, deactivate 2: the read right before the write, and the write) and gives back the ones it did not use; ' +
        "an uncommon one (a SCIM lookup's second query, an OAuth token) takes a slot of its own.",
      'FLATTERING: the sandboxes run in this process and answer in 0 ms over loopback, so "1 person" rows are mostly ' +
        `the workflow's own overhead; the ${REAL_LATENCY_MS} ms row shows what a vendor's answer time adds (a real ` +
        'tenant may be slower, and a rapid7-platform task waits for a person: here the sandbox answers it at once). ' +
        "Pacing counts live in this process's memory; deployed, each reservation is a DynamoDB read and conditional " +
        'write (some milliseconds a step, not measured here).',
      "FLATTERING: each run starts on fresh sandboxes, so every window starts empty. A real Gainsight tenant's hour " +
        'is shared with every other client of the same access key, which offboard cannot count, and its windows ' +
        "start at the tenant's fixed time while ours start on the hour (UTC): at a window boundary the two may " +
        "disagree, and the vendor's 429 then goes to the hourly retrier.",
      `The fresh process runs this file's runner as a script (node --import tsx): its "from node start" figure ` +
        'includes transpiling the TypeScript, which a bundled Lambda does not pay; "wall" is the run alone.',
      `Aims: one person under ${AIM_SECONDS} s, fresh and warm (${personAim ? 'met' : 'MISSED'}), every surface ` +
        `deactivated (${allDeactivated ? 'met' : 'MISSED'}); Gainsight lookups of nobody never fail for pacing ` +
        `(${lookupAim ? 'met' : 'MISSED'}).`,
    ],
    summary: [
      `1 person on ${SURFACES.length} surfaces at documented limits: fresh process ${fixed(fresh.run.wallMs / 1000, 2)} s ` +
        `(${fixed(fresh.processMs / 1000, 1)} s from node start), warm ${fixed(warm / 1000, 2)} s, aim < ${AIM_SECONDS} s ` +
        `${personAim && allDeactivated ? 'met' : 'MISSED'}`,
      `${NOBODY_LOOKUPS} Gainsight not-found lookups at 100/h: ${lookups.surfaces
        .map((l) => `${l.name} ${l.failed} failed, ${l.throttled} 429s, ${l.refusals} paced refusals`)
        .join('; ')}`,
    ],
  };
}

/** The slowest connection's requests times the answer time: what latency alone costs. */
function floorSeconds(run: PersonRun, latencyMs: number): number {
  return (Math.max(0, ...Object.values(run.requests)) * latencyMs) / 1000;
}

const paced = (watch: PacingWatch) => `${watch.slots} / ${watch.waits} / ${watch.refusals}`;

/** One person in a new Node process: the first run that process makes. */
async function freshProcess(latencyMs: number): Promise<{ run: PersonRun; processMs: number }> {
  const script = fileURLToPath(new URL('./pace-person.ts', import.meta.url));
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--import', 'tsx', script, String(latencyMs)],
    {
      cwd: fileURLToPath(new URL('..', import.meta.url)),
      env: { ...process.env, POWERTOOLS_LOG_LEVEL: 'SILENT' },
      maxBuffer: 16 * 1024 * 1024,
    },
  );
  const line = stdout.trim().split('\n').at(-1) ?? '';
  const parsed = JSON.parse(line) as PersonRun & { sinceProcessStartMs: number };
  return { run: parsed, processMs: parsed.sinceProcessStartMs };
}

interface LookupSurface {
  name: string;
  notFound: number;
  failed: number;
  requests: number;
  throttled: number;
  refusals: number;
  pacing: PacingWatch;
  /** The outcome for the leaver, looked up after the others. */
  leaver: string;
}

/**
 * `NOBODY_LOOKUPS` people who have no account, one after another, on Gainsight REST and SCIM
 * at their documented limits; then the leaver, who has one.
 */
async function nobodyLookups(): Promise<{ wallMs: number; surfaces: LookupSurface[] }> {
  const connections = [
    { name: 'gainsight', type: 'gainsight' as const },
    { name: 'gainsight-scim', type: 'gainsight-scim' as const },
  ];
  const started = await startBenchSandboxes(connections, 0, 'documented');
  const watches = new Map<string, PacingWatch>();
  requestPacing.reset(new Pacer(watchedStore(new MemorySlotStore(), watches)));
  const outcomes = new Map<string, string[]>(connections.map((c) => [c.name, []]));
  try {
    const refs = [...started.sandboxes.values()].map((s) => s.connection);
    const t0 = performance.now();
    for (let i = 0; i < NOBODY_LOOKUPS; i++) {
      const email = `nobody-${String(i).padStart(2, '0')}@example.com`;
      const result = await runLocally({ connections: refs, input: { email, dryRun: false } });
      for (const c of connections) outcomes.get(c.name)?.push(outcomeOf(result, c.name));
    }
    const wallMs = performance.now() - t0;
    const requests = requestsIn(started.sandboxes);
    const throttled = new Map(
      connections.map((c) => {
        const sandbox = started.sandboxes.get(c.name);
        return [c.name, sandbox ? throttledIn(new Map([[c.name, sandbox]])) : 0];
      }),
    );
    const pacing = new Map(connections.map((c) => [c.name, { ...(watches.get(c.name) ?? newWatch()) }]));
    const leaver = await runLocally({ connections: refs, input: { email: LEAVER, dryRun: false } });
    const surfaces = connections.map((c): LookupSurface => {
      const list = outcomes.get(c.name) ?? [];
      const watch = pacing.get(c.name) ?? newWatch();
      return {
        name: c.name,
        notFound: list.filter((o) => o === 'not-found').length,
        failed: list.filter((o) => o !== 'not-found').length,
        requests: requests[c.name] ?? 0,
        throttled: throttled.get(c.name) ?? 0,
        refusals: watch.refusals,
        pacing: watch,
        leaver: outcomeOf(leaver, c.name),
      };
    });
    return { wallMs, surfaces };
  } finally {
    requestPacing.reset();
    await started.close();
  }
}

function outcomeOf(result: Awaited<ReturnType<typeof runLocally>>, name: string): string {
  if (!result.ok) return `execution failed: ${result.error.name}`;
  const c = result.summary.connections.find((x) => x.name === name);
  return c?.error ? `${c.outcome} (${c.error.name})` : (c?.outcome ?? 'none');
}
