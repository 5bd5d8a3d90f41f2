import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { brakeFromEnv, brakeHistory, countOffboarding, resolveBrake } from '../../../lambdas/shared/brake';
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

describe('a pause answered before any waiting run noted it', () => {
  it.each([
    [true, 'released'],
    [false, 'refused'],
  ])(
    '(ok %s) is closed by the next count, which is counted afresh, not let through by it',
    async (ok, outcome) => {
      // Prepare: a limit of 1; the second offboarding opens a pause, which a person then answers
      const store = SqliteLedger.inMemory();
      const config = { limit: 1, windowMinutes: 60 };
      const answers = new Map<string, { ok: boolean; by: string; at: string; reason?: string }>();
      const deps = { store, config, answers: { get: async (id: string) => ({ answer: answers.get(id) }) } };
      await countOffboarding(deps, { executionId: 'exec-1', email: 'one@example.com' });
      const second = await countOffboarding(deps, { executionId: 'exec-2', email: 'two@example.com' });
      if (!('pause' in second)) throw new Error('the second offboarding was not paused');
      answers.set(second.pause.id, {
        ok,
        by: 'Ann Admin',
        at: '2026-12-01T09:00:00.000Z',
        reason: 'a wrong feed',
      });
      // Act: a third starts before the waiting run has noted the answer
      const third = await countOffboarding(deps, { executionId: 'exec-3', email: 'three@example.com' });
      // Assess: released, the window counts afresh and the third is its first; refused, the
      // window is still full and the third opens a new pause (the answered one is over)
      if (ok) expect(third).toEqual({ counted: true, count: 1 });
      else {
        if (!('pause' in third)) throw new Error('the third offboarding went through a full window');
        expect(third.pause.id).not.toBe(second.pause.id);
      }
      // By id: a refusal's new pause may open in the same millisecond, and sort before it
      const pauses = await brakeHistory(store);
      expect(pauses.find((p) => p.id === second.pause.id)).toMatchObject({ outcome, by: 'Ann Admin' });
    },
  );
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
