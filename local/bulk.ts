import type { OffboardSummary } from '../lambdas/shared/summary';
import { type LocalRunOptions, runLocally } from './runner';

/** One bulk run: every person's summary, and the totals a person reads first. */
export interface BulkSummary {
  dryRun: boolean;
  people: number;
  status: 'succeeded' | 'partial' | 'failed';
  /** Connections by outcome, over everyone. */
  outcomes: Record<string, number>;
  /** People with at least one failed connection. */
  failedPeople: string[];
  results: OffboardSummary[];
}

export interface BulkOptions extends Omit<LocalRunOptions, 'input'> {
  emails: string[];
  dryRun?: boolean;
  connectionNames?: string[];
  /**
   * People offboarded at the same time (the bulk state machine's MaxConcurrency). The pace
   * per connection is kept by the shared pacer, whatever this is.
   */
  concurrency?: number;
  onPersonDone?: (summary: OffboardSummary, done: number) => void;
}

/**
 * Offboards many people: each one is a run of the same per-person state machine, as the
 * deployed bulk workflow starts one execution a person. Runs share one process and so one
 * pacer per connection: together they keep each vendor's rate limit.
 */
export async function runBulkLocally(options: BulkOptions): Promise<BulkSummary> {
  const { emails, dryRun = false, connectionNames, concurrency = 10, onPersonDone, ...run } = options;
  const results: OffboardSummary[] = new Array(emails.length);
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < emails.length) {
      const index = next++;
      const email = emails[index] as string;
      const input: Record<string, unknown> = { email, dryRun };
      if (connectionNames) input.connections = connectionNames;
      const result = await runLocally({ ...run, input });
      // Input was checked up front, so a refused execution here is a bug worth seeing.
      if (!result.ok) throw new Error(`offboarding ${email}: ${result.error.name}: ${result.error.message}`);
      results[index] = result.summary;
      onPersonDone?.(result.summary, ++done);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, emails.length) }, worker));

  const outcomes: Record<string, number> = {};
  for (const summary of results) {
    for (const c of summary.connections) outcomes[c.outcome] = (outcomes[c.outcome] ?? 0) + 1;
  }
  const failedPeople = results.filter((s) => s.status !== 'succeeded').map((s) => s.email);
  const status = failedPeople.length === 0 ? 'succeeded' : failedPeople.length === results.length ? 'failed' : 'partial';
  return { dryRun, people: emails.length, status, outcomes, failedPeople, results };
}
