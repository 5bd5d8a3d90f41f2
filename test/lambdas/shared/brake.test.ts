import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { brakeFromEnv, countOffboarding, resolveBrake } from '../../../lambdas/shared/brake';
import { MemoryBlobStore } from '../../../lambdas/shared/evidence';
import { type BrakeLedger, DynamoDbLedger } from '../../../lambdas/shared/ledger';
import { loadConfigFile } from '../../../lib/config';
import { SqliteLedger } from '../../../local/sqlite-ledger';
import { type LocalDynamo, startDynalite } from '../../helpers/dynalite';

/** The brake's count against executions that count at the same moment, on both ledgers. */

let dynamo: LocalDynamo;
beforeAll(async () => {
  dynamo = await startDynalite();
});
afterAll(async () => {
  await dynamo.close();
});

describe.each([
  [
    'DynamoDB',
    async (): Promise<BrakeLedger[]> => {
      await dynamo.createTable('ledger-brake', true);
      const blobs = new MemoryBlobStore();
      // Thirty Lambdas: each its own client on the same table.
      return Array.from({ length: 30 }, () => new DynamoDbLedger('ledger-brake', dynamo.client, () => blobs));
    },
  ],
  [
    'SQLite',
    async (): Promise<BrakeLedger[]> => {
      const file = join(mkdtempSync(join(tmpdir(), 'brake-')), 'ledger.db');
      const blobs = new MemoryBlobStore();
      // Thirty processes: each its own connection to the same file.
      return Array.from({ length: 30 }, () => new SqliteLedger(file, () => blobs));
    },
  ],
])('the brake on %s', (_store, open) => {
  it('lets no more than 25 of 30 concurrent offboardings through; the other 5 wait on one pause', async () => {
    // Prepare
    const stores = await open();
    const config = resolveBrake();
    // Act: thirty executions count at once
    const decisions = await Promise.all(
      stores.map((store, i) =>
        countOffboarding({ store, config }, { executionId: `exec-${i}`, email: `leaver${i}@example.com` }),
      ),
    );
    // Assess
    const through = decisions.filter((d) => !('pause' in d) && d.counted);
    const paused = decisions.flatMap((d) => ('pause' in d ? [d.pause.id] : []));
    expect(through).toHaveLength(25);
    expect(paused).toHaveLength(5);
    expect(new Set(paused).size).toBe(1);
  }, 60_000);
});

describe('the brake settings', () => {
  it('refuses a limit of 0 in the config file, naming the key', () => {
    // Prepare
    const dir = mkdtempSync(join(tmpdir(), 'brake-config-'));
    const file = join(dir, 'offboard.json');
    writeFileSync(
      file,
      JSON.stringify({
        connections: [{ name: 'g', type: 'gainsight' }],
        brake: { limit: 0, windowMinutes: 60 },
      }),
    );
    // Act + Assess
    expect(() => loadConfigFile(file)).toThrow(
      /brake\.limit: must be at least 1 \(0 would pause every offboarding\)/,
    );
  });

  it('fills in the defaults, and refuses a bad deployed setting by its variable name', () => {
    expect(resolveBrake({ windowMinutes: 30 })).toEqual({ limit: 25, windowMinutes: 30 });
    expect(brakeFromEnv({})).toEqual({ limit: 25, windowMinutes: 60 });
    expect(() => brakeFromEnv({ OFFBOARD_BRAKE_LIMIT: '0' })).toThrow(
      /OFFBOARD_BRAKE_LIMIT must be at least 1/,
    );
    expect(() => brakeFromEnv({ OFFBOARD_BRAKE_LIMIT: '5000' })).toThrow(
      /OFFBOARD_BRAKE_LIMIT must be at most 1000 \(the brake keeps the counted runs of a window in one ledger item\)/,
    );
    expect(() => brakeFromEnv({ OFFBOARD_BRAKE_WINDOW_MINUTES: 'an hour' })).toThrow(
      /OFFBOARD_BRAKE_WINDOW_MINUTES must be a whole number/,
    );
  });
});
