import { z } from 'zod';
import { PERSON_DEACTIVATED_TYPES } from './connections';
import { type DeployedConnection, endpointOfDeployed } from './deployed';
import type { Ledger, LedgerEntry, OffboardedAccount } from './ledger';

/** Drift listed by name in the audit's output; beyond it only counted (all are in the ledger). */
export const MAX_LISTED_DRIFT = 100;

/** What the audit reports: every figure, and the drift found. */
export interface AuditTotals {
  checked: number;
  stillOff: number;
  drift: number;
  remediated: number;
  /** Accounts that could not be checked (vendor errors), and ledger accounts whose connection is no longer configured. */
  unchecked: number;
  driftFound: Array<{ email: string; connection: string; userId: string; remediated: boolean }>;
}

export const EMPTY_TOTALS: AuditTotals = {
  checked: 0,
  stillOff: 0,
  drift: 0,
  remediated: 0,
  unchecked: 0,
  driftFound: [],
};

/**
 * One page of accounts to re-check, by connection: each connection's part is checked against
 * its vendor's user list in one step.
 */
export function auditGroups(
  accounts: readonly OffboardedAccount[],
  available: readonly DeployedConnection[],
) {
  const { items, skipped } = auditItems(accounts, available);
  const groups = new Map<
    string,
    { connection: (typeof items)[number]['connection']; accounts: Array<{ email: string; userId: string }> }
  >();
  for (const { connection, email, userId } of items) {
    const group = groups.get(connection.name) ?? { connection, accounts: [] };
    group.accounts.push({ email, userId });
    groups.set(connection.name, group);
  }
  return { groups: [...groups.values()], skipped };
}

/** One page of accounts to re-check, each with its connection as the state machine needs it. */
export function auditItems(accounts: readonly OffboardedAccount[], available: readonly DeployedConnection[]) {
  const byName = new Map(available.map((c) => [c.name, c]));
  const items = [];
  let skipped = 0;
  for (const account of accounts) {
    const connection = byName.get(account.connection);
    // An account recorded through a connection of this name that reached another tenant (a
    // connection since moved, another config's) is not this connection's to check.
    const endpoint = connection ? endpointOfDeployed(connection) : undefined;
    if (!connection || (endpoint && account.endpoint && endpoint !== account.endpoint)) {
      skipped++;
      continue;
    }
    items.push({
      email: account.email,
      userId: account.userId,
      // What the state needs to route the check; where the connection is, its function knows.
      connection: {
        name: connection.name,
        type: connection.type,
        ...(connection.functionName ? { functionName: connection.functionName } : {}),
        deactivation: PERSON_DEACTIVATED_TYPES.has(connection.type) ? 'person' : 'api',
      },
    });
  }
  return { items, skipped };
}

/** Each connection's part of a page, as the audit's Map leaves it. */
const checkedSchema = z.array(
  z.union([
    z.object({
      connection: z.string(),
      type: z.string(),
      checked: z.number(),
      stillOff: z.number(),
      gone: z.number(),
      drift: z.array(z.object({ email: z.string(), userId: z.string(), remediated: z.boolean().optional() })),
    }),
    z.object({ connection: z.string(), type: z.string(), unchecked: z.number(), error: z.unknown() }),
  ]),
);

const tallyInputSchema = z
  .object({
    remediate: z.boolean(),
    totals: z.custom<AuditTotals>(),
    page: z.object({ cursor: z.string().nullable(), skipped: z.number() }).loose(),
    checked: checkedSchema,
    executionId: z.string(),
    startedAt: z.string(),
    /** History events this execution has used so far (an estimate: see AUDIT_EVENTS_*). */
    events: z.number().nonnegative().default(0),
  })
  .loose();

/**
 * History events one page of the audit adds to its execution: the page read, the Map and the
 * tally (16), and each connection's check on it (11, without remediation; 12 more a drifted
 * account remediated). Measured by the audit benchmark from the execution's event log.
 */
export const AUDIT_EVENTS_PER_PAGE = 16;
export const AUDIT_EVENTS_PER_CHECK = 11;
export const AUDIT_EVENTS_PER_REMEDIATION = 12;

/**
 * Events after which the audit goes on in a new execution of itself: far below Step
 * Functions' 25,000, and the benchmark's aim of 5,000, however many pages the ledger has.
 */
export const AUDIT_EVENT_BUDGET = 4_000;

/**
 * After each page: adds the page's checks to the totals and records each drift in the
 * ledger (outcome `drift`). Returns the next, small, state: the options, the cursor of the
 * next page and the totals, so the audit's payload does not grow with the ledger.
 */
export async function tally(input: unknown, ledger: Ledger | undefined, eventBudget = AUDIT_EVENT_BUDGET) {
  const { remediate, totals, page, checked, executionId, startedAt, events } = tallyInputSchema.parse(input);
  const next: AuditTotals = { ...totals, driftFound: [...totals.driftFound] };
  next.unchecked += page.skipped;
  const drift: LedgerEntry[] = [];
  for (const part of checked) {
    if (!('checked' in part)) {
      next.unchecked += part.unchecked;
      continue;
    }
    next.checked += part.checked;
    next.stillOff += part.stillOff;
    for (const found of part.drift) {
      next.drift++;
      if (found.remediated) next.remediated++;
      if (next.driftFound.length < MAX_LISTED_DRIFT) {
        next.driftFound.push({
          email: found.email,
          connection: part.connection,
          userId: found.userId,
          remediated: found.remediated === true,
        });
      }
      drift.push({
        email: found.email,
        connection: part.connection,
        type: part.type,
        outcome: 'drift',
        dryRun: false,
        userId: found.userId,
        at: new Date().toISOString(),
        startedAt,
        executionId,
      });
    }
  }
  if (ledger && drift.length > 0) await ledger.record(drift);
  const used =
    events +
    AUDIT_EVENTS_PER_PAGE +
    AUDIT_EVENTS_PER_CHECK * checked.length +
    (remediate ? AUDIT_EVENTS_PER_REMEDIATION * drift.length : 0);
  // The next page could not fit within the budget: go on in a new execution.
  const goOn =
    page.cursor !== null &&
    used + AUDIT_EVENTS_PER_PAGE + AUDIT_EVENTS_PER_CHECK * checked.length > eventBudget;
  return { remediate, cursor: page.cursor, totals: next, events: used, goOn };
}
