import middy from '@middy/core';
import { ConfigError } from '../shared/errors';
import { Ledger, ledgerEntries } from '../shared/ledger';
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

let ledger: Ledger | undefined;
export const handler = recordHandler(() => {
  const table = process.env.OFFBOARD_LEDGER_TABLE;
  if (!table) throw new ConfigError('OFFBOARD_LEDGER_TABLE is not set: the stack names the ledger table');
  ledger ??= new Ledger(table);
  return ledger;
});
