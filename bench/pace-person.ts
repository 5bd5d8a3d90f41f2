/**
 * One person on every surface at the vendors' documented limits: each sandbox enforces its
 * vendor's limit and each connection is paced by it, as for the real vendor (see
 * `BenchLimits`). bench/pace.ts runs it in its own process and, through this file as a
 * script, in a fresh one: `node --import tsx bench/pace-person.ts <latencyMs>` prints one
 * JSON line.
 */
import { pathToFileURL } from 'node:url';
import { CONNECTION_TYPES, type ConnectionType } from '../lambdas/shared/connections';
import {
  MemorySlotStore,
  Pacer,
  requestPacing,
  type SlotOffer,
  type SlotStore,
} from '../lambdas/shared/pacing';
import { runLocally } from '../local/runner';
import { actingPerson, type BenchSandbox, LEAVER, startBenchSandboxes } from './support';

/** What the pacer did during a run. */
export interface PacingWatch {
  /** Slots handed out (a step's reservation counts its slots). */
  slots: number;
  /** Reservations that waited for a later window inside the step. */
  waits: number;
  waitedMs: number;
  /** Reservations refused (handed to the state machine as a rate-limit error). */
  refusals: number;
}

/** A store that tells `watches` (by connection) what it handed out. */
export function watchedStore(store: SlotStore, watches: Map<string, PacingWatch>): SlotStore {
  const watchOf = (key: string): PacingWatch => {
    const watch = watches.get(key) ?? newWatch();
    watches.set(key, watch);
    return watch;
  };
  return {
    async take(key, windows, count, now, maxWaitMs): Promise<SlotOffer> {
      const watch = watchOf(key);
      const offer = await store.take(key, windows, count, now, maxWaitMs);
      if (!offer.taken) watch.refusals++;
      else {
        watch.slots += count;
        if (offer.at > now) {
          watch.waits++;
          watch.waitedMs += offer.at - now;
        }
      }
      return offer;
    },
    giveBack: (key, windows, count, at) => {
      watchOf(key).slots -= count;
      return store.giveBack(key, windows, count, at);
    },
  };
}

export const newWatch = (): PacingWatch => ({ slots: 0, waits: 0, waitedMs: 0, refusals: 0 });

/** One run of one person across every surface. */
export interface PersonRun {
  /** The runLocally call, sandboxes already listening. */
  wallMs: number;
  /** Outcome per connection (named by type). */
  outcomes: Record<string, string>;
  /** Requests each sandbox received, OAuth token requests included. */
  requests: Record<string, number>;
  /** Answers 429 across every sandbox. */
  throttled: number;
  pacing: PacingWatch;
}

/** Offboards the demo leaver once on a fresh sandbox of every connection type. */
export async function onePerson(latencyMs: number): Promise<PersonRun> {
  const connections = CONNECTION_TYPES.map((type) => ({ name: type, type }));
  const started = await startBenchSandboxes(connections, latencyMs, 'documented');
  const watches = new Map<string, PacingWatch>();
  requestPacing.reset(new Pacer(watchedStore(new MemorySlotStore(), watches)));
  try {
    const sandboxes = started.sandboxes;
    const t0 = performance.now();
    const result = await runLocally({
      connections: [...sandboxes.values()].map((s) => s.connection),
      input: { email: LEAVER, dryRun: false },
      askPerson: actingPerson((name) => sandboxes.get(name)),
    });
    const wallMs = performance.now() - t0;
    const outcomes: Record<string, string> = {};
    if (result.ok) {
      for (const c of result.summary.connections) {
        outcomes[c.name] = c.error ? `${c.outcome} (${c.error.name})` : c.outcome;
      }
    } else {
      for (const { name } of connections) outcomes[name] = `execution failed: ${result.error.name}`;
    }
    const pacing = newWatch();
    for (const watch of watches.values()) {
      pacing.slots += watch.slots;
      pacing.waits += watch.waits;
      pacing.waitedMs += watch.waitedMs;
      pacing.refusals += watch.refusals;
    }
    return { wallMs, outcomes, throttled: throttledIn(sandboxes), requests: requestsIn(sandboxes), pacing };
  } finally {
    requestPacing.reset();
    await started.close();
  }
}

export function requestsIn(sandboxes: ReadonlyMap<string, BenchSandbox>): Record<string, number> {
  return Object.fromEntries([...sandboxes].map(([name, s]) => [name, s.requests.length]));
}

export function throttledIn(sandboxes: ReadonlyMap<string, BenchSandbox>): number {
  return [...sandboxes.values()].reduce((n, s) => n + s.requests.filter((r) => r.status === 429).length, 0);
}

/** The surfaces, in the order of the tables. */
export const SURFACES: readonly ConnectionType[] = CONNECTION_TYPES;

// As a script: one run in this (fresh) process, and how long the process took to get there.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const latencyMs = Number(process.argv[2] ?? 0);
  const run = await onePerson(latencyMs);
  // performance.now() counts from the process's start: node, tsx, every import, the sandboxes.
  process.stdout.write(`${JSON.stringify({ ...run, sinceProcessStartMs: performance.now() })}\n`);
}
