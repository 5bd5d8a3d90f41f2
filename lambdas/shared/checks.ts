/**
 * The checks a step makes before it trusts a vendor's answer about an account: shared by the
 * single-person steps and the bulk ones, so that both follow one set of rules.
 */
import type { Connector, UserRecord } from '../connectors/types';
import { isPerson } from './directory';
import { ProtectedUserError, RecordChangedError, UserMismatchError } from './errors';

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

/**
 * The account found for the person, checked before a write is planned: it is theirs, and, when
 * it is on (only then may a write follow), not protected. Single runs (GetRecord) and bulk runs
 * plan by it.
 *
 * @throws UserMismatchError the account is not the person's own.
 * @throws ProtectedUserError it must never be switched off automatically.
 */
export async function checkPlanned(
  label: string,
  record: UserRecord,
  email: string,
  connector: Connector,
): Promise<void> {
  mustBePerson(label, record, email, 'nothing was changed');
  // Only an account about to be written needs the check (and any request it costs).
  if (!record.active) return;
  const why = await connector.protectedReason?.(record);
  if (why) {
    throw new ProtectedUserError(
      `${label}: user ${record.id} (${record.email}) is protected: ${why}; nothing was changed. Switch it off by hand if it must be`,
    );
  }
}

/**
 * The account read again right before its write, checked against the read that planned it:
 * the record to write, or undefined when it needs no write (it is off already). Single runs
 * (Deactivate) and bulk runs write only through it. `comparable` gives the fresh fields in the
 * form the plan kept them (a single run's plan left its step redacted).
 *
 * @throws UserMismatchError the vendor answered for another id, or the id now holds another person.
 * @throws RecordChangedError a field other than the volatile ones changed since the plan.
 * @throws ProtectedUserError the record about to be written is protected.
 */
export async function checkFresh(
  label: string,
  planned: UserRecord,
  fresh: UserRecord,
  email: string,
  connector: Connector,
  comparable: (fields: Record<string, unknown>) => Record<string, unknown> = (fields) => fields,
): Promise<UserRecord | undefined> {
  answersFor(label, fresh, planned.id, 'read user');
  mustBePerson(
    label,
    fresh,
    email,
    'the id may have been given to someone else since it was read; nothing was written',
  );
  const changed = changedFields(planned.fields, comparable(fresh.fields), connector.volatileFields);
  if (changed.length > 0) {
    throw new RecordChangedError(
      `${label}: user ${planned.id} was changed since it was read (${shown(changed)}); nothing was written; reading it again`,
    );
  }
  if (!fresh.active) return undefined;
  // Checked on the record about to be written, whatever the plan said about it.
  const why = await connector.protectedReason?.(fresh);
  if (why) {
    throw new ProtectedUserError(
      `${label}: user ${fresh.id} (${fresh.email}) is protected: ${why}; nothing was written`,
    );
  }
  return fresh;
}
