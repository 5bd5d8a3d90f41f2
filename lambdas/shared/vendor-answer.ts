/**
 * Reading what a vendor answered, the same way for every connector: a body checked against
 * the shape we rely on, and a lookup's matches turned into one user, none, or a refusal.
 */
import type { z } from 'zod';
import type { LookupResult, UserRecord } from '../connectors/types';
import { AmbiguousUserError, BadRequestError, BadResponseError, UnavailableError } from './errors';
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

/**
 * What a connector tells {@link readWholeList} as it pages through a list: the totals the
 * pages report, a move only it can see, and how many different users it read in the end.
 */
export interface ListPages {
  /**
   * The total a page reports (`name`: how the vendor calls it, `totalResources`), at `at`
   * (`page 1`). Another value than an earlier page of this read gave means the list moved.
   * Undefined (the page gives none) says nothing.
   */
  total(value: number | undefined, at: string, name?: string): void;
  /** The list moved while it was read, for a reason the connector sees (`why` says what and where). */
  moved(why: string): never;
  /**
   * At the end of the list: the `distinct` users read must be as many as the last `name` a
   * page reported (when one did); fewer means someone moved past the pages, more that
   * someone left or joined between them.
   */
  end(distinct: number, name?: string): void;
}

/** Thrown by {@link ListPages} to make {@link readWholeList} read the list again. Never leaves it. */
class ListMovedSignal extends Error {}

/** How many times a list is read before it counts as moving too often: once, and once more. */
const WHOLE_LIST_READS = 2;

/**
 * Reads a paged user list whole, so that "not found" never comes from a list that moved while
 * it was read. Pages are cut by position (`skip`, `page`, `startIndex`): a user deleted from a
 * page already read moves everyone after it up one place, and the first user of the next page
 * is never seen; a user added moves one back and it is read twice. `read` pages from the start
 * and reports each page's total to `pages`; a total that changes between pages, a different
 * user count at the end, or a move `read` reports itself reads the list once more from the
 * start. Moving again throws `Vendor.Unavailable` (retried by the state machine), naming the
 * totals seen; nothing was changed, for nothing is written from a list being read.
 *
 * @param where the connection and what we were doing: `insightvm-prod: read the user list`.
 */
export async function readWholeList<T>(where: string, read: (pages: ListPages) => Promise<T>): Promise<T> {
  const moves: string[] = [];
  for (let attempt = 1; ; attempt++) {
    // The last value of each total the pages reported in this read.
    const totals = new Map<string, number>();
    const movedBecause = (why: string): never => {
      moves.push(`read ${attempt}: ${why}`);
      throw new ListMovedSignal(why);
    };
    const pages: ListPages = {
      total(value, at, name = 'the total') {
        if (value === undefined) return;
        const last = totals.get(name);
        totals.set(name, value);
        if (last !== undefined && last !== value)
          movedBecause(`${name} went from ${last} to ${value} at ${at}`);
      },
      moved(why) {
        // The totals as the pages last gave them, so that the message names them all.
        const named = [...totals].map(([name, value]) => `${name} ${value}`);
        return movedBecause(`${why}${named.length > 0 ? ` (${named.join(', ')})` : ''}`);
      },
      end(distinct, name = 'the total') {
        const total = totals.get(name);
        if (total !== undefined && distinct !== total) {
          movedBecause(`the pages held ${distinct} different users, though ${name} is ${total}`);
        }
      },
    };
    try {
      return await read(pages);
    } catch (error) {
      if (!(error instanceof ListMovedSignal)) throw error;
      if (attempt >= WHOLE_LIST_READS) {
        throw new UnavailableError(
          `${where}: the user list changed while it was read, ${attempt} times in a row (${moves.join('; ')}); ` +
            'nothing was changed; it is read again when the step is retried',
        );
      }
    }
  }
}
