import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  ResourceNotFoundException,
} from '@aws-sdk/client-dynamodb';
import dynalite from 'dynalite';
import { Ledger } from '../lambdas/shared/ledger';
import { ConfigFileError } from '../lib/config';

/** Where local runs keep their ledger, unless OFFBOARD_LEDGER_DIR says otherwise. */
export const DEFAULT_LEDGER_DIR = join('.offboard', 'ledger');
const TABLE = 'offboard-ledger';

/** A ledger for local runs and the commands that read it. */
export interface LocalLedger {
  ledger: Ledger;
  close(): Promise<void>;
}

/**
 * Starts an embedded DynamoDB (dynalite) on 127.0.0.1 and opens the ledger table in it: the
 * same DynamoDB code as deployed, not a stand-in. With a directory the entries persist (on
 * LevelDB), so `offboard report` shows earlier runs; without one they live in memory.
 */
export async function openLocalLedger(
  dir: string | null = process.env.OFFBOARD_LEDGER_DIR ?? DEFAULT_LEDGER_DIR,
): Promise<LocalLedger> {
  let unlock = () => {};
  if (dir) {
    mkdirSync(dir, { recursive: true });
    unlock = await lock(dir);
  }
  const server = dynalite({ ...(dir ? { path: dir } : {}), createTableMs: 0 });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const client = new DynamoDBClient({
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    region: 'local',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  try {
    await client.send(new DescribeTableCommand({ TableName: TABLE }));
  } catch (error) {
    if (!(error instanceof ResourceNotFoundException)) throw error;
    // The same key schema as the deployed table (lib/offboard-stack.ts).
    await client.send(
      new CreateTableCommand({
        TableName: TABLE,
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        AttributeDefinitions: [
          { AttributeName: 'pk', AttributeType: 'S' },
          { AttributeName: 'sk', AttributeType: 'S' },
        ],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
  }
  return {
    ledger: new Ledger(TABLE, client),
    async close() {
      client.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      unlock();
    },
  };
}

/**
 * One process at a time may open a ledger directory (LevelDB allows one). Another offboard
 * command waits for it a little, then says who holds it; a lock left by a process that is
 * gone is taken over.
 */
async function lock(dir: string, waitMs = 10_000): Promise<() => void> {
  const file = join(dir, 'offboard.lock');
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      writeFileSync(file, String(process.pid), { flag: 'wx' });
      return () => rmSync(file, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const holder = Number(readFileSync(file, 'utf8'));
    if (!isAlive(holder)) {
      rmSync(file, { force: true });
      continue;
    }
    if (Date.now() > deadline) {
      throw new ConfigFileError(
        `the local ledger ${dir} is in use by another offboard command (pid ${holder}); wait for it, or set OFFBOARD_LEDGER_DIR`,
      );
    }
    await sleep(200);
  }
}

function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
