/**
 * Reading what a vendor answered, the same way for every connector: a body checked against
 * the shape we rely on, and a lookup's matches turned into one user, none, or a refusal.
 */
import type { z } from 'zod';
import type { LookupResult, UserRecord } from '../connectors/types';
import { AmbiguousUserError, BadRequestError, BadResponseError } from './errors';
import { sameEmail } from './http';

/**
 * `body` as `schema` reads it, or `Vendor.BadResponse` naming the first field that is off:
 * `insightly-prod: get user 12: unexpected response shape (ACTIVE: Invalid input…)`.
 *
 * @param where the connection and what we were doing: `insightly-prod: get user 12`.
 * @param at where `body` sits in the answer (`data` of an envelope), prefixed to the field path.
 */
export function parseVendorBody<T>(schema: z.ZodType<T>, body: unknown, where: string, at?: string): T {
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const path = [...(at ? [at] : []), ...(issue?.path ?? [])].join('.') || 'body';
  throw new BadResponseError(
    `${where}: unexpected response shape (${issue ? `${path}: ${issue.message}` : 'invalid'})`,
  );
}

/**
 * The lookup's outcome from the ids of the users that matched exactly. More than one is
 * `User.Ambiguous`: nobody is switched off on a guess.
 *
 * @param label the connection, first word of the message.
 * @param matched what the users have in common, for the message: `the email jane@example.com`.
 */
export function lookupResult(
  label: string,
  ids: readonly (string | number)[],
  matched: string,
): LookupResult {
  if (ids.length > 1) {
    throw new AmbiguousUserError(
      `${label}: ${ids.length} users have ${matched} (ids ${ids.join(', ')}); nothing was changed`,
    );
  }
  return ids[0] === undefined ? { found: false } : { found: true, userId: String(ids[0]) };
}

/**
 * Checks a before-state from the ledger before it is written back: the vendor's user shape
 * (`parsed`, from the vendor's schema), the same id, and an account that was active then.
 * Returns it as a record. Throws `Vendor.BadRequest`, and nothing is written, otherwise.
 */
export function restorableRecord<T>(
  where: string,
  vendor: string,
  before: UserRecord,
  parsed: { success: true; data: T } | { success: false; error: z.ZodError },
  toRecord: (user: T) => UserRecord,
): UserRecord {
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new BadRequestError(
      `${where}: the before-state is not ${/^[aeiou]/i.test(vendor) ? 'an' : 'a'} ${vendor} user (${issue ? `${issue.path.join('.') || 'fields'}: ${issue.message}` : 'invalid'}); nothing was written`,
    );
  }
  const was = toRecord(parsed.data);
  if (was.id !== before.id) {
    throw new BadRequestError(
      `${where}: the before-state is user ${was.id}, not ${before.id}; nothing was written`,
    );
  }
  if (!was.active) {
    throw new BadRequestError(
      `${where}: the account was already inactive before the offboarding; there is nothing to restore`,
    );
  }
  return was;
}

/**
 * Before a restore writes anything: the account must still carry the leaver's email. The id
 * may have been reused for someone else since the offboarding (the user deleted and the id
 * handed out again), and writing the old record would then turn another person's account
 * into the leaver's, switched on.
 */
export function assertSamePerson(where: string, now: UserRecord, was: UserRecord): void {
  if (was.email.trim() === '' || !sameEmail(now.email, was.email)) {
    throw new BadRequestError(
      `${where}: the account now has the email ${now.email || '(none)'}, not ${was.email || '(none)'} as before ` +
        'the offboarding; its id may belong to someone else now; nothing was written',
    );
  }
}
