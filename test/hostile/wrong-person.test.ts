import { afterEach, describe, expect, it } from 'vitest';
import { ERROR_NAMES } from '../../lambdas/shared/errors';
import { openLocalLedger } from '../../local/ledger';
import { type ProgressEvent, runLocally } from '../../local/runner';
import { type GainsightSandbox, type GainsightUser, JANE_GSID } from '../../sandboxes/gainsight';
import type { InsightlySandbox, InsightlyUser } from '../../sandboxes/insightly';
import type { InsightvmSandbox, InsightvmUser } from '../../sandboxes/rapid7-insightvm';
import type { ScimSandbox, ScimUser } from '../../sandboxes/scim';
import { countCases } from './tally';
import { type HostileVendor, JANE, startVendor } from './vendors';

/**
 * The hostile suite, wrong-person traps: every way the wrong account could be switched off,
 * on every surface whose API writes. The only acceptable outcomes are the right account
 * switched off, or nobody switched off and a person told why.
 */

/** What a trap needs to change a surface's accounts, whatever its user shape. */
interface Accounts {
  /** Jane's account id in the store. */
  jane: string | number;
  /** Another existing account, not Jane's. */
  other: string | number;
  /** A copy of `user` as another account: a fresh id and this address (as email and login). */
  clone(id: number, email: string): void;
  /** Jane's account, now holding another address (and login). */
  setJaneEmail(email: string): void;
  /** The body the vendor would answer for the other account. */
  otherAsServed(): string;
}

function accountsOf(vendor: HostileVendor): Accounts {
  if (vendor.type === 'insightly') {
    const users = (vendor.box as unknown as InsightlySandbox).users;
    const jane = users.get(1002) as InsightlyUser;
    return {
      jane: 1002,
      other: 1005,
      clone: (id, email) => users.set(id, { ...jane, USER_ID: id, EMAIL_ADDRESS: email }),
      setJaneEmail: (email) =>
        users.set(1002, { ...(users.get(1002) as InsightlyUser), EMAIL_ADDRESS: email }),
      otherAsServed: () => JSON.stringify(users.get(1005)),
    };
  }
  if (vendor.type === 'gainsight') {
    const users = (vendor.box as unknown as GainsightSandbox).users;
    const jane = users.get(JANE_GSID) as GainsightUser;
    const other = [...users.keys()].find((gsid) => gsid !== JANE_GSID) as string;
    return {
      jane: JANE_GSID,
      other,
      clone: (id, email) => {
        const gsid = `1P01SBX${String(id).padStart(29, '0')}`;
        users.set(gsid, { ...jane, Gsid: gsid, Email: email });
      },
      setJaneEmail: (email) =>
        users.set(JANE_GSID, { ...(users.get(JANE_GSID) as GainsightUser), Email: email }),
      otherAsServed: () =>
        JSON.stringify({
          result: true,
          data: { records: [users.get(other)], totalCount: 1 },
          requestId: 'x',
        }),
    };
  }
  if (vendor.type === 'scim') {
    const users = (vendor.box as unknown as ScimSandbox).users;
    const jane = users.get('u1002') as ScimUser;
    const addressed = (user: ScimUser, email: string): ScimUser => ({
      ...user,
      userName: email,
      emails: [{ value: email, type: 'work', primary: true }],
    });
    return {
      jane: 'u1002',
      other: 'u1001',
      clone: (id, email) => users.set(`u${id}`, { ...addressed(jane, email), id: `u${id}` }),
      setJaneEmail: (email) => users.set('u1002', addressed(users.get('u1002') as ScimUser, email)),
      otherAsServed: () => JSON.stringify(users.get('u1001')),
    };
  }
  const users = (vendor.box as unknown as InsightvmSandbox).users;
  const jane = users.get(3) as InsightvmUser;
  return {
    jane: 3,
    other: 5,
    clone: (id, email) => users.set(id, { ...jane, id, email, login: email }),
    setJaneEmail: (email) => users.set(3, { ...(users.get(3) as InsightvmUser), email, login: email }),
    otherAsServed: () => JSON.stringify(users.get(5)),
  };
}

interface Trap {
  name: string;
  arrange(accounts: Accounts, vendor: HostileVendor): void;
  /** Called between steps of the run, for traps sprung while it runs. */
  during?(accounts: Accounts): (event: ProgressEvent) => void;
  expect: { outcome: 'deactivated' | 'not-found' | 'failed'; error?: string; janeOff: boolean };
}

/** Addresses that look like Jane's and are not. */
const LOOK_ALIKES = [
  'jane.doe@example.com.evil.io',
  'xjane.doe@example.com',
  'jane.doe@example.co',
  'jane.doe+it@example.com',
  'jane.doe@exаmple.com', // a Cyrillic а
  'jane.doe@example.com\u200b', // a zero-width space
  '\ufeffjane.doe@example.com', // a byte-order mark, which trim() would strip
  'jane.doe@example.com\u00a0', // a no-break space, likewise
];

const once = (step: ProgressEvent['step'], act: () => void) => {
  let done = false;
  return (event: ProgressEvent) => {
    if (!done && event.step === step && event.phase === 'succeeded') {
      done = true;
      act();
    }
  };
};

const TRAPS: Trap[] = [
  {
    name: 'only look-alike addresses exist (subdomain, prefix, other TLD, plus-tag, homoglyph, zero-width)',
    arrange: (a) => {
      a.setJaneEmail('jane.someone-else@example.org');
      for (const [i, email] of LOOK_ALIKES.entries()) a.clone(9000 + i, email);
    },
    expect: { outcome: 'not-found', janeOff: false },
  },
  {
    name: 'two accounts hold the address',
    arrange: (a) => a.clone(9100, JANE.toUpperCase()),
    expect: { outcome: 'failed', error: ERROR_NAMES.ambiguous, janeOff: false },
  },
  {
    name: "Jane's address is stored in other case",
    arrange: (a) => a.setJaneEmail('Jane.Doe@Example.COM'),
    expect: { outcome: 'deactivated', janeOff: true },
  },
  {
    name: "the vendor answers another account for Jane's id",
    // From the first read after the lookup (on Gainsight both are the same list call).
    arrange: (a, v) =>
      v.box.afterAnswer({
        method: v.readMethod ?? 'GET',
        path: v.listPath,
        times: 1,
        act: () =>
          v.box.addFault({
            method: v.readMethod ?? 'GET',
            path: v.readPath,
            status: 200,
            times: 1000,
            body: a.otherAsServed(),
          }),
      }),
    expect: { outcome: 'failed', error: ERROR_NAMES.mismatch, janeOff: false },
  },
  {
    name: "Jane's id is given to a new hire between the read and the write",
    arrange: () => undefined,
    during: (a) => once('GetRecord', () => a.setJaneEmail('new.hire@example.com')),
    expect: { outcome: 'failed', error: ERROR_NAMES.mismatch, janeOff: false },
  },
];

const SURFACES_THAT_WRITE = ['insightly', 'scim', 'rapid7-insightvm', 'gainsight'] as const;
const cases = SURFACES_THAT_WRITE.flatMap((surface) =>
  TRAPS.map((trap) => [surface, trap.name, trap] as const),
);

const opened: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((o) => o.close()));
});
countCases('wrong-person traps');

async function run(vendor: HostileVendor, onProgress?: (event: ProgressEvent) => void) {
  const local = await openLocalLedger(null);
  opened.push(local);
  const result = await runLocally({
    connections: [vendor.connection],
    input: { email: JANE },
    ledger: local.ledger,
    retryPauseMs: 0,
    ...(onProgress ? { onProgress } : {}),
  });
  if (!result.ok) throw new Error(`the run itself failed: ${result.error.name}: ${result.error.message}`);
  return result.summary.connections[0];
}

describe('hostile suite: wrong-person traps', () => {
  it.each(cases)('%s: %s', async (surface, _name, trap) => {
    // Prepare
    const vendor = await startVendor(surface);
    opened.push(vendor);
    const accounts = accountsOf(vendor);
    trap.arrange(accounts, vendor);

    // Act
    const outcome = await run(vendor, trap.during?.(accounts));

    // Assess
    expect(outcome?.outcome).toBe(trap.expect.outcome);
    if (trap.expect.error) expect(outcome?.error?.name).toBe(trap.expect.error);
    expect(vendor.janeIsOff()).toBe(trap.expect.janeOff);
    const writes = vendor.box.requests.filter(
      (r) => r.method !== 'GET' && r.method !== 'POST' && r.status < 300,
    );
    if (!trap.expect.janeOff) expect(writes).toEqual([]);
  });

  it.each(SURFACES_THAT_WRITE)(
    '%s: a look-alike that Unicode case folding would make equal is nobody (the Kelvin sign lower-cases to k)',
    async (surface) => {
      // Prepare: the leaver is kim.lee@; the only account is \u212Aim.lee@ (a Kelvin sign).
      const vendor = await startVendor(surface);
      opened.push(vendor);
      accountsOf(vendor).setJaneEmail('\u212aim.lee@example.com');
      const local = await openLocalLedger(null);
      opened.push(local);
      // Act
      const result = await runLocally({
        connections: [vendor.connection],
        input: { email: 'kim.lee@example.com' },
        ledger: local.ledger,
        retryPauseMs: 0,
      });
      // Assess
      expect(result.ok && result.summary.connections[0]?.outcome).toBe('not-found');
      expect(vendor.janeIsOff()).toBe(false);
    },
  );

  it('scim: the address only as a secondary email of someone else is reported for review, not switched off', async () => {
    // Prepare: Sam receives the leaver's mail; the leaver has no account here.
    const vendor = await startVendor('scim');
    opened.push(vendor);
    const users = (vendor.box as unknown as ScimSandbox).users;
    users.delete('u1002');
    const sam = users.get('u1001') as ScimUser;
    users.set('u1001', { ...sam, emails: [...(sam.emails ?? []), { value: JANE, type: 'other' }] });
    // Act
    const outcome = await run(vendor);
    // Assess
    expect(outcome).toMatchObject({ outcome: 'failed', error: { name: ERROR_NAMES.needsReview } });
    expect(users.get('u1001')?.active).toBe(true);
  });

  it.each([
    ['insightly', 'the account owning the API key', 'admin@example.com'],
    ['rapid7-insightvm', 'the console login the connection signs in with', 'offboard-svc@example.com'],
  ] as const)('%s: %s is protected', async (surface, _name, email) => {
    // Prepare
    const vendor = await startVendor(surface);
    opened.push(vendor);
    const local = await openLocalLedger(null);
    opened.push(local);
    // Act
    const result = await runLocally({
      connections: [vendor.connection],
      input: { email },
      ledger: local.ledger,
      retryPauseMs: 0,
    });
    // Assess
    const outcome = result.ok ? result.summary.connections[0] : undefined;
    expect(outcome?.error?.name).toBe(ERROR_NAMES.protected);
    expect(vendor.box.requests.filter((r) => r.method === 'PUT')).toEqual([]);
  });
});
