/**
 * Evidence too large to travel in a state payload (256 KB) or to fit in one ledger item
 * (DynamoDB's 400 KB) is kept whole in a blob store and referred to by its SHA-256: S3 when
 * deployed (the stack's evidence bucket), files under `.offboard/` locally. Nothing is ever
 * cut short or dropped: a record is either carried inline or stored here, and read back whole.
 */
import { createHash } from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';
import { BadRequestError, ConfigError, LedgerUnavailableError, LedgerWriteFailedError } from './errors';

/** Where a stored value is: its content hash (which is also its name) and its size. */
export const blobRefSchema = z
  .object({
    sha256: z.string().regex(/^[0-9a-f]{64}$/, 'sha256 must be 64 hex digits'),
    bytes: z.number().int().nonnegative(),
  })
  .strict();
export type BlobRef = z.infer<typeof blobRefSchema>;

/** Keeps JSON values whole, by content hash. Writing the same value twice is harmless. */
export interface BlobStore {
  put(value: unknown): Promise<BlobRef>;
  /** The value stored under `ref`; refuses one whose content does not match the hash. */
  get(ref: BlobRef): Promise<unknown>;
  /**
   * Keeps a run's working state under a name of the run's own (a bulk run's progress on one
   * connection, its directory snapshot): a step retried by the state machine, in another
   * Lambda, picks up where the last one left. Deployed it expires with the run
   * (`bulk/`, after days): it is work in progress, never evidence.
   */
  putNamed(name: string, value: unknown): Promise<void>;
  /** The value last kept under `name`, or undefined when none was. */
  getNamed(name: string): Promise<unknown>;
}

/** A name for `putNamed`: safe as a file or S3 key whatever the run's ids hold. */
export function workName(...parts: string[]): string {
  return createHash('sha256').update(parts.join('\u0000')).digest('hex');
}

/** The JSON text a value is stored as, and its reference. */
export function serialize(value: unknown): { text: string; ref: BlobRef } {
  const text = JSON.stringify(value);
  return {
    text,
    ref: { sha256: createHash('sha256').update(text).digest('hex'), bytes: Buffer.byteLength(text) },
  };
}

/** Parses what a store returned, checking it is what `ref` names. */
export function verified(text: string, ref: BlobRef, where: string): unknown {
  const actual = createHash('sha256').update(text).digest('hex');
  if (actual !== ref.sha256) {
    throw new BadRequestError(`${where}: evidence ${ref.sha256} does not match its content (got ${actual})`);
  }
  return JSON.parse(text);
}

/** Held in memory: tests, and runs against the built-in sandboxes (whose evidence dies with them). */
export class MemoryBlobStore implements BlobStore {
  readonly #blobs = new Map<string, string>();
  readonly #named = new Map<string, string>();

  async putNamed(name: string, value: unknown): Promise<void> {
    this.#named.set(name, JSON.stringify(value));
  }

  async getNamed(name: string): Promise<unknown> {
    const text = this.#named.get(name);
    return text === undefined ? undefined : JSON.parse(text);
  }

  async put(value: unknown): Promise<BlobRef> {
    const { text, ref } = serialize(value);
    this.#blobs.set(ref.sha256, text);
    return ref;
  }

  async get(ref: BlobRef): Promise<unknown> {
    const text = this.#blobs.get(ref.sha256);
    if (text === undefined) throw new BadRequestError(`evidence ${ref.sha256}: not in this store`);
    return verified(text, ref, 'memory');
  }
}

/** S3 keys of evidence: one object a value, named by its hash, under one prefix the functions may use. */
export const EVIDENCE_PREFIX = 'evidence/';
/** S3 keys of a run's working state (see `BlobStore.putNamed`): expired by the bucket after days. */
export const WORK_PREFIX = 'bulk/';

type S3Module = typeof import('@aws-sdk/client-s3');
let s3Module: Promise<S3Module> | undefined;

/**
 * The S3 client's module, loaded the first time a step needs the bucket: most steps never do
 * (only records too large for the state, and bulk runs), and loading it costs a cold start
 * some 100 ms.
 */
function loadS3(): Promise<S3Module> {
  s3Module ??= import('@aws-sdk/client-s3');
  return s3Module;
}

/** The stack's evidence bucket (deployed). */
export class S3BlobStore implements BlobStore {
  #client: S3Client | undefined;

  constructor(
    readonly bucket: string,
    client?: S3Client,
  ) {
    this.#client = client;
  }

  async put(value: unknown): Promise<BlobRef> {
    const { text, ref } = serialize(value);
    await this.#put(`${EVIDENCE_PREFIX}${ref.sha256}.json`, text);
    return ref;
  }

  async putNamed(name: string, value: unknown): Promise<void> {
    await this.#put(`${WORK_PREFIX}${name}.json`, JSON.stringify(value));
  }

  async getNamed(name: string): Promise<unknown> {
    const text = await this.#get(`${WORK_PREFIX}${name}.json`, { missing: true });
    return text === undefined ? undefined : JSON.parse(text);
  }

  async get(ref: BlobRef): Promise<unknown> {
    const text = (await this.#get(`${EVIDENCE_PREFIX}${ref.sha256}.json`)) ?? '';
    return verified(text, ref, `s3://${this.bucket}`);
  }

  async #put(key: string, body: string): Promise<void> {
    const s3 = await loadS3();
    this.#client ??= new s3.S3Client({});
    try {
      await this.#client.send(
        new s3.PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: body,
          ContentType: 'application/json',
          ChecksumAlgorithm: 'SHA256',
        }),
      );
    } catch (error) {
      throw storeError(this.bucket, 'put', error);
    }
  }

  /** The object's text; undefined for a missing one when `missing` allows it. */
  async #get(key: string, { missing = false } = {}): Promise<string | undefined> {
    const s3 = await loadS3();
    this.#client ??= new s3.S3Client({});
    try {
      const object = await this.#client.send(new s3.GetObjectCommand({ Bucket: this.bucket, Key: key }));
      return (await object.Body?.transformToString('utf8')) ?? '';
    } catch (error) {
      if (missing && (error as Error).name === 'NoSuchKey') return undefined;
      throw storeError(this.bucket, 'get', error);
    }
  }
}

/** Throttling, 5xx and network trouble are retried by the state machine; anything else is final. */
function storeError(bucket: string, what: string, error: unknown): Error {
  const e = error as Error & { $retryable?: unknown; $metadata?: { httpStatusCode?: number } };
  const message = `evidence bucket ${bucket}: ${what}: ${e.name}: ${e.message}`;
  const status = e.$metadata?.httpStatusCode ?? 0;
  if (e.$retryable || status >= 500 || /Throttl|SlowDown|RequestTimeout/.test(e.name)) {
    return new LedgerUnavailableError(message, { cause: error });
  }
  return new LedgerWriteFailedError(message, { cause: error });
}

let deployed: BlobStore | undefined;

/** The deployed evidence store, named by the stack in `OFFBOARD_EVIDENCE_BUCKET`. */
export function evidenceFromEnv(): BlobStore {
  const bucket = process.env.OFFBOARD_EVIDENCE_BUCKET;
  if (!bucket) {
    throw new ConfigError('OFFBOARD_EVIDENCE_BUCKET is not set: the stack names the evidence bucket');
  }
  deployed ??= new S3BlobStore(bucket);
  return deployed;
}
