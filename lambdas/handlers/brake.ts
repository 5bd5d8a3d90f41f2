import middy from '@middy/core';
import { z } from 'zod';
import {
  type BrakeConfig,
  type BrakeDecision,
  brakeFromEnv,
  countBulk,
  countOffboarding,
  grantKey,
  type PauseAnswers,
  pauseAnswer,
  ReactivatedSinceError,
  resolvePause,
} from '../shared/brake';
import { ConfigError } from '../shared/errors';
import { type BlobStore, blobRefSchema, evidenceFromEnv } from '../shared/evidence';
import {
  type BrakeLedger,
  isReactivation,
  keepsBrake,
  type Ledger,
  type LedgerEntry,
  ledgerFromEnv,
} from '../shared/ledger';
import { handlerMiddlewares, logger } from '../shared/logger';
import { deployedTaskStore } from '../shared/task-store';

const errorSchema = z.object({ Error: z.string().optional(), Cause: z.string().optional() }).loose();

/** What the state machines send (offboard-user.asl.json, offboard-bulk.asl.json): built there, never by a person. */
const brakeInputSchema = z.discriminatedUnion('action', [
  z.object({
    action: z.literal('count'),
    executionId: z.string().min(1),
    email: z.string().min(1),
    /** The execution's own input: Step Functions sets AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID in a hand-off's. */
    input: z.unknown().optional(),
    /** When the execution started: a reactivation since stops it. */
    startedAt: z.string().min(1).optional(),
  }),
  z.object({
    action: z.literal('countBulk'),
    executionId: z.string().min(1),
    people: z.number().int().nonnegative(),
    peopleRef: blobRefSchema,
  }),
  z.object({
    action: z.literal('resolve'),
    executionId: z.string().min(1),
    pauseId: z.string().min(1),
    /** The wait's result (released) … */
    answer: z.unknown().optional(),
    /** … or its error (refused: Task.Refused; not answered in time: States.Timeout). */
    error: errorSchema.optional(),
    bulk: z.object({ people: z.number().int().nonnegative(), peopleRef: blobRefSchema }).optional(),
    /** A single run's person (and, for both, when the run started): a reactivation since stops it (see below). */
    email: z.string().min(1).optional(),
    startedAt: z.string().min(1).optional(),
  }),
]);

/** What the brake function answers: a count's decision, or how a pause ended. */
export type BrakeResult = BrakeDecision | { outcome: string; message: string };

/**
 * Throws User.Reactivated when the ledger holds a real reactivation of this person by another
 * execution since this one started: the offboarding stops before any vendor write.
 */
async function stopIfReactivated(
  ledger: Ledger,
  run: { email: string; startedAt: string; executionId: string },
  while_: string,
): Promise<void> {
  const undone = await reactivatedSince(ledger, run);
  if (undone)
    throw new ReactivatedSinceError(
      `brake: ${run.email} was reactivated by ${undone.executionId} at ${undone.at} while this offboarding ${while_}: it stopped before any vendor write`,
    );
}

/** The first real reactivation of this person by another execution since `startedAt`, if any. */
async function reactivatedSince(
  ledger: Ledger,
  run: { email: string; startedAt: string; executionId: string },
): Promise<LedgerEntry | undefined> {
  const since = Date.parse(run.startedAt);
  if (Number.isNaN(since)) return undefined;
  return (await ledger.history(run.email, new Date(since))).find(
    (e) => !e.dryRun && e.executionId !== run.executionId && isReactivation(e),
  );
}

/** How many people's histories a released bulk run reads at once. */
const BULK_CHECKS_AT_ONCE = 10;

/**
 * A released bulk run: anyone on its list reactivated while it waited (HR said they stay)
 * stops it, before any vendor write, naming them; run it again without them.
 */
async function stopBulkIfReactivated(
  ledger: Ledger,
  blobs: () => BlobStore,
  run: { executionId: string; startedAt: string; peopleRef: z.infer<typeof blobRefSchema>; pauseId: string },
): Promise<void> {
  const people = await blobs().get(run.peopleRef);
  if (!Array.isArray(people)) return;
  const emails = people.filter((p): p is string => typeof p === 'string');
  const undone: string[] = [];
  for (let i = 0; i < emails.length; i += BULK_CHECKS_AT_ONCE) {
    const batch = emails.slice(i, i + BULK_CHECKS_AT_ONCE);
    const found = await Promise.all(batch.map((email) => reactivatedSince(ledger, { ...run, email })));
    batch.forEach((email, k) => {
      if (found[k]) undone.push(email);
    });
  }
  if (undone.length > 0)
    throw new ReactivatedSinceError(
      `brake: ${undone.length} of this bulk run's people were reactivated while it waited on pause ${run.pauseId} (${undone.slice(0, 5).join(', ')}${undone.length > 5 ? ', …' : ''}): it stopped before any vendor write; run it again without them`,
    );
}

/**
 * Since when this offboarding stands: its own start, or, for a bulk run's hand-off, when that
 * bulk run was counted (its grant), if earlier: a reactivation between the two is not missed.
 */
async function startOf(
  ledger: Ledger & BrakeLedger,
  startedAt: string | undefined,
  bulk: string | undefined,
): Promise<string | undefined> {
  if (!bulk) return startedAt;
  const [grant] = await ledger.brakeRecords(grantKey(bulk));
  const at = grant?.key === grantKey(bulk) ? grant.value.at : undefined;
  if (typeof at !== 'string') return startedAt;
  return startedAt === undefined || at < startedAt ? at : startedAt;
}

/** Who started this execution, when Step Functions says (a bulk run's hand-off). */
function startedBy(input: unknown): string | undefined {
  const value = (input as { AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID?: unknown } | null)
    ?.AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID;
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/**
 * The safety brake's steps: count an offboarding (or a bulk run's list) before any vendor
 * write, and close a pause when a waiting run's task ended. See lambdas/shared/brake.ts.
 */
export function brakeHandler(deps: {
  ledger: () => Ledger;
  config: () => BrakeConfig;
  blobs?: () => BlobStore;
  /** The task store, when wired: its answer names who released or refused a pause. */
  answers?: () => PauseAnswers | undefined;
  now?: () => Date;
}) {
  return middy<unknown, BrakeResult>()
    .use(handlerMiddlewares())
    .handler(async (event) => {
      const parsed = brakeInputSchema.safeParse(event);
      // The state machine builds this payload: a bad one is a deployment fault, not input.
      if (!parsed.success)
        throw new ConfigError(`brake: unexpected input from the state machine: ${parsed.error.message}`);
      const ledger = deps.ledger();
      if (!keepsBrake(ledger)) throw new ConfigError('brake: this ledger keeps no brake state');
      const answers = deps.answers?.();
      const brake = {
        store: ledger,
        config: deps.config(),
        ...(deps.blobs ? { blobs: deps.blobs } : {}),
        ...(answers ? { answers } : {}),
        ...(deps.now ? { now: deps.now } : {}),
      };
      const request = parsed.data;
      if (request.action === 'count') {
        // Days may have passed since it started (a future effectiveAt), or since the bulk run
        // that handed it off was counted: a reactivation since means HR said they stay.
        const by = startedBy(request.input);
        const since = await startOf(ledger, request.startedAt, by);
        if (since) await stopIfReactivated(ledger, { ...request, startedAt: since }, 'waited to start');
        const result = await countOffboarding(brake, {
          executionId: request.executionId,
          email: request.email,
          ...(by ? { startedBy: by } : {}),
        });
        logger.info('brake count', { decision: result });
        return result;
      }
      if (request.action === 'countBulk') {
        const result = await countBulk(brake, request);
        logger.info('brake count of a bulk run', { people: request.people, decision: result });
        return result;
      }
      const result = await resolvePause(brake, {
        pauseId: request.pauseId,
        executionId: request.executionId,
        answer: pauseAnswer(request.answer, request.error),
        ...(request.bulk ? { bulk: request.bulk } : {}),
      });
      logger.info('brake pause ended', { pauseId: request.pauseId, outcome: result.outcome });
      // Released after days, perhaps: if the person was reactivated while this run waited (HR
      // said they stay, and the operator undid the offboarding), the release is for the others.
      if (result.outcome === 'released' && request.email && request.startedAt)
        await stopIfReactivated(
          ledger,
          { email: request.email, startedAt: request.startedAt, executionId: request.executionId },
          `waited on pause ${request.pauseId}`,
        );
      if (result.outcome === 'released' && request.bulk && request.startedAt && deps.blobs)
        await stopBulkIfReactivated(ledger, deps.blobs, {
          executionId: request.executionId,
          startedAt: request.startedAt,
          peopleRef: request.bulk.peopleRef,
          pauseId: request.pauseId,
        });
      return result;
    });
}

/**
 * Deployed: env OFFBOARD_LEDGER_TABLE, OFFBOARD_BRAKE_LIMIT, OFFBOARD_BRAKE_WINDOW_MINUTES, and
 * OFFBOARD_EVIDENCE_BUCKET (a hand-off is checked against its bulk run's list there).
 */
export const handler = brakeHandler({
  ledger: ledgerFromEnv,
  config: () => brakeFromEnv(),
  blobs: evidenceFromEnv,
  // The pauses' tasks live in the same table (task#<id>): who answered, and whether.
  answers: deployedTaskStore,
});
