import type { LookupResult, UserRecord } from '../connectors/types';
import { UserNeedsReviewError } from './errors';
import { comparableEmail, sameEmail } from './http';
import { lookupResult } from './vendor-answer';

/** True when the account is this person's: its own address or login, never a secondary one. */
export function isPerson(record: Pick<UserRecord, 'email' | 'emails'>, email: string): boolean {
  return [record.email, ...(record.emails ?? [])].some((address) => sameEmail(address, email));
}

/**
 * Finds `email` among every account of a tenant (a connector's `readDirectory`), by the rules
 * of a single lookup: an account is the person's when its own address or login is the address
 * (`isPerson`, ASCII case and spaces only); two such accounts are `User.Ambiguous`; an address
 * found only as another account's secondary email is `User.NeedsReview`, never a match.
 */
export function findInDirectory(label: string, users: readonly UserRecord[], email: string): LookupResult {
  const own = users.filter((user) => isPerson(user, email)).map((user) => user.id);
  if (own.length === 0) {
    const listing = users
      .filter((user) => (user.secondaryEmails ?? []).some((address) => sameEmail(address, email)))
      .map((user) => user.id);
    if (listing.length > 0) {
      throw new UserNeedsReviewError(
        `${label}: look up ${email}: ${listing.length === 1 ? 'user' : 'users'} ${listing.join(', ')} ` +
          'list this address only as a secondary email, not as userName or primary email; it may be someone ' +
          'else who receives their mail, so nobody was switched off: check by hand',
      );
    }
  }
  return lookupResult(label, own, `the email ${email}`);
}

/**
 * A tenant's accounts indexed by address, so that matching a thousand people against five
 * thousand accounts costs a thousand look-ups, not five million comparisons. `find` answers
 * exactly as `findInDirectory` over every account would: it hands it the accounts that hold
 * the address in any form `sameEmail` compares equal.
 */
export class Directory {
  readonly #byAddress = new Map<string, UserRecord[]>();
  readonly #byId = new Map<string, UserRecord>();

  /**
   * @param users every account of the tenant (`readDirectory`)
   * @param readAt when the read began (epoch ms): how old the oldest page may be
   */
  constructor(
    readonly users: readonly UserRecord[],
    readonly readAt = Date.now(),
  ) {
    for (const user of users) {
      this.#byId.set(user.id, user);
      const addresses = new Set(
        [user.email, ...(user.emails ?? []), ...(user.secondaryEmails ?? [])]
          .filter((address): address is string => typeof address === 'string')
          .map(comparableEmail),
      );
      for (const address of addresses) {
        const holders = this.#byAddress.get(address);
        if (holders) holders.push(user);
        else this.#byAddress.set(address, [user]);
      }
    }
  }

  /** See `findInDirectory`. */
  find(label: string, email: string): LookupResult {
    return findInDirectory(label, this.#byAddress.get(comparableEmail(email)) ?? [], email);
  }

  /** Every account that is this person's by its own address or login (see `isPerson`). */
  ownAccounts(email: string): UserRecord[] {
    return (this.#byAddress.get(comparableEmail(email)) ?? []).filter((user) => isPerson(user, email));
  }

  /** The account of this id, as the directory read it; undefined when the tenant has none. */
  byId(userId: string): UserRecord | undefined {
    return this.#byId.get(userId);
  }
}
