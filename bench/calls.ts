/**
 * Vendor calls per offboarded connection, by connection type and outcome: one local run of
 * the real state machine per (type, outcome), each on a fresh built-in sandbox, counting
 * the requests the sandbox recorded. Requests are attributed to the step that was running
 * (onProgress), so a figure above the floor names the step and the request that made it.
 */
import { CONNECTION_TYPES, type ConnectionType } from '../lambdas/shared/connections';
import { prepareConnections } from '../local/connections';
import { type ConnectorStep, runLocally } from '../local/runner';
import type { SectionResult } from './section';
import { ALREADY_INACTIVE, actingPerson, byMethod, LEAVER, NOBODY, type RecordedRequest } from './support';

/** A second active sample user every built-in sandbox holds: the "warm" run offboards them next. */
const SECOND_LEAVER = 'priya.natarajan@example.com';

type Outcome = 'deactivated' | 'already-inactive' | 'not-found' | 'would-deactivate';

interface Case {
  label: string;
  outcome: Outcome;
  email: string;
  dryRun: boolean;
  /** Run a first offboarding on the same sandbox, in the same process, before the measured one. */
  warm?: boolean;
}

const CASES: Case[] = [
  { label: 'deactivated', outcome: 'deactivated', email: LEAVER, dryRun: false },
  { label: 'deactivated (warm)', outcome: 'deactivated', email: SECOND_LEAVER, dryRun: false, warm: true },
  { label: 'already-inactive', outcome: 'already-inactive', email: ALREADY_INACTIVE, dryRun: false },
  { label: 'not-found', outcome: 'not-found', email: NOBODY, dryRun: false },
  { label: 'would-deactivate (dry run)', outcome: 'would-deactivate', email: LEAVER, dryRun: true },
];

/**
 * One request per step the outcome's path goes through. A deactivation reads the account once
 * more right before its write (no stale write, and never an id given to someone else since):
 * that read is part of the floor, not overhead.
 */
const FLOOR: Record<Outcome, { calls: number; path: string }> = {
  deactivated: { calls: 5, path: 'lookup + read + read before the write + write + verify' },
  'already-inactive': { calls: 2, path: 'lookup + read' },
  'would-deactivate': { calls: 2, path: 'lookup + read' },
  'not-found': { calls: 1, path: 'lookup' },
};

interface Measured {
  type: ConnectionType;
  case: string;
  expectedOutcome: Outcome;
  outcome: string;
  /** Vendor API calls, token requests excluded. */
  calls: number;
  tokenRequests: number;
  floor: number;
  byStep: Partial<Record<ConnectorStep | 'AskPerson', number>>;
  requests: string[];
  why: string[];
}

export async function run(): Promise<SectionResult> {
  const measured: Measured[] = [];
  for (const type of CONNECTION_TYPES) {
    for (const c of CASES) measured.push(await measure(type, c));
  }

  const rows = measured.map((m) => [
    m.type,
    m.case,
    m.outcome === m.expectedOutcome ? m.calls : `${m.calls} (got ${m.outcome}!)`,
    m.floor,
    m.calls === m.floor ? '=' : m.calls > m.floor ? `+${m.calls - m.floor}` : `${m.calls - m.floor}`,
    m.tokenRequests,
    byMethod(m.requests.map((r) => ({ method: r.split(' ')[0] ?? '' }))),
    m.why.join('; ') || '—',
  ]);
  const unexpected = measured.filter((m) => m.outcome !== m.expectedOutcome);
  const deactivated = measured.filter((m) => m.case === 'deactivated');

  return {
    title: 'Vendor calls per offboarded connection (one local run per type and outcome)',
    columns: ['type', 'outcome', 'calls', 'floor', 'vs floor', 'token req.', 'by method', 'why it differs'],
    rows,
    json: {
      method:
        'runLocally (the real ASL and handlers) with one connection on a fresh built-in sandbox per run (prepareConnections, no baseUrl); calls = requests the sandbox recorded, OAuth token requests counted apart; attributed to steps by onProgress.',
      floors: FLOOR,
      results: measured,
    },
    notes: [
      'calls: vendor API requests the sandbox recorded during the run, OAuth token requests excluded (own column).',
      `floor: one request per step of the outcome's path: ${Object.entries(FLOOR)
        .map(([o, f]) => `${o} ${f.calls} (${f.path})`)
        .join(', ')}.`,
      'Each run starts a fresh sandbox on a new port, so per-warm-Lambda caches (keyed by base URL and credential) ' +
        'start empty: "deactivated" is the first offboarding a cold function does. "deactivated (warm)" offboards a ' +
        `second person (${SECOND_LEAVER}) on the same sandbox right after, in the same process, as a warm Lambda would.`,
      'Lookups that list users (rapid7-insightvm: no email filter) read one page here (the sandboxes hold under 10 ' +
        'users); a real console adds one GET per 500 users. Gainsight filters its list on Email, so one request finds ' +
        'the person whatever the tenant size.',
      ...(unexpected.length > 0
        ? [
            `UNEXPECTED outcomes: ${unexpected.map((m) => `${m.type}/${m.case} gave ${m.outcome}`).join(', ')}`,
          ]
        : []),
    ],
    summary: [
      `calls per deactivated connection (cold): ${deactivated.map((m) => `${m.type} ${m.calls}${m.tokenRequests ? `+${m.tokenRequests} token` : ''}`).join(', ')} (floor 5)`,
    ],
  };
}

async function measure(type: ConnectionType, c: Case): Promise<Measured> {
  const name = 'bench';
  const prepared = await prepareConnections({ connections: [{ name, type }] } as Parameters<
    typeof prepareConnections
  >[0]);
  try {
    const sandbox = prepared.sandboxes.get(name);
    if (!sandbox) throw new Error(`calls: no built-in sandbox started for ${type}`);
    const requests = sandbox.requests as ReadonlyArray<RecordedRequest>;
    const secret = prepared.connections[0]?.secret as { tokenUrl?: unknown } | undefined;
    const tokenPath = typeof secret?.tokenUrl === 'string' ? new URL(secret.tokenUrl).pathname : undefined;
    const askPerson = actingPerson(() => sandbox);

    if (c.warm) {
      const first = await runLocally({
        connections: prepared.connections,
        input: { email: LEAVER, dryRun: false },
        askPerson,
      });
      if (!first.ok) throw new Error(`calls: ${type}: warm-up run failed: ${first.error.message}`);
    }

    const start = requests.length;
    const stepOf: string[] = [];
    const stepsSeen = new Set<string>();
    let current = 'Normalize';
    const result = await runLocally({
      connections: prepared.connections,
      input: { email: c.email, dryRun: c.dryRun },
      askPerson,
      onProgress: (event) => {
        // Requests so far belong to the step that was running; from here on, to this one.
        while (stepOf.length < requests.length - start) stepOf.push(current);
        if (event.phase === 'started') {
          current = event.step;
          stepsSeen.add(event.step);
        }
      },
    });
    while (stepOf.length < requests.length - start) stepOf.push(current);

    const mine = requests.slice(start);
    const isToken = (r: RecordedRequest) => tokenPath !== undefined && r.path === tokenPath;
    const byStep: Measured['byStep'] = {};
    mine.forEach((r, i) => {
      if (isToken(r)) return;
      const step = stepOf[i] as ConnectorStep;
      byStep[step] = (byStep[step] ?? 0) + 1;
    });
    const calls = mine.filter((r) => !isToken(r)).length;
    const tokenRequests = mine.length - calls;
    const outcome = result.ok
      ? (result.summary.connections[0]?.outcome ?? 'none')
      : `execution failed: ${result.error.name}`;
    const lines = mine.map((r, i) => `${r.method} ${r.path} [${stepOf[i]}]`);
    return {
      type,
      case: c.label,
      expectedOutcome: c.outcome,
      outcome,
      calls,
      tokenRequests,
      floor: FLOOR[c.outcome].calls,
      byStep,
      requests: lines,
      why: explain(type, c.outcome, mine, stepOf, stepsSeen, isToken),
    };
  } finally {
    await prepared.close();
  }
}

/**
 * Why a figure is off the floor, read from the requests themselves: each step should send
 * one request; the extra (or missing) ones are named with what they were.
 */
function explain(
  type: ConnectionType,
  outcome: Outcome,
  requests: ReadonlyArray<RecordedRequest>,
  stepOf: readonly string[],
  stepsSeen: ReadonlySet<string>,
  isToken: (r: RecordedRequest) => boolean,
): string[] {
  const why: string[] = [];
  const inStep = (step: string) => requests.filter((r, i) => stepOf[i] === step && !isToken(r));
  const lookups = inStep('Lookup');
  if (lookups.length > 1) {
    // SCIM asks by userName, then by emails.value: the userName need not be the address, and a
    // second account holding the address as its primary email must not be missed.
    const scimEmails =
      lookups.length === 2 && lookups.every((r) => /\/Users$/.test(r.path)) && type.includes('scim');
    // Insightly's search and Gainsight's Email filter may compare case (neither vendor says):
    // "nobody" is confirmed by reading the users whole.
    const confirmed = outcome === 'not-found' && (type === 'insightly' || type === 'gainsight');
    why.push(
      scimEmails
        ? 'lookup +1: a second search, on emails.value, so that no account holding the address is missed'
        : confirmed
          ? `lookup +${lookups.length - 1}: nobody found by the filter, so the users are read whole to be sure`
          : `lookup +${lookups.length - 1}: ${lookups.length} pages of users`,
    );
  }
  const reads = inStep('GetRecord');
  const extraReads = reads.slice(1);
  for (const r of extraReads) {
    why.push(
      /\/Users\/Me$/.test(r.path)
        ? `read +1: ${r.method} ${r.path} (API key owner check; cached 15 min per warm Lambda)`
        : `read +1: ${r.method} ${r.path}`,
    );
  }
  if (outcome === 'deactivated' && inStep('Deactivate').length === 0) {
    why.push(
      stepsSeen.has('AskPerson')
        ? 'write -1: the API cannot switch it off; a person does (task), then verify reads'
        : 'write -1: no write request',
    );
  }
  const tokens = requests.filter(isToken).length;
  if (tokens > 0) why.push(`+${tokens} OAuth token request apart (cached per warm Lambda until expiry)`);
  return why;
}
