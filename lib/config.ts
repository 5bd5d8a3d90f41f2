import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { brakeConfigSchema } from '../lambdas/shared/brake-config';
import {
  baseUrlSchema,
  CONNECTION_TYPES,
  type ConnectionType,
  connectionNameSchema,
  rateLimitSchema,
  SECRET_EXAMPLES,
  secretSchemas,
  tlsSchema,
} from '../lambdas/shared/connections';
import { describeIssues } from '../lambdas/shared/issues';
import { parseJson } from './json';

export { describeIssues };

/**
 * One connection in the config file. Deployed, the secret is `secretId` (a Secrets Manager
 * name or ARN; absent, the stack creates `<stack name>/<name>`). Locally, it is `secret`
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
    /**
     * The safety brake: more than `limit` real deactivations within `windowMinutes` pause
     * every further offboarding until a person releases it (defaults 25 within 60).
     */
    brake: brakeConfigSchema.optional(),
    /** The event bus that receives 'Offboarding Finished' events. Default: the account's default bus. */
    resultBusName: z.string().min(1).optional(),
    /**
     * The deployed stack the command line works with (`--stack` on the command line wins):
     * its CloudFormation name and region (default: the standard AWS chain's region). The
     * CDK app ignores them.
     */
    stack: z
      .string()
      .regex(
        /^[A-Za-z][A-Za-z0-9-]{0,127}$/,
        'must be a CloudFormation stack name (a letter, then letters, digits and hyphens)',
      )
      .optional(),
    region: z
      .string()
      .regex(/^[a-z]{2}(-[a-z]+)+-\d{1,2}$/, 'must be an AWS region name such as eu-west-1')
      .optional(),
    /**
     * Where the HR system's "Employee Terminated" events arrive: an event bus name (default:
     * the account's default bus) and the event sources to accept (required: any other
     * sender on the bus could otherwise start an offboarding). `false`: no HR rule at all.
     * Local runs ignore it; deploying requires one or the other.
     */
    hrEvents: z
      .union(
        [
          z.literal(false),
          z
            .object({
              busName: z.string().min(1).optional(),
              // Optional here and required by the refine below: a missing key in a union
              // would only say "Invalid input"; this way the message says what to add.
              sources: z.array(z.string().min(1)).min(1).optional(),
            })
            .strict()
            // No transform to narrow the type: zod then stops naming the failing branch.
            .refine((hr) => hr.sources !== undefined, {
              path: ['sources'],
              message:
                'required: the "source" your HR system sets on its events, e.g. ["com.example.hr"] (or "hrEvents": false for no HR rule)',
            }),
        ],
        {
          error: (issue) => {
            // An object: say what is wrong inside it (the object branch's issues), not "Invalid input".
            const inObject =
              issue.code === 'invalid_union' && typeof issue.input === 'object' && issue.input !== null
                ? (issue.errors[1] ?? [])
                : [];
            return inObject.length > 0
              ? inObject.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')
              : 'must be false (no HR rule) or {"busName"?: "<bus>", "sources": ["<source>"]}';
          },
        },
      )
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
 * Reads and validates a config file. Secrets given as `secretFile` are read here, and every
 * secret is checked against what its connection type needs, so that a missing file or a
 * wrong secret is a config error before anything is sent to a vendor. No message quotes the
 * config or a secret file: either may hold a secret, so a JSON mistake is told by line and
 * column, and a wrong secret by its field names.
 */
export function loadConfigFile(path: string): ConfigFile {
  let raw: string;
  try {
    raw = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigFileError(`config ${path}: cannot read: ${(error as Error).message}`);
  }
  const json = parseJson(raw);
  if (!json.ok) throw new ConfigFileError(`config ${path}: not valid JSON: ${json.problem}`);
  const parsed = configFileSchema.safeParse(json.value);
  if (!parsed.success) throw new ConfigFileError(`config ${path}: ${describeIssues(parsed.error)}`);
  const base = dirname(resolve(path));
  for (const connection of parsed.data.connections) {
    const where = `config ${path}: connection '${connection.name}'`;
    let what = 'secret';
    if (connection.secretFile) {
      const file = resolve(base, connection.secretFile);
      what = `secretFile ${file}`;
      connection.secret = readSecretFile(file, connection.type, `${where}: ${what}`);
    }
    if (connection.secret === undefined) continue;
    const problems = secretProblems(connection.type, connection.secret);
    if (problems) {
      throw new ConfigFileError(
        `${where}: ${what} is not what type ${connection.type} needs: ${problems} (expected ${SECRET_EXAMPLES[connection.type]})`,
      );
    }
  }
  return parsed.data;
}

/** A secret file's JSON object; a file that is not one is named, its content never shown. */
function readSecretFile(file: string, type: ConnectionType, where: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigFileError(`${where}: cannot read: ${(error as Error).message}`);
  }
  const json = parseJson(text);
  if (!json.ok) throw new ConfigFileError(`${where}: not valid JSON: ${json.problem}`);
  const value = json.value;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    const kind = value === null ? 'null' : Array.isArray(value) ? 'an array' : `a ${typeof value}`;
    throw new ConfigFileError(
      `${where}: must hold a JSON object such as ${SECRET_EXAMPLES[type]}, not ${kind}`,
    );
  }
  return value as Record<string, unknown>;
}

/**
 * What is wrong with a secret for its type, by field name only (`missing apiKey`), or
 * undefined when it is right. Values are never repeated: they are the secret.
 */
export function secretProblems(type: ConnectionType, secret: unknown): string | undefined {
  const parsed = secretSchemas[type].safeParse(secret);
  if (parsed.success) return undefined;
  return describeSecretIssues(parsed.error.issues, secret);
}

function describeSecretIssues(issues: readonly z.core.$ZodIssue[], secret: unknown): string {
  const given = typeof secret === 'object' && secret !== null ? secret : {};
  const describe = (issue: z.core.$ZodIssue): string => {
    if (issue.code === 'invalid_union') {
      // One way of authenticating or another (SCIM: a token, or OAuth client credentials).
      const ways = [...new Set(issue.errors.map((branch) => describeSecretIssues(branch, secret)))];
      return ways.length === 1 ? (ways[0] ?? '') : `either (${ways.join(') or (')})`;
    }
    const field = issue.path.map(String).join('.');
    if (field === '') return 'not a JSON object';
    if (!(String(issue.path[0]) in given)) return `missing ${field}`;
    if (issue.code === 'invalid_type') return `${field} must be a ${issue.expected}`;
    if (issue.code === 'too_small') return `${field} is empty`;
    // Our own refinements (a token URL's rules) say what is wrong without the value.
    if (issue.code === 'custom') return `${field} ${issue.message}`;
    return `${field} is invalid`;
  };
  return issues.map(describe).join(', ');
}
