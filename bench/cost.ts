/**
 * State transitions per execution and the AWS cost of one offboarding of N connections
 * (Standard Workflows). The state machine is offboard-user.asl.json run by
 * aws-local-stepfunctions, as local/runner.ts runs it, but built here so that its event log
 * can be read: transitions are counted from the events, and every Task state's handler
 * invocation is timed, against sandboxes that answer each request after a fixed 150 ms.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { StateMachine, type StateMachineDefinition } from 'aws-local-stepfunctions';
import { DEMO_CONFIG } from '../cli/main';
import type { ConnectionRef, ConnectionType } from '../lambdas/shared/connections';
import { ledgerEntries } from '../lambdas/shared/ledger';
import { normalizeRequest } from '../lambdas/shared/request';
import type { SecretResolver } from '../lambdas/shared/secrets';
import { runStep, type StepEnvironment } from '../lambdas/shared/steps';
import { type OffboardSummary, summarize } from '../lambdas/shared/summary';
import { CONNECTOR_FACTORIES, localRefs, OFFBOARD_USER_ASL } from '../local/runner';
import { SqliteLedger } from '../local/sqlite-ledger';
import type { SectionResult } from './section';
import {
  ALREADY_INACTIVE,
  type BenchSandbox,
  fixed,
  LEAVER,
  median,
  NOBODY,
  startBenchSandboxes,
} from './support';

/** Prices used, as read; us-east-1. */
export const PRICES = {
  stepFunctionsStandardPerTransition: {
    usd: 0.025 / 1000,
    as: '$0.025 per 1,000 state transitions (Standard Workflows, us-east-1)',
    source: 'https://aws.amazon.com/step-functions/pricing/',
    read: '2026-11-23',
  },
  lambdaArmPerGbSecond: {
    usd: 0.0000133334,
    as: '$0.0000133334 per GB-second (arm64, us-east-1, first pricing tier)',
    source: 'https://aws.amazon.com/lambda/pricing/',
    read: '2026-11-23',
  },
  lambdaPerRequest: {
    usd: 0.2 / 1_000_000,
    as: '$0.20 per 1M requests',
    source: 'https://aws.amazon.com/lambda/pricing/',
    read: '2026-11-23',
  },
} as const;

/** Every function of the stack has 256 MB (lib/constructs/offboard-function.ts). */
const MEMORY_GB = 256 / 1024;
/** Fixed delay each sandbox adds before every answer: an assumption, not a vendor's figure. */
const LATENCY_MS = 150;

const TASK_STATES = [
  'Normalize',
  'Claim the termination',
  'Lookup',
  'GetRecord',
  'Deactivate',
  'Verify',
  // Only when a write or its verification failed: a fresh read decides the outcome.
  'Settle',
  'Ask a person',
  'Record outcomes',
  'Summarize',
  'Publish the result',
  // The safety brake: one count a real offboarding; the rest only while it is paused.
  'Count toward the brake',
  "Wait for the brake's release",
  'Note the release',
  'Note the refusal',
  // Reactivation's states: not on an offboarding's path.
  'Find what was switched off',
  'Reactivate',
  'Verify reactivated',
];
/** States every console-started execution enters once, whatever its connections. */
const FIXED_STATES = [
  'Normalize',
  'From the HR system?',
  'Effective later?',
  'Reactivation?',
  'Counts toward the brake?',
  'Count toward the brake',
  'Brake open?',
  'Offboard connections',
  'Record outcomes',
  'Summarize',
  'Publish the result',
  'Evidence kept?',
  'Done',
];
/** Task states that are Lambda invocations (Ask a person invokes task-notify with a task token). */
const LAMBDA_STATES = new Set([
  'Normalize',
  'Count toward the brake',
  'Ask a person',
  'Lookup',
  'GetRecord',
  'Deactivate',
  'Verify',
  'Settle',
  'Record outcomes',
  'Summarize',
]);

interface Scenario {
  n: number;
  mix: string;
  connections: Array<{ name: string; type: ConnectionType }>;
}

function scenarios(): Scenario[] {
  const demo = DEMO_CONFIG.connections.map((c) => ({ name: c.name, type: c.type }));
  const scimApps = Array.from({ length: 20 - demo.length }, (_, i) => ({
    name: `scim-app-${String(i + 1).padStart(2, '0')}`,
    type: 'scim' as const,
  }));
  return [
    { n: 1, mix: 'insightly', connections: [{ name: 'insightly', type: 'insightly' }] },
    { n: demo.length, mix: 'the demo surfaces', connections: demo },
    {
      n: demo.length + scimApps.length,
      mix: `demo surfaces + ${scimApps.length} scim apps`,
      connections: [...demo, ...scimApps],
    },
  ];
}

interface Execution {
  summary: OffboardSummary;
  transitions: number;
  entered: Record<string, number>;
  retries: number;
  invocations: Record<string, number[]>;
  wallMs: number;
}

export async function run(): Promise<SectionResult> {
  checkTaskStates();

  // Transitions per connection, by path: one connection, no latency, each outcome.
  const paths: Array<{ path: string; type: ConnectionType; email: string; dryRun: boolean }> = [
    { path: 'deactivated (API write)', type: 'scim', email: LEAVER, dryRun: false },
    { path: 'deactivated (person task)', type: 'rapid7-platform', email: LEAVER, dryRun: false },
    { path: 'already-inactive', type: 'scim', email: ALREADY_INACTIVE, dryRun: false },
    { path: 'would-deactivate', type: 'scim', email: LEAVER, dryRun: true },
    { path: 'not-found', type: 'scim', email: NOBODY, dryRun: false },
  ];
  const perPath: Array<{ path: string; outcome: string; transitions: number; states: string[] }> = [];
  let fixedTransitions: number | undefined;
  for (const p of paths) {
    const e = await execute([{ name: 'one', type: p.type }], p.email, p.dryRun, 0);
    const states = Object.keys(e.entered).filter((s) => !FIXED_STATES.includes(s));
    const fixedPart = FIXED_STATES.reduce((n, s) => n + (e.entered[s] ?? 0), 0);
    fixedTransitions ??= fixedPart;
    perPath.push({
      path: p.path,
      outcome: e.summary.connections[0]?.outcome ?? '?',
      transitions: e.transitions - fixedPart,
      states,
    });
  }

  // Cost per offboarding: every connection deactivated, vendors 150 ms away.
  const measured: Array<{ scenario: Scenario; e: Execution; cost: ReturnType<typeof price> }> = [];
  for (const scenario of scenarios()) {
    const e = await execute(scenario.connections, LEAVER, false, LATENCY_MS);
    const bad = e.summary.connections.filter((c) => c.outcome !== 'deactivated');
    if (bad.length > 0) {
      throw new Error(
        `cost: N=${scenario.n}: not all deactivated: ${bad.map((c) => `${c.name} ${c.outcome}`).join(', ')}`,
      );
    }
    measured.push({ scenario, e, cost: price(e) });
  }

  const usd = (v: number, d = 6) => `$${v.toFixed(d)}`;
  const rows = measured.map(({ scenario, e, cost }) => [
    scenario.n,
    scenario.mix,
    e.transitions,
    cost.lambdaInvocations,
    Math.round(cost.billedMs),
    fixed(cost.gbSeconds, 3),
    usd(cost.stepFunctionsUsd),
    usd(cost.lambdaUsd),
    usd(cost.totalUsd),
    usd(cost.totalUsd * 1000, 2),
  ]);

  const stepStats: Record<string, { invocations: number; medianMs: number }> = {};
  for (const state of TASK_STATES.filter((s) => LAMBDA_STATES.has(s))) {
    const all = measured.flatMap(({ e }) => e.invocations[state] ?? []);
    if (all.length > 0) stepStats[state] = { invocations: all.length, medianMs: round(median(all), 1) };
  }
  const last = measured.at(-1);

  return {
    title: `AWS cost of one offboarding, Standard Workflows (vendors answer after ${LATENCY_MS} ms)`,
    columns: [
      'N',
      'connections',
      'transitions',
      'Lambda inv.',
      'billed ms',
      'GB-s',
      'Step Functions',
      'Lambda',
      'per offboarding',
      'per 1,000',
    ],
    rows,
    json: {
      prices: PRICES,
      memoryMB: 256,
      latencyMsPerRequest: LATENCY_MS,
      transitionRule:
        'one billed transition per state entered (StateEntered events, Map iterations included) plus one per retry (StateRetried)',
      fixedTransitionsPerExecution: fixedTransitions,
      transitionsPerConnectionByPath: perPath,
      handlerDurationMedianMsByState: stepStats,
      scenarios: measured.map(({ scenario, e, cost }) => ({
        n: scenario.n,
        connections: scenario.connections,
        transitions: e.transitions,
        enteredByState: e.entered,
        retries: e.retries,
        wallMs: round(e.wallMs, 0),
        invocationsMsByState: Object.fromEntries(
          Object.entries(e.invocations).map(([s, v]) => [s, v.map((x) => round(x, 1))]),
        ),
        ...cost,
      })),
    },
    notes: [
      `Transitions are counted from the execution's events: ${fixedTransitions} per execution (${FIXED_STATES.join(', ')}) plus, per connection: ${perPath.map((p) => `${p.path} ${p.transitions}`).join(', ')}. ` +
        'Each retry would add one (none happened here). Step Functions bills every state entered, Choice and Pass included.',
      `Lambda duration: each handler invocation timed in-process with every vendor request answered after a fixed ` +
        `${LATENCY_MS} ms (an assumption: real vendors are slower or faster, and dominate the figure), billed per ` +
        'invocation rounded up to 1 ms, at 256 MB. Median per step: ' +
        Object.entries(stepStats)
          .map(([s, v]) => `${s} ${v.medianMs} ms`)
          .join(', ') +
        '. Handler bodies are runStep / normalizeRequest / summarize (lambdas/shared), which the deployed handlers wrap ' +
        "in middy + Powertools logger; CPU time is this machine's, not a 256 MB arm64 share of a core.",
      `Prices: Step Functions ${PRICES.stepFunctionsStandardPerTransition.as}; Lambda ${PRICES.lambdaArmPerGbSecond.as} ` +
        `and ${PRICES.lambdaPerRequest.as}. Sources: ${PRICES.stepFunctionsStandardPerTransition.source}, ` +
        `${PRICES.lambdaArmPerGbSecond.source}, read ${PRICES.lambdaArmPerGbSecond.read}. No free tier applied.`,
      "Not included: cold starts (a cold function adds its init, see the bundles section), the person task's " +
        "DynamoDB items, SNS publish and e-mail, the brake count's DynamoDB read and conditional write, " +
        'Secrets Manager (one read per connection per warm function, cached 300 s), CloudWatch ' +
        'Logs (the state machine logs at level ALL) and X-Ray.',
      'There is no Express variant (not built): Express workflows run for at most 5 minutes and do not support the ' +
        ".waitForTaskToken callback, while a person task waits up to 7 days and Gainsight's hourly-limit retries " +
        'span 75 minutes. Standard fits, and at these volumes its price is a fraction of a cent per offboarding.',
    ],
    summary: last
      ? [
          `N=${last.scenario.n}: ${last.e.transitions} transitions, ${usd(last.cost.totalUsd)} per offboarding ` +
            `(${measured.map(({ scenario, cost }) => `N=${scenario.n} ${usd(cost.totalUsd)}`).join(', ')}); ` +
            `transitions = ${fixedTransitions} + ${perPath[0]?.transitions} per deactivated connection; ` +
            `Step Functions is ${Math.round((last.cost.stepFunctionsUsd / last.cost.totalUsd) * 100)}% of the cost`,
        ]
      : [],
  };
}

function price(e: Execution) {
  let lambdaInvocations = 0;
  let billedMs = 0;
  for (const [state, durations] of Object.entries(e.invocations)) {
    if (!LAMBDA_STATES.has(state)) continue;
    lambdaInvocations += durations.length;
    for (const ms of durations) billedMs += Math.max(1, Math.ceil(ms));
  }
  const gbSeconds = (billedMs / 1000) * MEMORY_GB;
  const stepFunctionsUsd = e.transitions * PRICES.stepFunctionsStandardPerTransition.usd;
  const lambdaUsd =
    gbSeconds * PRICES.lambdaArmPerGbSecond.usd + lambdaInvocations * PRICES.lambdaPerRequest.usd;
  return {
    lambdaInvocations,
    billedMs,
    gbSeconds,
    stepFunctionsUsd,
    lambdaUsd,
    totalUsd: stepFunctionsUsd + lambdaUsd,
  };
}

/**
 * One execution of the ASL with the Task states overridden as local/runner.ts does
 * (handlers called in-process, payloads through a JSON round trip, errors shaped like
 * lambda:invoke's), each invocation timed, and the event log read.
 */
async function execute(
  connections: Array<{ name: string; type: ConnectionType }>,
  email: string,
  dryRun: boolean,
  latencyMs: number,
): Promise<Execution> {
  const started = await startBenchSandboxes(connections, latencyMs);
  try {
    const sandboxes = started.sandboxes;
    const refs: ConnectionRef[] = localRefs([...sandboxes.values()].map((s) => s.connection));
    const secrets = new Map([...sandboxes].map(([name, s]) => [name, s.connection.secret]));
    const resolveSecret: SecretResolver = async (c) => secrets.get(c.name);
    // The write-ahead entry goes to a ledger in memory: its cost is a DynamoDB write, not timed here.
    const ledger = SqliteLedger.inMemory();
    const environment: StepEnvironment = {
      connections: () => refs,
      resolveSecret,
      ledger: () => ledger,
      blobs: ledger.blobs,
    };

    const invocations: Record<string, number[]> = {};
    const record = (state: string, ms: number) => {
      invocations[state] = [...(invocations[state] ?? []), ms];
    };
    const timed =
      (state: string, body: (payload: never) => unknown | Promise<unknown>) => async (input: unknown) => {
        const payload = (input as { Payload?: unknown }).Payload ?? null;
        const t = performance.now();
        try {
          const event = JSON.parse(JSON.stringify(payload)) as never;
          const result = await body(event);
          return { Payload: JSON.parse(JSON.stringify(result ?? null)) };
        } catch (error) {
          const e = error as Error;
          const wrapped = new Error(JSON.stringify({ errorType: e.name, errorMessage: e.message }));
          wrapped.name = e.name || 'Error';
          throw wrapped;
        } finally {
          record(state, performance.now() - t);
        }
      };
    const connectorStep = (state: string) =>
      timed(state, (event: { connection: ConnectionRef }) => {
        const factory = CONNECTOR_FACTORIES[event.connection.type];
        return runStep(event, factory, environment);
      });
    const askPerson = async (input: unknown) => {
      // task-notify's payload; its own work (a DynamoDB update, an SNS publish) is not timed here.
      const task = (input as { Payload: { details: { connection: string; email: string } } }).Payload.details;
      const sandbox: BenchSandbox | undefined = sandboxes.get(task.connection);
      const t = performance.now();
      if (!sandbox?.actAsPerson?.(task.email)) {
        const error = new Error(
          JSON.stringify({ errorType: 'Task.Refused', errorMessage: 'no such account' }),
        );
        error.name = 'Task.Refused';
        throw error;
      }
      record('Ask a person', performance.now() - t);
      // As answerTask resumes the run (SendTaskSuccess's output).
      return { taskId: randomUUID(), ok: true, by: 'bench', at: new Date().toISOString() };
    };

    const definition = JSON.parse(readFileSync(OFFBOARD_USER_ASL, 'utf8')) as StateMachineDefinition;
    const machine = new StateMachine(definition, { validationOptions: { checkArn: true, checkPaths: true } });
    const name = randomUUID();
    const input = { email, dryRun };
    const t = performance.now();
    const execution = machine.run(input as never, {
      overrides: {
        taskResourceLocalHandlers: {
          Normalize: timed('Normalize', (event) => normalizeRequest(event, refs)),
          Lookup: connectorStep('Lookup'),
          GetRecord: connectorStep('GetRecord'),
          Deactivate: connectorStep('Deactivate'),
          Verify: connectorStep('Verify'),
          Settle: connectorStep('Settle'),
          'Ask a person': askPerson,
          // The count itself is a DynamoDB read and a conditional write, not timed here.
          'Count toward the brake': timed('Count toward the brake', () => ({ counted: true, count: 1 })),
          // The entries are built as deployed; the DynamoDB write itself is not timed here.
          'Record outcomes': timed('Record outcomes', (event) => ({ recorded: ledgerEntries(event).length })),
          'Claim the termination': timed('Claim the termination', () => ({
            duplicate: false,
            firstExecutionId: name,
          })),
          Summarize: timed('Summarize', (event) => summarize(event)),
          // An EventBridge PutEvents service integration: billed as a transition, no Lambda.
          'Publish the result': async () => ({ Entries: [{ EventId: randomUUID() }], FailedEntryCount: 0 }),
        } as never,
      },
      context: {
        Execution: {
          Id: `arn:aws:states:local:000000000000:execution:offboard-user:${name}`,
          Name: name,
          Input: input,
          StartTime: new Date().toISOString(),
        },
        Task: { Token: 'bench-task-token' },
      } as never,
    });
    const entered: Record<string, number> = {};
    let retries = 0;
    const reading = (async () => {
      for await (const event of execution.eventLogs) {
        if (event.type === 'StateEntered') entered[event.state.name] = (entered[event.state.name] ?? 0) + 1;
        if (event.type === 'StateRetried') retries++;
      }
    })();
    const summary = (await execution.result) as unknown as OffboardSummary;
    const wallMs = performance.now() - t;
    await reading;
    const transitions = Object.values(entered).reduce((a, b) => a + b, 0) + retries;
    return { summary, transitions, entered, retries, invocations, wallMs };
  } finally {
    await started.close();
  }
}

/** Fails clearly if the ASL grew a Task state this benchmark would not override (it would call AWS). */
function checkTaskStates(): void {
  const definition = JSON.parse(readFileSync(OFFBOARD_USER_ASL, 'utf8')) as unknown;
  const tasks: string[] = [];
  const walk = (
    states: Record<
      string,
      {
        Type?: string;
        ItemProcessor?: { States?: object };
        Iterator?: { States?: object };
        Branches?: Array<{ States?: object }>;
      }
    >,
  ) => {
    for (const [name, state] of Object.entries(states)) {
      if (state.Type === 'Task') tasks.push(name);
      const inner = state.ItemProcessor?.States ?? state.Iterator?.States;
      if (inner) walk(inner as never);
      for (const branch of state.Branches ?? []) if (branch.States) walk(branch.States as never);
    }
  };
  walk((definition as { States: never }).States);
  const unknown = tasks.filter((t) => !TASK_STATES.includes(t));
  if (unknown.length > 0) {
    throw new Error(
      `cost: ${OFFBOARD_USER_ASL} has Task state(s) ${unknown.join(', ')} that bench/cost.ts does not override; add them`,
    );
  }
}

function round(value: number, decimals: number): number {
  const f = 10 ** decimals;
  return Math.round(value * f) / f;
}
