import middy from '@middy/core';
import { z } from 'zod';
import { auditGroups } from '../shared/audit';
import type { DeployedConnection } from '../shared/deployed';
import { deployedConnections } from '../shared/deployed';
import { ConfigError } from '../shared/errors';
import { type Ledger, ledgerFromEnv } from '../shared/ledger';
import { handlerMiddlewares, logger } from '../shared/logger';

/**
 * Accounts a page: each connection's part of it is checked in one step against the user list,
 * so a page costs a few state transitions whatever its size; 500 addresses of up to 254
 * characters keep the page far below the 256 KB state payload.
 */
export const AUDIT_PAGE_SIZE = 500;

/** The audit's reader: the next page of accounts this workflow switched off, with their connections. */
export function auditPageHandler(
  ledger: () => Ledger | undefined,
  available: () => readonly DeployedConnection[],
) {
  return middy<unknown, { groups: unknown[]; cursor: string | null; skipped: number }>()
    .use(handlerMiddlewares())
    .handler(async (event) => {
      const { cursor } = z.object({ cursor: z.string().nullable().optional() }).loose().parse(event);
      const target = ledger();
      if (!target) throw new ConfigError('the audit needs the ledger: it holds who was switched off');
      const page = await target.offboardedAccounts(cursor ?? undefined, AUDIT_PAGE_SIZE);
      const { groups, skipped } = auditGroups(page.accounts, available());
      logger.info('audit page', {
        accounts: page.accounts.length - skipped,
        connections: groups.length,
        skipped,
        more: page.cursor !== undefined,
      });
      return { groups, cursor: page.cursor ?? null, skipped };
    });
}

export const handler = auditPageHandler(ledgerFromEnv, deployedConnections);
