import { afterEach, describe, expect, it } from 'vitest';
import { type LocalLedger, openLocalLedger } from '../../local/ledger';
import { type LocalConnection, runLocally } from '../../local/runner';
import { type InsightlySandbox, startInsightlySandbox } from '../../sandboxes/insightly';
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
