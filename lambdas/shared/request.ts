import { z } from 'zod';
import { type ConnectionRef, type ConnectionType, PERSON_DEACTIVATED_TYPES } from './connections';
import { endpointOfDeployed } from './deployed';
import { InvalidInputError } from './errors';
import { meantField } from './field-names';
import { describeIssues } from './issues';

/**
 * A Step Functions execution ARN (a local run's region is `local`). The name parts may hold
 * neither white space nor a colon; a Distributed Map's child has a slash in its machine part.
 */
export const EXECUTION_ARN = /^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:execution:[^\s:]+:[^\s:]+$/;

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
    /** Undo a mistaken termination: restore each account from the ledger's before-state. */
    reactivate: z.boolean({ error: 'reactivate must be true or false' }).default(false),
    connections: z
      .array(z.string().min(1), { error: 'connections must be a list of connection names' })
      .min(1, 'connections, when given, must name at least one connection')
      // null: every connection (what the bulk workflow passes when its input names none).
      .nullable()
      .optional(),
    /**
     * The execution this run retries (`offboard retry`, or a summary's `retry` input): its
     * ledger entries carry it, so the two runs are linked. An execution ARN, nothing else.
     */
    retryOf: z
      .string({ error: 'retryOf must be an execution ARN (a string)' })
      .max(2048, 'retryOf is longer than 2048 characters')
      .regex(EXECUTION_ARN, {
        error: (issue) =>
          `retryOf '${String(issue.input).slice(0, 200)}' is not an execution ARN (arn:aws:states:<region>:<account>:execution:<state machine>:<name>)`,
      })
      .optional(),
    /** Set by Step Functions when the bulk workflow starts this execution: links the two. */
    AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID: z.string().optional(),
  })
  .strict();

/** The `detail-type` of the HR system's event that starts an offboarding. */
export const TERMINATION_DETAIL_TYPE = 'Employee Terminated';

/** Refuses a field: present with any value, it is an issue with this message. */
const refused = (message: string) => z.never({ error: message }).optional();

/** The detail fields the workflow acts on. */
const DETAIL_FIELDS = ['email', 'employeeId', 'effectiveAt', 'reason', 'dryRun', 'connections', 'reactivate'];

/**
 * Refuses a field that is not one the workflow reads but reads like one (see
 * field-names.ts). `prefix` says where the field the sender meant lives.
 */
const noNearMisses =
  (known: readonly string[], prefix: string) => (value: Record<string, unknown>, ctx: z.RefinementCtx) => {
    for (const key of Object.keys(value)) {
      const meant = meantField(key);
      if (!meant || known.includes(key)) continue;
      ctx.addIssue({
        code: 'custom',
        path: [key],
        message: `not a field offboard reads: did you mean ${prefix}${meant}? (left as it is, it would be ignored)`,
      });
    }
  };

const CANNOT_REACTIVATE =
  'a termination event cannot reactivate; undo a termination with the console input {"email", "reactivate": true} (offboard reactivate)';

/**
 * The HR system's "employee terminated" event, as EventBridge delivers it (the envelope's
 * `id`, `source`, `detail-type`, and our `detail`). Published as JSON Schema in
 * schemas/employee-terminated.schema.json. `detail.dryRun` and `detail.connections` are
 * read, and validated, as in the console's input; `detail.reactivate` is refused (a
 * termination cannot reactivate), and so are the console's fields on the envelope itself,
 * where they used to be ignored (a dry run asked for there would have written). A near
 * miss of a field the workflow reads (`dry_run`, `effectiveDate`, `connection`) is refused,
 * on the envelope or in detail. Every other field the HR system adds is ignored.
 */
export const terminationEventSchema = z
  .object({
    id: z.string().min(1),
    source: z.string().min(1),
    'detail-type': z.literal(TERMINATION_DETAIL_TYPE),
    /** When the HR system sent it (EventBridge's envelope): the day an undated termination is for. */
    time: z.iso.datetime({ offset: true }).optional(),
    detail: z
      .object({
        email: offboardRequestSchema.shape.email,
        employeeId: z.string().min(1).max(128).optional(),
        effectiveAt: z.iso
          .datetime({ offset: true, error: 'effectiveAt must be an ISO 8601 date-time' })
          .optional(),
        reason: z.string().max(1000).optional(),
        dryRun: offboardRequestSchema.shape.dryRun,
        connections: offboardRequestSchema.shape.connections,
        reactivate: refused(CANNOT_REACTIVATE),
      })
      .loose()
      .superRefine(noNearMisses(DETAIL_FIELDS, '')),
    dryRun: refused('not read on the envelope: put it in detail (detail.dryRun)'),
    connections: refused('not read on the envelope: put it in detail (detail.connections)'),
    reactivate: refused(CANNOT_REACTIVATE),
  })
  .loose()
  // The envelope's own fields (`id`, `source`, `time`, …) are EventBridge's: only a near miss
  // of a detail field is refused there.
  .superRefine(noNearMisses(['dryRun', 'connections', 'reactivate'], 'detail.'));

/**
 * A connection as the state machine carries it: which one, which function runs its steps,
 * and who switches the account off. Nothing else: the connector function takes the base
 * URL, secret id, TLS settings and pace from its own configuration, so none of them can be
 * changed, or read, through an execution's input or history.
 */
export interface StateConnection {
  name: string;
  type: ConnectionType;
  /** The Lambda function that runs this connection's steps (deployed; the local runner sets its own). */
  functionName?: string;
  /** Who switches the account off: the API, or a person (from the type). */
  deactivation: 'api' | 'person';
  /** Which tenant it reaches (a digest; see `endpointOf`), for the ledger. */
  endpoint?: string;
}

/**
 * What Normalize must know of a configured connection: its name and type, and the function
 * that runs it. Base URL, secret id and TLS may be there; they are not read, nor passed on.
 */
export type AvailableConnection = Pick<ConnectionRef, 'name' | 'type' | 'functionName'> & {
  baseUrl?: string;
  endpoint?: string;
};

/** The one shape every later state works from. */
export interface NormalizedRequest {
  email: string;
  dryRun: boolean;
  connections: StateConnection[];
  /** Restore the accounts instead of switching them off. */
  reactivate: boolean;
  /** A future-dated termination: the state machine waits until then (ISO 8601, UTC). */
  waitUntil?: string;
  /**
   * The same wait as steps of at most {@link WAIT_STEP_DAYS} days, ending at `waitUntil`:
   * the state machine waits for each in turn. AWS could wait a year in one Wait state, but a
   * local timer holds at most 24.8 days, and the same ASL runs in both.
   */
  waitSteps?: string[];
  /** The execution this run retries (only what failed there): its ledger entries carry it. */
  retryOf?: string;
  /** Set when an HR event started the run: what makes a resent event a duplicate. */
  hrEvent?: { eventId: string; source: string; employeeId?: string; reason?: string; claimKey: string };
}

/** The longest single wait of a future-dated termination (a local timer holds 24.8 days). */
export const WAIT_STEP_DAYS = 20;
/**
 * The furthest effectiveAt accepted: a Standard execution lives at most a year, so a wait
 * beyond it would end in a timeout rather than an offboarding.
 */
export const MAX_WAIT_DAYS = 360;

/** `until` as steps of at most WAIT_STEP_DAYS days from `now`, the last one `until` itself. */
export function waitSteps(now: Date, until: Date): string[] {
  const steps: string[] = [];
  const step = WAIT_STEP_DAYS * 86_400_000;
  for (let at = now.getTime() + step; at < until.getTime(); at += step)
    steps.push(new Date(at).toISOString());
  steps.push(until.toISOString());
  return steps;
}

/**
 * An HR event's request, from the event's detail: every connection, for real, unless the
 * detail says `dryRun` or names `connections`. Its claim key is the person (employee id,
 * else email) and the effective date, so a resent event finds the first one's claim, while
 * a later termination (after a re-hire) does not. A dry run claims its own key (`#dry-run`):
 * trying an event first must not make the real one a duplicate; so does an event limited to
 * some connections (their names are in the key), so that it cannot make a later event for
 * every connection a duplicate and leave the others on.
 */
function fromTerminationEvent(
  raw: unknown,
  available: readonly AvailableConnection[],
  now: Date,
): NormalizedRequest {
  const parsed = terminationEventSchema.safeParse(raw);
  if (!parsed.success) {
    throw new InvalidInputError(`invalid HR event: ${describeIssues(parsed.error)}`);
  }
  const { id, source, detail, time } = parsed.data;
  const request = normalizeRequest(
    {
      email: detail.email,
      dryRun: detail.dryRun,
      ...(detail.connections !== undefined ? { connections: detail.connections } : {}),
    },
    available,
  );
  const effectiveAt = detail.effectiveAt ? new Date(detail.effectiveAt) : undefined;
  if (effectiveAt && effectiveAt.getTime() - now.getTime() > MAX_WAIT_DAYS * 86_400_000) {
    throw new InvalidInputError(
      `invalid HR event: detail.effectiveAt ${effectiveAt.toISOString()} is more than ${MAX_WAIT_DAYS} days ahead; ` +
        'an execution cannot wait that long (Step Functions keeps one at most a year): send the event closer to the date',
    );
  }
  // The claim: this HR system, this person (its employee id and the address it gave), this
  // day. A corrected address claims afresh (the wrong one found nobody); two HR systems whose
  // ids overlap never block each other; an undated termination is for the day it was sent, so
  // a later one (after a re-hire) runs.
  const who = `${source}#${(detail.employeeId ?? '').toLowerCase()}#${request.email.toLowerCase()}`;
  const day = (effectiveAt ?? (time ? new Date(time) : now)).toISOString().slice(0, 10);
  const only = detail.connections ? `#only:${[...new Set(detail.connections)].sort().join(',')}` : '';
  const future = effectiveAt && effectiveAt > now ? effectiveAt : undefined;
  return {
    ...request,
    ...(future ? { waitUntil: future.toISOString(), waitSteps: waitSteps(now, future) } : {}),
    hrEvent: {
      eventId: id,
      source,
      ...(detail.employeeId ? { employeeId: detail.employeeId } : {}),
      ...(detail.reason ? { reason: detail.reason } : {}),
      claimKey: `termination#${who}#${day}${only}${request.dryRun ? '#dry-run' : ''}`,
    },
  };
}

/** The execution input, from the console (or the command line) or from an HR event. */
export function normalizeInput(
  raw: unknown,
  available: readonly AvailableConnection[],
  now = new Date(),
): NormalizedRequest {
  const isEvent = raw !== null && typeof raw === 'object' && 'detail-type' in raw;
  return isEvent ? fromTerminationEvent(raw, available, now) : normalizeRequest(raw, available);
}

/**
 * Validates the execution input and resolves the connections to run. Fails with
 * `Input.Invalid`, naming what was wrong, before any vendor is called.
 */
export function normalizeRequest(raw: unknown, available: readonly AvailableConnection[]): NormalizedRequest {
  const parsed = offboardRequestSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) =>
      issue.code === 'unrecognized_keys'
        ? `unknown field(s) ${issue.keys.map((k) => `'${k}'`).join(', ')} (expected email, dryRun, connections, reactivate, retryOf)`
        : issue.message,
    );
    throw new InvalidInputError(`invalid input: ${problems.join('; ')}`);
  }
  const { email, dryRun, reactivate, retryOf, connections: wanted } = parsed.data;
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
    // Always present: the state machine routes on it.
    reactivate,
    connections: connections.map(toStateConnection),
    // Only when given: Record and Summarize read it from the execution's input, so the state
    // keeps the shape every other step knows.
    ...(retryOf ? { retryOf } : {}),
  };
}

/** What the state machine needs of a connection, and nothing more (see {@link StateConnection}). */
function toStateConnection(c: AvailableConnection): StateConnection {
  const endpoint = endpointOfDeployed(c);
  return {
    name: c.name,
    type: c.type,
    ...(c.functionName ? { functionName: c.functionName } : {}),
    // The state machine routes on this: the API switches the account off, or a person does.
    deactivation: PERSON_DEACTIVATED_TYPES.has(c.type) ? 'person' : 'api',
    ...(endpoint ? { endpoint } : {}),
  };
}
