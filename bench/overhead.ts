/**
 * Workflow overhead: one person across the six demo surfaces, each vendor answering every
 * request after 50 ms. The floor is the critical path of vendor calls: the connection with
 * the most sequential requests, times 50 ms (connections run in parallel, a connection's
 * requests one after another). The wall time of runLocally over that floor is the overhead
 * of everything else; it is split along the critical connection to show what dominates.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { StateMachine, type StateMachineDefinition } from 'aws-local-stepfunctions';
import { DEMO_CONFIG } from '../cli/main';
import type { ConnectionType } from '../lambdas/shared/connections';
import type { ProgressEvent } from '../local/runner';
import { OFFBOARD_USER_ASL, runLocally } from '../local/runner';
import type { SectionResult } from './section';
import { actingPerson, fixed, LEAVER, median, startBenchSandboxes } from './support';

const LATENCY_MS = 50;
const RUNS = 5;
const AIM = 1.2;

interface Breakdown {
  /** runLocally called → the critical connection's first step starts (Normalize, Map entry). */
  headMs: number;
  /** The critical connection's requests × latency. */
  vendorLatencyMs: number;
  /**
   * Time inside its step handlers beyond the vendor latency: their own work (HTTP client, zod,
   * JSON), the sandboxes' (same process), and waiting for the event loop the connections share.
   */
  inHandlersMs: number;
  /** Between its steps: from one handler's return to the next one's call (the interpreter). */
  betweenStepsMs: number;
  /** Its last step returns → runLocally resolves (Pass state, Map end, Summarize). */
  tailMs: number;
}

interface RunResult {
  wallMs: number;
  requestsByConnection: Record<string, number>;
  critical: string;
  criticalPathMs: number;
  ratio: number;
  steps: number;
  breakdown: Breakdown;
  /** Handlers' own time per connection (sum of started → succeeded). */
  handlerMsByConnection: Record<string, number>;
}

export async function run(): Promise<SectionResult> {
  const connections = DEMO_CONFIG.connections.map((c) => ({ name: c.name, type: c.type }));
  // Measured apart, interleaved with the runs (same machine load): what building the
  // StateMachine costs, as runLocally does on every call.
  const validations: number[] = [];
  // First, as a user meets it: one run in a new Node process (nothing loaded, nothing warm).
  const fresh = await freshProcessRun();
  const runs: RunResult[] = [];
  for (let i = 0; i < RUNS; i++) {
    for (let j = 0; j < 3; j++) validations.push(timeValidation());
    runs.push(await once(connections));
  }

  const med = (f: (r: RunResult) => number) => median(runs.map(f));

  // Control: the critical connection alone (same latency), to tell its handlers' own cost from
  // waiting on the one event loop that six connections and six sandboxes share in this process.
  const criticalName = runs[0]?.critical ?? '';
  const criticalType = connections.find((c) => c.name === criticalName)?.type;
  const solo: RunResult[] = [];
  if (criticalType)
    for (let i = 0; i < 3; i++) solo.push(await once([{ name: criticalName, type: criticalType }]));
  const soloInHandlersPerStep = median(solo.map((r) => r.breakdown.inHandlersMs / Math.max(1, r.steps)));
  const rows: (string | number)[][] = runs.map((r, i) => [
    `${i + 1}`,
    Math.round(r.wallMs),
    `${r.critical} ${r.requestsByConnection[r.critical]} × ${LATENCY_MS}`,
    Math.round(r.criticalPathMs),
    fixed(r.ratio, 2),
    Math.round(r.breakdown.headMs),
    Math.round(r.breakdown.inHandlersMs),
    Math.round(r.breakdown.betweenStepsMs),
    Math.round(r.breakdown.tailMs),
  ]);
  const medianRatio = med((r) => r.ratio);
  const m: Breakdown = {
    headMs: med((r) => r.breakdown.headMs),
    vendorLatencyMs: med((r) => r.breakdown.vendorLatencyMs),
    inHandlersMs: med((r) => r.breakdown.inHandlersMs),
    betweenStepsMs: med((r) => r.breakdown.betweenStepsMs),
    tailMs: med((r) => r.breakdown.tailMs),
  };
  rows.unshift([
    'fresh process',
    Math.round(fresh.wallMs),
    `${fresh.critical} ${fresh.requestsByConnection[fresh.critical]} × ${LATENCY_MS}`,
    Math.round(fresh.criticalPathMs),
    fixed(fresh.ratio, 2),
    Math.round(fresh.breakdown.headMs),
    Math.round(fresh.breakdown.inHandlersMs),
    Math.round(fresh.breakdown.betweenStepsMs),
    Math.round(fresh.breakdown.tailMs),
  ]);
  rows.push([
    'median (warm)',
    Math.round(med((r) => r.wallMs)),
    '',
    Math.round(med((r) => r.criticalPathMs)),
    fixed(medianRatio, 2),
    Math.round(m.headMs),
    Math.round(m.inHandlersMs),
    Math.round(m.betweenStepsMs),
    Math.round(m.tailMs),
  ]);

  const overheadMs = med((r) => r.wallMs - r.criticalPathMs);
  const validationMs = median(validations);
  const parts: Array<[string, number]> = [
    [
      'ASL validation: once per process (runLocally keeps the validated state machine), so only a first run pays it',
      Math.min(validationMs, m.headMs),
    ],
    [
      'the rest of the head (reading the ASL, Normalize, entering the Map)',
      Math.max(0, m.headMs - validationMs),
    ],
    [
      "inside the step handlers beyond the 50 ms answers (their own work, the sandboxes' in this same process, and waiting for the event loop all connections share)",
      m.inHandlersMs,
    ],
    ['between steps, in aws-local-stepfunctions (Choice states, paths, task wrapping)', m.betweenStepsMs],
    ['after the last step (Pass, end of the Map, Summarize)', m.tailMs],
  ];
  const dominant = [...parts].sort((a, b) => b[1] - a[1])[0] as [string, number];
  const ratioWithoutValidation = med((r) => (r.wallMs - validationMs) / r.criticalPathMs);
  const steps = median(runs.map((r) => r.steps));
  const requestsSummary = Object.entries(runs[0]?.requestsByConnection ?? {})
    .map(([name, n]) => `${name} ${n}`)
    .join(', ');

  return {
    title: `Workflow overhead: one person on the ${connections.length} demo surfaces, vendors answer after ${LATENCY_MS} ms (${RUNS} runs)`,
    columns: [
      'run',
      'wall ms',
      'critical path',
      'floor ms',
      'wall/floor',
      'head ms',
      'in handlers ms',
      'between steps ms',
      'tail ms',
    ],
    rows,
    json: {
      latencyMsPerRequest: LATENCY_MS,
      aim: AIM,
      medianRatio,
      medianWallMs: med((r) => r.wallMs),
      medianOverheadMs: overheadMs,
      aslValidationMs: validations,
      medianAslValidationMs: validationMs,
      medianRatioWithoutAslValidation: ratioWithoutValidation,
      medianBreakdownMs: m,
      control: {
        what: `the critical connection (${criticalName}) alone, ${solo.length} runs`,
        medianInHandlersMsPerStep: soloInHandlersPerStep,
        runs: solo,
      },
      runs,
    },
    notes: [
      `Each run: fresh sandboxes (one per surface, ${LATENCY_MS} ms before every answer), runLocally with the real ` +
        'ASL and handlers, the person task answered at once; wall = the runLocally call. Requests per connection ' +
        `(token requests included, they are sequential too): ${requestsSummary}.`,
      `floor = the critical path of vendor calls: the most sequential requests of any connection × ${LATENCY_MS} ms. ` +
        'Along that connection: head + its vendor latency + in handlers + between steps + tail = wall, exactly. ' +
        `ASL validation is measured apart: \`new StateMachine(definition, { validationOptions })\` ` +
        `as runLocally calls it, 3 times before each run, ${fixed(validationMs, 0)} ms median of ${validations.length} ` +
        `(${fixed(Math.min(...validations), 0)}–${fixed(Math.max(...validations), 0)}); the rest of the head is head ` +
        'minus that median (0 when the difference is within noise).',
      `Median wall/floor ${fixed(medianRatio, 2)} against an aim of under ${AIM}: ` +
        `${medianRatio < AIM ? 'met' : 'NOT met'}. The ${Math.round(overheadMs)} ms over the floor: ${parts
          .map(([what, ms]) => `${Math.round(ms)} ms ${what}`)
          .join('; ')} (medians of each part: they need not add up to the median total).`,
      ...(medianRatio < AIM
        ? []
        : [
            `What dominates: ${dominant[0]} (${Math.round(dominant[1])} ms, ${Math.round(
              (dominant[1] / overheadMs) * 100,
            )}% of the overhead). Without ASL validation the ratio would be ${fixed(ratioWithoutValidation, 2)}. ` +
              'Per step of the critical connection ' +
              `(${steps} steps): ${fixed(m.inHandlersMs / Math.max(1, steps), 1)} ms in handlers beyond the ` +
              `vendor's answer (${fixed(soloInHandlersPerStep, 1)} ms when ${criticalName} runs alone: the rest is ` +
              `waiting for the shared event loop), ${fixed(m.betweenStepsMs / Math.max(1, steps - 1), 1)} ms between ` +
              "steps: aws-local-stepfunctions' per-state cost is not what dominates.",
          ]),
    ],
    summary: [
      `wall/floor ${fixed(medianRatio, 2)} warm (aim < ${AIM}: ${medianRatio < AIM ? 'met' : 'not met'}), ` +
        `${fixed(fresh.ratio, 2)} in a fresh process (its first run: modules, connections and the ASL cold), ` +
        `median wall ${Math.round(med((r) => r.wallMs))} ms over a ${Math.round(med((r) => r.criticalPathMs))} ms floor; ` +
        `largest overhead: ${dominant[0].split(/[:(]/)[0]?.trim()} ${Math.round(dominant[1])} ms`,
    ],
  };
}

/** One run in a new Node process (this file as a script): the first run a user meets. */
async function freshProcessRun(): Promise<RunResult> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(import.meta.url), '--once'],
    {
      cwd: fileURLToPath(new URL('..', import.meta.url)),
      env: { ...process.env, POWERTOOLS_LOG_LEVEL: 'SILENT' },
      maxBuffer: 16 * 1024 * 1024,
    },
  );
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as RunResult;
}

// As a script (`--once`): one run, its figures as a JSON line (freshProcessRun reads it).
if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv.includes('--once')) {
  const result = await once(DEMO_CONFIG.connections.map((c) => ({ name: c.name, type: c.type })));
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
}

async function once(connections: Array<{ name: string; type: ConnectionType }>): Promise<RunResult> {
  const started = await startBenchSandboxes(connections, LATENCY_MS);
  try {
    const { sandboxes } = started;
    const events: Array<ProgressEvent & { at: number }> = [];
    const t0 = performance.now();
    const result = await runLocally({
      connections: [...sandboxes.values()].map((s) => s.connection),
      input: { email: LEAVER, dryRun: false },
      askPerson: actingPerson((name) => sandboxes.get(name)),
      onProgress: (event) => events.push({ ...event, at: performance.now() }),
    });
    const t1 = performance.now();
    if (!result.ok)
      throw new Error(`overhead: the run failed: ${result.error.name}: ${result.error.message}`);
    const bad = result.summary.connections.filter((c) => c.outcome !== 'deactivated');
    if (bad.length > 0) {
      throw new Error(
        `overhead: not all deactivated: ${bad.map((c) => `${c.name} ${c.outcome}`).join(', ')}`,
      );
    }

    const requestsByConnection = Object.fromEntries(
      [...sandboxes].map(([name, s]) => [name, s.requests.length]),
    );
    const lastEventAt = (name: string) =>
      Math.max(...events.filter((e) => e.connection === name).map((e) => e.at));
    // The critical connection: most requests; on a tie, the one that finished last.
    const critical = Object.keys(requestsByConnection).sort(
      (a, b) =>
        (requestsByConnection[b] ?? 0) - (requestsByConnection[a] ?? 0) || lastEventAt(b) - lastEventAt(a),
    )[0] as string;
    const criticalPathMs = (requestsByConnection[critical] ?? 0) * LATENCY_MS;

    const handlerMs = (name: string) => {
      const mine = events.filter((e) => e.connection === name);
      let total = 0;
      let open: number | undefined;
      for (const e of mine) {
        if (e.phase === 'started') open = e.at;
        else if (open !== undefined) {
          total += e.at - open;
          open = undefined;
        }
      }
      return total;
    };
    const mine = events.filter((e) => e.connection === critical);
    const first = mine[0]?.at ?? t0;
    const last = mine.at(-1)?.at ?? t1;
    const inHandlers = handlerMs(critical);
    const breakdown: Breakdown = {
      headMs: first - t0,
      vendorLatencyMs: criticalPathMs,
      inHandlersMs: inHandlers - criticalPathMs,
      betweenStepsMs: last - first - inHandlers,
      tailMs: t1 - last,
    };
    const wallMs = t1 - t0;
    return {
      wallMs,
      requestsByConnection,
      critical,
      criticalPathMs,
      ratio: wallMs / criticalPathMs,
      steps: mine.filter((e) => e.phase === 'started').length,
      breakdown,
      handlerMsByConnection: Object.fromEntries(
        Object.keys(requestsByConnection).map((name) => [name, Math.round(handlerMs(name))]),
      ),
    };
  } finally {
    await started.close();
  }
}

/**
 * How long `new StateMachine(definition, { validationOptions })` takes, as runLocally builds it
 * on every call: aws-local-stepfunctions validates the definition with asl-validator then.
 */
function timeValidation(): number {
  const definition = JSON.parse(readFileSync(OFFBOARD_USER_ASL, 'utf8')) as StateMachineDefinition;
  const t = performance.now();
  new StateMachine(definition, { validationOptions: { checkArn: true, checkPaths: true } });
  return performance.now() - t;
}
