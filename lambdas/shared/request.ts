import { z } from 'zod';
import { type ConnectionRef, PERSON_DEACTIVATED_TYPES } from './connections';
import { InvalidInputError } from './errors';

/**
 * What a person or system asks for. Unknown keys are refused rather than ignored: a
 * console user who types `dryrun` must not get a real run by accident.
 */
export const offboardRequestSchema = z
  .object({
    email: z
      .string({
        error: (issue) => (issue.input === undefined ? 'email is required' : 'email must be a string'),
      })
      .trim()
      .max(254, 'email is longer than 254 characters')
      .pipe(z.email({ error: (issue) => `'${String(issue.input)}' is not a valid email address` })),
    dryRun: z.boolean({ error: 'dryRun must be true or false' }).default(false),
    connections: z
      .array(z.string().min(1), { error: 'connections must be a list of connection names' })
      .min(1, 'connections, when given, must name at least one connection')
      // null: every connection (what the bulk workflow passes when its input names none).
      .nullable()
      .optional(),
    /** Set by Step Functions when the bulk workflow starts this execution: links the two. */
    AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID: z.string().optional(),
  })
  .strict();

/** The one shape every later state works from. */
export interface NormalizedRequest {
  email: string;
  dryRun: boolean;
  connections: ConnectionRef[];
}

/**
 * Validates the execution input and resolves the connections to run. Fails with
 * `Input.Invalid`, naming what was wrong, before any vendor is called.
 */
export function normalizeRequest(raw: unknown, available: readonly ConnectionRef[]): NormalizedRequest {
  const parsed = offboardRequestSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) =>
      issue.code === 'unrecognized_keys'
        ? `unknown field(s) ${issue.keys.map((k) => `'${k}'`).join(', ')} (expected email, dryRun, connections)`
        : issue.message,
    );
    throw new InvalidInputError(`invalid input: ${problems.join('; ')}`);
  }
  const { email, dryRun, connections: wanted } = parsed.data;
  let connections = [...available];
  if (wanted) {
    const known = new Set(available.map((c) => c.name));
    const unknown = wanted.filter((name) => !known.has(name));
    if (unknown.length > 0) {
      throw new InvalidInputError(
        `invalid input: unknown connection(s) ${unknown.map((n) => `'${n}'`).join(', ')}; configured: ${[...known].join(', ') || '(none)'}`,
      );
    }
    const set = new Set(wanted);
    connections = available.filter((c) => set.has(c.name));
  }
  if (connections.length === 0) throw new InvalidInputError('invalid input: no connections are configured');
  return {
    email,
    dryRun,
    // The state machine routes on this: the API switches the account off, or a person does.
    connections: connections.map((c) => ({
      ...c,
      deactivation: PERSON_DEACTIVATED_TYPES.has(c.type) ? 'person' : 'api',
    })),
  };
}
