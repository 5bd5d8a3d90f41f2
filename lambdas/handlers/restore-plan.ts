import middy from '@middy/core';
import { z } from 'zod';
import { ConfigError, InvalidInputError } from '../shared/errors';
import { type Ledger, ledgerFromEnv, restorePlan } from '../shared/ledger';
import { handlerMiddlewares, logger } from '../shared/logger';

const planInputSchema = z
  .object({
    email: z.string().min(3),
    connections: z.array(z.object({ name: z.string(), endpoint: z.string().optional() }).loose()),
  })
  .loose();

/**
 * Before a reactivation: reads the ledger and gives each connection what to restore (the
 * account as it was before the last real deactivation), or null when there is nothing.
 */
export function restorePlanHandler(ledger: () => Ledger | undefined) {
  return middy<unknown, unknown>()
    .use(handlerMiddlewares())
    .handler(async (event) => {
      const parsed = planInputSchema.safeParse(event);
      if (!parsed.success) throw new InvalidInputError(`restore plan input: ${parsed.error.message}`);
      const state = parsed.data;
      const target = ledger();
      if (!target) throw new ConfigError('a reactivation needs the ledger: it holds what to restore');
      const plan = restorePlan(await target.history(state.email), state.connections);
      logger.info('restore plan', { restorable: Object.values(plan).filter(Boolean).length });
      // Which account, and when it was switched off: the before-state stays in the ledger,
      // where the reactivating step reads it (it may be large, and a payload must not carry it).
      return {
        ...state,
        connections: state.connections.map((c) => {
          const restore = plan[c.name];
          return {
            ...c,
            restore: restore
              ? {
                  userId: restore.userId,
                  deactivatedAt: restore.deactivatedAt,
                  executionId: restore.executionId,
                }
              : null,
          };
        }),
      };
    });
}

export const handler = restorePlanHandler(ledgerFromEnv);
