import type { LedgerEntry } from '../lambdas/shared/ledger';
import type { OffboardSummary } from '../lambdas/shared/summary';
import type { ProgressEvent } from '../local/runner';

const STEP_WORDS: Record<ProgressEvent['step'], string> = {
  Lookup: 'looking up',
  GetRecord: 'reading the record',
  Deactivate: 'deactivating',
  Verify: 'verifying',
  AskPerson: 'waiting for a person to switch the account off',
  Reactivate: 'restoring the account',
  'Verify reactivated': 'verifying it is back on',
  'Still off?': 'checking it is still off',
};

/** One progress line, as a connection moves through its steps. */
export function formatProgress(event: ProgressEvent): string | undefined {
  if (event.phase === 'started') return `  ${event.connection}: ${STEP_WORDS[event.step]}…`;
  if (event.phase === 'failed') return `  ${event.connection}: ${event.step} answered ${event.errorName}`;
  return undefined;
}

const REACTIVATION_OUTCOMES = new Set([
  'reactivated',
  'would-reactivate',
  'already-active',
  'nothing-to-restore',
]);

/** The summary as a table a person reads at a glance. */
export function formatSummary(summary: OffboardSummary): string {
  const header = ['CONNECTION', 'TYPE', 'OUTCOME', 'USER', 'DETAIL'];
  const rows = summary.connections.map((c) => [
    c.name,
    c.type,
    c.outcome,
    c.userId ?? '-',
    c.error ? `${c.error.name}: ${c.error.message}` : '',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  const failed = summary.connections.filter((c) => c.outcome === 'failed').length;
  const reactivation = summary.connections.some((c) => REACTIVATION_OUTCOMES.has(c.outcome));
  const title = `${reactivation ? 'Reactivating' : 'Offboarding'} ${summary.email}${summary.dryRun ? ' (dry run: nothing was changed)' : ''}`;
  const status =
    summary.status === 'duplicate'
      ? `Status: duplicate (a resent HR event: ${summary.duplicateOf ?? 'another execution'} does this offboarding)`
      : `Status: ${summary.status}${failed ? ` (${failed} of ${summary.connections.length} connections failed)` : ''}`;
  return [title, '', line(header), ...rows.map(line), '', status].join('\n');
}

/** The evidence for one person, as a table: one line per connection per run. */
export function formatLedger(email: string, entries: readonly LedgerEntry[]): string {
  if (entries.length === 0) return `No ledger entries for ${email}.`;
  const header = ['AT', 'CONNECTION', 'TYPE', 'OUTCOME', 'USER', 'RUN', 'BEFORE', 'DETAIL'];
  const rows = entries.map((e) => [
    e.at,
    e.connection,
    e.type,
    e.outcome,
    e.userId ?? '-',
    e.dryRun ? 'dry run' : 'real',
    e.before ? `${Object.keys(e.before).length} fields kept` : '-',
    e.error ? `${e.error.name}: ${e.error.message}` : '',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [`Ledger for ${email} (${entries.length} entries)`, '', line(header), ...rows.map(line)].join('\n');
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
] as const;

/** The evidence as CSV for auditors: one row per entry, the before-state as JSON in its cell. */
export function formatLedgerCsv(entries: readonly LedgerEntry[]): string {
  const cell = (value: unknown) => {
    const text = value === undefined ? '' : typeof value === 'string' ? value : JSON.stringify(value);
    return /[",\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
  };
  const rows = entries.map((e) =>
    CSV_COLUMNS.map((column) =>
      cell(column === 'error' && e.error ? `${e.error.name}: ${e.error.message}` : e[column]),
    ).join(','),
  );
  return [CSV_COLUMNS.join(','), ...rows].join('\n');
}
