import { workName } from './evidence';

// Apart from bulk.ts, which loads the ledger (and its DynamoDB client): the bulk run's first
// step (normalize-bulk) needs only this name.

/** What a bulk run keeps for its connectors' steps under its execution (`bulkRunName`). */
export interface BulkRun {
  /** The bulk run this one retries: every ledger entry of the run carries it. */
  retryOf?: string;
}

/** Where a bulk run's `BulkRun` is kept: its first step writes it, the connectors' steps read it. */
export const bulkRunName = (executionId: string) => workName('bulk-run', executionId);
