import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { generate } from 'selfsigned';
import { afterEach, describe, expect, it } from 'vitest';
import { LedgerWriteFailedError } from '../../lambdas/shared/errors';
import { HttpClient, MAX_BODY_BYTES } from '../../lambdas/shared/http';
import type { Ledger } from '../../lambdas/shared/ledger';
import { requestPacing } from '../../lambdas/shared/pacing';
import type { BulkSummary } from '../../lambdas/shared/summary';
import { runAuditLocally } from '../../local/audit';
import { runBulkLocally } from '../../local/bulk';
import { type LocalConnection, runLocally } from '../../local/runner';
import { SqliteLedger } from '../../local/sqlite-ledger';
import {
  GAINSIGHT_SANDBOX_ACCESS_KEY,
  type GainsightSandbox,
  gsidOf,
  JANE_GSID,
  startGainsightSandbox,
} from '../../sandboxes/gainsight';
import {
  SAMPLE_USERS as INSIGHTLY_USERS,
  type InsightlySandbox,
  startInsightlySandbox,
} from '../../sandboxes/insightly';
import {
  RAPID7_INSIGHTVM_SANDBOX_PASSWORD,
  RAPID7_INSIGHTVM_SANDBOX_USERNAME,
  startRapid7InsightvmSandbox,
} from '../../sandboxes/rapid7-insightvm';
import {
  SAMPLE_USERS as PLATFORM_USERS,
  RAPID7_PLATFORM_SANDBOX_KEY,
  type Rapid7PlatformSandbox,
  startRapid7PlatformSandbox,
} from '../../sandboxes/rapid7-platform';
import { SCIM_SANDBOX_TOKEN, type ScimSandbox, startScimSandbox } from '../../sandboxes/scim';
import { closedAfterEach, summaryOf } from '../helpers/bulk';

/**
 * The hostile suite, bulk runs, second pass: what the first (bulk.test.ts) did not try.
 * Vendors whose batch answers lie, hand-offs whose single run fails, a bulk run racing a
 * single run of the same person, an audit whose vendor is down, the HTTP transport against
 * servers that redirect, flood, stall or present the wrong certificate, and the command
 * line's bundle after an edit. Each story fails when the tool switches off the wrong person,
 * misses someone without a word, loses the record needed to undo it, or says what is not so.
 */

const started = closedAfterEach(() => requestPacing.reset());

const gainsightConnection = (box: GainsightSandbox, name = 'cs'): LocalConnection => ({
  ref: { name, type: 'gainsight', baseUrl: box.baseUrl },
  secret: { accessKey: GAINSIGHT_SANDBOX_ACCESS_KEY },
});

const scimConnection = (box: ScimSandbox, name = 'app'): LocalConnection => ({
  ref: { name, type: 'scim', baseUrl: box.baseUrl },
  secret: { token: SCIM_SANDBOX_TOKEN },
});

const insightlyConnection = (box: InsightlySandbox, name = 'crm'): LocalConnection => ({
  ref: { name, type: 'insightly', baseUrl: box.baseUrl },
  secret: { apiKey: 'sandbox-api-key' },
});

const platformConnection = (box: Rapid7PlatformSandbox, name = 'cloud'): LocalConnection => ({
  ref: { name, type: 'rapid7-platform', baseUrl: box.baseUrl },
  secret: { apiKey: RAPID7_PLATFORM_SANDBOX_KEY },
});

/** Who a bulk run named failed on a connection, with the error's name. */
const failedNames = (bulk: BulkSummary) =>
  bulk.failed.map((f) => `${f.email}:${f.connections.map((c) => c.error?.name).join(',')}`).sort();

const MARCUS_GSID = gsidOf(126);
const PRIYA_GSID = gsidOf(127);

/** Gainsight's envelope, `result: true`, with these rows and errors in `data`. */
const statusAnswer = (records: unknown[], errors: unknown[] = []) =>
  JSON.stringify({
    result: true,
    errorCode: null,
    errorDesc: null,
    requestId: 'hostile',
    data: { count: records.length, records, errors },
    message: null,
  });

describe('batch answers that lie: the verifying read decides', () => {
  it('Gainsight answers "all set" to a status call it never applied: nobody is counted switched off', async () => {
    // Prepare: every status call is answered `result: true` with both Gsids set, and the
    // tenant writes nothing (the fault answers in its place)
    const box = await started(startGainsightSandbox({ rateLimit: false }));
    box.addFault({
      method: 'PUT',
      path: /\/status$/,
      status: 200,
      times: 50,
      body: statusAnswer([
        { Gsid: JANE_GSID, IsActiveUser: false },
        { Gsid: MARCUS_GSID, IsActiveUser: false },
      ]),
    });
    // Act
    const result = await runBulkLocally({
      connections: [gainsightConnection(box)],
      emails: ['jane.doe@example.com', 'marcus.lee@example.com'],
      retryPauseMs: 5,
    });
    // Assess: both accounts are still on, and the run says so, by name, for both
    const bulk = summaryOf(result);
    expect([box.users.get(JANE_GSID)?.IsActiveUser, box.users.get(MARCUS_GSID)?.IsActiveUser]).toEqual([
      true,
      true,
    ]);
    expect(bulk.outcomes).toEqual({ failed: 2 });
    expect(failedNames(bulk)).toEqual([
      'jane.doe@example.com:Vendor.NotYetApplied',
      'marcus.lee@example.com:Vendor.NotYetApplied',
    ]);
  });

  it('Gainsight names a Gsid never sent, and one sent both set and refused: no bystander is touched, no lie believed', async () => {
    // Prepare: the answer says Priya (not on the list) was set, and says of Jane both "set"
    // and "refused"; Marcus it leaves out. The tenant writes nothing.
    const box = await started(startGainsightSandbox({ rateLimit: false }));
    box.addFault({
      method: 'PUT',
      path: /\/status$/,
      status: 200,
      times: 50,
      body: statusAnswer(
        [
          { Gsid: JANE_GSID, IsActiveUser: false },
          { Gsid: PRIYA_GSID, IsActiveUser: false },
        ],
        [{ Gsid: JANE_GSID, errorCode: 'GU_2402', errorDesc: 'User not updated' }],
      ),
    });
    // Act
    const result = await runBulkLocally({
      connections: [gainsightConnection(box)],
      emails: ['jane.doe@example.com', 'marcus.lee@example.com'],
      retryPauseMs: 5,
    });
    // Assess: Priya's Gsid was never sent in any write; she is active and nowhere in the run
    const bulk = summaryOf(result);
    const sent = box.requests
      .filter((r) => r.method === 'PUT')
      .flatMap((r) => (Array.isArray(r.body) ? (r.body as string[]) : []));
    expect(sent).not.toContain(PRIYA_GSID);
    expect(box.users.get(PRIYA_GSID)?.IsActiveUser).toBe(true);
    // Assess: neither leaver is counted off, since neither is
    expect(bulk.outcomes).toEqual({ failed: 2 });
    expect(bulk.failed.map((f) => f.email).sort()).toEqual([
      'jane.doe@example.com',
      'marcus.lee@example.com',
    ]);
  });

  it('a SCIM BulkResponse that says 200 for every operation, twice for one, and for a user never sent, writing none', async () => {
    // Prepare: the service answers /Bulk with a 200 for offboard-1 (and then a 400 for it),
    // a 200 naming admin@ (u1001, never sent) by location, and writes nothing
    const box = await started(startScimSandbox());
    const body = JSON.stringify({
      schemas: ['urn:ietf:params:scim:api:messages:2.0:BulkResponse'],
      Operations: [
        { method: 'PATCH', bulkId: 'offboard-1', status: '200' },
        { method: 'PATCH', bulkId: 'offboard-1', status: '400' },
        { method: 'PATCH', location: `${box.baseUrl}/Users/u1001`, status: '200' },
        { method: 'PATCH', bulkId: 'offboard-2', status: '200' },
      ],
    });
    box.addFault({ method: 'POST', path: /\/Bulk$/, status: 200, times: 50, body });
    // Act
    const result = await runBulkLocally({
      connections: [scimConnection(box)],
      emails: ['jane.doe@example.com', 'marcus.lee@example.com'],
      retryPauseMs: 5,
    });
    // Assess: the bystander is untouched and was never written; both leavers are still on,
    // and the run says they failed
    const bulk = summaryOf(result);
    const written = box.requests.filter((r) => r.method !== 'GET').map((r) => JSON.stringify(r.body));
    expect(written.join('\n')).not.toContain('u1001');
    expect(box.users.get('u1001')?.active).toBe(true);
    expect([box.users.get('u1002')?.active, box.users.get('u1005')?.active]).toEqual([true, true]);
    expect(bulk.outcomes).toEqual({ failed: 2 });
  });
});

/** A ledger that refuses every outcome of one person (their write-ahead entries it keeps). */
function ledgerRefusingOutcomesOf(email: string, inner: SqliteLedger): Ledger {
  return {
    record: async (entries) => {
      if (entries.some((e) => e.email === email && e.outcome !== 'deactivating')) {
        throw new LedgerWriteFailedError('ledger offboard-ledger: ProvisionedThroughputExceededException');
      }
      await inner.record(entries);
    },
    claim: (key, claimant) => inner.claim(key, claimant),
    history: (who, since) => inner.history(who, since),
    offboardedAccounts: (cursor, limit) => inner.offboardedAccounts(cursor, limit),
    blobs: inner.blobs,
  };
}

describe('hand-offs: a single run that fails is a named failure, and loses nothing', () => {
  it('a person who refuses the task: that person is failed by name, the others are switched off', async () => {
    // Prepare: a surface a person switches off; the person refuses one leaver's task
    const people = ['jane.doe@example.com', 'hand.off1@example.com', 'hand.off2@example.com'];
    const box = await started(
      startRapid7PlatformSandbox({
        users: [...PLATFORM_USERS, { email: 'hand.off1@example.com' }, { email: 'hand.off2@example.com' }],
      }),
    );
    // Act
    const result = await runBulkLocally({
      connections: [platformConnection(box)],
      emails: people,
      askPerson: async (task) =>
        task.email === 'hand.off1@example.com'
          ? { ok: false, reason: 'the account is managed by SSO' }
          : box.disableUser(task.email)
            ? { ok: true }
            : { ok: false, reason: 'no account' },
      retryPauseMs: 5,
    });
    // Assess
    const bulk = summaryOf(result);
    expect(bulk.outcomes).toEqual({ deactivated: 2, failed: 1 });
    expect(failedNames(bulk)).toEqual(['hand.off1@example.com:Task.Refused']);
  });

  it('a hand-off whose single run fails as a whole (its outcome cannot be recorded): named failed by what went wrong, its before-state kept', async () => {
    // Prepare: the person does switch the account off, but the ledger refuses that run's
    // outcome, so its execution fails (Ledger.WriteFailed), as a single run does
    const people = ['jane.doe@example.com', 'hand.off1@example.com'];
    const box = await started(
      startRapid7PlatformSandbox({ users: [...PLATFORM_USERS, { email: 'hand.off1@example.com' }] }),
    );
    const inner = SqliteLedger.inMemory();
    // Act
    const result = await runBulkLocally({
      connections: [platformConnection(box)],
      emails: people,
      ledger: ledgerRefusingOutcomesOf('hand.off1@example.com', inner),
      askPerson: async (task) => (box.disableUser(task.email) ? { ok: true } : { ok: false, reason: 'none' }),
      retryPauseMs: 5,
    });
    // Assess: nothing lost: the write-ahead entry of the hand-off holds the account as it was
    const intent = (await inner.history('hand.off1@example.com')).find((e) => e.outcome === 'deactivating');
    expect(intent?.before).toMatchObject({ email: 'hand.off1@example.com' });
    // Assess: the run does not end as if all were well. README: "If the ledger cannot take the
    // outcomes, the run fails loudly (Ledger.WriteFailed), as a single run does". At the
    // least the person is failed under the error's own name, not Step Functions' wrapper
    // (States.TaskFailed), so that an operator knows the account is off and the evidence
    // is what is missing.
    if (result.ok) {
      expect(result.bulk.outcomes).toMatchObject({ deactivated: 1, failed: 1 });
      expect(failedNames(result.bulk)).toEqual(['hand.off1@example.com:Ledger.WriteFailed']);
    } else {
      expect(result.error.name).toBe('Ledger.WriteFailed');
    }
  });
});

describe('a bulk run and a single run of the same person at once', () => {
  it('share one ledger and one tenant: the before-state is the active account, and a reactivation restores it', async () => {
    // Prepare: an Insightly tenant that answers after 20 ms, so the two runs interleave
    const box = await started(
      startInsightlySandbox({
        users: [...INSIGHTLY_USERS, { EMAIL_ADDRESS: 'leaver@example.com', ROLE_ID: 7, TIMEZONE_ID: 'UTC' }],
        latencyMs: 20,
      }),
    );
    const id = [...box.users.values()].find((u) => u.EMAIL_ADDRESS === 'leaver@example.com')?.USER_ID ?? 0;
    const before = structuredClone(box.users.get(id));
    const ledger = SqliteLedger.inMemory();
    const connection = insightlyConnection(box);
    // Act: the two at once, then a reactivation
    const [bulk, single] = await Promise.all([
      runBulkLocally({ connections: [connection], emails: ['leaver@example.com'], ledger, retryPauseMs: 5 }),
      runLocally({
        connections: [connection],
        input: { email: 'leaver@example.com' },
        ledger,
        retryPauseMs: 5,
      }),
    ]);
    const history = await ledger.history('leaver@example.com');
    const restored = await runLocally({
      connections: [connection],
      input: { email: 'leaver@example.com', reactivate: true },
      ledger,
      retryPauseMs: 5,
    });
    // Assess: both runs end, off; every before-state kept is of the active account
    expect(summaryOf(bulk).failedCount).toBe(0);
    expect(single.ok && single.summary.status).toBe('succeeded');
    const kept = history.filter((e) => e.before !== undefined && e.outcome !== 'already-inactive');
    expect(kept.length).toBeGreaterThan(0);
    expect(kept.map((e) => (e.before as { ACTIVE?: boolean }).ACTIVE)).not.toContain(false);
    // Assess: the reactivation brings the account back as it was
    expect(restored.ok && restored.summary.connections[0]?.outcome).toBe('reactivated');
    expect(box.users.get(id)).toMatchObject({ ACTIVE: true, ROLE_ID: before?.ROLE_ID });
  });
});

/** A ledger that hands the audit one account a page, as a DynamoDB scan may. */
function ledgerOfSmallPages(inner: SqliteLedger): Ledger {
  return {
    record: (entries) => inner.record(entries),
    claim: (key, claimant) => inner.claim(key, claimant),
    history: (who, since) => inner.history(who, since),
    offboardedAccounts: (cursor) => inner.offboardedAccounts(cursor, 1),
    blobs: inner.blobs,
  };
}

describe('the audit', () => {
  it('a vendor that is down: its accounts are "not checked", never "still off"', async () => {
    // Prepare: Jane offboarded on a tenant that then goes down
    const box = await started(startScimSandbox());
    const ledger = SqliteLedger.inMemory();
    const connection = scimConnection(box);
    summaryOf(await runBulkLocally({ connections: [connection], emails: ['jane.doe@example.com'], ledger }));
    box.addFault({ method: 'GET', status: 503, times: 1000 });
    // Act
    const audit = await runAuditLocally({ connections: [connection], ledger, retryPauseMs: 5 });
    // Assess
    expect(audit).toMatchObject({ ok: true, totals: { stillOff: 0, drift: 0, unchecked: 1 } });
  });

  it('drift on a connection whose accounts span two ledger pages: each found once, the list read once', async () => {
    // Prepare: two people offboarded; both switched on again; the ledger pages one account at a time
    const box = await started(startScimSandbox());
    const inner = SqliteLedger.inMemory();
    const ledger = ledgerOfSmallPages(inner);
    const connection = scimConnection(box);
    summaryOf(
      await runBulkLocally({
        connections: [connection],
        emails: ['jane.doe@example.com', 'marcus.lee@example.com'],
        ledger: inner,
      }),
    );
    for (const id of ['u1002', 'u1005']) {
      const user = box.users.get(id);
      if (user) box.users.set(id, { ...user, active: true });
    }
    const readsBefore = box.requests.filter((r) => r.method === 'GET' && r.path.endsWith('/Users')).length;
    // Act
    const audit = await runAuditLocally({ connections: [connection], ledger, retryPauseMs: 5 });
    // Assess
    expect(audit.ok && audit.totals).toMatchObject({ checked: 2, stillOff: 0, drift: 2, unchecked: 0 });
    expect(audit.ok && audit.totals.driftFound.map((d) => d.userId).sort()).toEqual(['u1002', 'u1005']);
    const listReads =
      box.requests.filter((r) => r.method === 'GET' && r.path.endsWith('/Users')).length - readsBefore;
    // One list read (the sandbox's pages of 100 hold the tenant in one)
    expect(listReads).toBe(1);
  });
});

/** A plain HTTP server on 127.0.0.1 that handles each request as told, and counts them. */
async function rawServer(
  handle: (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => void,
) {
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    handle(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return started(
    Promise.resolve({
      baseUrl: `http://127.0.0.1:${port}`,
      requests,
      close: () =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    }),
  );
}

/** What a request ended with: its error's name and message, or "answered". */
async function outcomeOf(request: Promise<unknown>): Promise<string> {
  return request.then(
    () => 'answered',
    (error: Error) => `${error.name}: ${error.message}`,
  );
}

describe('the HTTP transport against hostile servers', () => {
  it('a redirect of a write to another host is not followed: nothing reaches that host, and the error says so', async () => {
    // Prepare: the vendor answers a PUT with 307 to a server elsewhere
    const elsewhere = await rawServer((_req, res) => res.writeHead(200).end('{}'));
    const vendor = await rawServer((_req, res) =>
      res.writeHead(307, { location: `${elsewhere.baseUrl}/v3.1/Users` }).end(),
    );
    const client = new HttpClient({
      label: 'crm',
      baseUrl: `${vendor.baseUrl}/v3.1`,
      headers: { authorization: 'Basic c2VjcmV0Og==' },
    });
    // Act
    const outcome = await outcomeOf(
      client.request('PUT', '/Users', {
        action: 'deactivate user 1002',
        body: { USER_ID: 1002, ACTIVE: false },
      }),
    );
    // Assess
    expect(elsewhere.requests).toEqual([]);
    expect(outcome).toMatch(/^Vendor\.\w+: crm: deactivate user 1002: HTTP 307/);
  });

  it('an answer larger than the limit, sent without a length, is refused by name', async () => {
    // Prepare: a server that streams 1 MiB more than the limit, chunked
    const vendor = await rawServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      const chunk = Buffer.alloc(1024 * 1024, 0x20);
      let sent = 0;
      const pump = () => {
        while (sent <= MAX_BODY_BYTES) {
          sent += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        res.end('[]');
      };
      pump();
    });
    const client = new HttpClient({ label: 'crm', baseUrl: vendor.baseUrl, headers: {} });
    // Act
    const outcome = await outcomeOf(client.request('GET', '/Users', { action: 'list users' }));
    // Assess
    expect(outcome).toMatch(/^Vendor\.BadResponse: crm: list users: HTTP 200: the answer is larger than/);
  });

  it('a server that sends the headers and never the whole body: a named timeout, not a hang', async () => {
    // Prepare
    const vendor = await rawServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"users": [');
    });
    const client = new HttpClient({ label: 'crm', baseUrl: vendor.baseUrl, headers: {}, timeoutMs: 300 });
    // Act
    const began = Date.now();
    const outcome = await outcomeOf(client.request('GET', '/Users', { action: 'list users' }));
    // Assess
    expect(Date.now() - began).toBeLessThan(3000);
    expect(outcome).toMatch(/^Vendor\.Unavailable: crm: list users: .*timed out/);
  });

  it('a console whose certificate is not the CA the connection trusts: every leaver failed as Config.Invalid, nothing sent', async () => {
    // Prepare: the console serves its own certificate; the connection trusts another one
    const box = await started(
      startRapid7InsightvmSandbox({
        credentials: { [RAPID7_INSIGHTVM_SANDBOX_USERNAME]: RAPID7_INSIGHTVM_SANDBOX_PASSWORD },
      }),
    );
    const other = await generate([{ name: 'commonName', value: '127.0.0.1' }], { keyType: 'ec' } as never);
    const connection: LocalConnection = {
      ref: { name: 'console', type: 'rapid7-insightvm', baseUrl: box.baseUrl, tls: { caCert: other.cert } },
      secret: { username: RAPID7_INSIGHTVM_SANDBOX_USERNAME, password: RAPID7_INSIGHTVM_SANDBOX_PASSWORD },
    };
    // Act
    const result = await runBulkLocally({
      connections: [connection],
      emails: ['jane.doe@example.com', 'marcus.lee@example.com'],
      retryPauseMs: 5,
    });
    // Assess
    const bulk = summaryOf(result);
    expect(box.requests).toEqual([]);
    expect(bulk.outcomes).toEqual({ failed: 2 });
    expect(failedNames(bulk)).toEqual([
      'jane.doe@example.com:Config.Invalid',
      'marcus.lee@example.com:Config.Invalid',
    ]);
    expect(bulk.failed[0]?.connections[0]?.error?.message).toMatch(/certificate is not trusted.*tls\.caCert/);
  });
});

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * A copy of the project as a developer's checkout is (its node_modules linked), where the
 * command line can be edited and rebuilt without touching the repository's own dist/.
 */
function checkoutCopy(): string {
  const dir = mkdtempSync(join(tmpdir(), 'offboard-bundle-copy-'));
  for (const entry of [
    'bin',
    'build',
    'cli',
    'config',
    'dist',
    'lambdas',
    'lib',
    'local',
    'sandboxes',
    'schemas',
    'statemachines',
    'types',
    'package.json',
    'package-lock.json',
    'tsconfig.json',
  ]) {
    cpSync(join(ROOT, entry), join(dir, entry), { recursive: true, preserveTimestamps: true });
  }
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  return dir;
}

/** `offboard help` as a user runs it (`npx offboard` runs bin/offboard-cli.mjs with Node). */
async function offboardHelp(dir: string): Promise<string> {
  const { stdout } = await run(process.execPath, [join(dir, 'bin', 'offboard-cli.mjs'), 'help'], {
    cwd: dir,
    timeout: 120_000,
  });
  return stdout;
}

describe('the command line after an edit', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('an edited source file is what runs next, never the bundle built before the edit', async () => {
    // Prepare: a checkout whose bundle is current; the developer edits the usage text
    dir = checkoutCopy();
    await offboardHelp(dir);
    const main = join(dir, 'cli', 'main.ts');
    writeFileSync(main, readFileSync(main, 'utf8').replace('provably.', 'provably. EDITED-ONE'));
    // Act
    const help = await offboardHelp(dir);
    // Assess
    expect(help).toContain('EDITED-ONE');
  }, 180_000);

  it('a source file put back from a copy that kept its older date (cp -p, rsync -a, tar, unzip) is a change too', async () => {
    // Prepare: a current bundle; then cli/main.ts is replaced by another version whose
    // modification time is older than the build (restored from a backup, or a branch copied
    // over with its dates kept)
    dir = checkoutCopy();
    await offboardHelp(dir);
    const manifest = JSON.parse(readFileSync(join(dir, 'dist', 'cli.json'), 'utf8')) as { builtAtMs: number };
    const main = join(dir, 'cli', 'main.ts');
    writeFileSync(main, readFileSync(main, 'utf8').replace('provably.', 'provably. RESTORED-TWO'));
    const older = new Date(manifest.builtAtMs - 3_600_000);
    utimesSync(main, older, older);
    // Act
    const help = await offboardHelp(dir);
    // Assess: the file's content is what runs (bin/offboard-cli.mjs: "a stale bundle never runs")
    expect(help).toContain('RESTORED-TWO');
  }, 180_000);
});
