import { z } from 'zod';

/** Connection types this build can offboard. One connector each, under lambdas/connectors/. */
export const CONNECTION_TYPES = ['insightly'] as const;
export type ConnectionType = (typeof CONNECTION_TYPES)[number];

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/** A vendor base URL: https, or plain http only on this machine (the built-in sandboxes). */
export const baseUrlSchema = z
  .string()
  .trim()
  .refine((value) => URL.canParse(value), { message: 'must be an absolute URL' })
  .refine(
    (value) => {
      const url = new URL(value);
      return url.protocol === 'https:' || (url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname));
    },
    { message: 'must use https (plain http is allowed only for localhost sandboxes)' },
  )
  .transform((value) => value.replace(/\/+$/, ''));

/**
 * A connection as it travels through the state machine: where to go and which secret to
 * read, never the secret itself.
 */
export const connectionRefSchema = z.object({
  name: z
    .string()
    .regex(
      /^[a-z0-9][a-z0-9-]{0,62}$/,
      'use 1-63 lower-case letters, digits and dashes, starting with a letter or digit',
    ),
  type: z.enum(CONNECTION_TYPES),
  baseUrl: baseUrlSchema,
  /** Secrets Manager name or ARN (deployed). Absent locally: the runner holds the secret. */
  secretId: z.string().min(1).optional(),
  /** Lambda function that runs this connection's steps (deployed only). */
  functionName: z.string().min(1).optional(),
});
export type ConnectionRef = z.infer<typeof connectionRefSchema>;

/** Secret JSON per connection type: the same fields in Secrets Manager and in a local config. */
export const secretSchemas = {
  insightly: z.object({ apiKey: z.string().min(1, 'apiKey is empty') }),
} satisfies Record<ConnectionType, z.ZodType>;

export type ConnectionSecret<T extends ConnectionType> = z.infer<(typeof secretSchemas)[T]>;
