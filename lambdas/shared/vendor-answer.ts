/**
 * Reading what a vendor answered, the same way for every connector: a body checked against
 * the shape we rely on, and a lookup's matches turned into one user, none, or a refusal.
 */
import type { z } from 'zod';
import type { LookupResult } from '../connectors/types';
import { AmbiguousUserError, BadResponseError } from './errors';

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
