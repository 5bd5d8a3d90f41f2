/**
 * The ledger of local runs: SQLite (Node's built-in `node:sqlite`), one file under
 * `.offboard/`. SQLite lets many processes read and write the same file at once (WAL
 * journal, a busy timeout), so eight `offboard run` commands started together all record
 * their evidence; and a committed write survives the process being killed a moment later,
 * which is what write-ahead evidence needs. The entries, keys and answers are the deployed
 * DynamoDB ledger's (lambdas/shared/ledger.ts).
 */
import { DatabaseSync } from 'node:sqlite';
import { LedgerUnavailableError, LedgerWriteFailedError } from '../lambdas/shared/errors';
import { type BlobStore, MemoryBlobStore } from '../lambdas/shared/evidence';
import {
  accountState,
  BRAKE_STATE_SK,
  type BrakeLedger,
  type BrakeRecord,
  CLAIM_DAYS,
  entryKey,
  entrySchema,
  inOrder,
  type Ledger,
  type LedgerEntry,
  type OffboardedAccount,
  personKey,
  storableEntry,
} from '../lambdas/shared/ledger';

/** How long a write waits for another process's transaction before it gives up. */
const BUSY_TIMEOUT_MS = 30_000;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS entries (
  pk TEXT NOT NULL, sk TEXT NOT NULL, entry TEXT NOT NULL, PRIMARY KEY (pk, sk)
);
CREATE TABLE IF NOT EXISTS accounts (
  pk TEXT NOT NULL, connection TEXT NOT NULL, endpoint TEXT NOT NULL DEFAULT '', email TEXT NOT NULL,
  type TEXT NOT NULL, user_id TEXT NOT NULL, st TEXT NOT NULL, at TEXT NOT NULL,
  PRIMARY KEY (pk, connection, endpoint)
);
CREATE TABLE IF NOT EXISTS claims (
  key TEXT PRIMARY KEY, execution_id TEXT NOT NULL, event_id TEXT NOT NULL, at TEXT NOT NULL,
  expires INTEGER NOT NULL, duplicates TEXT NOT NULL DEFAULT '[]'
);
CREATE TABLE IF NOT EXISTS brake (
  key TEXT PRIMARY KEY, value TEXT NOT NULL, version INTEGER NOT NULL DEFAULT 0
);`;

/** A ledger in one SQLite file (or in memory: `:memory:`, for sandbox runs and tests). */
export class SqliteLedger implements Ledger, BrakeLedger {
  readonly #db: DatabaseSync;
  readonly #where: string;

  /** A ledger, and its evidence store, in memory: gone with the process. */
  static inMemory(): SqliteLedger {
    const blobs = new MemoryBlobStore();
    return new SqliteLedger(':memory:', () => blobs);
  }

  constructor(
    path: string,
    readonly blobs: () => BlobStore,
  ) {
    this.#where = path;
    this.#db = new DatabaseSync(path, { timeout: BUSY_TIMEOUT_MS });
    this.#db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
    if (path !== ':memory:') {
      // WAL: readers never block the one writer, and writers from many processes queue.
      // FULL: a committed entry is on disk before the vendor write it precedes is sent.
      this.#db.exec('PRAGMA journal_mode = WAL');
      this.#db.exec('PRAGMA synchronous = FULL');
    }
    this.#db.exec(SCHEMA);
  }

  async record(entries: readonly LedgerEntry[]): Promise<void> {
    // Outside the transaction: a large before-state goes to the evidence store first.
    const rows = await Promise.all(
      entries.map(async (entry) => ({ entry, text: await storableEntry(entry, this.blobs) })),
    );
    this.#write(() => {
      const put = this.#db.prepare('INSERT OR REPLACE INTO entries (pk, sk, entry) VALUES (?, ?, ?)');
      // The latest real outcome wins; a retried older write does not overwrite a newer state.
      const state = this.#db.prepare(
        `INSERT INTO accounts (pk, connection, endpoint, email, type, user_id, st, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (pk, connection, endpoint) DO UPDATE SET email = excluded.email, type = excluded.type,
           user_id = excluded.user_id, st = excluded.st, at = excluded.at
         WHERE accounts.at <= excluded.at`,
      );
      for (const { entry, text } of rows) {
        put.run(personKey(entry.email), entryKey(entry), text);
        const st = accountState(entry);
        if (st && entry.userId) {
          state.run(
            personKey(entry.email),
            entry.connection,
            entry.endpoint ?? '',
            entry.email,
            entry.type,
            entry.userId,
            st,
            entry.at,
          );
        }
      }
    });
  }

  async offboardedAccounts(
    cursor?: string,
    limit = 200,
  ): Promise<{ accounts: OffboardedAccount[]; cursor?: string }> {
    const offset = cursor ? Number(cursor) : 0;
    const rows = this.#db
      .prepare(
        `SELECT email, connection, endpoint, type, user_id FROM accounts WHERE st = 'off'
         ORDER BY pk, connection, endpoint LIMIT ? OFFSET ?`,
      )
      .all(limit + 1, offset) as Array<{
      email: string;
      connection: string;
      endpoint: string;
      type: string;
      user_id: string;
    }>;
    const accounts = rows.slice(0, limit).map((row) => ({
      email: row.email,
      connection: row.connection,
      ...(row.endpoint ? { endpoint: row.endpoint } : {}),
      type: row.type,
      userId: row.user_id,
    }));
    return { accounts, ...(rows.length > limit ? { cursor: String(offset + limit) } : {}) };
  }

  async claim(
    key: string,
    claimant: { executionId: string; eventId: string; at: string },
  ): Promise<{ duplicate: boolean; firstExecutionId: string }> {
    return this.#write(() => {
      const now = Math.floor(Date.parse(claimant.at) / 1000);
      // An expired claim no longer keeps resent events out (DynamoDB's TTL does this deployed).
      this.#db.prepare('DELETE FROM claims WHERE key = ? AND expires < ?').run(key, now);
      const inserted = this.#db
        .prepare(
          'INSERT OR IGNORE INTO claims (key, execution_id, event_id, at, expires) VALUES (?, ?, ?, ?, ?)',
        )
        .run(key, claimant.executionId, claimant.eventId, claimant.at, now + CLAIM_DAYS * 86_400);
      if (Number(inserted.changes) === 1) return { duplicate: false, firstExecutionId: claimant.executionId };
      const row = this.#db.prepare('SELECT execution_id, duplicates FROM claims WHERE key = ?').get(key) as {
        execution_id: string;
        duplicates: string;
      };
      if (row.execution_id === claimant.executionId) {
        return { duplicate: false, firstExecutionId: row.execution_id };
      }
      const duplicates = [...(JSON.parse(row.duplicates) as unknown[]), claimant];
      this.#db.prepare('UPDATE claims SET duplicates = ? WHERE key = ?').run(JSON.stringify(duplicates), key);
      return { duplicate: true, firstExecutionId: row.execution_id };
    });
  }

  async history(email: string, since?: Date): Promise<LedgerEntry[]> {
    // The key holds when an execution started; `since` is about when things happened.
    const rows = this.#db.prepare('SELECT entry FROM entries WHERE pk = ?').all(personKey(email)) as Array<{
      entry: string;
    }>;
    return inOrder(
      rows.map((row) => entrySchema.parse(JSON.parse(row.entry)) as LedgerEntry),
      since,
    );
  }

  async brakeState(): Promise<{ state: unknown; version: number }> {
    const row = this.#db.prepare('SELECT value, version FROM brake WHERE key = ?').get(BRAKE_STATE_SK) as
      | { value: string; version: number }
      | undefined;
    return row
      ? { state: JSON.parse(row.value), version: Number(row.version) }
      : { state: undefined, version: 0 };
  }

  async saveBrakeState(
    state: unknown,
    version: number,
    records: readonly BrakeRecord[] = [],
  ): Promise<boolean> {
    // One transaction: the version check, the state and its records, as one write.
    return this.#write(() => {
      const row = this.#db.prepare('SELECT version FROM brake WHERE key = ?').get(BRAKE_STATE_SK) as
        | { version: number }
        | undefined;
      if (Number(row?.version ?? 0) !== version) return false;
      const put = this.#db.prepare('INSERT OR REPLACE INTO brake (key, value, version) VALUES (?, ?, ?)');
      put.run(BRAKE_STATE_SK, JSON.stringify(state), version + 1);
      for (const record of records) put.run(record.key, JSON.stringify(record.value), 0);
      return true;
    });
  }

  async brakeRecords(prefix: string): Promise<BrakeRecord[]> {
    const rows = this.#db
      .prepare('SELECT key, value FROM brake WHERE key >= ? AND key < ? ORDER BY key')
      .all(prefix, `${prefix}\uffff`) as Array<{ key: string; value: string }>;
    return rows.map((row) => ({ key: row.key, value: JSON.parse(row.value) as Record<string, unknown> }));
  }

  /**
   * Whose entries an execution wrote (`offboard retry <execution>`): at most `limit` addresses.
   * A local execution lives only in its process, so the ledger is what remembers it. A full
   * scan: a laptop's ledger is small, and a retry is rare.
   */
  emailsOfExecution(executionId: string, limit = 2): string[] {
    const rows = this.#db
      .prepare(
        `SELECT DISTINCT json_extract(entry, '$.email') AS email FROM entries
         WHERE json_extract(entry, '$.executionId') = ? LIMIT ?`,
      )
      .all(executionId, limit) as Array<{ email: string }>;
    return rows.map((row) => row.email);
  }

  /** The duplicates recorded on a claim (tests and the report read them). */
  duplicatesOf(key: string): unknown[] {
    const row = this.#db.prepare('SELECT duplicates FROM claims WHERE key = ?').get(key) as
      | { duplicates: string }
      | undefined;
    return row ? (JSON.parse(row.duplicates) as unknown[]) : [];
  }

  close(): void {
    if (this.#db.isOpen) this.#db.close();
  }

  /**
   * One write transaction. `BEGIN IMMEDIATE` takes the write lock up front, so two processes
   * never both read, then both fail to upgrade. A lock held past the busy timeout is an
   * outage (retried); anything else is a write that failed.
   */
  #write<T>(work: () => T): T {
    try {
      this.#db.exec('BEGIN IMMEDIATE');
    } catch (error) {
      throw this.#error(error);
    }
    try {
      const result = work();
      this.#db.exec('COMMIT');
      return result;
    } catch (error) {
      if (this.#db.isTransaction) this.#db.exec('ROLLBACK');
      throw this.#error(error);
    }
  }

  #error(error: unknown): Error {
    const e = error as Error & { errcode?: number; errstr?: string };
    const message = `ledger ${this.#where}: ${e.message}`;
    // SQLITE_BUSY (5) and SQLITE_LOCKED (6): another process holds the file too long.
    if (e.errcode === 5 || e.errcode === 6) return new LedgerUnavailableError(message, { cause: error });
    return new LedgerWriteFailedError(message, { cause: error });
  }
}
