import { z } from 'zod';
import {
  type Connector,
  canDeactivate,
  canReactivate,
  type LookupResult,
  type UserRecord,
} from '../connectors/types';
import {
  type AuditCheckResult,
  auditCheck,
  type BulkContext,
  type BulkStepResult,
  type BulkVerifyResult,
  bulkDeactivate,
  bulkHandoff,
  bulkVerify,
} from './bulk';
import { answersFor, changedFields, checkFresh, checkPlanned, mustBePerson, shown } from './checks';
import { type ConnectionRef, connectionNameSchema } from './connections';
import { type DeployedConnection, endpointOf } from './deployed';
import { isPerson } from './directory';
import {
  BadRequestError,
  ConfigError,
  InvalidInputError,
  NotYetAppliedError,
  RecordChangedError,
  WriteRefusedError,
} from './errors';
import { type BlobRef, type BlobStore, blobRefSchema } from './evidence';
import { describeIssues } from './issues';
import { type Ledger, restorePlan } from './ledger';
import { requestPacing } from './pacing';
import { cleanError, hiddenFields, type Redactor, redactDeep, redactorFor } from './redact';
import type { SecretResolver } from './secrets';

/** Makes a connector for one connection from its secret JSON (validating the secret). */
export type ConnectorFactory = (connection: ConnectionRef, secret: unknown) => Connector;

/**
 * Everything a connector step uses besides its input, all from the function's own
 * configuration. The payload only names the connection: a crafted invoke cannot point a
 * real secret at another host.
 */
export interface StepEnvironment {
  /** The connections this function serves, with their base URLs, secret ids, TLS and pace. */
  connections: () => readonly DeployedConnection[];
  resolveSecret: SecretResolver;
  /** Where the before-state is written ahead of every vendor write. */
  ledger: () => Ledger;
  /** Where records too large to travel in the state are kept whole. */
  blobs: () => BlobStore;
}

/**
 * A record's fields travel in the state when they are this small; larger ones are kept in
 * the evidence store and travel as a reference. A Map's results share one 256 KB payload.
 */
export const STATE_FIELDS_LIMIT = 8 * 1024;

/** A record as it travels in the state: as `UserRecord`, with the fields inline or by reference. */
export const stateRecordSchema = z
  .object({
    id: z.string().min(1),
    email: z.string(),
    emails: z.array(z.string()).optional(),
    active: z.boolean(),
    fields: z.record(z.string(), z.unknown()).optional(),
    fieldsRef: blobRefSchema.optional(),
    version: z.string().optional(),
  })
  .refine((record) => record.fields !== undefined || record.fieldsRef !== undefined, {
    message: 'a record needs fields or fieldsRef',
  });
export type StateRecord = z.infer<typeof stateRecordSchema>;

/** The before-state a reactivation writes back: inline, or a reference into the evidence store. */
/**
 * What the state says a reactivation restores: the account. The before-state itself is read
 * from the ledger by the step, never taken from the payload: a crafted invoke must not be able
 * to write arbitrary fields (an administrator flag) into an account.
 */
const restoreSchema = z.object({ userId: z.string().min(1) }).loose();

const common = {
  /** Only the name is read; whatever else the payload says about the connection is ignored. */
  connection: z.object({ name: connectionNameSchema }).loose(),
  email: z.string().min(3),
  /** `$$.Execution.Id`: part of the ledger entry's key, so it must look like one. */
  executionId: z
    .string()
    .regex(/^arn:[^:\s]+:states:[^:\s]*:[^:\s]*:execution:[^:\s]+:[^:\s]+$/, 'must be an execution ARN')
    .optional(),
  /** The execution's start (`$$.Execution.StartTime`): entries of one run share it in their key. */
  startedAt: z.iso.datetime({ offset: true }).optional(),
};

/** A step of a whole run on one connection (bulk, audit): keyed by the execution, so required. */
const run = {
  connection: common.connection,
  executionId: common.executionId.unwrap(),
  startedAt: common.startedAt.unwrap(),
};

/** What the state machine sends to a connector function: one step of one connection. */
export const stepEventSchema = z.discriminatedUnion('step', [
  z.object({ step: z.literal('lookup'), ...common }),
  z.object({ step: z.literal('getRecord'), ...common, userId: z.string().min(1) }),
  z.object({
    step: z.literal('deactivate'),
    ...common,
    record: stateRecordSchema,
    dryRun: z.boolean().default(false),
  }),
  z.object({ step: z.literal('verify'), ...common, userId: z.string().min(1) }),
  /** After a deactivation or its verification failed: is the account off? The read decides. */
  z.object({ step: z.literal('settle'), ...common, userId: z.string().min(1) }),
  z.object({
    step: z.literal('reactivate'),
    ...common,
    restore: restoreSchema,
    dryRun: z.boolean().default(false),
  }),
  z.object({ step: z.literal('verifyReactivated'), ...common, userId: z.string().min(1) }),
  /** A bulk run on one connection: the next share of the list, matched against the user list. */
  z.object({
    step: z.literal('bulkDeactivate'),
    ...run,
    /** The checked list (a JSON array of addresses), as the first state kept it. */
    peopleRef: blobRefSchema,
    dryRun: z.boolean().default(false),
  }),
  /** A bulk run on one connection: the user list read again; `final` settles what is still on. */
  z.object({
    step: z.literal('bulkVerify'),
    ...run,
    dryRun: z.boolean().default(false),
    final: z.boolean().default(false),
    /** With `final`: the list, so that everyone it did not reach is failed by name. */
    peopleRef: blobRefSchema.optional(),
    /** With `final`: why the run stopped part way (Step Functions' `{Error, Cause}`). */
    error: z.object({ Error: z.string(), Cause: z.string().optional() }).optional(),
  }),
  /** A bulk run on one connection: the single runs of a page of people handed off, counted. */
  z.object({
    step: z.literal('bulkHandoff'),
    ...run,
    dryRun: z.boolean().default(false),
    runs: z
      .array(
        z
          .object({
            email: z.string(),
            outcome: z.string(),
            connection: z
              .object({
                outcome: z.string().optional(),
                userId: z.string().optional(),
                error: z.object({ name: z.string(), message: z.string() }).optional(),
              })
              .loose()
              .optional(),
            error: z.object({ Error: z.string(), Cause: z.string().optional() }).optional(),
          })
          .loose(),
      )
      .max(1000),
  }),
  /** The audit on one connection: a page of the ledger's accounts, checked against the user list. */
  z.object({
    step: z.literal('auditCheck'),
    ...run,
    accounts: z.array(z.object({ email: z.string().min(3), userId: z.string().min(1) }).loose()).max(1000),
  }),
]);
export type StepEvent = z.input<typeof stepEventSchema>;
type Step = z.infer<typeof stepEventSchema>;

export type StepResult =
  | LookupResult
  | StateRecord
  | { userId: string; written: boolean; person: boolean; reason: string; note?: string }
  | { userId: string; written: boolean; alreadyActive: boolean }
  | { userId: string; active: boolean }
  | { userId: string; off: boolean }
  | BulkStepResult
  | BulkVerifyResult
  | AuditCheckResult;

/**
 * Runs one workflow step against a connector. The rules that protect people live here,
 * once for every vendor:
 *
 * - the connection is the function's own, found by name: its URL and secret never come
 *   from the payload;
 * - a read must answer for the id asked, and the account must carry the address asked for
 *   as its own (not as a secondary address);
 * - accounts a connector says are protected are never switched off;
 * - no stale write: right before a write the account is read again (and where the vendor
 *   versions records, the write is conditional on that version too), and anything changed
 *   means planning again;
 * - write-ahead evidence: the before-state is in the ledger before the write is sent;
 * - what leaves the step (results, errors) carries no secret of the connection.
 */
export async function runStep(
  event: unknown,
  factory: ConnectorFactory,
  env: StepEnvironment,
): Promise<StepResult> {
  const parsed = stepEventSchema.safeParse(event);
  if (!parsed.success) {
    throw new InvalidInputError(`step input: ${describeIssues(parsed.error)}`);
  }
  const input = parsed.data;
  const connection = ownConnection(input.connection.name, env.connections());
  const secret = await env.resolveSecret(connection);
  const redact = redactorFor(secret);
  try {
    const connector = factory(connection, secret);
    // Every request this step sends waits for a slot under the connection's rate limit; the
    // ones it usually sends are reserved together first, so it never holds some while it
    // waits for the rest.
    const result = await requestPacing.step(connection, input.step, () =>
      perform(input, connector, connection, env, redact),
    );
    return redactDeep(result, redact);
  } catch (error) {
    throw cleanError(error, redact);
  }
}

/** The connection of this name among the function's own, complete; else nothing is sent. */
function ownConnection(name: string, connections: readonly DeployedConnection[]): ConnectionRef {
  const connection = connections.find((c) => c.name === name);
  if (!connection) {
    throw new ConfigError(
      `${name}: this function serves no connection of that name (it serves ${connections.map((c) => c.name).join(', ') || 'none'}); nothing was sent`,
    );
  }
  if (!connection.baseUrl) {
    throw new ConfigError(`${name}: this function's configuration has no baseUrl for it; nothing was sent`);
  }
  return { ...connection, baseUrl: connection.baseUrl };
}

async function perform(
  input: Step,
  connector: Connector,
  connection: ConnectionRef,
  env: StepEnvironment,
  redact: Redactor,
): Promise<StepResult> {
  const label = connection.name;
  switch (input.step) {
    case 'lookup':
      return connector.lookupUser(input.email);

    case 'getRecord': {
      const record = await connector.getUser(input.userId);
      answersFor(label, record, input.userId, 'get user');
      await checkPlanned(label, record, input.email, connector);
      return toStateRecord(redactDeep(record, redact), env.blobs);
    }

    case 'deactivate': {
      const planned = await withFields(input.record, env.blobs);
      // `person` and `reason` are always said: the state machine routes on the one and
      // tells the person the other.
      const person = !canDeactivate(connector);
      // The state machine routes dry runs around this step; this guard makes sure of it.
      if (input.dryRun) return { userId: planned.id, written: false, person, reason: '' };
      const target = await freshTarget(planned, input.email, connector, label, redact);
      if (!target) return { userId: planned.id, written: false, person: false, reason: '' };
      // Write-ahead: the account as it is now, and the intent, are in the ledger before the
      // write is sent. A lost answer, a timeout or a killed process can no longer lose the
      // state a reactivation needs.
      await env.ledger().record([
        {
          email: input.email,
          connection: label,
          endpoint: endpointOf(connection),
          type: connection.type,
          outcome: 'deactivating',
          dryRun: false,
          userId: target.id,
          before: redactDeep(target.fields, redact),
          at: new Date().toISOString(),
          ...(input.startedAt ? { startedAt: input.startedAt } : {}),
          executionId: input.executionId ?? 'unknown',
        },
      ]);
      if (person) {
        // Its API cannot: a person does the write, told by the state machine's task.
        return {
          userId: target.id,
          written: false,
          person: true,
          reason: `the ${connection.type} API offers no way to switch an account off`,
        };
      }
      try {
        await connector.deactivateUser(target);
      } catch (error) {
        // This credential may not write users at all (a read-only users API): a person does
        // it instead, exactly as for a vendor without the API, and verification decides.
        if (error instanceof WriteRefusedError) {
          return { userId: target.id, written: false, person: true, reason: error.message };
        }
        throw error;
      }
      return {
        userId: target.id,
        written: true,
        person: false,
        reason: '',
        ...(connector.lastWrite?.note ? { note: connector.lastWrite.note } : {}),
      };
    }

    case 'verify': {
      const record = await connector.verifyDeactivated(input.userId);
      answersFor(label, record, input.userId, 'verify user');
      return { userId: input.userId, active: false };
    }

    case 'settle': {
      // Whether the account is off is decided by reading it, not by the error that ended the
      // write or its verification: a timeout may have come after the vendor applied it.
      try {
        const record = await connector.verifyDeactivated(input.userId);
        const gone = Object.keys(record.fields).length === 0;
        const off = record.id === input.userId && (gone || isPerson(record, input.email));
        return { userId: input.userId, off };
      } catch (error) {
        if (error instanceof NotYetAppliedError) return { userId: input.userId, off: false };
        throw error;
      }
    }

    case 'reactivate': {
      // What to restore comes from the ledger itself, as the restore plan found it.
      const plan = restorePlan(await env.ledger().history(input.email), [
        { name: label, endpoint: endpointOf(connection) },
      ])[label];
      if (!plan || plan.userId !== input.restore.userId) {
        throw new BadRequestError(
          `${label}: the ledger holds no deactivation of ${input.email} as user ${input.restore.userId} here; nothing was written`,
        );
      }
      const userId = plan.userId;
      const current = await connector.getUser(userId);
      answersFor(label, current, userId, 'get user');
      // The id may have been given to someone else since: never report their account, or
      // write into it.
      mustBePerson(label, current, input.email, 'the id may belong to someone else now; nothing was written');
      // Re-running a reactivation is harmless: an account already back on is left alone, so
      // that changes made to it since (someone re-enabled it by hand) are not overwritten.
      if (current.active) return { userId, written: false, alreadyActive: true };
      const before =
        plan.before ?? ((await env.blobs().get(plan.beforeRef as BlobRef)) as Record<string, unknown>);
      // A field that held text of the connection's secret (a password that is also a word:
      // `security` in `security-manager`) was kept with that part hidden. Written back, the
      // account would get `[redacted]` in it: a person restores what the ledger cannot.
      const hidden = hiddenFields(before);
      if (hidden.length > 0) {
        throw new BadRequestError(
          `${label}: the before-state of user ${userId} was kept with part of ${shown(hidden)} hidden, because it ` +
            "held text of this connection's secret; writing it back would put [redacted] into the account, so " +
            'nothing was written: switch it on by hand, and give the connection a secret that is not an ordinary word',
        );
      }
      if (input.dryRun) return { userId, written: false, alreadyActive: false };
      if (!canReactivate(connector)) {
        throw new ConfigError(
          `${label}: ${connection.type} accounts are switched back on by a person, not by the API`,
        );
      }
      // Writing the before-state back would undo whatever was decided while the account was
      // off (a role taken away, InsightVM grants revoked, a rename): then a person decides.
      // Fields this read does not return are not compared.
      const now = redactDeep(current.fields, redact);
      const changed = changedFields(
        Object.fromEntries(Object.entries(before).filter(([key]) => key in now)),
        now,
        connector.volatileFields,
      );
      if (changed.length > 0) {
        throw new RecordChangedError(
          `${label}: user ${userId} was changed while it was off (${shown(changed)}); restoring the state before ` +
            'the offboarding would undo that, so nothing was written: switch it on by hand',
        );
      }
      await connector.reactivateUser({ id: userId, email: input.email, active: true, fields: before });
      return { userId, written: true, alreadyActive: false };
    }

    case 'verifyReactivated': {
      if (canReactivate(connector)) {
        answersFor(label, await connector.verifyReactivated(input.userId), input.userId, 'verify user');
      } else {
        const record = await connector.getUser(input.userId);
        answersFor(label, record, input.userId, 'verify user');
        // A person switched it back on (no API for it): the read decides.
        if (!record.active) {
          throw new NotYetAppliedError(
            `${label}: verify user ${input.userId}: still inactive after the reactivation`,
          );
        }
      }
      return { userId: input.userId, active: true };
    }

    case 'bulkDeactivate':
    case 'bulkVerify':
    case 'bulkHandoff':
    case 'auditCheck': {
      const context: BulkContext = {
        connector,
        connection,
        ledger: env.ledger(),
        blobs: env.blobs(),
        redact,
        executionId: input.executionId,
        startedAt: input.startedAt,
        dryRun: 'dryRun' in input ? input.dryRun : false,
      };
      if (input.step === 'auditCheck') return auditCheck(context, input.accounts);
      if (input.step === 'bulkHandoff') return bulkHandoff(context, input.runs);
      if (input.step === 'bulkVerify') {
        const unreached = input.peopleRef
          ? { people: await peopleOf(input.peopleRef, env.blobs()), error: input.error }
          : undefined;
        return bulkVerify(context, input.final, unreached);
      }
      return bulkDeactivate(context, await peopleOf(input.peopleRef, env.blobs()));
    }
  }
}

/**
 * The record to write, read right before the write: undefined when it needs no write (it is
 * off already, say because this step's earlier attempt did switch it off and only the answer
 * was lost). Where the vendor versions its records, the write is also conditional on the
 * version of this read (the connector sends `If-Match`), which closes the moment between the
 * read and the write. The read is made even then: a service may hand out versions and ignore
 * `If-Match`, and a reused id must never be written on its say-so.
 *
 * @throws UserMismatchError the id now holds another person: nothing is written.
 * @throws RecordChangedError a field other than the active flag and update timestamps
 *   changed since the plan was made: nothing is written, and the state machine plans again.
 */
async function freshTarget(
  planned: UserRecord,
  email: string,
  connector: Connector,
  label: string,
  redact: Redactor,
): Promise<UserRecord | undefined> {
  const fresh = await connector.getUser(planned.id);
  // The plan's fields left the step redacted: compare like with like.
  return checkFresh(label, planned, fresh, email, connector, (fields) => redactDeep(fields, redact));
}

/** The checked list a bulk run works through, as its first state kept it. */
async function peopleOf(ref: BlobRef, blobs: BlobStore): Promise<string[]> {
  const people = await blobs.get(ref);
  if (!Array.isArray(people) || !people.every((email) => typeof email === 'string')) {
    throw new InvalidInputError('peopleRef: not a checked list of addresses');
  }
  return people;
}

/** The record for the state: its fields inline when small, else kept whole in the evidence store. */
async function toStateRecord(record: UserRecord, blobs: () => BlobStore): Promise<StateRecord> {
  const { fields, ...rest } = record;
  if (Buffer.byteLength(JSON.stringify(fields)) <= STATE_FIELDS_LIMIT) return { ...rest, fields };
  return { ...rest, fieldsRef: await blobs().put(fields) };
}

/** A record from the state, with its fields read back from the evidence store when needed. */
async function withFields(record: StateRecord, blobs: () => BlobStore): Promise<UserRecord> {
  const { fieldsRef, fields, ...rest } = record;
  const whole = fields ?? ((await blobs().get(fieldsRef as BlobRef)) as Record<string, unknown>);
  return { ...rest, fields: whole };
}
