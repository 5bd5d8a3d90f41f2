import { z } from 'zod';

/** Connection types this build can offboard. One connector each, under lambdas/connectors/. */
export const CONNECTION_TYPES = [
  'insightly',
  'insightly-scim',
  'rapid7-insightvm',
  'rapid7-platform',
  'gainsight',
  'gainsight-scim',
  'scim',
] as const;
export type ConnectionType = (typeof CONNECTION_TYPES)[number];

/**
 * Types whose API offers no way to switch an account off: the state machine hands that
 * step to a person (a task with a task token) and verifies their work through the API.
 */
export const PERSON_DEACTIVATED_TYPES: ReadonlySet<ConnectionType> = new Set(['rapid7-platform']);

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * A vendor base URL (and an OAuth token URL): https, or plain http only on this machine (the
 * built-in sandboxes). Credentials belong in the secret, never in the URL, where logs, error
 * messages and the state payload would carry them; and a query string or fragment would be
 * mangled by the paths the client appends, so both are refused too. The messages never
 * repeat the URL: it may hold a password.
 */
export const baseUrlSchema = z
  .string()
  .trim()
  .refine((value) => URL.canParse(value), { message: 'must be an absolute URL', abort: true })
  .refine(
    (value) => {
      const url = new URL(value);
      return url.protocol === 'https:' || (url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname));
    },
    { message: 'must use https (plain http is allowed only for localhost sandboxes)' },
  )
  .refine(
    // WHATWG URL drops an empty user info ("https://@host"), so look at the authority itself.
    (value) => {
      const url = new URL(value);
      return url.username === '' && url.password === '' && !/^[a-z][a-z0-9+.-]*:\/\/[^/?#]*@/i.test(value);
    },
    {
      message: 'must not hold a user name or password (user:password@host): put credentials in the secret',
    },
  )
  .refine((value) => !value.includes('?'), { message: 'must not have a query string (?…)' })
  .refine((value) => !value.includes('#'), { message: 'must not have a fragment (#…)' })
  .transform((value) => value.replace(/\/+$/, ''));

/**
 * TLS for on-prem consoles, whose certificates are often self-signed. Verification stays on
 * by default; trust a private CA with `caCert` (PEM), or turn it off explicitly.
 */
export const tlsSchema = z.union([
  z
    .object({
      caCert: z
        .string()
        .includes('-----BEGIN CERTIFICATE-----', { message: 'caCert must be a PEM certificate' }),
    })
    .strict(),
  z.object({ rejectUnauthorized: z.literal(false) }).strict(),
]);
export type TlsOptions = z.infer<typeof tlsSchema>;

/**
 * The pace the workflow keeps for a connection, in fixed windows as vendors count: at most
 * `requests` in each window of `perSeconds` seconds and, with `requestsPerDay`, at most that
 * many in each UTC day as well (Gainsight: 100 an hour and 1,000 a day). Inside a window
 * requests go at once; windows start at fixed times (multiples of their length since the
 * epoch: hours on the hour, days at 00:00 UTC).
 */
export const rateLimitSchema = z
  .object({
    requests: z.number().int().positive(),
    perSeconds: z.number().positive(),
    requestsPerDay: z.number().int().positive().optional(),
  })
  .strict();

const connectionNameSchema = z
  .string()
  .regex(
    /^[a-z0-9][a-z0-9-]{0,62}$/,
    'use 1-63 lower-case letters, digits and dashes, starting with a letter or digit',
  );

/**
 * A connection as it travels through the state machine: where to go and which secret to
 * read, never the secret itself.
 */
export const connectionRefSchema = z.object({
  name: connectionNameSchema,
  type: z.enum(CONNECTION_TYPES),
  baseUrl: baseUrlSchema,
  tls: tlsSchema.optional(),
  /** Secrets Manager name or ARN (deployed). Absent locally: the runner holds the secret. */
  secretId: z.string().min(1).optional(),
  /** Lambda function that runs this connection's steps (deployed only). */
  functionName: z.string().min(1).optional(),
  /**
   * The pace kept across every execution (resolved from the config, or the vendor's
   * documented limit); absent: no pacing.
   */
  rateLimit: rateLimitSchema.optional(),
  /** Who switches the account off: the API, or a person (set by Normalize from the type). */
  deactivation: z.enum(['api', 'person']).optional(),
});
export type ConnectionRef = z.infer<typeof connectionRefSchema>;
export { connectionNameSchema };

/** SCIM 2.0 auth: a static bearer token, or OAuth client credentials (token cached until expiry). */
const scimSecretSchema = z.union([
  z.object({ token: z.string().min(1, 'token is empty') }),
  z.object({
    clientId: z.string().min(1),
    clientSecret: z.string().min(1),
    tokenUrl: baseUrlSchema,
  }),
]);

/** Secret JSON per connection type: the same fields in Secrets Manager and in a local config. */
export const secretSchemas = {
  insightly: z.object({ apiKey: z.string().min(1, 'apiKey is empty') }),
  'insightly-scim': scimSecretSchema,
  'rapid7-insightvm': z.object({ username: z.string().min(1), password: z.string().min(1) }),
  'rapid7-platform': z.object({ apiKey: z.string().min(1, 'apiKey is empty') }),
  gainsight: z.object({ accessKey: z.string().min(1, 'accessKey is empty') }),
  'gainsight-scim': scimSecretSchema,
  scim: scimSecretSchema,
} satisfies Record<ConnectionType, z.ZodType>;

export type ConnectionSecret<T extends ConnectionType> = z.infer<(typeof secretSchemas)[T]>;

/** A human-readable example of each type's secret, for errors and for the operator. */
export const SECRET_EXAMPLES: Record<ConnectionType, string> = {
  insightly: '{"apiKey":"<Insightly API key>"}',
  'insightly-scim': '{"token":"<SCIM bearer token>"}',
  'rapid7-insightvm': '{"username":"<console user>","password":"<password>"}',
  'rapid7-platform': '{"apiKey":"<organization API key>"}',
  gainsight: '{"accessKey":"<Gainsight access key>"}',
  'gainsight-scim':
    '{"clientId":"…","clientSecret":"…","tokenUrl":"https://<tenant>/v1/users/m2m/oauth/token"}',
  scim: '{"token":"<bearer token>"} or {"clientId":"…","clientSecret":"…","tokenUrl":"https://…/token"}',
};
