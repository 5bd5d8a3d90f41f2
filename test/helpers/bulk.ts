import { afterEach } from 'vitest';
import type { BulkSummary } from '../../lambdas/shared/summary';
import type { LocalBulkResult } from '../../local/bulk';

/** `count` leavers, `leaver000@example.com` on. */
export const leavers = (count: number, prefix = 'leaver') =>
  Array.from({ length: count }, (_, i) => `${prefix}${String(i).padStart(3, '0')}@example.com`);

/** The summary of a run that must have ended (the execution itself did not fail). */
export function summaryOf(result: LocalBulkResult): BulkSummary {
  if (!result.ok) throw new Error(`the bulk run failed: ${result.error.name}: ${result.error.message}`);
  return result.bulk;
}

/** One connection's totals in the summary. */
export function totalsOf(bulk: BulkSummary, name: string) {
  const connection = bulk.connections.find((c) => c.name === name);
  if (!connection) throw new Error(`no connection ${name} in the summary`);
  return connection;
}

/**
 * Sandboxes (or anything closable) a story starts, closed after each story: call once at the
 * top of a test file, then wrap each start in `started(…)`.
 */
export function closedAfterEach(after: () => void = () => undefined) {
  const open: Array<{ close(): Promise<void> }> = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((box) => box.close()));
    after();
  });
  return async function started<T extends { close(): Promise<void> }>(box: Promise<T>): Promise<T> {
    const running = await box;
    open.push(running);
    return running;
  };
}
