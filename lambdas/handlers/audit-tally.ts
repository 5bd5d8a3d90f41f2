import middy from '@middy/core';
import { tally } from '../shared/audit';
import { type Ledger, ledgerFromEnv } from '../shared/ledger';
import { handlerMiddlewares, logger } from '../shared/logger';

/** After each page of the audit: totals, drift recorded in the ledger, the next small state. */
export function auditTallyHandler(ledger: () => Ledger | undefined, eventBudget?: number) {
  return middy<unknown, Awaited<ReturnType<typeof tally>>>()
    .use(handlerMiddlewares())
    .handler(async (event) => {
      const next = await tally(event, ledger(), eventBudget);
      // One line per page, and the alarm's metric filter reads `drift` on the last one.
      logger.info('audit tallied', { ...next.totals, driftFound: undefined, more: next.cursor !== null });
      return next;
    });
}

export const handler = auditTallyHandler(ledgerFromEnv);
