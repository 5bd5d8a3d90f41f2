import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BadRequestError } from '../lambdas/shared/errors';
import { type BlobRef, type BlobStore, serialize, verified } from '../lambdas/shared/evidence';
import type { Ledger } from '../lambdas/shared/ledger';
import { ConfigFileError } from '../lib/config';
import { writeWhole } from './files';
import { SqliteLedger } from './sqlite-ledger';

/** Where local runs keep their ledger, unless OFFBOARD_LEDGER_DIR says otherwise. */
export const DEFAULT_LEDGER_DIR = '.offboard';
/** The ledger's file in that directory. */
export const LEDGER_FILE = 'ledger.db';
/** Where before-states too large for an entry are kept whole, beside the ledger. */
export const EVIDENCE_DIR = 'evidence';

/** A ledger for local runs and the commands that read it. */
export interface LocalLedger {
  ledger: Ledger;
  /** Where it lives: a file, or `memory` (runs against the built-in sandboxes). */
  where: string;
  close(): Promise<void>;
}

/**
 * Opens the ledger local runs keep: SQLite in `<dir>/ledger.db`, large before-states in
 * `<dir>/evidence/`. Many offboard commands may have it open at once (see SqliteLedger).
 *
 * `dir: null` keeps everything in memory. That is the ledger of runs against the built-in
 * sandboxes: a sandbox starts afresh with every command, so what a run did to it means
 * nothing to a later command, and must never mix with the evidence of real runs (an audit
 * would report every sandbox account as drift).
 */
export async function openLocalLedger(
  dir: string | null = process.env.OFFBOARD_LEDGER_DIR ?? DEFAULT_LEDGER_DIR,
): Promise<LocalLedger> {
  if (dir === null) {
    const ledger = SqliteLedger.inMemory();
    return { ledger, where: 'memory', close: async () => ledger.close() };
  }
  mkdirSync(dir, { recursive: true });
  const blobs = new FileBlobStore(join(dir, EVIDENCE_DIR));
  const file = join(dir, LEDGER_FILE);
  const ledger = new SqliteLedger(file, () => blobs);
  return { ledger, where: file, close: async () => ledger.close() };
}

/**
 * Evidence as files, one a value, named by its hash. A file is written whole under a
 * temporary name, flushed to disk, then renamed: a reader never sees half of one, and a
 * process killed mid-write leaves no wrong file behind.
 */
export class FileBlobStore implements BlobStore {
  constructor(readonly dir: string) {}

  async put(value: unknown): Promise<BlobRef> {
    const { text, ref } = serialize(value);
    mkdirSync(this.dir, { recursive: true });
    await writeWhole(join(this.dir, `${ref.sha256}.json`), text, { durable: true });
    return ref;
  }

  /** Working state of a run, under `work/`: written whole, then renamed, as evidence is. */
  async putNamed(name: string, value: unknown): Promise<void> {
    const dir = join(this.dir, 'work');
    mkdirSync(dir, { recursive: true });
    await writeWhole(join(dir, `${name}.json`), JSON.stringify(value), { durable: true });
  }

  async getNamed(name: string): Promise<unknown> {
    try {
      return JSON.parse(readFileSync(join(this.dir, 'work', `${name}.json`), 'utf8'));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  async get(ref: BlobRef): Promise<unknown> {
    let text: string;
    try {
      text = readFileSync(this.#path(ref), 'utf8');
    } catch (error) {
      throw new BadRequestError(`evidence ${this.#path(ref)}: cannot read: ${(error as Error).message}`);
    }
    return verified(text, ref, this.#path(ref));
  }

  #path(ref: BlobRef): string {
    return join(this.dir, `${ref.sha256}.json`);
  }
}

/**
 * The ledger for a run on these connections: the real one (on disk) when every connection
 * is a real vendor, one in memory when every connection is a built-in sandbox. A config that
 * mixes the two is refused: the sandboxes start afresh with every command, so their evidence
 * must never sit beside real evidence (an audit would take every sandbox account for drift),
 * and one run writes one ledger.
 */
export async function openLedgerFor(prepared: {
  connections: ReadonlyArray<{ ref: { name: string } }>;
  sandboxes: ReadonlyMap<string, unknown>;
}): Promise<LocalLedger> {
  const sandboxed = prepared.connections.filter((c) => prepared.sandboxes.has(c.ref.name));
  if (sandboxed.length === 0) return openLocalLedger();
  if (sandboxed.length === prepared.connections.length) return openLocalLedger(null);
  const real = prepared.connections.filter((c) => !prepared.sandboxes.has(c.ref.name));
  throw new ConfigFileError(
    `this config mixes built-in sandboxes (${sandboxed.map((c) => c.ref.name).join(', ')}: no baseUrl) with real vendors ` +
      `(${real.map((c) => c.ref.name).join(', ')}); run them from separate configs, so that sandbox evidence never mixes with real evidence`,
  );
}
