import { CsvError, type Options, parse } from 'csv-parse/sync';
import { z } from 'zod';
import { InvalidInputError } from './errors';
import { meantField } from './field-names';

/** People one bulk run may list inline: 200 summaries stay well under the 256 KB state payload. */
export const MAX_INLINE_PEOPLE = 200;

const emailSchema = z.string().trim().max(254).pipe(z.email());

/** Where an entry was found (`line 3`, `item 2`), and what it holds. */
interface Entry {
  where: string;
  value: unknown;
  /** Why the entry is refused whatever its address (a field that would be ignored). */
  refused?: string;
}

/**
 * Why a field beside a person's email would mislead, or undefined when it is only ignored
 * (a name, a department): one that reads like an option of the run (`dryRun`,
 * `effectiveAt`) applies to nobody in particular, and one that reads like `email` makes
 * the person a guess.
 */
function misleadingField(name: string): string | undefined {
  const meant = meantField(name);
  if (name === 'email' || meant === undefined || meant === 'employeeId' || meant === 'reason')
    return undefined;
  if (meant === 'email') return `"${name}" beside "email": which one names the person is a guess; keep one`;
  if (meant === 'effectiveAt')
    return `"${name}" is not read: a bulk run offboards everyone now; remove it, or send each person's HR event with its effectiveAt`;
  return `"${name}" is not read per person: a bulk run's dryRun and connections apply to the whole list; remove it`;
}

/**
 * Reads a list of people to offboard: one email a line, or CSV with an `email` column, or a
 * JSON array of emails or of `{ "email": … }` objects. Every entry is checked before anyone
 * is offboarded: one bad line refuses the whole list (naming each bad line), so a bulk run
 * never stops half way on a typo. The same address twice (ignoring case) counts once.
 *
 * CSV is read by csv-parse (RFC 4180: quoted fields may hold commas, doubled quotes and line
 * breaks); a row it cannot read, or with another number of fields than the header, refuses
 * the list, naming the row's line in the file. Line numbers count every line of the file,
 * the header and blank lines included.
 *
 * @param source names the list in error messages (a path, `s3://bucket/key`).
 * @throws InvalidInputError when the list cannot be read, holds an invalid address, or is empty.
 */
export function parsePeople(text: string, source = 'list'): string[] {
  // One kind of line break: csv-parse counts a CRLF inside a quoted field as two lines,
  // and line numbers must be the ones an editor shows.
  const normalized = text.replace(/^\uFEFF/, '').replace(/\r\n?/g, '\n');
  const trimmed = normalized.trim();
  const firstLine = trimmed.split('\n', 1)[0] ?? '';
  const entries = trimmed.startsWith('[')
    ? fromJson(trimmed, source)
    : isCsvHeader(firstLine)
      ? fromCsv(normalized, source)
      : fromLines(normalized);
  const problems: string[] = [];
  const seen = new Set<string>();
  const emails: string[] = [];
  for (const { where, value, refused } of entries) {
    if (refused) {
      problems.push(`${where}: ${refused}`);
      continue;
    }
    const parsed = emailSchema.safeParse(value);
    if (!parsed.success) {
      problems.push(`${where}: ${JSON.stringify(value)} is not a valid email address`);
      continue;
    }
    const key = parsed.data.toLowerCase();
    if (seen.has(key)) continue;
    seen.add(key);
    emails.push(parsed.data);
  }
  if (problems.length > 0) {
    const shown = problems.slice(0, 10).join('; ');
    const more = problems.length > 10 ? `; and ${problems.length - 10} more` : '';
    throw new InvalidInputError(
      `${source}: ${problems.length} invalid entr${problems.length === 1 ? 'y' : 'ies'}, nobody was offboarded: ${shown}${more}`,
    );
  }
  if (emails.length === 0) throw new InvalidInputError(`${source}: no email addresses in it`);
  return emails;
}

/**
 * A CSV header: more than one cell, or the single cell `email`. Anything else is the
 * one-address-a-line format, whose lines hold no comma outside a `#` comment.
 */
function isCsvHeader(line: string): boolean {
  return !line.startsWith('#') && (line.includes(',') || cellName(line) === 'email');
}

function cellName(cell: string): string {
  return cell
    .trim()
    .replace(/^"(.*)"$/, '$1')
    .trim()
    .toLowerCase();
}

function fromJson(text: string, source: string): Entry[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new InvalidInputError(`${source}: not valid JSON: ${(error as Error).message}`);
  }
  if (!Array.isArray(json)) throw new InvalidInputError(`${source}: expected a JSON array of emails`);
  return json.map((item, index) => {
    const where = `item ${index + 1}`;
    if (!item || typeof item !== 'object' || Array.isArray(item)) return { where, value: item };
    const refused = Object.keys(item).map(misleadingField).find(Boolean);
    return { where, value: (item as { email?: unknown }).email, ...(refused ? { refused } : {}) };
  });
}

/** One address a line; blank lines and `#` comments are skipped. */
function fromLines(text: string): Entry[] {
  return text
    .split('\n')
    .map((line, index) => ({ line: line.trim(), number: index + 1 }))
    .filter(({ line }) => line !== '' && !line.startsWith('#'))
    .map(({ line, number }) => ({ where: `line ${number}`, value: line }));
}

interface Row {
  cells: string[];
  /** The line of the file the row starts on. */
  line: number;
}

const lineBreaks = (text: string): number => text.split('\n').length - 1;
const leadingBlankLines = (raw: string): number => lineBreaks(/^(?:[ \t]*\n)*/.exec(raw)?.[0] ?? '');

/** A CSV with a header row naming an `email` column, `text` with `\n` line breaks only. */
function fromCsv(text: string, source: string): Entry[] {
  // Lines before the row csv-parse reads now. Its `raw` of a row holds the blank lines it
  // skipped before it, so the row's own line is known even when the row is refused.
  let linesBefore = 0;
  const rowLine = (raw: string | undefined) => linesBefore + leadingBlankLines(raw ?? '') + 1;
  const rows: Row[] = [];
  const options: Options = {
    trim: true,
    skip_empty_lines: true,
    raw: true,
    on_record: (parsed, { raw }) => {
      // With `raw`, csv-parse hands over `{ record, raw }`, not the cells alone.
      const { record } = parsed as unknown as { record: string[] };
      rows.push({ cells: record, line: rowLine(raw) });
      linesBefore += lineBreaks(raw ?? '');
      return null;
    },
  };
  try {
    parse(text, options);
  } catch (error) {
    if (!(error instanceof CsvError)) throw error;
    const line = rowLine(error.raw as string | undefined);
    throw new InvalidInputError(
      `${source}: line ${line} is not valid CSV, nobody was offboarded: ${csvProblem(error, rows[0])}`,
      { cause: error },
    );
  }
  const [first, ...records] = rows;
  if (!first) return [];
  const names = first.cells.map(cellName);
  const column = names.indexOf('email');
  if (column < 0)
    throw new InvalidInputError(
      `${source}: a CSV needs an "email" column (header on line ${first.line}: ${first.cells.join(',')})`,
    );
  // Two email columns: which one names the leaver is a guess, and a guess may be the manager.
  if (names.lastIndexOf('email') !== column)
    throw new InvalidInputError(
      `${source}: the header on line ${first.line} has more than one "email" column (${first.cells.join(',')})`,
    );
  const misleading = names.map(misleadingField).find(Boolean);
  if (misleading)
    throw new InvalidInputError(`${source}: the header on line ${first.line}: column ${misleading}`);
  return (
    records
      // A row of empty cells (`,,` from a spreadsheet's trailing rows) names nobody.
      .filter(({ cells }) => cells.some((cell) => cell !== ''))
      .map(({ cells, line }) => ({ where: `line ${line}`, value: cells[column] }))
  );
}

/** What is wrong with a row, in words a person editing the file can act on. */
function csvProblem(error: CsvError, header: Row | undefined): string {
  switch (error.code) {
    case 'CSV_QUOTE_NOT_CLOSED':
      return 'a quoted field starts on it and is never closed';
    case 'CSV_RECORD_INCONSISTENT_FIELDS_LENGTH':
      return `${(error.record as unknown[] | undefined)?.length} fields where the header on line ${header?.line} has ${header?.cells.length}`;
    case 'INVALID_OPENING_QUOTE':
      return 'a quote inside a field that does not start with one (quote the whole field, and double the quotes inside it)';
    case 'CSV_INVALID_CLOSING_QUOTE':
    case 'CSV_NON_TRIMABLE_CHAR_AFTER_CLOSING_QUOTE':
      return 'text after the closing quote of a field (double the quotes inside a quoted field)';
    default:
      return error.message;
  }
}
