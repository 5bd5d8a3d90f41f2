import middy from '@middy/core';
import { type Ledger, ledgerEntries, ledgerFromEnv } from '../shared/ledger';
import { handlerMiddlewares, logger } from '../shared/logger';

/**
 * After the Map: every connection's outcome, and the account as it was before, written to
 * the ledger. The entry keys come from the execution, so a retried write changes nothing.
 */
export function recordHandler(ledger: () => Ledger | undefined) {
  return middy<unknown, { recorded: number }>()
    .use(handlerMiddlewares())
    .handler(async (event) => {
      const entries = ledgerEntries(event);
      const target = ledger();
      if (!target) return { recorded: 0 };
      await target.record(entries);
      logger.info('outcomes recorded', { recorded: entries.length });
      return { recorded: entries.length };
    });
}

export const handler = recordHandler(ledgerFromEnv);
