import middy from '@middy/core';
import { z } from 'zod';
import { InvalidInputError } from '../shared/errors';
import { type Ledger, ledgerFromEnv } from '../shared/ledger';
import { handlerMiddlewares, logger } from '../shared/logger';

const claimInputSchema = z.object({
  claimKey: z.string().min(1),
  eventId: z.string().min(1),
  executionId: z.string().min(1),
  startedAt: z.string().min(1),
});

/**
 * For runs an HR event started: claims the termination in the ledger, so that a resent
 * event (HR systems resend) starts at most one offboarding. The duplicate is recorded on
 * the claim, and its execution ends without touching any vendor.
 */
export function claimHandler(ledger: () => Ledger | undefined) {
  return middy<unknown, { duplicate: boolean; firstExecutionId: string }>()
    .use(handlerMiddlewares())
    .handler(async (event) => {
      const parsed = claimInputSchema.safeParse(event);
      if (!parsed.success) throw new InvalidInputError(`claim input: ${parsed.error.message}`);
      const { claimKey, eventId, executionId, startedAt } = parsed.data;
      const target = ledger();
      if (!target) return { duplicate: false, firstExecutionId: executionId };
      const claim = await target.claim(claimKey, { executionId, eventId, at: startedAt });
      logger.info(claim.duplicate ? 'duplicate HR event' : 'termination claimed', { eventId, ...claim });
      return claim;
    });
}

export const handler = claimHandler(ledgerFromEnv);
