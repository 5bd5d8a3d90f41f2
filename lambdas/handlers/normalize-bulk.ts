import type { S3Client } from '@aws-sdk/client-s3';
import middy from '@middy/core';
import { z } from 'zod';
import { type BulkRun, bulkRunName } from '../shared/bulk-run';
import { deployedConnections } from '../shared/deployed';
import { ConfigError, InvalidInputError } from '../shared/errors';
import { type BlobRef, type BlobStore, evidenceFromEnv } from '../shared/evidence';
import { describeIssues } from '../shared/issues';
import { handlerMiddlewares, logger } from '../shared/logger';
import { MAX_INLINE_PEOPLE, parsePeople } from '../shared/people';
import { type AvailableConnection, normalizeRequest, type StateConnection } from '../shared/request';

const bulkRequestSchema = z
  .object({
    emails: z.array(z.unknown()).optional(),
    source: z
      .object({ bucket: z.string().min(3), key: z.string().min(1) })
      .strict()
      .optional(),
    dryRun: z.boolean({ error: 'dryRun must be true or false' }).default(false),
    connections: z.array(z.string().min(1)).min(1).optional(),
    /** The bulk run this one retries (`offboard retry`): checked as a single run's `retryOf`. */
    retryOf: z.string().optional(),
  })
  .strict()
  .refine((r) => (r.emails === undefined) !== (r.source === undefined), {
    message:
      'give either emails (a list) or source ({bucket, key} of a list in S3: a CSV with an email column, one email a line, or a JSON array)',
  });

/**
 * What the state machine sends: the execution input as the person gave it, and the
 * execution's name from the context object. The name keeps the checked copy of each run
 * apart; it comes from Step Functions, so no input can pick another run's copy.
 */
const invocationSchema = z
  .object({
    request: z.unknown(),
    // Step Functions execution names: 1 to 80 characters, never a slash or white space.
    executionName: z
      .string()
      .min(1)
      .max(80)
      .regex(/^[^\s/]+$/),
    /** The execution's ARN: a retry's link is kept under it for the connectors' steps. */
    executionId: z.string().min(1).optional(),
  })
  .strict();

/** Reads an S3 object as UTF-8 text. */
export type ReadObject = (bucket: string, key: string) => Promise<string>;

/** The bulk run's checked input: the connections to run, and where the checked list is kept. */
export interface NormalizedBulk {
  dryRun: boolean;
  /** The connections to run, as a single run's state carries them. */
  connections: StateConnection[];
  count: number;
  /** The checked list (a JSON array of addresses) in the evidence store: all that is read after this. */
  peopleRef: BlobRef;
}

/**
 * First state of offboard-bulk: checks every entry of the list (inline, or a CSV or JSON
 * list in S3) and the options, before anyone is offboarded. Fails with `Input.Invalid`,
 * naming what was wrong. The checked list is kept in the evidence store by its SHA-256, and
 * every later step reads that copy: the people offboarded are the people checked, whatever
 * happens to the uploaded object meanwhile.
 */
export function normalizeBulkHandler(
  available: () => readonly AvailableConnection[],
  readObject: ReadObject,
  blobs: () => BlobStore,
) {
  return middy<unknown, NormalizedBulk>()
    .use(handlerMiddlewares())
    .handler(async (event) => {
      const invocation = invocationSchema.safeParse(event);
      // The state machine builds this envelope: a bad one is a deployment fault, not input.
      if (!invocation.success)
        throw new ConfigError(
          `normalize-bulk: expected {request, executionName} from the state machine: ${describeIssues(invocation.error)}`,
        );
      const { request, executionId } = invocation.data;
      const parsed = bulkRequestSchema.safeParse(request);
      if (!parsed.success) throw new InvalidInputError(`invalid input: ${describeIssues(parsed.error)}`);
      const { emails, source, dryRun, connections, retryOf } = parsed.data;
      let people: string[];
      if (source) {
        people = parsePeople(
          await readObject(source.bucket, source.key),
          `s3://${source.bucket}/${source.key}`,
        );
      } else {
        people = parsePeople(JSON.stringify(emails), 'emails');
        if (people.length > MAX_INLINE_PEOPLE) {
          throw new InvalidInputError(
            `invalid input: ${people.length} emails inline; above ${MAX_INLINE_PEOPLE}, put the list in S3 (CSV or JSON) and give source {bucket, key}`,
          );
        }
      }
      // The connection names and options get the same checks as one person's run.
      const run = normalizeRequest(
        { email: people[0], dryRun, connections, ...(retryOf ? { retryOf } : {}) },
        available(),
      );
      // Kept only once everything passed: a refused list leaves nothing to read.
      const peopleRef = await blobs().put(people);
      // The connectors' steps carry no request: they find the run's retryOf under its execution.
      if (retryOf) {
        if (!executionId)
          throw new ConfigError('normalize-bulk: a retry needs the executionId from the state machine');
        await blobs().putNamed(bulkRunName(executionId), { retryOf } satisfies BulkRun);
      }
      logger.info('bulk request accepted', {
        count: people.length,
        dryRun,
        source: source ? 's3' : 'inline',
        ...(retryOf ? { retryOf } : {}),
        people: peopleRef.sha256,
      });
      return { dryRun, connections: run.connections, count: people.length, peopleRef };
    });
}

let s3: S3Client | undefined;
export const handler = normalizeBulkHandler(
  deployedConnections,
  async (bucket, key) => {
    // Loaded only for a list in S3: most bulk runs give their people inline.
    const { GetObjectCommand, S3Client } = await import('@aws-sdk/client-s3');
    s3 ??= new S3Client({});
    const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return (await object.Body?.transformToString('utf8')) ?? '';
  },
  evidenceFromEnv,
);
