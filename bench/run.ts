/**
 * `npm run bench`: runs the benchmark sections, prints a table per section and a summary,
 * and writes bench/results.json. `--only calls,cost` runs some sections.
 *
 * Adding a section: a module in bench/ exporting `run(): Promise<SectionResult>`
 * (bench/section.ts), and one line in SECTIONS below.
 */
import { writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { SectionModule, SectionResult } from './section';

// The handlers' JSON logs (Powertools) are for CloudWatch: here they would bury the tables.
// Read when the logger is built, so set before any section (and the handlers) is imported.
process.env.POWERTOOLS_LOG_LEVEL ??= 'SILENT';
// Node 22 calls its built-in SQLite (the local ledger) experimental on every start, on stderr;
// every other warning is printed as Node would (as bin/offboard-cli.mjs does).
const printWarning = process.listeners('warning');
process.removeAllListeners('warning');
process.on('warning', (warning) => {
  if (warning.name === 'ExperimentalWarning' && /SQLite/.test(warning.message)) return;
  for (const print of printWarning) print(warning);
});

/** The sections, in the order they run. Each is loaded only when it runs. */
const SECTIONS: Array<{ id: string; load: () => Promise<SectionModule> }> = [
  { id: 'calls', load: () => import('./calls') },
  { id: 'cost', load: () => import('./cost') },
  { id: 'bundles', load: () => import('./bundles') },
  { id: 'overhead', load: () => import('./overhead') },
  // ── New sections go here. ──────────────────────────────────────────────────────────────
  // bulk (to come): bench/bulk.ts, many people in one go. Uncomment once the module exists:
  { id: 'bulk', load: () => import('./bulk') },
  // pace: one person at the vendors' documented limits, and Gainsight lookups of nobody.
  { id: 'pace', load: () => import('./pace') },
  { id: 'audit', load: () => import('./audit') },
];

const RESULTS_FILE = fileURLToPath(new URL('./results.json', import.meta.url));

async function main(argv: string[]): Promise<number> {
  const only = parseOnly(argv);
  if (only instanceof Error) {
    process.stderr.write(`bench: ${only.message}\n`);
    return 2;
  }
  const selected = only ? SECTIONS.filter((s) => only.includes(s.id)) : SECTIONS;
  const started = performance.now();
  const startedAt = new Date().toISOString();
  const machine = {
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    cores: availableParallelism(),
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    /** 1-minute load average when the run started and ended: other work on the machine skews timings. */
    loadAverage: { start: round(loadavg()[0] ?? 0, 2), end: Number.NaN },
  };
  out(
    `offboard benchmarks: ${startedAt}, Node ${machine.node}, ${machine.platform}, ` +
      `${machine.cores} cores (${machine.cpuModel}), ${machine.memoryGiB} GiB, load average ${machine.loadAverage.start}`,
  );

  const results: Array<{ id: string; seconds: number } & (SectionResult | { error: string })> = [];
  for (const section of selected) {
    const t = performance.now();
    try {
      const result = await (await section.load()).run();
      const seconds = round((performance.now() - t) / 1000, 1);
      printSection(result, seconds);
      results.push({ id: section.id, seconds, ...result });
    } catch (error) {
      const seconds = round((performance.now() - t) / 1000, 1);
      const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
      out(`\n== ${section.id}: FAILED after ${seconds} s ==\n${message}`);
      results.push({ id: section.id, seconds, error: message });
    }
  }
  const seconds = round((performance.now() - started) / 1000, 1);
  machine.loadAverage.end = round(loadavg()[0] ?? 0, 2);

  out('\n== Summary ==');
  for (const r of results) {
    if ('error' in r) {
      out(`  ${r.id}: FAILED (see above)`);
      continue;
    }
    for (const line of r.summary ?? [r.title]) out(`  ${r.id}: ${line}`);
  }
  out(
    `  total: ${seconds} s for ${results.length} section(s); load average ${machine.loadAverage.start} → ` +
      `${machine.loadAverage.end} on ${machine.cores} cores; results in bench/results.json`,
  );

  writeFileSync(
    RESULTS_FILE,
    `${JSON.stringify(
      {
        date: startedAt,
        machine,
        command: `bench/run.ts${argv.length ? ` ${argv.join(' ')}` : ''}`,
        sectionsRun: results.map((r) => r.id),
        totalSeconds: seconds,
        sections: Object.fromEntries(results.map(({ id, ...rest }) => [id, rest])),
      },
      null,
      2,
    )}\n`,
  );
  return results.some((r) => 'error' in r) ? 1 : 0;
}

function parseOnly(argv: string[]): string[] | undefined | Error {
  const i = argv.findIndex((a) => a === '--only' || a.startsWith('--only='));
  if (i < 0) {
    return argv.length > 0
      ? new Error(`unknown argument(s) ${argv.join(' ')}; usage: [--only a,b]`)
      : undefined;
  }
  const arg = argv[i] as string;
  const value = arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : argv[i + 1];
  const ids = (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const known = SECTIONS.map((s) => s.id);
  const unknown = ids.filter((id) => !known.includes(id));
  if (ids.length === 0 || unknown.length > 0) {
    return new Error(
      `--only ${unknown.length ? `unknown section(s) ${unknown.join(', ')}` : 'needs a list'}; sections: ${known.join(', ')}`,
    );
  }
  return ids;
}

function printSection(result: SectionResult, seconds: number): void {
  out(`\n== ${result.title} (${seconds} s) ==`);
  out(formatTable(result.columns, result.rows));
  for (const note of result.notes ?? []) out(wrap(`- ${note}`, 110, '  '));
}

/** Columns padded to their widest cell; numbers right-aligned. */
export function formatTable(columns: string[], rows: (string | number)[][]): string {
  const cells = [columns, ...rows.map((r) => r.map((c) => String(c)))];
  const widths = columns.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const numeric = columns.map((_, i) => rows.length > 0 && rows.every((r) => typeof r[i] === 'number'));
  const line = (r: string[]) =>
    r
      .map((c, i) => (numeric[i] ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(columns), line(widths.map((w) => '-'.repeat(w))), ...cells.slice(1).map(line)].join('\n');
}

function wrap(text: string, width: number, indent: string): string {
  const lines: string[] = [];
  let current = '';
  for (const word of text.split(' ')) {
    if (current && current.length + 1 + word.length > width) {
      lines.push(current);
      current = indent + word;
    } else {
      current = current ? `${current} ${word}` : word;
    }
  }
  if (current) lines.push(current);
  return lines.join('\n');
}

function round(value: number, decimals: number): number {
  const f = 10 ** decimals;
  return Math.round(value * f) / f;
}

function out(line: string): void {
  process.stdout.write(`${line}\n`);
}

process.exitCode = await main(process.argv.slice(2));
// Every section closes what it started, so the process ends here. If it is still alive a
// second later, something was left running: say what (this timer itself keeps nothing alive).
setTimeout(() => {
  const left = process.getActiveResourcesInfo().filter((r) => r !== 'Timeout');
  process.stderr.write(`bench: still running 1 s after the end: ${left.join(', ') || 'unknown'}\n`);
}, 1000).unref();
