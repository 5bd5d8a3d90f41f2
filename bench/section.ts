/**
 * What every benchmark section returns. `bench/run.ts` prints `columns`/`rows` as a table,
 * then `notes`, and stores the whole result (with `json`) in bench/results.json.
 */
export interface SectionResult {
  title: string;
  columns: string[];
  rows: (string | number)[][];
  /** Machine-readable figures for bench/results.json: whatever this section measured. */
  json: unknown;
  /** Printed under the table: assumptions, sources, and why a figure is what it is. */
  notes?: string[];
  /** Optional one-liners for the final summary block (a section without it is listed by title). */
  summary?: string[];
}

/** A benchmark section module: `export async function run(): Promise<SectionResult>`. */
export interface SectionModule {
  run(): Promise<SectionResult>;
}
