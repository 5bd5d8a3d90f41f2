import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Ledger, type LedgerEntry, ledgerEntries } from '../../../lambdas/shared/ledger';
import { type LocalDynamo, startDynalite } from '../../helpers/dynalite';

/** The ledger on a real DynamoDB API (dynalite): what it keeps, and how it reads back. */

let dynamo: LocalDynamo;
beforeAll(async () => {
  dynamo = await startDynalite();
  await dynamo.createTable('ledger', true);
});
afterAll(async () => {
  await dynamo.close();
});

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

describe('Ledger', () => {
  it('keeps every entry with its before-state, and reads a person back oldest first, whatever the case of the email', async () => {
    // Prepare
    const ledger = new Ledger('ledger', dynamo.client);
    const later = entry({ at: '2026-11-21T09:00:00.000Z', outcome: 'already-inactive', executionId: 'b' });
    // Act
    await ledger.record([later, entry()]);
    // Assess
    const history = await ledger.history('jane.doe@EXAMPLE.com');
    expect(history).toEqual([entry(), later]);
  });

  it('a retried write changes nothing: the key comes from the execution', async () => {
    const ledger = new Ledger('ledger', dynamo.client);
    const once = entry({ email: 'sam@example.com' });
    await ledger.record([once]);
    await ledger.record([once]);
    expect(await ledger.history('sam@example.com')).toHaveLength(1);
  });

  it('--since keeps entries at or after the date', async () => {
    const ledger = new Ledger('ledger', dynamo.client);
    await ledger.record([
      entry({ email: 'kim@example.com', at: '2026-10-01T00:00:00.000Z' }),
      entry({ email: 'kim@example.com', at: '2026-11-15T00:00:00.000Z', executionId: 'c' }),
    ]);
    const since = await ledger.history('kim@example.com', new Date('2026-11-01'));
    expect(since.map((e) => e.at)).toEqual(['2026-11-15T00:00:00.000Z']);
  });

  it('says Ledger.Unavailable when DynamoDB throttles, so the state machine retries', async () => {
    const throttled = Object.assign(new Error('Rate of requests exceeds the allowed throughput'), {
      name: 'ProvisionedThroughputExceededException',
      $metadata: { httpStatusCode: 400 },
    });
    const ledger = new Ledger('ledger', { send: async () => Promise.reject(throttled) } as never);
    await expect(ledger.record([entry()])).rejects.toMatchObject({ name: 'Ledger.Unavailable' });
  });
});

describe('ledgerEntries', () => {
  it('takes the before-state from the outcome, or from where a failed connection stopped', () => {
    const entries = ledgerEntries({
      email: 'jane.doe@example.com',
      dryRun: false,
      executionId: 'x',
      startedAt: '2026-11-23T00:00:00.000Z',
      results: [
        { name: 'a', type: 'insightly', outcome: 'deactivated', userId: '1', before: { ACTIVE: true } },
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
      ],
    });
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
        at: '2026-11-23T00:00:00.000Z',
        executionId: 'x',
      },
    ]);
  });
});
