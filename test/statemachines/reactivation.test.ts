import { afterEach, describe, expect, it } from 'vitest';
import { type LocalLedger, openLocalLedger } from '../../local/ledger';
import { type LocalConnection, runLocally } from '../../local/runner';
import { type InsightlySandbox, startInsightlySandbox } from '../../sandboxes/insightly';
import {
  type InsightvmSandbox,
  RAPID7_INSIGHTVM_SANDBOX_USERNAME,
  startRapid7InsightvmSandbox,
} from '../../sandboxes/rapid7-insightvm';
import { SCIM_SANDBOX_TOKEN, type ScimSandbox, startScimSandbox } from '../../sandboxes/scim';

/** Undoing a mistaken termination: every account back exactly as the ledger kept it. */

const opened: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((o) => o.close()));
});

async function setUp(): Promise<{
  crm: InsightlySandbox;
  scim: ScimSandbox;
  ledger: LocalLedger['ledger'];
  connections: LocalConnection[];
}> {
  const crm = await startInsightlySandbox();
  const scim = await startScimSandbox();
  const local = await openLocalLedger(null);
  opened.push(crm, scim, local);
  return {
    crm,
    scim,
    ledger: local.ledger,
    connections: [
      {
        ref: { name: 'crm', type: 'insightly', baseUrl: crm.baseUrl },
        secret: { apiKey: 'sandbox-api-key' },
      },
      { ref: { name: 'wiki', type: 'scim', baseUrl: scim.baseUrl }, secret: { token: SCIM_SANDBOX_TOKEN } },
    ],
  };
}

describe('reactivate', () => {
  it('restores every account exactly as it was before the offboarding', async () => {
    // Prepare: Jane is offboarded (by mistake)
    const { crm, scim, ledger, connections } = await setUp();
    const crmBefore = structuredClone(crm.users.get(1002));
    const scimBefore = structuredClone(scim.users.get('u1002'));
    await runLocally({ connections, ledger, input: { email: 'jane.doe@example.com' } });
    expect(crm.users.get(1002)?.ACTIVE).toBe(false);
    // Act
    const result = await runLocally({
      connections,
      ledger,
      input: { email: 'jane.doe@example.com', reactivate: true },
    });
    // Assess
    expect(result.ok && result.summary.connections.map((c) => `${c.name}:${c.outcome}`)).toEqual([
      'crm:reactivated',
      'wiki:reactivated',
    ]);
    expect({ ...crm.users.get(1002), DATE_UPDATED_UTC: '' }).toEqual({ ...crmBefore, DATE_UPDATED_UTC: '' });
    expect({ ...scim.users.get('u1002'), meta: null }).toEqual({ ...scimBefore, meta: null });
    // The reactivation is evidence too.
    expect((await ledger.history('jane.doe@example.com')).map((e) => e.outcome)).toEqual([
      // Each write-ahead entry first, in the order things happened, then the outcomes.
      'deactivating',
      'deactivating',
      'deactivated',
      'deactivated',
      'reactivated',
      'reactivated',
    ]);
  });

  it('dry run says what it would restore and writes nothing', async () => {
    const { crm, ledger, connections } = await setUp();
    await runLocally({ connections, ledger, input: { email: 'jane.doe@example.com' } });
    const writes = crm.requests.filter((r) => r.method === 'PUT').length;
    const result = await runLocally({
      connections,
      ledger,
      input: { email: 'jane.doe@example.com', reactivate: true, dryRun: true },
    });
    expect(result.ok && result.summary.connections.map((c) => c.outcome)).toEqual([
      'would-reactivate',
      'would-reactivate',
    ]);
    expect(crm.requests.filter((r) => r.method === 'PUT')).toHaveLength(writes);
    expect(crm.users.get(1002)?.ACTIVE).toBe(false);
  });

  it('touches nothing the workflow never switched off, and leaves an account already back on alone', async () => {
    const { crm, ledger, connections } = await setUp();
    await runLocally({ connections, ledger, input: { email: 'jane.doe@example.com', connections: ['crm'] } });
    // Someone switched Jane back on by hand in the CRM.
    const jane = crm.users.get(1002);
    if (jane) jane.ACTIVE = true;
    const result = await runLocally({
      connections,
      ledger,
      input: { email: 'jane.doe@example.com', reactivate: true },
    });
    expect(result.ok && result.summary.connections.map((c) => `${c.name}:${c.outcome}`)).toEqual([
      'crm:already-active',
      'wiki:nothing-to-restore',
    ]);
    expect(result.ok && result.summary.status).toBe('succeeded');
  });
});

describe('reactivate never undoes more than the offboarding', () => {
  it('an account edited while it was off is not written back: a person decides', async () => {
    // Prepare: Jane is offboarded; while she is off, security takes her admin role away.
    const { crm, ledger, connections } = await setUp();
    await runLocally({ connections, ledger, input: { email: 'jane.doe@example.com' } });
    const off = crm.users.get(1002);
    if (off) crm.users.set(1002, { ...off, ROLE_ID: 99 });
    // Act
    const result = await runLocally({
      connections: connections.slice(0, 1),
      ledger,
      input: { email: 'jane.doe@example.com', reactivate: true },
      retryPauseMs: 0,
    });
    // Assess: nothing written; still off, with the role security chose.
    const outcome = result.ok ? result.summary.connections[0] : undefined;
    expect(outcome).toMatchObject({ outcome: 'failed', error: { name: 'Record.Changed' } });
    expect(outcome?.error?.message).toContain('ROLE_ID');
    expect(crm.users.get(1002)).toMatchObject({ ACTIVE: false, ROLE_ID: 99 });
  });

  it('an account switched off by hand after the undo stays off when the old reactivation is run again', async () => {
    // Prepare: offboarded by mistake, then undone; weeks later Jane really leaves, and IT
    // switches her off by hand, not through offboard.
    const { crm, scim, ledger, connections } = await setUp();
    await runLocally({ connections, ledger, input: { email: 'jane.doe@example.com' } });
    const undo = await runLocally({
      connections,
      ledger,
      input: { email: 'jane.doe@example.com', reactivate: true },
    });
    expect(undo.ok && undo.summary.connections.map((c) => c.outcome)).toEqual(['reactivated', 'reactivated']);
    const [onCrm, onScim] = [crm.users.get(1002), scim.users.get('u1002')];
    if (onCrm) crm.users.set(1002, { ...onCrm, ACTIVE: false });
    if (onScim) scim.users.set('u1002', { ...onScim, active: false });
    // Act: the old reactivation is run again (a retried runbook step)
    const rerun = await runLocally({
      connections,
      ledger,
      input: { email: 'jane.doe@example.com', reactivate: true },
    });
    // Assess: the deactivation was undone once; the later one, by hand, stands.
    expect(rerun.ok && rerun.summary.connections.map((c) => `${c.name}:${c.outcome}`)).toEqual([
      'crm:nothing-to-restore',
      'wiki:nothing-to-restore',
    ]);
    expect(crm.users.get(1002)?.ACTIVE).toBe(false);
    expect(scim.users.get('u1002')?.active).toBe(false);
  });

  it("an id that now holds someone else is neither written nor reported as Jane's account back on", async () => {
    // Prepare: Jane is offboarded; her id is handed to an active new hire.
    const { crm, ledger, connections } = await setUp();
    await runLocally({ connections, ledger, input: { email: 'jane.doe@example.com' } });
    const off = crm.users.get(1002);
    if (off) crm.users.set(1002, { ...off, EMAIL_ADDRESS: 'sam.new@example.com', ACTIVE: true });
    // Act
    const result = await runLocally({
      connections: connections.slice(0, 1),
      ledger,
      input: { email: 'jane.doe@example.com', reactivate: true },
      retryPauseMs: 0,
    });
    // Assess
    expect(result.ok && result.summary.connections[0]).toMatchObject({
      outcome: 'failed',
      error: { name: 'User.Mismatch' },
    });
  });
});

/** An InsightVM console sandbox whose connection signs in with `password`, and a ledger in memory. */
async function consoleWith(password: string): Promise<{
  box: InsightvmSandbox;
  local: LocalLedger;
  connections: LocalConnection[];
}> {
  const box = await startRapid7InsightvmSandbox({
    credentials: { [RAPID7_INSIGHTVM_SANDBOX_USERNAME]: password },
  });
  const local = await openLocalLedger(null);
  opened.push(box, local);
  const ref = {
    name: 'console',
    type: 'rapid7-insightvm' as const,
    baseUrl: box.baseUrl,
    ...(box.caCert ? { tls: { caCert: box.caCert } } : {}),
  };
  return {
    box,
    local,
    connections: [{ ref, secret: { username: RAPID7_INSIGHTVM_SANDBOX_USERNAME, password } }],
  };
}

describe('InsightVM grants changed while the account was off', () => {
  it('are not granted again: a person decides', async () => {
    // Prepare: Tom may see sites 2 and 4; he is offboarded, and while he is off security
    // revokes site 4.
    const { box, local, connections } = await consoleWith('offboard-sandbox-password');
    await runLocally({ connections, ledger: local.ledger, input: { email: 'tom.nguyen@example.com' } });
    expect(box.siteGrants.get(8)).toEqual([2, 4]);
    box.siteGrants.set(8, [2]);
    // Act
    const back = await runLocally({
      connections,
      ledger: local.ledger,
      input: { email: 'tom.nguyen@example.com', reactivate: true },
      retryPauseMs: 0,
    });
    // Assess: nothing written; still off, site 4 still revoked.
    const outcome = back.ok ? back.summary.connections[0] : undefined;
    expect(outcome).toMatchObject({ outcome: 'failed', error: { name: 'Record.Changed' } });
    expect(outcome?.error?.message).toContain('_sites');
    expect(box.users.get(8)?.enabled).toBe(false);
    expect(box.siteGrants.get(8)).toEqual([2]);
  });
});

describe('a before-state kept with part of it hidden', () => {
  it('is not written back: the account stays off and a person is told which field', async () => {
    // Prepare: the console password is an ordinary word that Jane's role also holds, so the
    // ledger keeps her role as "[redacted]-manager".
    const password = 'security';
    const { box, local, connections } = await consoleWith(password);
    expect(box.users.get(3)?.role?.id).toBe('security-manager');
    await runLocally({ connections, ledger: local.ledger, input: { email: 'jane.doe@example.com' } });
    const writes = () => box.requests.filter((r) => r.method === 'PUT').length;
    const sent = writes();
    // Act
    const back = await runLocally({
      connections,
      ledger: local.ledger,
      input: { email: 'jane.doe@example.com', reactivate: true },
      retryPauseMs: 0,
    });
    // Assess: nothing written; the message names the field a person must restore.
    const outcome = back.ok ? back.summary.connections[0] : undefined;
    expect(outcome).toMatchObject({ outcome: 'failed', error: { name: 'Vendor.BadRequest' } });
    expect(outcome?.error?.message).toContain('part of role.id hidden');
    expect(writes()).toBe(sent);
    expect(box.users.get(3)).toMatchObject({ enabled: false, role: { id: 'security-manager' } });
  });
});

describe('two places with one connection name', () => {
  it('restores each account from what was read there: a staging rehearsal never writes into production', async () => {
    // Prepare: production and staging configs both call their Insightly connection "crm".
    const production = await startInsightlySandbox();
    const staging = await startInsightlySandbox();
    const local = await openLocalLedger(null);
    opened.push(production, staging, local);
    const stagingJane = staging.users.get(1002);
    if (stagingJane) staging.users.set(1002, { ...stagingJane, FIRST_NAME: 'STAGING-Jane', ROLE_ID: 3 });
    const productionBefore = structuredClone(production.users.get(1002));
    const crm = (box: InsightlySandbox): LocalConnection[] => [
      {
        ref: { name: 'crm', type: 'insightly', baseUrl: box.baseUrl },
        secret: { apiKey: 'sandbox-api-key' },
      },
    ];
    // Act: the real offboarding, then a rehearsal on staging, then the undo on production.
    await runLocally({
      connections: crm(production),
      ledger: local.ledger,
      input: { email: 'jane.doe@example.com' },
    });
    await runLocally({
      connections: crm(staging),
      ledger: local.ledger,
      input: { email: 'jane.doe@example.com' },
    });
    const result = await runLocally({
      connections: crm(production),
      ledger: local.ledger,
      input: { email: 'jane.doe@example.com', reactivate: true },
    });
    // Assess: production's Jane is back as production had her.
    expect(result.ok && result.summary.connections[0]?.outcome).toBe('reactivated');
    expect({ ...production.users.get(1002), DATE_UPDATED_UTC: '' }).toEqual({
      ...productionBefore,
      DATE_UPDATED_UTC: '',
    });
  });
});
