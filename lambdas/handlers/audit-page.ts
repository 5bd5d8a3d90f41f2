import middy from '@middy/core';
import { z } from 'zod';
import { auditItems } from '../shared/audit';
import type { DeployedConnection } from '../shared/deployed';
import { deployedConnections } from '../shared/deployed';
import { ConfigError } from '../shared/errors';
import { type Ledger, ledgerFromEnv } from '../shared/ledger';
import { handlerMiddlewares, logger } from '../shared/logger';

/** Accounts a page: the page and its checks must stay far below the 256 KB state payload. */
const PAGE_SIZE = 100;

/** The audit's reader: the next page of accounts this workflow switched off, with their connections. */
export function auditPageHandler(
  ledger: () => Ledger | undefined,
  available: () => readonly DeployedConnection[],
) {
  return middy<unknown, { items: unknown[]; cursor: string | null; skipped: number }>()
    .use(handlerMiddlewares())
    .handler(async (event) => {
      const { cursor } = z.object({ cursor: z.string().nullable().optional() }).loose().parse(event);
      const target = ledger();
      if (!target) throw new ConfigError('the audit needs the ledger: it holds who was switched off');
      const page = await target.offboardedAccounts(cursor ?? undefined, PAGE_SIZE);
      const { items, skipped } = auditItems(page.accounts, available());
      logger.info('audit page', { accounts: items.length, skipped, more: page.cursor !== undefined });
      return { items, cursor: page.cursor ?? null, skipped };
    });
}

export const handler = auditPageHandler(ledgerFromEnv, deployedConnections);
