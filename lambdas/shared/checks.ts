/**
 * The checks a step makes before it trusts a vendor's answer about an account: shared by the
 * single-person steps and the bulk ones, so that both follow one set of rules.
 */
import type { UserRecord } from '../connectors/types';
import { isPerson } from './directory';
import { UserMismatchError } from './errors';

/** The first few field names, for a message. */
export function shown(fields: readonly string[]): string {
  return fields.slice(0, 5).join(', ') + (fields.length > 5 ? `, and ${fields.length - 5} more` : '');
}

/** A read must answer for the account asked for: an answer about another id is never acted on. */
export function answersFor(label: string, record: UserRecord, userId: string, action: string): void {
  if (record.id !== userId) {
    throw new UserMismatchError(
      `${label}: ${action} ${userId}: the vendor answered user ${record.id || '(no id)'} instead; nothing was changed`,
    );
  }
}

/** `User.Mismatch` unless the account is this person's; `consequence` ends the message. */
export function mustBePerson(label: string, record: UserRecord, email: string, consequence: string): void {
  if (!isPerson(record, email)) {
    throw new UserMismatchError(
      `${label}: user ${record.id} has the email ${record.email || '(none)'}, not ${email}; ${consequence}`,
    );
  }
}

/**
 * The fields that differ between two reads of one account, ignoring `volatile` ones (dotted
 * names reach into objects). Objects are compared key by key, everything else as JSON.
 */
export function changedFields(
  before: Record<string, unknown>,
  after: Record<string, unknown>,
  volatile: readonly string[],
  prefix = '',
): string[] {
  const ignored = new Set(volatile);
  const changed: string[] = [];
  for (const key of new Set([...Object.keys(before), ...Object.keys(after)])) {
    const path = `${prefix}${key}`;
    if (ignored.has(path)) continue;
    const a = before[key];
    const b = after[key];
    if (isPlainObject(a) && isPlainObject(b)) {
      changed.push(...changedFields(a, b, volatile, `${path}.`));
    } else if (canonical(a) !== canonical(b)) {
      changed.push(path);
    }
  }
  return changed;
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** JSON with object keys sorted, so that key order alone is no change. */
export function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, item: unknown) =>
    isPlainObject(item)
      ? Object.fromEntries(Object.entries(item).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : item,
  );
}
