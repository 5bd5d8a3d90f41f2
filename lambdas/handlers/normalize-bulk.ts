import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import middy from '@middy/core';
import { z } from 'zod';
import type { ConnectionRef } from '../shared/connections';
import { InvalidInputError } from '../shared/errors';
import { describeIssues } from '../shared/issues';
import { handlerMiddlewares, logger } from '../shared/logger';
import { MAX_INLINE_PEOPLE, parsePeople } from '../shared/people';
import { normalizeRequest } from '../shared/request';
import { deployedConnections } from './normalize';

const bulkRequestSchema = z
  .object({
    emails: z.array(z.unknown()).optional(),
    source: z
      .object({ bucket: z.string().min(3), key: z.string().min(1) })
      .strict()
      .optional(),
    dryRun: z.boolean({ error: 'dryRun must be true or false' }).default(false),
    connections: z.array(z.string().min(1)).min(1).optional(),
  })
  .strict()
  .refine((r) => (r.emails === undefined) !== (r.source === undefined), {
    message:
      'give either emails (a list) or source ({bucket, key} of a CSV with an email column, or a JSON array of {email})',
  });

/** The bulk run's checked input: the people inline, or where the Map reads them. */
export interface NormalizedBulk {
  dryRun: boolean;
  connections: string[] | null;
  count: number;
  people?: Array<{ email: string }>;
  source?: { bucket: string; key: string };
  /** How the DISTRIBUTED Map reads the S3 list. */
  format?: 'csv' | 'json';
}

function jsonObjects(text: string): boolean {
  try {
    const items: unknown = JSON.parse(text);
    return Array.isArray(items) && items.every((item) => item !== null && typeof item === 'object');
  } catch {
    return true; // parsePeople names the JSON error itself
  }
}

/**
 * First state of offboard-bulk: checks every entry of the list (inline, or the CSV in S3)
 * and the options, before anyone is offboarded. Fails with `Input.Invalid`, naming what
 * was wrong.
 */
export function normalizeBulkHandler(
  available: () => ConnectionRef[],
  readObject: (bucket: string, key: string) => Promise<string>,
) {
  return middy<unknown, NormalizedBulk>()
    .use(handlerMiddlewares())
    .handler(async (event) => {
      const parsed = bulkRequestSchema.safeParse(event);
      if (!parsed.success) throw new InvalidInputError(`invalid input: ${describeIssues(parsed.error)}`);
      const { emails, source, dryRun, connections } = parsed.data;
      let people: string[];
      let format: 'csv' | 'json' | undefined;
      if (source) {
        const where = `s3://${source.bucket}/${source.key}`;
        const text = await readObject(source.bucket, source.key);
        format = text.trimStart().startsWith('[') ? 'json' : 'csv';
        // The Map reads the same object itself and picks `email` out of each item by name.
        if (format === 'csv') {
          const header = (text.split(/\r?\n/, 1)[0] ?? '')
            .split(',')
            .map((cell) => cell.trim().replace(/^"|"$/g, ''));
          if (!header.includes('email')) {
            throw new InvalidInputError(`${where}: the first row must be a header with an "email" column`);
          }
        } else if (!jsonObjects(text)) {
          throw new InvalidInputError(`${where}: a JSON list in S3 must hold objects like {"email": "…"}`);
        }
        people = parsePeople(text, where);
      } else {
        people = parsePeople(JSON.stringify(emails), 'emails');
        if (people.length > MAX_INLINE_PEOPLE) {
          throw new InvalidInputError(
            `invalid input: ${people.length} emails inline; above ${MAX_INLINE_PEOPLE}, put the list in S3 (CSV or JSON) and give source {bucket, key}`,
          );
        }
      }
      // The connection names and options get the same checks as one person's run.
      normalizeRequest({ email: people[0], dryRun, connections }, available());
      logger.info('bulk request accepted', {
        count: people.length,
        dryRun,
        source: source ? 's3' : 'inline',
      });
      return {
        dryRun,
        connections: connections ?? null,
        count: people.length,
        ...(source ? { source, format } : { people: people.map((email) => ({ email })) }),
      };
    });
}

const s3 = new S3Client({});
export const handler = normalizeBulkHandler(deployedConnections, async (bucket, key) => {
  const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return (await object.Body?.transformToString('utf8')) ?? '';
});
