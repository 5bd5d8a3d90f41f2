import { z } from 'zod';
import { CONNECTION_TYPES } from './connections';

export const OUTCOMES = [
  'deactivated',
  'already-inactive',
  'not-found',
  'would-deactivate',
  'failed',
  // Reactivation (a mistaken termination): the account restored from the ledger's before-state.
  'reactivated',
  'would-reactivate',
  'already-active',
  'nothing-to-restore',
  // The scheduled audit: an account this workflow switched off, found active again.
  'drift',
] as const;
export type Outcome = (typeof OUTCOMES)[number];

/** One connection's result in the summary: the command line's and the execution's output. */
export interface ConnectionOutcome {
  name: string;
  type: string;
  outcome: Outcome;
  userId?: string;
  error?: { name: string; message: string };
}

export interface OffboardSummary {
  email: string;
  dryRun: boolean;
  /** `duplicate`: a resent HR event; the execution named in `duplicateOf` does the work. */
  status: 'succeeded' | 'partial' | 'failed' | 'duplicate';
  connections: ConnectionOutcome[];
  duplicateOf?: string;
  /** Present only when the outcomes could not be written to the ledger (the evidence is missing). */
  ledgerError?: { name: string; message: string };
}

/** A Map iteration's result as the ASL builds it; `error` is Step Functions' `{Error, Cause}`. */
const branchResultSchema = z.object({
  name: z.string(),
  type: z.enum(CONNECTION_TYPES),
  outcome: z.enum(OUTCOMES),
  userId: z.string().optional(),
  error: z.object({ Error: z.string(), Cause: z.string().optional() }).optional(),
  /** On failure, the iteration's state as it stood: it tells whether a user had been found. */
  state: z
    .object({ lookup: z.object({ value: z.object({ userId: z.string().optional() }).loose() }).optional() })
    .loose()
    .optional(),
});

export const summarizeInputSchema = z.object({
  email: z.string(),
  dryRun: z.boolean(),
  results: z.array(branchResultSchema),
  /** What the Record step answered: a count, or Step Functions' `{Error, Cause}` when it failed. */
  ledger: z
    .union([
      z.object({ recorded: z.number() }),
      z.object({ Error: z.string(), Cause: z.string().optional() }),
    ])
    .optional(),
});

/**
 * Builds the summary. A Lambda error reaches a Catch as a JSON `Cause`
 * (`{"errorType","errorMessage","trace"}`); other failures (timeouts, runtime errors) as
 * plain text. Both become `{ name, message }`, with no stack trace.
 */
export function summarize(input: unknown): OffboardSummary {
  const { email, dryRun, results, ledger } = summarizeInputSchema.parse(input);
  const connections = results.map((result): ConnectionOutcome => {
    const outcome: ConnectionOutcome = { name: result.name, type: result.type, outcome: result.outcome };
    const userId = result.userId ?? result.state?.lookup?.value.userId;
    if (userId !== undefined) outcome.userId = userId;
    if (result.error) outcome.error = { name: result.error.Error, message: causeMessage(result.error.Cause) };
    return outcome;
  });
  const failed = connections.filter((c) => c.outcome === 'failed').length;
  const status = failed === 0 ? 'succeeded' : failed === connections.length ? 'failed' : 'partial';
  const summary: OffboardSummary = { email, dryRun, status, connections };
  if (ledger && 'Error' in ledger)
    summary.ledgerError = { name: ledger.Error, message: causeMessage(ledger.Cause) };
  return summary;
}

export function causeMessage(cause: string | undefined): string {
  if (!cause) return '';
  try {
    const parsed = JSON.parse(cause) as { errorMessage?: unknown };
    if (typeof parsed.errorMessage === 'string') return parsed.errorMessage;
  } catch {
    // Not JSON: Step Functions' own errors carry plain text.
  }
  return cause;
}

/** A bulk run: totals first, then the people who need a look. */
export interface BulkSummary {
  dryRun: boolean;
  people: number;
  status: 'succeeded' | 'partial' | 'failed';
  /** Connections by outcome, over everyone. */
  outcomes: Partial<Record<Outcome, number>>;
  /** Everyone with a failed connection or a failed execution, with what failed. */
  failed: Array<{
    email: string;
    connections: ConnectionOutcome[];
    error?: { name: string; message: string };
  }>;
}

const personResultSchema = z.union([
  z.object({
    email: z.string(),
    status: z.literal('failed'),
    error: z.object({ Error: z.string(), Cause: z.string().optional() }),
  }),
  z.object({
    email: z.string(),
    dryRun: z.boolean(),
    status: z.enum(['succeeded', 'partial', 'failed']),
    connections: z.array(z.custom<ConnectionOutcome>()),
  }),
]);

/**
 * Totals of a bulk run from each person's summary (or the error their execution failed
 * with). Only the people who need a look are listed by name, so the output stays small
 * whatever the number of people.
 */
export function summarizeBulk(input: unknown): BulkSummary {
  const { dryRun, results } = z
    .object({ dryRun: z.boolean(), results: z.array(personResultSchema) })
    .parse(input);
  const outcomes: Partial<Record<Outcome, number>> = {};
  const failed: BulkSummary['failed'] = [];
  for (const person of results) {
    if (!('connections' in person)) {
      failed.push({
        email: person.email,
        connections: [],
        error: { name: person.error.Error, message: causeMessage(person.error.Cause) },
      });
      continue;
    }
    for (const c of person.connections) outcomes[c.outcome] = (outcomes[c.outcome] ?? 0) + 1;
    if (person.status !== 'succeeded') {
      failed.push({
        email: person.email,
        connections: person.connections.filter((c) => c.outcome === 'failed'),
      });
    }
  }
  const status = failed.length === 0 ? 'succeeded' : failed.length === results.length ? 'failed' : 'partial';
  return { dryRun, people: results.length, status, outcomes, failed };
}
