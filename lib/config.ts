import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import {
  baseUrlSchema,
  CONNECTION_TYPES,
  connectionNameSchema,
  rateLimitSchema,
  tlsSchema,
} from '../lambdas/shared/connections';
import { describeIssues } from '../lambdas/shared/issues';

export { describeIssues };

/**
 * One connection in the config file. Deployed, the secret is `secretId` (a Secrets Manager
 * name or ARN; absent, the stack creates `offboard/<name>`). Locally, it is `secret`
 * (inline JSON) or `secretFile` (a JSON file, relative to the config file). The secret's
 * JSON has the same fields in both places. No `baseUrl` means the built-in sandbox, locally.
 */
export const connectionConfigSchema = z
  .object({
    name: connectionNameSchema,
    type: z.enum(CONNECTION_TYPES),
    baseUrl: baseUrlSchema.optional(),
    tls: tlsSchema.optional(),
    /** The pace to keep; `false` for none. Default: the vendor's documented limit (when it has one). */
    rateLimit: z.union([rateLimitSchema, z.literal(false)]).optional(),
    secretId: z.string().min(1).optional(),
    secret: z.record(z.string(), z.unknown()).optional(),
    secretFile: z.string().min(1).optional(),
  })
  .strict()
  .refine((c) => !(c.secret && c.secretFile), { message: 'give either secret or secretFile, not both' });
export type ConnectionConfig = z.infer<typeof connectionConfigSchema>;

export const configFileSchema = z
  .object({
    connections: z.array(connectionConfigSchema).min(1, 'list at least one connection'),
    /**
     * Who is told when a person must switch an account off by hand (deployed: email
     * subscriptions to the task topic; confirm the subscription mail once).
     */
    taskEmails: z.array(z.email()).optional(),
    /** Who is mailed when an offboarding ends failed or partial, or an execution fails (deployed). */
    alertEmails: z.array(z.email()).optional(),
    /**
     * The scheduled audit: an EventBridge Scheduler expression (default daily at 06:00 UTC,
     * `cron(0 6 * * ? *)`), and whether drift is switched off again (`remediate`).
     */
    audit: z
      .object({
        schedule: z
          .string()
          .regex(
            /^(cron|rate|at)\(.+\)$/,
            'schedule must be a Scheduler expression such as cron(0 6 * * ? *) or rate(1 day)',
          )
          .optional(),
        remediate: z.boolean().optional(),
      })
      .strict()
      .optional(),
    /** The event bus that receives 'Offboarding Finished' events. Default: the account's default bus. */
    resultBusName: z.string().min(1).optional(),
    /**
     * Where the HR system's "Employee Terminated" events arrive: an event bus name (default:
     * the account's default bus) and, optionally, the event sources to accept.
     */
    hrEvents: z
      .object({
        busName: z.string().min(1).optional(),
        sources: z.array(z.string().min(1)).min(1).optional(),
      })
      .strict()
      .optional(),
  })
  .strict()
  .superRefine((config, ctx) => {
    const seen = new Set<string>();
    config.connections.forEach((c, index) => {
      if (seen.has(c.name)) {
        ctx.addIssue({
          code: 'custom',
          path: ['connections', index, 'name'],
          message: `duplicate name '${c.name}'`,
        });
      }
      seen.add(c.name);
    });
  });
export type ConfigFile = z.infer<typeof configFileSchema>;

/** A config file that cannot be used, with every problem named. */
export class ConfigFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigFileError';
  }
}

/**
 * Reads and validates a config file. Secrets given as `secretFile` are read here, so that
 * a missing file is a config error before anything is sent to a vendor.
 */
export function loadConfigFile(path: string): ConfigFile {
  let raw: string;
  try {
    raw = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigFileError(`config ${path}: cannot read: ${(error as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (error) {
    throw new ConfigFileError(`config ${path}: not valid JSON: ${(error as Error).message}`);
  }
  const parsed = configFileSchema.safeParse(json);
  if (!parsed.success) throw new ConfigFileError(`config ${path}: ${describeIssues(parsed.error)}`);
  const base = dirname(resolve(path));
  for (const connection of parsed.data.connections) {
    if (!connection.secretFile) continue;
    const file = resolve(base, connection.secretFile);
    try {
      connection.secret = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    } catch (error) {
      throw new ConfigFileError(
        `config ${path}: connection '${connection.name}': secretFile ${file}: ${(error as Error).message}`,
      );
    }
  }
  return parsed.data;
}
