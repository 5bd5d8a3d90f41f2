/**
 * The one connector interface, verbs first. A connector speaks to one vendor API surface;
 * it knows nothing of Step Functions, secrets or logging. Each method is one step of the
 * workflow and may be retried by the state machine, so each must be safe to repeat.
 */

/** A vendor account as read in full, before any change. */
export interface UserRecord {
  /** The vendor's id for the account, as a string (numeric ids are stringified). */
  id: string;
  /** The email the vendor holds for the account. */
  email: string;
  /** Whether the account can sign in today. */
  active: boolean;
  /**
   * The whole object exactly as the vendor returned it. Deactivation writes it back with
   * only the active flag changed, and the ledger keeps it as the state to restore.
   */
  fields: Record<string, unknown>;
}

/** What a lookup found: nobody (an outcome, not an error), or exactly one account. */
export type LookupResult = { found: false } | { found: true; userId: string };

export interface Connector {
  /**
   * Finds the one account whose email is `email` (case-insensitive, exact). Returns
   * `{ found: false }` when none; throws `User.Ambiguous` when more than one. Never trusts a
   * server-side filter: candidates are matched again on the client.
   */
  lookupUser(email: string): Promise<LookupResult>;
  /** Reads the full record. */
  getUser(userId: string): Promise<UserRecord>;
  /**
   * True when the account is the one the integration's own credential belongs to:
   * switching it off would cut the integration off from every later run.
   */
  isIntegrationAccount(record: UserRecord): Promise<boolean>;
  /** Switches the account off, keeping every other field as read. */
  deactivateUser(record: UserRecord): Promise<void>;
  /**
   * Reads the account afresh and resolves when it is inactive; throws `Vendor.NotYetApplied`
   * while the vendor still shows it active, so the state machine does the waiting.
   */
  verifyDeactivated(userId: string): Promise<UserRecord>;
}
