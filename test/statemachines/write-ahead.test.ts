import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ERROR_NAMES } from '../../lambdas/shared/errors';
import { openLocalLedger } from '../../local/ledger';
import { type LocalConnection, type ProgressEvent, runLocally } from '../../local/runner';
import {
  type InsightlySandbox,
  type InsightlySandboxOptions,
  startInsightlySandbox,
} from '../../sandboxes/insightly';
import { type ScimSandbox, type ScimUser, startScimSandbox } from '../../sandboxes/scim';

/**
 * The account written is the account asked for, at the moment of writing, and the
 * before-state is never lost: offboard-user.asl.json run end to end, against vendors whose
 * accounts change under it and whose answers get lost.
 */

const KEY = 'sandbox-api-key';
const JANE = 'jane.doe@example.com';
const opened: Array<{ close(): Promise<void> }> = [];

afterEach(async () => {
  await Promise.all(opened.splice(0).map((o) => o.close()));
});

async function insightly(options: InsightlySandboxOptions = {}) {
  const box = await startInsightlySandbox(options);
  const local = await openLocalLedger(null);
  opened.push(box, local);
  const connections: LocalConnection[] = [
    { ref: { name: 'crm', type: 'insightly', baseUrl: box.baseUrl }, secret: { apiKey: KEY } },
  ];
  return { box, ledger: local.ledger, connections };
}

/** Calls `act` once, right after the step `step` of the run succeeded (between two steps). */
function between(step: ProgressEvent['step'], act: () => void) {
  let done = false;
  return (event: ProgressEvent) => {
    if (!done && event.step === step && event.phase === 'succeeded') {
      done = true;
      act();
    }
  };
}

const puts = (box: InsightlySandbox) => box.requests.filter((r) => r.method === 'PUT');

describe('no stale write', () => {
  it('a field edited between the read and the write survives the deactivation', async () => {
    // Prepare
    const { box, ledger, connections } = await insightly();
    // Act: a colleague moves Jane to another role after the workflow read her record.
    const result = await runLocally({
      connections,
      ledger,
      input: { email: JANE },
      retryPauseMs: 0,
      onProgress: between('GetRecord', () => {
        const jane = box.users.get(1002);
        if (jane) box.users.set(1002, { ...jane, ROLE_ID: 99, DATE_UPDATED_UTC: '2026-11-30 10:00:00' });
      }),
    });
    // Assess
    expect(result.ok && result.summary.connections[0]?.outcome).toBe('deactivated');
    expect(box.users.get(1002)).toMatchObject({ ACTIVE: false, ROLE_ID: 99 });
    expect(puts(box)).toHaveLength(1);
    // The before-state a reactivation would restore holds the edit too.
    const intent = (await ledger.history(JANE)).find((e) => e.outcome === 'deactivating');
    expect(intent?.before).toMatchObject({ ROLE_ID: 99, ACTIVE: true });
  });

  it('an id given to a new hire between the read and the write is never touched', async () => {
    // Prepare
    const { box, ledger, connections } = await insightly();
    // Act: Jane's user is deleted and her id handed to Sam, between the read and the write.
    const result = await runLocally({
      connections,
      ledger,
      input: { email: JANE },
      retryPauseMs: 0,
      onProgress: between('GetRecord', () => {
        const jane = box.users.get(1002);
        if (jane) box.users.set(1002, { ...jane, EMAIL_ADDRESS: 'sam.new@example.com', FIRST_NAME: 'Sam' });
      }),
    });
    // Assess
    const outcome = result.ok ? result.summary.connections[0] : undefined;
    expect(outcome?.outcome).toBe('failed');
    expect(outcome?.error?.name).toBe(ERROR_NAMES.mismatch);
    expect(box.users.get(1002)).toMatchObject({ ACTIVE: true, EMAIL_ADDRESS: 'sam.new@example.com' });
    expect(puts(box)).toEqual([]);
  });

  it('an account edited on every attempt is left for a person, not chased forever', async () => {
    // Prepare
    const { box, ledger, connections } = await insightly();
    let edits = 0;
    // Act
    const result = await runLocally({
      connections,
      ledger,
      input: { email: JANE },
      retryPauseMs: 0,
      onProgress: (event) => {
        if (event.step !== 'GetRecord' || event.phase !== 'succeeded') return;
        const jane = box.users.get(1002);
        if (jane) box.users.set(1002, { ...jane, LAST_NAME: `Doe ${++edits}` });
      },
    });
    // Assess
    const outcome = result.ok ? result.summary.connections[0] : undefined;
    expect(outcome?.error?.name).toBe(ERROR_NAMES.recordChanged);
    expect(edits).toBe(4);
    expect(puts(box)).toEqual([]);
  });

  it('a SCIM write is conditional on the version read: a user changed right after the last read is refused by the service, and the run plans again', async () => {
    // Prepare
    const box: ScimSandbox = await startScimSandbox();
    const local = await openLocalLedger(null);
    opened.push(box, local);
    const connections: LocalConnection[] = [
      { ref: { name: 'app', type: 'scim', baseUrl: box.baseUrl }, secret: { token: 'sandbox-scim-token' } },
    ];
    // The user's title changes (and with it its version) right after the read that comes just
    // before the write: the first GET is the plan's, the second the write's own.
    box.afterAnswer({
      method: 'GET',
      path: /\/Users\/u1002$/,
      skip: 1,
      times: 1,
      act: () => {
        const jane = box.users.get('u1002') as ScimUser;
        box.users.set('u1002', {
          ...jane,
          title: 'CFO',
          meta: { ...jane.meta, version: 'W/"42"' },
        } as ScimUser);
      },
    });
    // Act
    const result = await runLocally({
      connections,
      ledger: local.ledger,
      input: { email: JANE },
      retryPauseMs: 0,
    });
    // Assess
    expect(result.ok && result.summary.connections[0]?.outcome).toBe('deactivated');
    const patches = box.requests.filter((r) => r.method === 'PATCH');
    expect(patches.map((r) => r.status)).toEqual([412, 200]);
    expect(box.users.get('u1002')).toMatchObject({ active: false, title: 'CFO' });
  });
});

describe('the before-state is never lost', () => {
  it('a lost answer to the write: the account is read, found off, and the outcome is deactivated', async () => {
    // Prepare: the vendor applies the PUT, then the connection drops.
    const { box, ledger, connections } = await insightly();
    box.loseAnswers({ method: 'PUT', mode: 'drop', times: 1 });
    // Act
    const result = await runLocally({ connections, ledger, input: { email: JANE }, retryPauseMs: 0 });
    // Assess
    expect(result.ok && result.summary.connections[0]).toMatchObject({ outcome: 'deactivated' });
    expect(puts(box)).toHaveLength(1);
    expect(box.users.get(1002)?.ACTIVE).toBe(false);
  });

  it('a write whose outcome nobody can see: failed while the account is unreadable, and still restorable', async () => {
    // Prepare: the PUT is applied but its answer lost, and from then on the vendor fails every
    // read of the account (an outage the test ends later by using up the fault).
    const { box, ledger, connections } = await insightly();
    const before = structuredClone(box.users.get(1002));
    box.loseAnswers({ method: 'PUT', mode: 'drop', times: 1 });
    const outage = { method: 'GET', path: /Users\/1002$/, status: 503, times: 0 };
    box.addFault(outage);
    // Act
    const result = await runLocally({
      connections,
      ledger,
      input: { email: JANE },
      retryPauseMs: 0,
      onProgress: (event) => {
        if (event.step === 'Deactivate' && event.phase === 'failed' && outage.times === 0)
          outage.times = 1000;
      },
    });
    // Assess: the vendor never said, and no read could be made: failed, with the cause.
    const outcome = result.ok ? result.summary.connections[0] : undefined;
    expect(outcome?.outcome).toBe('failed');
    expect(outcome?.error?.name).toBe(ERROR_NAMES.unavailable);
    expect(box.users.get(1002)?.ACTIVE).toBe(false);

    // Act: the vendor is back; the termination turns out to be a mistake.
    outage.times = 0;
    const restore = await runLocally({
      connections,
      ledger,
      input: { email: JANE, reactivate: true },
      retryPauseMs: 0,
    });
    // Assess: the write-ahead entry held the before-state; the account is back as it was.
    expect(restore.ok && restore.summary.connections[0]?.outcome).toBe('reactivated');
    expect({ ...box.users.get(1002), DATE_UPDATED_UTC: '' }).toEqual({ ...before, DATE_UPDATED_UTC: '' });
  });

  it('a record too large for one ledger item is kept whole beside the ledger, and restores whole', async () => {
    // Prepare: Jane's record holds 450 KB (DynamoDB takes 400 KB an item; a state payload 256 KB).
    const box = await startInsightlySandbox();
    const dir = mkdtempSync(join(tmpdir(), 'offboard-large-'));
    const local = await openLocalLedger(dir);
    opened.push(box, local);
    const connections: LocalConnection[] = [
      { ref: { name: 'crm', type: 'insightly', baseUrl: box.baseUrl }, secret: { apiKey: KEY } },
    ];
    const jane = box.users.get(1002);
    if (jane) box.users.set(1002, { ...jane, LAST_NAME: 'D'.repeat(450_000) });
    const before = structuredClone(box.users.get(1002));

    // Act
    const offboarding = await runLocally({ connections, ledger: local.ledger, input: { email: JANE } });

    // Assess: off; the ledger points at the record, which is on disk, whole.
    expect(offboarding.ok && offboarding.summary.connections[0]?.outcome).toBe('deactivated');
    const outcome = (await local.ledger.history(JANE)).find((e) => e.outcome === 'deactivated');
    expect(outcome?.before).toBeUndefined();
    expect(outcome?.beforeRef?.bytes).toBeGreaterThan(450_000);
    expect(existsSync(join(dir, 'evidence', `${outcome?.beforeRef?.sha256}.json`))).toBe(true);
    expect(await local.ledger.blobs().get(outcome?.beforeRef as never)).toEqual(before);

    // Act: undo it.
    const restore = await runLocally({
      connections,
      ledger: local.ledger,
      input: { email: JANE, reactivate: true },
    });

    // Assess
    expect(restore.ok && restore.summary.connections[0]?.outcome).toBe('reactivated');
    expect({ ...box.users.get(1002), DATE_UPDATED_UTC: '' }).toEqual({ ...before, DATE_UPDATED_UTC: '' });
  });

  it('a verification that gives up is settled by a read: still on means failed', async () => {
    // Prepare: the vendor acknowledges the write but never applies it.
    const { box, ledger, connections } = await insightly();
    box.addFault({ method: 'PUT', status: 200, times: 1, body: JSON.stringify(box.users.get(1002)) });
    // Act
    const result = await runLocally({ connections, ledger, input: { email: JANE }, retryPauseMs: 0 });
    // Assess
    const outcome = result.ok ? result.summary.connections[0] : undefined;
    expect(outcome?.outcome).toBe('failed');
    expect(outcome?.error?.name).toBe(ERROR_NAMES.notYetApplied);
    expect(box.users.get(1002)?.ACTIVE).toBe(true);
  });
});
