import { z } from 'zod';
import {
  type Connector,
  canDeactivate,
  canReactivate,
  type LookupResult,
  type UserRecord,
} from '../connectors/types';
import { type ConnectionRef, connectionRefSchema } from './connections';
import {
  ConfigError,
  InvalidInputError,
  NotYetAppliedError,
  ProtectedUserError,
  UserMismatchError,
} from './errors';
import { sameEmail } from './http';
import { describeIssues } from './issues';
import { requestPacing } from './pacing';
import type { SecretResolver } from './secrets';

/** Makes a connector for one connection from its secret JSON (validating the secret). */
export type ConnectorFactory = (connection: ConnectionRef, secret: unknown) => Connector;

const userRecordSchema = z.object({
  id: z.string().min(1),
  email: z.string(),
  emails: z.array(z.string()).optional(),
  active: z.boolean(),
  fields: z.record(z.string(), z.unknown()),
});

const common = {
  connection: connectionRefSchema,
  email: z.string().min(3),
  executionId: z.string().optional(),
};

/** What the state machine sends to a connector function: one step of one connection. */
export const stepEventSchema = z.discriminatedUnion('step', [
  z.object({ step: z.literal('lookup'), ...common }),
  z.object({ step: z.literal('getRecord'), ...common, userId: z.string().min(1) }),
  z.object({
    step: z.literal('deactivate'),
    ...common,
    record: userRecordSchema,
    dryRun: z.boolean().default(false),
  }),
  z.object({ step: z.literal('verify'), ...common, userId: z.string().min(1) }),
  z.object({
    step: z.literal('reactivate'),
    ...common,
    userId: z.string().min(1),
    /** The account's fields before the deactivation, from the ledger. */
    before: z.record(z.string(), z.unknown()),
    dryRun: z.boolean().default(false),
  }),
  z.object({ step: z.literal('verifyReactivated'), ...common, userId: z.string().min(1) }),
  /** The audit: is an account this workflow switched off still off? */
  z.object({ step: z.literal('checkOff'), ...common, userId: z.string().min(1) }),
]);
export type StepEvent = z.input<typeof stepEventSchema>;

export type StepResult =
  | LookupResult
  | UserRecord
  | { userId: string; written: boolean }
  | { userId: string; written: boolean; alreadyActive: boolean }
  | { userId: string; active: boolean }
  | { userId: string; drift: boolean };

/**
 * Runs one workflow step against a connector. The rules that protect people live here,
 * once for every vendor: the record must carry the email asked for, and the account the
 * integration itself signs in with is never switched off.
 */
export async function runStep(
  event: unknown,
  factory: ConnectorFactory,
  resolveSecret: SecretResolver,
): Promise<StepResult> {
  const parsed = stepEventSchema.safeParse(event);
  if (!parsed.success) {
    throw new InvalidInputError(`step input: ${describeIssues(parsed.error)}`);
  }
  const input = parsed.data;
  const connector = factory(input.connection, await resolveSecret(input.connection));
  // Every request this step sends waits for a slot under the connection's rate limit.
  requestPacing.limit(input.connection.name, input.connection.rateLimit);
  const label = input.connection.name;

  switch (input.step) {
    case 'lookup':
      return connector.lookupUser(input.email);
    case 'getRecord': {
      const record = await connector.getUser(input.userId);
      if (![record.email, ...(record.emails ?? [])].some((address) => sameEmail(address, input.email))) {
        throw new UserMismatchError(
          `${label}: user ${record.id} has the email ${record.email || '(none)'}, not ${input.email}; nothing was changed`,
        );
      }
      // Only an account about to be written needs the check (and its extra request).
      if (record.active && (await connector.isIntegrationAccount?.(record))) {
        throw new ProtectedUserError(
          `${label}: user ${record.id} (${record.email}) owns the API credential this connection uses; ` +
            'deactivating it would cut the integration off. Switch it off by hand after moving the credential',
        );
      }
      return record;
    }
    case 'deactivate':
      // The state machine routes dry runs around this step; this guard makes sure of it.
      if (input.dryRun) return { userId: input.record.id, written: false };
      if (!canDeactivate(connector)) {
        // The state machine sends these to a person instead; reaching here is a wiring bug.
        throw new ConfigError(
          `${label}: ${input.connection.type} accounts are switched off by a person, not by the API`,
        );
      }
      await connector.deactivateUser(input.record);
      return { userId: input.record.id, written: true };
    case 'verify':
      await connector.verifyDeactivated(input.userId);
      return { userId: input.userId, active: false };
    case 'reactivate': {
      // Re-running a reactivation is harmless: an account already back on is left alone, so
      // that changes made to it since (someone re-enabled it by hand) are not overwritten.
      const current = await connector.getUser(input.userId);
      if (current.active) return { userId: input.userId, written: false, alreadyActive: true };
      if (input.dryRun) return { userId: input.userId, written: false, alreadyActive: false };
      if (!canReactivate(connector)) {
        throw new ConfigError(
          `${label}: ${input.connection.type} accounts are switched back on by a person, not by the API`,
        );
      }
      await connector.reactivateUser({
        id: input.userId,
        email: input.email,
        active: true,
        fields: input.before,
      });
      return { userId: input.userId, written: true, alreadyActive: false };
    }
    case 'verifyReactivated': {
      if (canReactivate(connector)) {
        await connector.verifyReactivated(input.userId);
      } else if (!(await connector.getUser(input.userId)).active) {
        // A person switched it back on (no API for it): the read decides.
        throw new NotYetAppliedError(
          `${label}: verify user ${input.userId}: still inactive after the reactivation`,
        );
      }
      return { userId: input.userId, active: true };
    }
    case 'checkOff': {
      const record = await connector.getUser(input.userId);
      // Drift: the account is active again, and it is still this person's.
      const same = [record.email, ...(record.emails ?? [])].some((address) =>
        sameEmail(address, input.email),
      );
      return { userId: input.userId, drift: record.active && same };
    }
  }
}
