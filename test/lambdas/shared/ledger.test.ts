import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryBlobStore } from '../../../lambdas/shared/evidence';
import {
  DynamoDbLedger,
  LEDGER_ITEM_LIMIT,
  type Ledger,
  type LedgerEntry,
  ledgerEntries,
  restorePlan,
} from '../../../lambdas/shared/ledger';
import { openLocalLedger } from '../../../local/ledger';
import { SqliteLedger } from '../../../local/sqlite-ledger';
import { type LocalDynamo, startDynalite } from '../../helpers/dynalite';

/**
 * The ledger, deployed (DynamoDB, here on dynalite) and local (SQLite): one contract, run
 * against both. What it keeps, how it reads back, and that nothing is ever dropped.
 */

let dynamo: LocalDynamo;
let tables = 0;
beforeAll(async () => {
  dynamo = await startDynalite();
});
afterAll(async () => {
  await dynamo.close();
});

const STORES: Array<[string, () => Promise<Ledger>]> = [
  [
    'DynamoDB',
    async () => {
      const name = `ledger-${++tables}`;
      await dynamo.createTable(name, true);
      const blobs = new MemoryBlobStore();
      return new DynamoDbLedger(name, dynamo.client, () => blobs);
    },
  ],
  [
    'SQLite',
    async () => {
      const blobs = new MemoryBlobStore();
      return new SqliteLedger(join(mkdtempSync(join(tmpdir(), 'ledger-')), 'ledger.db'), () => blobs);
    },
  ],
];

function entry(overrides: Partial<LedgerEntry> = {}): LedgerEntry {
  return {
    email: 'Jane.Doe@example.com',
    connection: 'insightly',
    type: 'insightly',
    outcome: 'deactivated',
    dryRun: false,
    userId: '1002',
    before: { USER_ID: 1002, ACTIVE: true, PROFILE_ID: 7 },
    at: '2026-11-20T10:00:00.000Z',
    executionId: 'arn:aws:states:us-east-1:1:execution:offboard-user:a',
    ...overrides,
  };
}

describe.each(STORES)('the ledger on %s', (_store, open) => {
  it('keeps every entry with its before-state, and reads a person back oldest first, whatever the case of the email', async () => {
    // Prepare
    const ledger = await open();
    const later = entry({ at: '2026-11-21T09:00:00.000Z', outcome: 'already-inactive', executionId: 'b' });
    // Act
    await ledger.record([later, entry()]);
    // Assess
    expect(await ledger.history('jane.doe@EXAMPLE.com')).toEqual([entry(), later]);
  });

  it('a retried write changes nothing: the key comes from the execution', async () => {
    const ledger = await open();
    await ledger.record([entry()]);
    await ledger.record([entry()]);
    expect(await ledger.history(entry().email)).toHaveLength(1);
  });

  it('keeps the write-ahead intent beside its outcome, and before it when both carry the same millisecond', async () => {
    const ledger = await open();
    await ledger.record([entry({ outcome: 'deactivating' })]);
    await ledger.record([entry({ outcome: 'failed', before: undefined })]);
    expect((await ledger.history(entry().email)).map((e) => e.outcome)).toEqual(['deactivating', 'failed']);
  });

  it("lists one run's connections in the order of their names, a name before its longer namesakes", async () => {
    const ledger = await open();
    await ledger.record([
      entry({ connection: 'crm-eu', outcome: 'deactivating' }),
      entry({ connection: 'crm', outcome: 'deactivating' }),
    ]);
    await ledger.record([entry({ connection: 'crm-eu' }), entry({ connection: 'crm' })]);
    expect((await ledger.history(entry().email)).map((e) => `${e.connection} ${e.outcome}`)).toEqual([
      'crm deactivating',
      'crm deactivated',
      'crm-eu deactivating',
      'crm-eu deactivated',
    ]);
  });

  it('--since keeps entries at or after the date', async () => {
    const ledger = await open();
    await ledger.record([
      entry({ at: '2026-10-01T00:00:00.000Z' }),
      entry({ at: '2026-11-15T00:00:00.000Z', executionId: 'c' }),
    ]);
    const since = await ledger.history(entry().email, new Date('2026-11-01'));
    expect(since.map((e) => e.at)).toEqual(['2026-11-15T00:00:00.000Z']);
  });

  it('keeps a before-state too large for one item whole, in the evidence store, behind a reference', async () => {
    // Prepare: a record over DynamoDB's 400 KB item limit.
    const ledger = await open();
    const before = { USER_ID: 1002, ACTIVE: true, NOTES: 'n'.repeat(LEDGER_ITEM_LIMIT + 50_000) };
    // Act
    await ledger.record([entry({ before })]);
    // Assess
    const [kept] = await ledger.history(entry().email);
    expect(kept?.before).toBeUndefined();
    expect(await ledger.blobs().get(kept?.beforeRef as never)).toEqual(before);
    const plan = restorePlan(await ledger.history(entry().email), ['insightly']);
    expect(plan.insightly?.beforeRef).toEqual(kept?.beforeRef);
  });

  it('lists the accounts switched off, page by page, latest outcome winning', async () => {
    const ledger = await open();
    await ledger.record([
      entry({ email: 'a@example.com', userId: '1' }),
      entry({ email: 'b@example.com', userId: '2' }),
      entry({ email: 'c@example.com', userId: '3' }),
      entry({ email: 'c@example.com', userId: '3', outcome: 'reactivated', at: '2026-11-22T00:00:00.000Z' }),
      // An older write arriving late does not turn the account back off.
      entry({ email: 'c@example.com', userId: '3', at: '2026-11-01T00:00:00.000Z', executionId: 'old' }),
      // A dry run and an intent say nothing about where the account stands.
      entry({ email: 'd@example.com', userId: '4', dryRun: true }),
      entry({ email: 'e@example.com', userId: '5', outcome: 'deactivating' }),
    ]);
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await ledger.offboardedAccounts(cursor, 1);
      seen.push(...page.accounts.map((a) => a.email));
      cursor = page.cursor;
    } while (cursor);
    expect(seen.sort()).toEqual(['a@example.com', 'b@example.com']);
  });

  it('fills each page with accounts, however many entries lie between them', async () => {
    // Prepare: 30 people switched off, each with an intent and an outcome beside the state
    // DynamoDB keeps of the account (three items a person, one of them an account)
    const ledger = await open();
    const people = Array.from({ length: 30 }, (_, i) => `p${String(i).padStart(2, '0')}@example.com`);
    await ledger.record(
      people.flatMap((email, i) => [
        entry({ email, userId: String(i), outcome: 'deactivating' }),
        entry({ email, userId: String(i) }),
      ]),
    );
    // Act
    const first = await ledger.offboardedAccounts(undefined, 25);
    const second = await ledger.offboardedAccounts(first.cursor, 25);
    // Assess: a page of 25 holds 25 accounts (a scan limited to 25 items held about 8), and
    // the next holds the rest, none twice
    expect(first.accounts).toHaveLength(25);
    expect([...first.accounts, ...second.accounts].map((a) => a.email).sort()).toEqual(people);
  });

  it('claims a termination once; a resent event is a recorded duplicate', async () => {
    const ledger = await open();
    const first = await ledger.claim('termination#e1#2026-11-20', {
      executionId: 'x1',
      eventId: 'ev1',
      at: entry().at,
    });
    const again = await ledger.claim('termination#e1#2026-11-20', {
      executionId: 'x1',
      eventId: 'ev1',
      at: entry().at,
    });
    const resent = await ledger.claim('termination#e1#2026-11-20', {
      executionId: 'x2',
      eventId: 'ev2',
      at: entry().at,
    });
    expect([first, again, resent]).toEqual([
      { duplicate: false, firstExecutionId: 'x1' },
      { duplicate: false, firstExecutionId: 'x1' },
      { duplicate: true, firstExecutionId: 'x1' },
    ]);
  });
});

describe('DynamoDbLedger claims', () => {
  it('an expired claim no longer makes a duplicate, even before the TTL sweep removes it', async () => {
    await dynamo.createTable('claims', true);
    const ledger = new DynamoDbLedger('claims', dynamo.client, () => new MemoryBlobStore());
    await ledger.claim('k', { executionId: 'x1', eventId: 'e1', at: '2026-01-01T00:00:00.000Z' });
    const later = await ledger.claim('k', {
      executionId: 'x2',
      eventId: 'e2',
      at: '2026-02-15T00:00:00.000Z',
    });
    expect(later).toEqual({ duplicate: false, firstExecutionId: 'x2' });
  });
});

describe('DynamoDbLedger errors', () => {
  it('says Ledger.Unavailable when DynamoDB throttles, so the state machine retries', async () => {
    const throttled = Object.assign(new Error('Rate of requests exceeds the allowed throughput'), {
      name: 'ProvisionedThroughputExceededException',
      $metadata: { httpStatusCode: 400 },
    });
    const ledger = new DynamoDbLedger('ledger', { send: async () => Promise.reject(throttled) } as never);
    await expect(ledger.record([entry()])).rejects.toMatchObject({ name: 'Ledger.Unavailable' });
  });

  it('says Ledger.WriteFailed, loudly, when the table refuses the write for good', async () => {
    const ledger = new DynamoDbLedger('no-such-table', dynamo.client, () => new MemoryBlobStore());
    await expect(ledger.record([entry()])).rejects.toMatchObject({ name: 'Ledger.WriteFailed' });
  });
});

describe('the local ledger', () => {
  it('is shared by several commands at once: each opened on the same directory sees the others', async () => {
    // Prepare
    const dir = mkdtempSync(join(tmpdir(), 'offboard-'));
    const [one, two] = await Promise.all([openLocalLedger(dir), openLocalLedger(dir)]);
    // Act
    await Promise.all([
      one?.ledger.record([entry({ executionId: 'one' })]),
      two?.ledger.record([entry({ executionId: 'two' })]),
    ]);
    // Assess
    expect((await one?.ledger.history(entry().email))?.map((e) => e.executionId)).toEqual(['one', 'two']);
    await Promise.all([one?.close(), two?.close()]);
  });
});

describe('history is in the order things happened', () => {
  it('an execution that waited acts later than one started after it: the plan and --since follow when it acted', async () => {
    // Prepare: E1 started on day 0 and waited for effectiveAt; E2 started and acted on day 1;
    // E1 acted on day 10.
    const blobs = new MemoryBlobStore();
    const ledger = new SqliteLedger(':memory:', () => blobs);
    await ledger.record([
      entry({
        executionId: 'E2',
        startedAt: '2026-11-01T00:00:00.000Z',
        at: '2026-11-01T00:01:00.000Z',
        before: { v: 'E2' },
      }),
      entry({
        executionId: 'E1',
        startedAt: '2026-10-31T00:00:00.000Z',
        at: '2026-11-10T00:00:00.000Z',
        before: { v: 'E1' },
      }),
    ]);
    // Act
    const history = await ledger.history(entry().email);
    const since = await ledger.history(entry().email, new Date('2026-11-05T00:00:00Z'));
    // Assess
    expect(history.map((e) => e.executionId)).toEqual(['E2', 'E1']);
    expect(since.map((e) => e.executionId)).toEqual(['E1']);
    expect(restorePlan(history, ['insightly']).insightly?.before).toEqual({ v: 'E1' });
    expect(await ledger.offboardedAccounts()).toMatchObject({ accounts: [{ userId: '1002' }] });
  });
});

describe('restorePlan', () => {
  it('restores from the latest real deactivation or write-ahead intent, never from a dry run', () => {
    const plan = restorePlan(
      [
        entry({ executionId: 'a', before: { v: 1 } }),
        entry({
          executionId: 'b',
          outcome: 'deactivating',
          before: { v: 2 },
          at: '2026-11-21T00:00:00.000Z',
        }),
        entry({ executionId: 'c', dryRun: true, before: { v: 3 }, at: '2026-11-22T00:00:00.000Z' }),
        entry({ connection: 'other', outcome: 'not-found', before: undefined }),
      ],
      ['insightly', 'other'],
    );
    expect(plan).toEqual({
      insightly: {
        userId: '1002',
        before: { v: 2 },
        deactivatedAt: '2026-11-21T00:00:00.000Z',
        executionId: 'b',
      },
      other: null,
    });
  });
});

describe('restorePlan after a reactivation', () => {
  it('restores nothing a reactivation has already undone, until a later deactivation', () => {
    const deactivated = entry({ executionId: 'a', before: { v: 1 } });
    const undone = (outcome: 'reactivated' | 'already-active', at: string) =>
      entry({ executionId: `undo-${outcome}`, outcome, before: undefined, at });
    for (const outcome of ['reactivated', 'already-active'] as const) {
      expect(restorePlan([deactivated, undone(outcome, '2026-11-21T00:00:00.000Z')], ['insightly'])).toEqual({
        insightly: null,
      });
    }
    // A dry run undoes nothing; a deactivation after the undo is restorable again.
    const dry = entry({
      executionId: 'd',
      outcome: 'reactivated',
      dryRun: true,
      at: '2026-11-21T00:00:00.000Z',
    });
    expect(restorePlan([deactivated, dry], ['insightly']).insightly?.executionId).toBe('a');
    const again = entry({ executionId: 'b', before: { v: 2 }, at: '2026-11-22T00:00:00.000Z' });
    expect(
      restorePlan([deactivated, undone('reactivated', '2026-11-21T00:00:00.000Z'), again], ['insightly'])
        .insightly?.before,
    ).toEqual({ v: 2 });
  });
});

describe('ledgerEntries', () => {
  it('takes the before-state from the outcome, or from where a failed connection stopped', () => {
    const entries = ledgerEntries(
      {
        email: 'jane.doe@example.com',
        dryRun: false,
        executionId: 'x',
        startedAt: '2026-11-23T00:00:00.000Z',
        results: [
          {
            name: 'a',
            type: 'insightly',
            outcome: 'deactivated',
            userId: '1',
            record: { id: '1', fields: { ACTIVE: true } },
          },
          {
            name: 'b',
            type: 'gainsight',
            outcome: 'failed',
            error: {
              Error: 'Vendor.AuthFailed',
              Cause: '{"errorType":"Vendor.AuthFailed","errorMessage":"b: HTTP 401"}',
            },
            state: { lookup: { value: { userId: 'u1' } }, record: { value: { fields: { isActive: true } } } },
          },
          { name: 'c', type: 'scim', outcome: 'not-found' },
          {
            name: 'd',
            type: 'scim',
            outcome: 'already-inactive',
            userId: 'd1',
            record: { id: 'd1', fieldsRef: { sha256: 'a'.repeat(64), bytes: 9000 } },
          },
        ],
      },
      '2026-11-23T00:05:00.000Z',
    );
    expect(entries).toEqual([
      expect.objectContaining({ connection: 'a', userId: '1', before: { ACTIVE: true } }),
      expect.objectContaining({
        connection: 'b',
        userId: 'u1',
        before: { isActive: true },
        error: { name: 'Vendor.AuthFailed', message: 'b: HTTP 401' },
      }),
      {
        email: 'jane.doe@example.com',
        connection: 'c',
        type: 'scim',
        outcome: 'not-found',
        dryRun: false,
        at: '2026-11-23T00:05:00.000Z',
        startedAt: '2026-11-23T00:00:00.000Z',
        executionId: 'x',
      },
      expect.objectContaining({ connection: 'd', beforeRef: { sha256: 'a'.repeat(64), bytes: 9000 } }),
    ]);
  });
});
