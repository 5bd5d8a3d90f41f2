/**
 * Audit (issue 10): the scheduled audit of 10,000 ledger accounts, 2,500 people on each of
 * four connections whose tenants hold 5,000 users each. Figures: the requests each vendor
 * got against one read of its user list, the executions, state transitions and history
 * events of the largest execution, and the AWS cost of a run; the drift found must be the
 * drift planted, or the section fails.
 *
 * offboard-audit.asl.json runs once (remediate false) through runAuditLocally, a first run in
 * this process, against the built-in sandboxes answering every request after a fixed 150 ms,
 * with the ledger in SQLite. The ledger is recorded directly (each person's write-ahead and
 * outcome entries, as an offboarding records them), not by running 10,000 offboardings.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { GAINSIGHT_PAGE_SIZE } from '../lambdas/connectors/gainsight/connector';
import { INSIGHTLY_PAGE_SIZE } from '../lambdas/connectors/insightly/connector';
import { INSIGHTVM_PAGE_SIZE } from '../lambdas/connectors/rapid7-insightvm/connector';
import { SCIM_DIRECTORY_PAGE_SIZE } from '../lambdas/connectors/scim/connector';
import { AUDIT_PAGE_SIZE } from '../lambdas/handlers/audit-page';
import type { AuditTotals } from '../lambdas/shared/audit';
import type { ConnectionType } from '../lambdas/shared/connections';
import { endpointOf } from '../lambdas/shared/deployed';
import { type BlobRef, type BlobStore, MemoryBlobStore, workName } from '../lambdas/shared/evidence';
import { entryKey, type LedgerEntry, personKey, stateKey, storableEntry } from '../lambdas/shared/ledger';
import { type ExecutionEvent, OFFBOARD_AUDIT_ASL, runAuditLocally } from '../local/audit';
import type { LocalConnection } from '../local/runner';
import { SqliteLedger } from '../local/sqlite-ledger';
import { GAINSIGHT_SANDBOX_ACCESS_KEY, startGainsightSandbox } from '../sandboxes/gainsight';
import { startInsightlySandbox } from '../sandboxes/insightly';
import {
  SAMPLE_USERS as INSIGHTVM_SAMPLE_USERS,
  RAPID7_INSIGHTVM_SANDBOX_PASSWORD,
  RAPID7_INSIGHTVM_SANDBOX_USERNAME,
  startRapid7InsightvmSandbox,
} from '../sandboxes/rapid7-insightvm';
import { SCIM_SANDBOX_TOKEN, startScimSandbox } from '../sandboxes/scim';
import { PRICES } from './cost';
import type { SectionResult } from './section';
import { byMethod, fixed, median, type RecordedRequest } from './support';

/** People offboarded, each with an account on every connection: 4 × 2,500 = 10,000 ledger accounts. */
const PEOPLE = 2_500;
/** Users each vendor tenant holds: the leavers (off) and everyone else (on). */
const TENANT = 5_000;
/** As bench/cost.ts: every request answered after a fixed 150 ms (an assumption, not a vendor's figure). */
const LATENCY_MS = 150;
/** Every function of the stack has 256 MB (lib/constructs/offboard-function.ts), as in bench/cost.ts. */
const MEMORY_GB = 256 / 1024;
/**
 * Rows a page of the SCIM sandbox holds (its default, announced as `filter.maxResults`): a
 * SCIM service sets its own cap, and the connector asks up to SCIM_DIRECTORY_PAGE_SIZE.
 */
const SCIM_MAX_RESULTS = 100;
/** What the aims of issue 10 say. */
const AIM_EVENTS = 5_000;
const AIM_USD = 0.1;

/** Planted on each connection: accounts switched on again, ids now someone else's, accounts deleted. */
const PLANTED = { drift: [137, 1203, 2291], reassigned: [555], gone: [1777] } as const;

/** Prices this section adds to bench/cost.ts's, us-east-1, as published (not re-read by this run). */
export const AUDIT_PRICES = {
  dynamoDbReadRequestUnit: {
    usd: 0.125 / 1_000_000,
    as: '$0.125 per million read request units (DynamoDB on-demand, us-east-1)',
    source: 'https://aws.amazon.com/dynamodb/pricing/on-demand/',
  },
  dynamoDbWriteRequestUnit: {
    usd: 0.625 / 1_000_000,
    as: '$0.625 per million write request units (DynamoDB on-demand, us-east-1)',
    source: 'https://aws.amazon.com/dynamodb/pricing/on-demand/',
  },
  s3Put: {
    usd: 0.005 / 1000,
    as: '$0.005 per 1,000 PUT requests (S3 Standard, us-east-1)',
    source: 'https://aws.amazon.com/s3/pricing/',
  },
  s3Get: {
    usd: 0.0004 / 1000,
    as: '$0.0004 per 1,000 GET requests (S3 Standard, us-east-1)',
    source: 'https://aws.amazon.com/s3/pricing/',
  },
  eventBridgeEvent: {
    usd: 1 / 1_000_000,
    as: '$1.00 per million custom events (EventBridge PutEvents, us-east-1)',
    source: 'https://aws.amazon.com/eventbridge/pricing/',
  },
} as const;

/** A vendor tenant in a sandbox, with its live users by address. */
interface Tenant {
  name: string;
  type: ConnectionType;
  connection: LocalConnection;
  requests: ReadonlyArray<RecordedRequest>;
  /** Users one page of the list holds, as this tenant serves it to the connector. */
  pageSize: number;
  size(): number;
  idOf(email: string): string;
  /** The account as it was before it was switched off (what the ledger's entries carry). */
  before(email: string): Record<string, unknown>;
  switchOn(email: string): void;
  /** The id now holds someone else's account, active: not the person's drift. */
  giveToSomeoneElse(email: string, other: string): void;
  remove(email: string): void;
  close(): Promise<void>;
}

const leaver = (i: number) => `leaver.${String(i).padStart(5, '0')}@example.com`;
const staff = (i: number) => `staff.${String(i).padStart(5, '0')}@example.com`;

/** Looks a user up in a sandbox's live map by address (the maps are keyed by id). */
function byAddress<U>(users: { values(): Iterable<U> }, email: (u: U) => string): Map<string, U> {
  return new Map([...users.values()].map((u) => [email(u).toLowerCase(), u]));
}

function found<U>(index: Map<string, U>, email: string, where: string): U {
  const user = index.get(email.toLowerCase());
  if (!user) throw new Error(`audit: ${where} sandbox: no user ${email}`);
  return user;
}

async function startTenant(name: string, type: ConnectionType, leavers: readonly string[]): Promise<Tenant> {
  const others = (n: number) => Array.from({ length: n }, (_, i) => staff(i));
  switch (type) {
    case 'insightly': {
      const s = await startInsightlySandbox({
        users: [
          // The API key's owner (the sandbox's default key belongs to its first user).
          { EMAIL_ADDRESS: 'crm.owner@example.com', ADMINISTRATOR: true, ACCOUNT_OWNER: true },
          ...leavers.map((EMAIL_ADDRESS) => ({ EMAIL_ADDRESS, ACTIVE: false })),
          ...others(TENANT - leavers.length - 1).map((EMAIL_ADDRESS) => ({ EMAIL_ADDRESS })),
        ],
        latencyMs: LATENCY_MS,
      });
      const users = byAddress(s.users, (u) => u.EMAIL_ADDRESS);
      const user = (email: string) => found(users, email, name);
      return {
        name,
        type,
        connection: { ref: { name, type, baseUrl: s.baseUrl }, secret: { apiKey: 'sandbox-api-key' } },
        requests: s.requests,
        pageSize: INSIGHTLY_PAGE_SIZE,
        size: () => s.users.size,
        idOf: (email) => String(user(email).USER_ID),
        before: (email) => ({ ...user(email), ACTIVE: true }),
        switchOn: (email) => {
          user(email).ACTIVE = true;
        },
        giveToSomeoneElse: (email, other) =>
          Object.assign(user(email), { EMAIL_ADDRESS: other, ACTIVE: true }),
        remove: (email) => s.users.delete(user(email).USER_ID),
        close: () => s.close(),
      };
    }
    case 'gainsight': {
      const s = await startGainsightSandbox({
        accessKeys: [GAINSIGHT_SANDBOX_ACCESS_KEY],
        users: [
          ...leavers.map((Email, i) => ({
            Email,
            FirstName: 'Leaver',
            LastName: String(i),
            IsActiveUser: false,
          })),
          ...others(TENANT - leavers.length).map((Email, i) => ({
            Email,
            FirstName: 'Staff',
            LastName: String(i),
          })),
        ],
        latencyMs: LATENCY_MS,
        // The documented limits (100 an hour, 1,000 a day) stay on: a run must fit in them.
      });
      const users = byAddress(s.users, (u) => u.Email);
      const user = (email: string) => found(users, email, name);
      return {
        name,
        type,
        connection: {
          ref: { name, type, baseUrl: s.baseUrl },
          secret: { accessKey: GAINSIGHT_SANDBOX_ACCESS_KEY },
        },
        requests: s.requests,
        pageSize: GAINSIGHT_PAGE_SIZE,
        size: () => s.users.size,
        idOf: (email) => user(email).Gsid,
        before: (email) => ({ ...user(email), IsActiveUser: true }),
        switchOn: (email) => {
          user(email).IsActiveUser = true;
        },
        giveToSomeoneElse: (email, other) => Object.assign(user(email), { Email: other, IsActiveUser: true }),
        remove: (email) => s.users.delete(user(email).Gsid),
        close: () => s.close(),
      };
    }
    case 'rapid7-insightvm': {
      const username = RAPID7_INSIGHTVM_SANDBOX_USERNAME;
      const s = await startRapid7InsightvmSandbox({
        users: [
          // The integration's console account, a global administrator (as bench/support.ts).
          { ...(INSIGHTVM_SAMPLE_USERS[0] as (typeof INSIGHTVM_SAMPLE_USERS)[number]), login: username },
          ...leavers.map((email) => ({ login: email, email, enabled: false })),
          ...others(TENANT - leavers.length - 1).map((email) => ({ login: email, email })),
        ],
        credentials: { [username]: RAPID7_INSIGHTVM_SANDBOX_PASSWORD },
        latencyMs: LATENCY_MS,
      });
      const users = byAddress(s.users, (u) => u.login);
      const user = (email: string) => found(users, email, name);
      return {
        name,
        type,
        connection: {
          ref: { name, type, baseUrl: s.baseUrl, ...(s.caCert ? { tls: { caCert: s.caCert } } : {}) },
          secret: { username, password: RAPID7_INSIGHTVM_SANDBOX_PASSWORD },
        },
        requests: s.requests,
        pageSize: INSIGHTVM_PAGE_SIZE,
        size: () => s.users.size,
        idOf: (email) => String(user(email).id),
        before: (email) => ({ ...structuredClone(user(email)), enabled: true }),
        switchOn: (email) => {
          user(email).enabled = true;
        },
        giveToSomeoneElse: (email, other) =>
          Object.assign(user(email), { login: other, email: other, enabled: true }),
        remove: (email) => s.users.delete(user(email).id),
        close: () => s.close(),
      };
    }
    case 'scim': {
      const work = (value: string) => [{ value, type: 'work', primary: true }];
      const s = await startScimSandbox({
        users: [
          ...leavers.map((userName) => ({ userName, emails: work(userName), active: false })),
          ...others(TENANT - leavers.length).map((userName) => ({ userName, emails: work(userName) })),
        ],
        auth: { token: SCIM_SANDBOX_TOKEN },
        maxPageSize: SCIM_MAX_RESULTS,
        latencyMs: LATENCY_MS,
      });
      const users = byAddress(s.users, (u) => u.userName);
      const user = (email: string) => found(users, email, name);
      return {
        name,
        type,
        connection: { ref: { name, type, baseUrl: s.baseUrl }, secret: { token: SCIM_SANDBOX_TOKEN } },
        requests: s.requests,
        pageSize: Math.min(SCIM_MAX_RESULTS, SCIM_DIRECTORY_PAGE_SIZE),
        size: () => s.users.size,
        idOf: (email) => user(email).id,
        before: (email) => ({ ...structuredClone(user(email)), active: true }),
        switchOn: (email) => {
          user(email).active = true;
        },
        giveToSomeoneElse: (email, other) =>
          Object.assign(user(email), { userName: other, emails: work(other), active: true }),
        remove: (email) => s.users.delete(user(email).id),
        close: () => s.close(),
      };
    }
    default:
      throw new Error(`audit: no tenant for connection type ${type}`);
  }
}

/**
 * The evidence store of the run, counting what the deployed S3BlobStore would send: a
 * `getNamed` is a GET (a miss too), a `putNamed` or `put` a PUT.
 */
class CountingBlobStore implements BlobStore {
  readonly inner = new MemoryBlobStore();
  gets = 0;
  puts = 0;
  readonly named: string[] = [];

  async put(value: unknown): Promise<BlobRef> {
    this.puts++;
    return this.inner.put(value);
  }
  async get(ref: BlobRef): Promise<unknown> {
    this.gets++;
    return this.inner.get(ref);
  }
  async putNamed(name: string, value: unknown): Promise<void> {
    this.puts++;
    this.named.push(name);
    return this.inner.putNamed(name, value);
  }
  async getNamed(name: string): Promise<unknown> {
    this.gets++;
    return this.inner.getNamed(name);
  }
}

/** A DynamoDB item's size: attribute names and string values, in UTF-8 bytes. */
function itemBytes(item: Record<string, string>): number {
  let bytes = 0;
  for (const [name, value] of Object.entries(item))
    bytes += Buffer.byteLength(name) + Buffer.byteLength(value);
  return bytes;
}

interface TableItem {
  pk: string;
  sk: string;
  bytes: number;
  /** Set on the state items the audit reads (an account off): its connection. */
  offOn?: string;
}

/**
 * The ledger table's items as DynamoDbLedger writes them for these entries: one item an
 * entry (pk, sk, the entry's JSON), and one state item an outcome that says where the
 * account stands (pk, sk `state#…`, email, connection, endpoint, type, userId, st, at).
 */
async function tableItems(entries: readonly LedgerEntry[], blobs: () => BlobStore): Promise<TableItem[]> {
  const items: TableItem[] = [];
  for (const entry of entries) {
    const pk = personKey(entry.email);
    const sk = entryKey(entry);
    items.push({ pk, sk, bytes: itemBytes({ pk, sk, entry: await storableEntry(entry, blobs) }) });
    if (entry.outcome === 'deactivated' && entry.userId) {
      const state = {
        pk,
        sk: stateKey(entry),
        email: entry.email,
        connection: entry.connection,
        ...(entry.endpoint ? { endpoint: entry.endpoint } : {}),
        type: entry.type,
        userId: entry.userId,
        st: 'off',
        at: entry.at,
      };
      items.push({ pk, sk: state.sk, bytes: itemBytes(state), offOn: entry.connection });
    }
  }
  return items;
}

/** One Scan page of the ledger table, as the deployed audit reads it. */
interface ScanPage {
  items: number;
  bytes: number;
  readUnits: number;
  accounts: number;
  connections: number;
}

/**
 * The pages DynamoDbLedger.offboardedAccounts reads: Scans with a filter on the state items,
 * each reading at most the accounts still missing (`Limit` counts the items evaluated, before
 * the filter), until the page holds AUDIT_PAGE_SIZE accounts or the table ends. Items
 * come in the order of their partition key's hash (md5 here, DynamoDB's own hash in AWS: the
 * same spread), then by sort key. Read units: the page's bytes in 4 KB units, halved
 * (eventually consistent, the Scan's default).
 */
function scanPages(items: readonly TableItem[]): ScanPage[] {
  const hash = (pk: string) => createHash('md5').update(pk).digest('hex');
  const ordered = items
    .map((item) => ({ item, h: hash(item.pk) }))
    .sort((a, b) => (a.h === b.h ? (a.item.sk < b.item.sk ? -1 : 1) : a.h < b.h ? -1 : 1))
    .map(({ item }) => item);
  const pages: ScanPage[] = [];
  let page: TableItem[] = [];
  let bytes = 0;
  const close = () => {
    const off = page.filter((i) => i.offOn !== undefined);
    pages.push({
      items: page.length,
      bytes,
      readUnits: Math.ceil(bytes / 4096) * 0.5,
      accounts: off.length,
      connections: new Set(off.map((i) => i.offOn)).size,
    });
    page = [];
    bytes = 0;
  };
  for (const item of ordered) {
    page.push(item);
    bytes += item.bytes;
    if (page.filter((i) => i.offOn !== undefined).length >= AUDIT_PAGE_SIZE) close();
  }
  // The rest of the table, or (after a page that ended on the last account) an empty page.
  close();
  return pages;
}

/**
 * History events of a Standard execution for one event of aws-local-stepfunctions' log, as
 * GetExecutionHistory lists them: a Task is TaskStateEntered, TaskScheduled, TaskStarted
 * (+ TaskSubmitted for a `.sync` integration), then TaskSucceeded and TaskStateExited; a
 * failed attempt is TaskFailed, a retry TaskScheduled and TaskStarted again, a caught failure
 * ends with TaskStateExited only. A Map is MapStateEntered and MapStateStarted, each iteration
 * MapIterationStarted and MapIterationSucceeded around its own states, then MapStateSucceeded
 * and MapStateExited. A Choice or Pass is its Entered and Exited; the execution's start and
 * end one each.
 */
function historyEventsOf(event: ExecutionEvent, syncTasks: ReadonlySet<string>): number {
  switch (event.type) {
    case 'ExecutionStarted':
    case 'ExecutionSucceeded':
    case 'ExecutionFailed':
    case 'ExecutionAborted':
    case 'ExecutionTimeout':
    case 'MapIterationStarted':
    case 'MapIterationSucceeded':
    case 'MapIterationFailed':
      return 1;
    // Step Functions lists no event per Parallel branch.
    case 'ParallelBranchStarted':
    case 'ParallelBranchSucceeded':
    case 'ParallelBranchFailed':
      return 0;
    case 'StateEntered':
      if (event.state.type === 'Task') return syncTasks.has(event.state.name) ? 4 : 3;
      return event.state.type === 'Map' || event.state.type === 'Parallel' ? 2 : 1;
    case 'StateExited':
      return event.state.type === 'Task' || event.state.type === 'Map' || event.state.type === 'Parallel'
        ? 2
        : 1;
    case 'StateFailed':
      return 1;
    case 'StateRetried':
      if (event.state.type !== 'Task') return 0;
      return syncTasks.has(event.state.name) ? 3 : 2;
    case 'StateCaught':
      // The Exited counted a TaskSucceeded that did not happen (its TaskFailed is the StateFailed).
      return -1;
  }
}

/** The audit's states, by where they run: once a run, once a ledger page, once a connection's part of a page. */
function stateParts(): { perPage: Set<string>; perGroup: Set<string>; syncTasks: Set<string> } {
  type States = Record<string, { Type?: string; Resource?: string; ItemProcessor?: { States?: States } }>;
  const definition = JSON.parse(readFileSync(OFFBOARD_AUDIT_ASL, 'utf8')) as { States: States };
  const perPage = new Set(['Read a page of the ledger', 'Check each connection', 'Tally', 'More pages?']);
  const perGroup = new Set<string>();
  const syncTasks = new Set<string>();
  const walk = (states: States, into?: Set<string>) => {
    for (const [name, state] of Object.entries(states)) {
      into?.add(name);
      if (state.Type === 'Task' && state.Resource?.endsWith('.sync:2')) syncTasks.add(name);
      if (state.ItemProcessor?.States) walk(state.ItemProcessor.States, into ?? perGroup);
    }
  };
  walk(definition.States);
  for (const name of perPage) {
    if (!(name in definition.States)) {
      throw new Error(`audit: ${OFFBOARD_AUDIT_ASL} has no state ${name}; bench/audit.ts needs updating`);
    }
  }
  return { perPage, perGroup, syncTasks };
}

/** What one run costs, from its counts and durations. */
interface CostInput {
  transitions: number;
  /** Billed ms of every Lambda invocation (page reader, checks, tally). */
  lambdaMs: number[];
  readUnits: number;
  writeUnits: number;
  s3Puts: number;
  s3Gets: number;
  events: number;
}

function costOf({ lambdaMs, ...c }: CostInput) {
  const billedMs = lambdaMs.reduce((n, ms) => n + Math.max(1, Math.ceil(ms)), 0);
  const gbSeconds = (billedMs / 1000) * MEMORY_GB;
  const stepFunctions = c.transitions * PRICES.stepFunctionsStandardPerTransition.usd;
  const lambda = gbSeconds * PRICES.lambdaArmPerGbSecond.usd + lambdaMs.length * PRICES.lambdaPerRequest.usd;
  const dynamoDb =
    c.readUnits * AUDIT_PRICES.dynamoDbReadRequestUnit.usd +
    c.writeUnits * AUDIT_PRICES.dynamoDbWriteRequestUnit.usd;
  const s3 = c.s3Puts * AUDIT_PRICES.s3Put.usd + c.s3Gets * AUDIT_PRICES.s3Get.usd;
  const eventBridge = c.events * AUDIT_PRICES.eventBridgeEvent.usd;
  return {
    ...c,
    lambdaInvocations: lambdaMs.length,
    billedMs,
    gbSeconds,
    stepFunctionsUsd: stepFunctions,
    lambdaUsd: lambda,
    dynamoDbUsd: dynamoDb,
    s3Usd: s3,
    eventBridgeUsd: eventBridge,
    totalUsd: stepFunctions + lambda + dynamoDb + s3 + eventBridge,
  };
}

export async function run(): Promise<SectionResult> {
  const parts = stateParts();
  const leavers = Array.from({ length: PEOPLE }, (_, i) => leaver(i));
  const plan: Array<{ name: string; type: ConnectionType }> = [
    { name: 'crm', type: 'insightly' },
    { name: 'customer-success', type: 'gainsight' },
    { name: 'vulnerability-console', type: 'rapid7-insightvm' },
    { name: 'sso-app', type: 'scim' },
  ];
  const tenants: Tenant[] = [];
  try {
    for (const p of plan) tenants.push(await startTenant(p.name, p.type, leavers));

    // The ledger: every leaver switched off on every connection, by one offboarding each.
    const blobs = new CountingBlobStore();
    const ledger = new SqliteLedger(':memory:', () => blobs);
    const entries: LedgerEntry[] = [];
    const first = Date.UTC(2026, 0, 5, 9);
    for (const [i, email] of leavers.entries()) {
      const startedAt = new Date(first + i * 60_000).toISOString();
      const executionId = `arn:aws:states:us-east-1:000000000000:execution:OffboardUser:bench-${i}`;
      for (const t of tenants) {
        const { ref } = t.connection;
        const common = {
          email,
          connection: t.name,
          endpoint: endpointOf({ type: ref.type, baseUrl: ref.baseUrl }),
          type: t.type,
          dryRun: false,
          userId: t.idOf(email),
          before: t.before(email),
          startedAt,
          executionId,
        };
        const at = (s: number) => new Date(first + i * 60_000 + s * 1000).toISOString();
        entries.push(
          { ...common, outcome: 'deactivating', at: at(2) },
          { ...common, outcome: 'deactivated', at: at(4) },
        );
      }
    }
    for (let i = 0; i < entries.length; i += 1000) await ledger.record(entries.slice(i, i + 1000));
    const accounts = entries.filter((e) => e.outcome === 'deactivated').length;
    const ledgerPuts = blobs.puts;

    // What happened since: a few switched on again, an id given to someone else, an account deleted.
    const planted: Array<{ email: string; connection: string; userId: string }> = [];
    for (const [j, t] of tenants.entries()) {
      const at = (i: number) => leaver(i + j * 11);
      for (const i of PLANTED.drift) {
        planted.push({ email: at(i), connection: t.name, userId: t.idOf(at(i)) });
        t.switchOn(at(i));
      }
      for (const i of PLANTED.reassigned) t.giveToSomeoneElse(at(i), `new.hire.${i}@example.com`);
      for (const i of PLANTED.gone) t.remove(at(i));
    }
    const tenantSizes = new Map(tenants.map((t) => [t.name, t.size()]));
    const before = new Map(tenants.map((t) => [t.name, t.requests.length]));

    // Act: one audit, timing each connector check and reading the execution's log.
    const events: ExecutionEvent[] = [];
    const checks = new Map<string, number[]>();
    const open = new Map<string, number>();
    const started = performance.now();
    const result = await runAuditLocally({
      connections: tenants.map((t) => t.connection),
      ledger,
      remediate: false,
      onEvent: (event) => events.push(event),
      onProgress: (p) => {
        if (p.step !== 'Check against the user list') return;
        if (p.phase === 'started') open.set(p.connection, performance.now());
        else
          checks.set(p.connection, [
            ...(checks.get(p.connection) ?? []),
            performance.now() - (open.get(p.connection) ?? 0),
          ]);
      },
    });
    const wallSeconds = (performance.now() - started) / 1000;

    // The correctness check: the drift found is the drift planted, nothing more, nothing less,
    // and each planted one recorded in the ledger as drift.
    if (!result.ok) throw new Error(`audit: the run failed: ${result.error.name}: ${result.error.message}`);
    checkTotals(result.totals, planted, accounts);
    let executionId = '';
    for (const p of planted) {
      const drift = (await ledger.history(p.email)).find(
        (e) => e.outcome === 'drift' && e.connection === p.connection && e.userId === p.userId,
      );
      if (!drift) throw new Error(`audit: ${p.connection}: the drift of ${p.email} is not in the ledger`);
      executionId = drift.executionId;
    }
    ledger.close();

    // Transitions and history events, in all and by where they happen.
    let transitions = 0;
    const history = { fixed: 0, perPage: 0, perGroup: 0 };
    const moves = { fixed: 0, perPage: 0, perGroup: 0 };
    let pages = 0;
    let groups = 0;
    const stamps = new Map<string, number[]>();
    const entered = new Map<string, number>();
    for (const event of events) {
      const n = historyEventsOf(event, parts.syncTasks);
      // A Map iteration runs inside its Map: the connections' Map's iterations are per connection.
      const inside =
        'parentState' in event &&
        (event.parentState.name === 'Check each connection' || parts.perGroup.has(event.parentState.name));
      const state = 'state' in event ? event.state.name : '';
      const part =
        inside || parts.perGroup.has(state) ? 'perGroup' : parts.perPage.has(state) ? 'perPage' : 'fixed';
      history[part] += n;
      const moved = event.type === 'StateEntered' || event.type === 'StateRetried' ? 1 : 0;
      transitions += moved;
      moves[part] += moved;
      if (event.type === 'StateEntered' && event.state.name === 'Read a page of the ledger') pages++;
      if (event.type === 'MapIterationStarted' && event.parentState.name === 'Check each connection')
        groups++;
      // The page reader and the tally run one at a time: their Entered→Exited is the invocation.
      if (event.type === 'StateEntered') entered.set(event.state.name, event.timestamp);
      if (
        event.type === 'StateExited' &&
        (event.state.name === 'Read a page of the ledger' || event.state.name === 'Tally')
      ) {
        stamps.set(event.state.name, [
          ...(stamps.get(event.state.name) ?? []),
          event.timestamp - (entered.get(event.state.name) ?? event.timestamp),
        ]);
      }
    }
    const historyEvents = history.fixed + history.perPage + history.perGroup;
    const perPage = { history: history.perPage / pages, transitions: moves.perPage / pages };
    const perGroup = { history: history.perGroup / groups, transitions: moves.perGroup / groups };
    const eventsAt = (p: number, g: number) =>
      Math.round(history.fixed + p * perPage.history + g * perGroup.history);
    const transitionsAt = (p: number, g: number) =>
      Math.round(moves.fixed + p * perPage.transitions + g * perGroup.transitions);

    // Requests each vendor got, against one read of its list.
    const requests = tenants.map((t) => {
      const sent = t.requests.slice(before.get(t.name) ?? 0);
      const users = tenantSizes.get(t.name) ?? 0;
      const floor = Math.ceil(users / t.pageSize);
      return {
        name: t.name,
        type: t.type,
        users,
        pageSize: t.pageSize,
        requests: sent.length,
        byMethod: byMethod(sent),
        floor,
      };
    });

    // Lambda: every check's duration; the first on each connection read the user list.
    const pageMs = stamps.get('Read a page of the ledger') ?? [];
    const tallyMs = stamps.get('Tally') ?? [];
    const checkMs = [...checks.values()].flat();
    const firstChecks = [...checks.values()].map((d) => d[0] ?? 0);
    const firstByName = [...checks].map(([name, d]) => `${name} ${fixed(d[0] ?? 0, 0)}`);
    const laterChecks = [...checks.values()].flatMap((d) => d.slice(1));
    // Each connection's user list as kept for the run (runDirectory's name for it).
    const snapshots = await Promise.all(
      tenants.map(async (t) => ({
        name: t.name,
        bytes: Buffer.byteLength(
          JSON.stringify(await blobs.inner.getNamed(workName('directory', executionId, t.name))),
        ),
      })),
    );
    if (blobs.named.length !== tenants.length) {
      throw new Error(
        `audit: ${blobs.named.length} user lists kept for ${tenants.length} connections; one each expected`,
      );
    }
    const driftWrites = result.totals.drift; // one PutItem of ≤ 1 KB each (a drift entry, no before-state)

    // The ledger as deployed: the same entries in DynamoDB, read by Scan pages.
    const items = await tableItems(entries, () => blobs.inner);
    const scan = scanPages(items);
    const deployedPages = scan.length;
    const deployedGroups = scan.reduce((n, p) => n + p.connections, 0);
    const deployedReadUnits = scan.reduce((n, p) => n + p.readUnits, 0);
    const tableBytes = items.reduce((n, i) => n + i.bytes, 0);

    // The floors: ceil(10,000 / 500) pages, each connection's part in as few checks as can hold it.
    const floorPages = Math.ceil(accounts / AUDIT_PAGE_SIZE);
    const floorGroups = tenants.length * Math.ceil(PEOPLE / AUDIT_PAGE_SIZE);
    // The brief's model of the read: 10,000 items of ~1 KB, each page rounded to 4 KB, halved.
    const briefReadUnits =
      Math.ceil(accounts / AUDIT_PAGE_SIZE) * Math.ceil((AUDIT_PAGE_SIZE * 1024) / 4096) * 0.5;
    const s3Here = { puts: blobs.puts - ledgerPuts, gets: blobs.gets };
    const medianLater = median(laterChecks);
    const costHere = costOf({
      transitions,
      lambdaMs: [...pageMs, ...checkMs, ...tallyMs],
      readUnits: briefReadUnits,
      writeUnits: driftWrites,
      s3Puts: s3Here.puts,
      s3Gets: s3Here.gets,
      events: result.totals.drift > 0 ? 1 : 0,
    });
    const costDeployed = costOf({
      transitions: transitionsAt(deployedPages, deployedGroups),
      lambdaMs: [
        ...Array<number>(deployedPages).fill(median(pageMs)),
        ...firstChecks,
        ...Array<number>(deployedGroups - firstChecks.length).fill(medianLater),
        ...Array<number>(deployedPages).fill(median(tallyMs)),
      ],
      readUnits: deployedReadUnits,
      writeUnits: driftWrites,
      s3Puts: tenants.length,
      s3Gets: deployedGroups,
      events: result.totals.drift > 0 ? 1 : 0,
    });
    const costFloor = costOf({
      transitions: transitionsAt(floorPages, floorGroups),
      lambdaMs: [
        ...Array<number>(floorPages).fill(median(pageMs)),
        ...firstChecks,
        ...Array<number>(floorGroups - firstChecks.length).fill(medianLater),
        ...Array<number>(floorPages).fill(median(tallyMs)),
      ],
      readUnits: briefReadUnits,
      writeUnits: driftWrites,
      s3Puts: tenants.length,
      s3Gets: floorGroups,
      events: result.totals.drift > 0 ? 1 : 0,
    });

    const usd = (v: number) => `$${v.toFixed(4)}`;
    /** Accounts at which a linear growth of the events reaches `limit`. */
    const headroom = (events: number, limit: number) =>
      (
        Math.round((limit - history.fixed) / ((events - history.fixed) / accounts) / 100) * 100
      ).toLocaleString('en');
    const met = (ok: boolean) => (ok ? 'met' : 'MISSED');
    const deployedEvents = eventsAt(deployedPages, deployedGroups);
    const aims = {
      eventsHere: historyEvents < AIM_EVENTS,
      eventsDeployed: deployedEvents < AIM_EVENTS,
      costHere: costHere.totalUsd < AIM_USD,
      costDeployed: costDeployed.totalUsd < AIM_USD,
    };
    const rows: (string | number)[][] = [
      ...requests.map((r) => [
        `requests: ${r.name} (${r.type}, ${r.users.toLocaleString('en')} users)`,
        `${r.requests} (${r.byMethod})`,
        `${r.requests}`,
        '—',
        `${r.floor} (pages of ${r.pageSize})`,
      ]),
      ['executions (remediate false)', '1', '1', '—', '1'],
      ['ledger pages', String(pages), String(deployedPages), '—', String(floorPages)],
      ['connector checks (Lambda)', String(groups), String(deployedGroups), '—', String(floorGroups)],
      [
        'state transitions',
        String(transitions),
        String(transitionsAt(deployedPages, deployedGroups)),
        '—',
        String(transitionsAt(floorPages, floorGroups)),
      ],
      [
        'history events, largest execution',
        `${historyEvents} (${met(aims.eventsHere)})`,
        `${deployedEvents} (${met(aims.eventsDeployed)})`,
        `< ${AIM_EVENTS.toLocaleString('en')}`,
        String(eventsAt(floorPages, floorGroups)),
      ],
      [
        'AWS cost per run',
        `${usd(costHere.totalUsd)} (${met(aims.costHere)})`,
        `${usd(costDeployed.totalUsd)} (${met(aims.costDeployed)})`,
        `< $${AIM_USD.toFixed(2)}`,
        usd(costFloor.totalUsd),
      ],
      [
        'drift found / planted',
        `${result.totals.drift} / ${planted.length}`,
        '—',
        '= planted',
        `${planted.length}`,
      ],
      ['audit wall time', `${fixed(wallSeconds, 1)} s`, '—', '—', '—'],
    ];
    const breakdown = (c: ReturnType<typeof costOf>) =>
      `Step Functions ${usd(c.stepFunctionsUsd)}, Lambda ${usd(c.lambdaUsd)} (${c.lambdaInvocations} invocations, ${fixed(c.gbSeconds, 2)} GB-s), ` +
      `DynamoDB ${usd(c.dynamoDbUsd)} (${c.readUnits} read units), S3 ${usd(c.s3Usd)} (${c.s3Puts} PUT, ${c.s3Gets} GET), EventBridge ${usd(c.eventBridgeUsd)}`;
    // The last page is the empty one after the table's end.
    const scanAccounts = scan.slice(0, -1).map((p) => p.accounts);
    return {
      title: `Audit: ${accounts.toLocaleString('en')} ledger accounts on ${tenants.length} connections (tenants of ${TENANT.toLocaleString('en')}, vendors answer after ${LATENCY_MS} ms)`,
      columns: ['figure', 'measured here', 'deployed (projected)', 'aim', 'floor'],
      rows,
      json: {
        accounts,
        people: PEOPLE,
        tenantUsers: Object.fromEntries(tenantSizes),
        latencyMsPerRequest: LATENCY_MS,
        remediate: false,
        planted: { perConnection: PLANTED, drift: planted },
        totals: result.totals,
        wallSeconds,
        requests,
        executions: 1,
        pages,
        groups,
        transitions,
        historyEvents,
        historyEventsByPart: history,
        transitionsByPart: moves,
        perPage,
        perGroup,
        lambdaMs: {
          pageReader: pageMs,
          checksByConnection: Object.fromEntries(checks),
          tally: tallyMs,
        },
        s3: { ...s3Here, snapshots },
        deployed: {
          tableItems: items.length,
          tableBytes,
          scanPages: deployedPages,
          checks: deployedGroups,
          accountsPerPage: {
            min: Math.min(...scanAccounts),
            median: median(scanAccounts),
            max: Math.max(...scanAccounts),
          },
          readUnits: deployedReadUnits,
          transitions: transitionsAt(deployedPages, deployedGroups),
          historyEvents: deployedEvents,
        },
        floor: {
          pages: floorPages,
          checks: floorGroups,
          transitions: transitionsAt(floorPages, floorGroups),
          historyEvents: eventsAt(floorPages, floorGroups),
        },
        cost: { here: costHere, deployed: costDeployed, floor: costFloor },
        prices: { ...PRICES, ...AUDIT_PRICES },
        aims: { historyEventsUnder: AIM_EVENTS, usdUnder: AIM_USD, ...aims },
      },
      notes: [
        `Drift: ${result.totals.drift} found, ${planted.length} planted (${PLANTED.drift.length} a connection, switched on again); ` +
          `per connection also ${PLANTED.reassigned.length} id now held by someone else's active account and ${PLANTED.gone.length} account deleted, neither drift. ` +
          `Checked ${result.totals.checked}, still off ${result.totals.stillOff}, unchecked ${result.totals.unchecked}. The section throws when any of these differs.`,
        `Requests: each sandbox's request log during the run. Floor: the pages of one read of the vendor's list (its users over the largest page it serves the connector). ` +
          requests.map((r) => `${r.name} ${r.requests} for ${r.floor}`).join(', ') +
          '. SCIM adds its ServiceProviderConfig read; the SCIM sandbox serves 100 rows a page (its default cap: a service sets its own, the connector asks up to 1,000). ' +
          `The Gainsight sandbox enforces the documented 100 requests an hour: ${requests
            .filter((q) => q.type === 'gainsight')
            .map((q) => `${q.name} sent ${q.requests}`)
            .join(', ')}.`,
        `Transitions: StateEntered events plus retries (as bench/cost.ts); none retried here. History events: aws-local-stepfunctions' event log converted to what GetExecutionHistory lists: ` +
          'a Task 5 (TaskStateEntered, TaskScheduled, TaskStarted, TaskSucceeded, TaskStateExited; +1 TaskSubmitted for .sync; a retry +2, a failure +1), ' +
          'a Map 4 (MapStateEntered, MapStateStarted, MapStateSucceeded, MapStateExited) plus 2 an iteration and its states, a Choice or Pass 2, the execution 2. ' +
          `Per ledger page ${fixed(perPage.history, 1)} events and ${fixed(perPage.transitions, 1)} transitions; per connection on a page ${fixed(perGroup.history, 1)} and ${fixed(perGroup.transitions, 1)}; ${history.fixed} and ${moves.fixed} once a run.`,
        'Executions: one. Run with remediate false: with remediate true each drifted account also starts an offboard-user child execution (its own history, see the cost section for its transitions), ' +
          'and the audit adds 4 history events a connection with drift and 12 a drifted account (an iteration, a .sync Task, a Choice, a Pass), 1 and 3 transitions.',
        `FLATTERING, the local ledger: SQLite pages by exactly ${AUDIT_PAGE_SIZE} accounts off, so ${accounts.toLocaleString('en')} accounts are ${pages} pages. ` +
          `Deployed, DynamoDbLedger scans until a page holds ${AUDIT_PAGE_SIZE} accounts (a Scan's Limit counts every item evaluated before the filter, so one Scan alone held about a third of that): the table holds ${items.length.toLocaleString('en')} items ` +
          `(each account's write-ahead entry, outcome entry and state item; ${fixed(tableBytes / 2 ** 20, 1)} MiB), so a page holds ${Math.min(...scanAccounts)}–${Math.max(...scanAccounts)} accounts, ` +
          `${deployedPages} pages, ${deployedGroups} checks. "deployed (projected)" replays that Scan over the items these entries make (md5 order for DynamoDB's hash; 1 MB page cap) and applies the measured per-page and per-check figures. ` +
          'A table that also holds claims, drift entries, reactivations and dry runs has more items per account, and more pages.',
        `Cost here: ${breakdown(costHere)}. Deployed: ${breakdown(costDeployed)}. Floor: the floor pages and checks, DynamoDB at 10,000 items of ~1 KB. ` +
          `Lambda at 256 MB, each invocation billed to the ms as measured: the page reader ${fixed(median(pageMs), 0)} ms median, the tally ${fixed(median(tallyMs), 0)} ms, ` +
          `each connection's first check (reads the user list at ${LATENCY_MS} ms a request) ${firstByName.join(', ')} ms, later checks ${fixed(medianLater, 0)} ms median (read the snapshot kept for the run, ${snapshots.map((x) => `${x.name} ${fixed(x.bytes / 2 ** 20, 1)}`).join(', ')} MiB of JSON).`,
        'FLATTERING, durations: in memory here. Deployed, a later check GETs its snapshot from S3 (a few MB: tens of ms more each), the page reader waits on a DynamoDB Scan instead of SQLite, ' +
          "and a cold function adds its init (bench/bundles). Page reader and tally are timed from the state log (entered to exited), which includes the interpreter's own work: a little over.",
        `Prices: ${PRICES.stepFunctionsStandardPerTransition.as}; ${PRICES.lambdaArmPerGbSecond.as} and ${PRICES.lambdaPerRequest.as} (bench/cost.ts); ` +
          `${Object.values(AUDIT_PRICES)
            .map((p) => p.as)
            .join('; ')}: as AWS publishes them, not re-read by this run. No free tier. ` +
          'Not included: CloudWatch Logs (the audit logs at level ALL), X-Ray, Secrets Manager reads, S3 storage of the snapshots (expire after 7 days).',
        `Aims: largest execution under ${AIM_EVENTS.toLocaleString('en')} history events: here ${met(aims.eventsHere)}, deployed ${met(aims.eventsDeployed)} (Step Functions refuses more than 25,000); ` +
          `under $${AIM_USD.toFixed(2)} a run: here ${met(aims.costHere)}, deployed ${met(aims.costDeployed)}. ` +
          `Headroom, at this mix (4 connections a person, 3 table items an account): the history events grow by ${fixed((historyEvents - history.fixed) / accounts, 3)} an account here and ` +
          `${fixed((deployedEvents - history.fixed) / accounts, 3)} deployed, so ${AIM_EVENTS.toLocaleString('en')} events come at about ` +
          `${headroom(historyEvents, AIM_EVENTS)} accounts here and ${headroom(deployedEvents, AIM_EVENTS)} deployed, Step Functions' 25,000 at about ${headroom(deployedEvents, 25_000)} deployed.`,
      ],
      summary: [
        `${accounts.toLocaleString('en')} accounts: drift ${result.totals.drift} of ${planted.length} planted; ` +
          `largest execution ${historyEvents} history events here, ${deployedEvents} deployed (aim < ${AIM_EVENTS.toLocaleString('en')}: ${met(aims.eventsDeployed)}); ` +
          `${usd(costDeployed.totalUsd)} a run deployed (aim < $${AIM_USD.toFixed(2)}: ${met(aims.costDeployed)}); ` +
          `requests ${requests.map((r) => `${r.name} ${r.requests}/${r.floor}`).join(', ')}`,
      ],
    };
  } finally {
    await Promise.all(tenants.map((t) => t.close()));
  }
}

/** Throws unless the audit found exactly the planted drift and checked every account. */
function checkTotals(
  totals: AuditTotals,
  planted: ReadonlyArray<{ email: string; connection: string; userId: string }>,
  accounts: number,
): void {
  const key = (d: { email: string; connection: string; userId: string }) =>
    `${d.connection} ${d.email} ${d.userId}`;
  const want = new Set(planted.map(key));
  const got = new Set(totals.driftFound.map(key));
  const missing = [...want].filter((k) => !got.has(k));
  const extra = [...got].filter((k) => !want.has(k));
  const problems = [
    totals.drift !== planted.length ? `drift ${totals.drift}, planted ${planted.length}` : '',
    missing.length > 0 ? `not found: ${missing.join('; ')}` : '',
    extra.length > 0 ? `found but not planted: ${extra.join('; ')}` : '',
    totals.checked !== accounts ? `checked ${totals.checked} of ${accounts} accounts` : '',
    totals.stillOff !== accounts - planted.length
      ? `still off ${totals.stillOff}, expected ${accounts - planted.length}`
      : '',
    totals.unchecked !== 0 ? `${totals.unchecked} unchecked` : '',
  ].filter(Boolean);
  if (problems.length > 0) throw new Error(`audit: the audit's totals are wrong: ${problems.join('; ')}`);
}
