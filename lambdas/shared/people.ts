import { z } from 'zod';
import { InvalidInputError } from './errors';

/** People one bulk run may list inline: 200 summaries stay well under the 256 KB state payload. */
export const MAX_INLINE_PEOPLE = 200;

const emailSchema = z.string().trim().max(254).pipe(z.email());

/**
 * Reads a list of people to offboard: one email a line, or CSV with an `email` column, or a
 * JSON array of emails or of `{ "email": … }` objects. Every entry is checked before anyone
 * is offboarded: one bad line refuses the whole list (naming each bad line), so a bulk run
 * never stops half way on a typo. The same address twice (ignoring case) counts once.
 */
export function parsePeople(text: string, source = 'list'): string[] {
  const trimmed = text.trim();
  const entries: Array<{ where: string; value: unknown }> = trimmed.startsWith('[')
    ? fromJson(trimmed, source)
    : fromLines(trimmed, source);
  const problems: string[] = [];
  const seen = new Set<string>();
  const emails: string[] = [];
  for (const { where, value } of entries) {
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

function fromJson(text: string, source: string): Array<{ where: string; value: unknown }> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new InvalidInputError(`${source}: not valid JSON: ${(error as Error).message}`);
  }
  if (!Array.isArray(json)) throw new InvalidInputError(`${source}: expected a JSON array of emails`);
  return json.map((item, index) => ({
    where: `item ${index + 1}`,
    value: item && typeof item === 'object' ? (item as { email?: unknown }).email : item,
  }));
}

function fromLines(text: string, source: string): Array<{ where: string; value: unknown }> {
  const lines = text.split(/\r?\n/);
  const header = lines[0]?.split(',').map((cell) => cell.trim().replace(/^"|"$/g, '').toLowerCase()) ?? [];
  const csv = header.length > 1 || header[0] === 'email';
  const column = csv ? header.indexOf('email') : 0;
  if (csv && column < 0)
    throw new InvalidInputError(`${source}: a CSV needs an "email" column (header: ${lines[0]})`);
  return lines
    .map((line, index) => ({ line: line.trim(), number: index + 1 }))
    .slice(csv ? 1 : 0)
    .filter(({ line }) => line !== '' && !line.startsWith('#'))
    .map(({ line, number }) => ({
      where: `line ${number}`,
      value: csv ? line.split(',')[column]?.trim().replace(/^"|"$/g, '') : line,
    }));
}
