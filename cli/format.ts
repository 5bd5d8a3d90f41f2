import type { PauseRecord } from '../lambdas/shared/brake';
import type { BulkResult } from '../lambdas/shared/bulk';
import {
  type Ledger,
  type LedgerEntry,
  REACTIVATION_OUTCOMES,
  settledHistory,
} from '../lambdas/shared/ledger';
import type { BulkSummary, OffboardSummary } from '../lambdas/shared/summary';
import { stripControl } from '../lambdas/shared/text';
import type { ProgressEvent } from '../local/runner';

const STEP_WORDS: Record<ProgressEvent['step'], string> = {
  Lookup: 'looking up',
  GetRecord: 'reading the record',
  Deactivate: 'deactivating',
  Verify: 'verifying',
  Settle: 'reading the account to settle what the write did',
  AskPerson: 'waiting for a person to switch the account off',
  Reactivate: 'restoring the account',
  'Verify reactivated': 'verifying it is back on',
  'Offboard the list': 'working through the list (one read of the user list, batched writes)',
  'Verify the list': 'reading the user list again to verify',
  'Settle the list': 'settling the accounts still on',
  'Count the single runs': 'counting what the single runs did',
  'Check against the user list': 'checking the accounts against the user list',
};

/** One progress line, as a connection moves through its steps. */
export function formatProgress(event: ProgressEvent): string | undefined {
  const connection = stripControl(event.connection);
  if (event.phase === 'started') return `  ${connection}: ${STEP_WORDS[event.step]}…`;
  if (event.phase === 'failed')
    return `  ${connection}: ${event.step} answered ${stripControl(event.errorName ?? '')}`;
  return undefined;
}

/**
 * Lines of aligned columns. Every cell is stripped of control characters: user ids, emails
 * and error messages come from vendors, and an escape sequence in them must not move the
 * cursor or recolour the terminal (nor shift the columns).
 */
function table(header: readonly string[], cells: ReadonlyArray<readonly string[]>): string[] {
  const rows = cells.map((row) => row.map(stripControl));
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (row: readonly string[]) =>
    row
      .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

/** The brake's pauses as a table for people (one line each). */
export function formatBrakeHistory(pauses: readonly PauseRecord[]): string {
  if (pauses.length === 0) return 'The brake has never paused an offboarding.\n';
  // Names and reasons were typed on the task page, emails came from HR: table() strips them.
  const rows = pauses.map((p) => [
    p.openedAt,
    p.id,
    `${p.count}/${p.limit} in ${p.windowMinutes} min`,
    String(p.people),
    p.outcome ?? 'waiting',
    p.by ?? '',
    p.at ?? '',
    [p.email ?? '', p.reason ?? ''].filter(Boolean).join(': '),
  ]);
  const header = ['OPENED', 'PAUSE', 'COUNT', 'PEOPLE', 'OUTCOME', 'BY', 'AT', 'DETAIL'];
  return `Brake pauses (${pauses.length})\n\n${table(header, rows).join('\n')}\n`;
}

/** The summary as a table a person reads at a glance. */
export function formatSummary(summary: OffboardSummary): string {
  const header = ['CONNECTION', 'TYPE', 'OUTCOME', 'USER', 'DETAIL'];
  const rows = summary.connections.map((c) => [
    c.name,
    c.type,
    c.outcome,
    c.userId ?? '-',
    [c.error ? `${c.error.name}: ${c.error.message}` : '', personDetail(c)].filter(Boolean).join('; '),
  ]);
  const failed = summary.connections.filter((c) => c.outcome === 'failed').length;
  const reactivation = summary.connections.some((c) => REACTIVATION_OUTCOMES.has(c.outcome));
  const title = `${reactivation ? 'Reactivating' : 'Offboarding'} ${stripControl(summary.email)}${summary.dryRun ? ' (dry run: nothing was changed)' : ''}`;
  const status =
    summary.status === 'duplicate'
      ? `Status: duplicate (a resent HR event: ${stripControl(summary.duplicateOf ?? 'another execution')} does this offboarding)`
      : `Status: ${summary.status}${failed ? ` (${failed} of ${summary.connections.length} connections failed)` : ''}`;
  return [title, '', ...table(header, rows), '', status].join('\n');
}

/** The evidence for one person, as a table: one line per connection per run. */
export function formatLedger(email: string, all: readonly LedgerEntry[]): string {
  // A run's write-ahead entry is shown only when the run never recorded its outcome.
  const entries = settledHistory(all);
  if (entries.length === 0) return `No ledger entries for ${stripControl(email)}.`;
  const header = ['AT', 'CONNECTION', 'TYPE', 'OUTCOME', 'USER', 'RUN', 'BEFORE', 'DETAIL'];
  const rows = entries.map((e) => [
    e.at,
    e.connection,
    e.type,
    e.outcome,
    e.userId ?? '-',
    e.dryRun ? 'dry run' : 'real',
    e.before
      ? `${Object.keys(e.before).length} fields kept`
      : e.beforeRef
        ? `kept whole in evidence/${e.beforeRef.sha256.slice(0, 12)}… (${e.beforeRef.bytes} bytes)`
        : '-',
    [
      e.error
        ? `${e.error.name}: ${e.error.message}`
        : e.outcome === 'deactivating'
          ? 'interrupted after the write was sent: the account decides; offboard reactivate can restore it'
          : '',
      personDetail(e),
    ]
      .filter(Boolean)
      .join('; '),
  ]);
  return [`Ledger for ${stripControl(email)} (${entries.length} entries)`, '', ...table(header, rows)].join(
    '\n',
  );
}

/**
 * What a person's answer to the connection's task says: on a deactivation, who switched the
 * account off by hand, when, and which task; otherwise who said it was done (the account
 * was found still on).
 */
function personDetail(e: Pick<LedgerEntry, 'outcome' | 'person'>): string {
  if (!e.person) return '';
  const { by, at, taskId } = e.person;
  const task = taskId ? ` (task ${taskId})` : '';
  const who = by ?? 'a person (not named)';
  return e.outcome === 'deactivated'
    ? `switched off by hand: ${who}, ${at}${task}`
    : `${who} said it was done, ${at}${task}`;
}

/** The CSV's person cell: `by, at, task <id>` (empty when no person answered a task). */
function personCell(e: LedgerEntry): string {
  if (!e.person) return '';
  const { by, at, taskId } = e.person;
  return [by ?? 'not named', at, ...(taskId ? [`task ${taskId}`] : [])].join(', ');
}

const CSV_COLUMNS = [
  'at',
  'email',
  'connection',
  'type',
  'outcome',
  'userId',
  'dryRun',
  'executionId',
  'error',
  'before',
  'person',
] as const;

/**
 * One CSV cell. A cell a spreadsheet would read as a formula (starting with `=`, `+`, `-`,
 * `@`, a tab or a carriage return) gets a leading `'`, as OWASP's CSV-injection guidance
 * says: the ledger holds vendors' text, and opening the evidence must not run it. Then the
 * cell is quoted when it holds a quote, a comma or a line break.
 */
function csvCell(value: unknown): string {
  const raw = value === undefined ? '' : typeof value === 'string' ? value : JSON.stringify(value);
  const text = /^[=+\-@\t\r]/.test(raw) ? `'${raw}` : raw;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** The evidence as CSV for auditors: one row per entry, the before-state as JSON in its cell. */
export function formatLedgerCsv(entries: readonly LedgerEntry[]): string {
  const rows = entries.map((e) =>
    CSV_COLUMNS.map((column) =>
      csvCell(
        column === 'error' && e.error
          ? `${e.error.name}: ${e.error.message}`
          : column === 'person'
            ? personCell(e)
            : e[column],
      ),
    ).join(','),
  );
  return [CSV_COLUMNS.join(','), ...rows].join('\n');
}

/**
 * A bulk run's totals, as lines: people and time, each outcome's count, each connection's
 * counts (or its failure), the status, then every failure (`failed: email: connection: error`).
 */
export async function formatBulk(
  bulk: BulkSummary,
  seconds: number | undefined,
  ledger: Ledger,
): Promise<string> {
  const took = seconds === undefined ? '' : ` in ${seconds.toFixed(1)} s`;
  const lines = [
    `Offboarded ${bulk.people} people${took}${bulk.dryRun ? ' (dry run: nothing was changed)' : ''}`,
  ];
  for (const [outcome, count] of Object.entries(bulk.outcomes).sort())
    lines.push(`  ${outcome.padEnd(17)} ${count}`);
  for (const c of bulk.connections) {
    const counts = Object.entries(c.outcomes)
      .sort()
      .map(([outcome, count]) => `${outcome} ${count}`)
      .join(', ');
    lines.push(
      stripControl(`  ${c.name}: ${c.error ? `failed: ${c.error.name}: ${c.error.message}` : counts}`),
    );
  }
  lines.push(`Status: ${bulk.status}`);
  // The summary names the first failures of each connection; the full results are in the
  // evidence store: every failure is printed.
  for (const line of await failureLines(bulk, ledger)) lines.push(`  failed: ${stripControl(line)}`);
  return lines.join('\n');
}

/** Every failure of a bulk run, `email: connection: error`, from each connection's full results. */
async function failureLines(bulk: BulkSummary, ledger: Ledger): Promise<string[]> {
  const lines = new Map<string, string>();
  const add = (email: string, connection: string, error?: { name: string; message: string }) =>
    lines.set(
      `${email}\u0000${connection}`,
      `${email}: ${connection}: ${error ? `${error.name}: ${error.message}` : 'failed'}`,
    );
  for (const c of bulk.connections) {
    if (!c.resultsRef) continue;
    const results = (await ledger.blobs().get(c.resultsRef)) as BulkResult[];
    for (const r of results) if (r.outcome === 'failed') add(r.email, c.name, r.error);
  }
  for (const person of bulk.failed) {
    for (const c of person.connections) add(person.email, c.name, c.error);
    if (person.connections.length === 0) add(person.email, '(all)', person.error);
  }
  return [...lines.values()];
}

/** What an audit found, as lines (its totals, then each drift). */
export function formatAudit(totals: {
  checked: number;
  stillOff: number;
  drift: number;
  remediated: number;
  unchecked: number;
  driftFound: ReadonlyArray<{ email: string; connection: string; userId: string; remediated: boolean }>;
}): string {
  const lines = [
    `Audit: ${totals.checked} accounts checked, ${totals.stillOff} still off, ${totals.drift} active again` +
      `${totals.remediated ? ` (${totals.remediated} switched off again)` : ''}, ${totals.unchecked} not checked.`,
  ];
  for (const d of totals.driftFound) {
    lines.push(
      `  drift: ${stripControl(`${d.email} on ${d.connection} (user ${d.userId})`)}${d.remediated ? ': switched off again' : ''}`,
    );
  }
  return lines.join('\n');
}
