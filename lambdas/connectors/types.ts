/**
 * The connector interfaces, verbs first. A connector speaks to one vendor API surface; it
 * knows nothing of Step Functions, secrets or logging. Each method is one step of the
 * workflow and may be retried by the state machine, so each must be safe to repeat.
 */

/** A vendor account as read in full, before any change. */
export interface UserRecord {
  /** The vendor's id for the account, as a string (numeric ids are stringified). */
  id: string;
  /** The address the account is known by (SCIM: the userName when it is an address, else the primary email). */
  email: string;
  /**
   * Other addresses that identify the account as its owner's, besides `email`: a login or
   * userName that is an address. Never a secondary address from a list of emails (SCIM
   * `emails[]` that is not primary): an address someone merely receives mail at does not make
   * the account theirs, and a match through one alone is never switched off.
   */
  emails?: string[];
  /**
   * Addresses the account merely lists (SCIM `emails[]` that are not primary), for a directory
   * match only: an address found there alone is `User.NeedsReview`, never a match. Only
   * `readDirectory` fills it.
   */
  secondaryEmails?: string[];
  /** Whether the account can sign in today. */
  active: boolean;
  /**
   * The whole object exactly as the vendor returned it. Deactivation writes it back with
   * only the active flag changed, and the ledger keeps it as the state to restore.
   */
  fields: Record<string, unknown>;
  /**
   * The vendor's version of the record (SCIM `meta.version`, an ETag), when it gives one: the
   * write is then conditional on it (`If-Match`), so a record changed since it was read is
   * refused by the vendor instead of overwritten.
   */
  version?: string;
}

/** What a lookup found: nobody (an outcome, not an error), or exactly one account. */
export type LookupResult = { found: false } | { found: true; userId: string };

/** What every connector can do: find, read and verify. */
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
   * Reads the account afresh and resolves when it is inactive; throws `Vendor.NotYetApplied`
   * while the vendor still shows it active, so the state machine does the waiting.
   */
  verifyDeactivated(userId: string): Promise<UserRecord>;
  /**
   * Why this account must never be switched off automatically, or undefined when it may be:
   * the account the integration's own credential belongs to (switching it off would cut the
   * integration off from every later run), or the account that owns the instance. Absent
   * when the API cannot tell (tenant-wide keys, bearer tokens).
   */
  protectedReason?(record: UserRecord): Promise<string | undefined>;
  /**
   * Fields of `UserRecord.fields` that change without anyone editing the account, or that
   * only our own write changes: the active flag, update timestamps, a last-login time. A
   * fresh read right before the write is compared with the read that planned it, ignoring
   * these; any other difference means the account was edited meanwhile, and the write is
   * planned again from the fresh record. A dotted name reaches into an object (`meta.version`).
   */
  readonly volatileFields: readonly string[];
}

/** A connector whose API can switch an account off. */
export interface DeactivatingConnector extends Connector {
  /** Switches the account off, keeping every other field as read. */
  deactivateUser(record: UserRecord): Promise<void>;
  /**
   * True when the write sends the whole record back (a PUT of every field as read, the active
   * flag changed): written from an older read, it would undo an edit made since. A bulk run
   * then reads each account right before its write, as a single run does. False or absent
   * when the write names the active flag only (a SCIM PatchOp, Gainsight's status call).
   */
  readonly writesWholeRecord?: boolean;
  /**
   * What the last write had to do to be taken, when it is worth recording (a SCIM service that
   * refused one form of PATCH and took another): logged with the step's result.
   */
  readonly lastWrite?: { note?: string } | undefined;
}

/**
 * True when the vendor's API can deactivate. Where it cannot (no public endpoint), the
 * state machine hands the step to a person and verifies their work through the API.
 */
export function canDeactivate(connector: Connector): connector is DeactivatingConnector {
  return typeof (connector as Partial<DeactivatingConnector>).deactivateUser === 'function';
}

/**
 * A connector whose API can switch an account back on, for a termination that was a
 * mistake. Where the API cannot (rapid7-platform: a person enables the account), the
 * connector stays a plain `Connector`.
 */
export interface ReactivatingConnector extends Connector {
  /**
   * Writes the account back to `before` (its state before the deactivation, from the
   * ledger): every field as it was, the active flag included; verify with
   * `verifyReactivated`.
   *
   * `before` is read as the connector's own record: the account's id, email and active flag
   * are taken from `before.fields` (what is written), and `before.id` must name the same
   * account. Refused with `Vendor.BadRequest`, nothing written, when `before` was not active
   * (there is nothing to restore), when it is not a record of this vendor, or when the
   * account now holds another email (ignoring case) than `before` did: the id may have been
   * given to someone else since. That check reads the current record first (one request).
   * Writing again is harmless: a retried step restores the same state.
   */
  reactivateUser(before: UserRecord): Promise<void>;
  /**
   * Reads the account afresh and resolves when it is active; throws `Vendor.NotYetApplied`
   * while the vendor still shows it inactive, so the state machine does the waiting.
   */
  verifyReactivated(userId: string): Promise<UserRecord>;
}

/** True when the vendor's API can switch an account back on (see `ReactivatingConnector`). */
export function canReactivate(connector: Connector): connector is ReactivatingConnector {
  const candidate = connector as Partial<ReactivatingConnector>;
  return typeof candidate.reactivateUser === 'function' && typeof candidate.verifyReactivated === 'function';
}

/**
 * A connector that can read every account at once: bulk runs and the audit read each
 * vendor's user list once, in its largest pages, and match everyone against it, instead of
 * one lookup (and, where the vendor has no email filter, one listing) a person.
 */
export interface DirectoryConnector extends Connector {
  /**
   * Every account of the tenant, read in the vendor's largest pages, each mapped exactly as
   * `getUser` maps it (`id`, `email`, `emails`, `active`, `fields` whole, `version`), plus
   * `secondaryEmails` where the vendor has such addresses. Never partial: a list that cannot
   * be read whole (a server that ignores paging, pages that do not add up, a page missing in
   * the middle) throws, as `lookupUser` does, because matching against part of the users
   * would answer "not found" for someone who has an account.
   */
  readDirectory(): Promise<UserRecord[]>;
  /**
   * True when every record `readDirectory` returns is what `getUser` returns, so that a write
   * may be planned from it. False when `getUser` reads more than the list gives (InsightVM
   * reads a user's site and asset-group grants separately): the account is then read with
   * `getUser` before its write is planned.
   */
  readonly directoryComplete: boolean;
  /**
   * Accounts one page of `readDirectory` holds: what a bulk run weighs a second read of the
   * whole list against one read per account. Absent: 100.
   */
  readonly directoryPageSize?: number;
}

/** True when the connector can read its whole user list (see `DirectoryConnector`). */
export function canReadDirectory(connector: Connector): connector is DirectoryConnector {
  return typeof (connector as Partial<DirectoryConnector>).readDirectory === 'function';
}

/** What a batch write did to one account of the batch. */
export type BatchWriteResult = { id: string; ok: true } | { id: string; ok: false; error: Error };

/**
 * A connector whose vendor can switch many accounts off in one request (Gainsight's status
 * call takes up to 50 Gsids; a SCIM service whose ServiceProviderConfig supports `/Bulk`).
 */
export interface BatchDeactivatingConnector extends DeactivatingConnector {
  /**
   * The most accounts one batch request may carry (Gainsight 50; SCIM: the service's
   * `bulk.maxOperations`, bounded by `bulk.maxPayloadSize`). 1 or less means the vendor
   * offers no batch write here: use `deactivateUser` one at a time. May cost a request
   * (SCIM reads `/ServiceProviderConfig` once per connector).
   */
  batchLimit(): Promise<number>;
  /**
   * Reads these accounts afresh in as few requests as the vendor allows (Gainsight: `Gsid IN`
   * in one list request), each mapped as `getUser` maps it. An id the vendor no longer has is
   * simply absent from the answer. Absent when the vendor has no batch read: `getUser` each.
   */
  getUsers?(userIds: readonly string[]): Promise<UserRecord[]>;
  /**
   * Switches these accounts off (at most `batchLimit()` of them) in one request, keeping every
   * other field as read (SCIM: one PatchOp a user, with `version` as the operation's ETag where
   * the record has one). The answer is checked one account at a time: each comes back written,
   * or with its own error (`Vendor.WriteRefused`, `Record.Changed` for a version conflict,
   * `Vendor.BadRequest` for an id the vendor refused); an account the answer does not name is
   * not ok (`Vendor.BadResponse`), and the caller reads it again to learn what became of it.
   * Throws only when the request as a whole failed (rate limit, unavailable, authentication):
   * then nothing can be assumed about any of them.
   */
  deactivateUsers(records: readonly UserRecord[]): Promise<BatchWriteResult[]>;
}

/** True when the connector has a batch write (it may still say its limit is 1). */
export function canDeactivateInBatches(connector: Connector): connector is BatchDeactivatingConnector {
  const candidate = connector as Partial<BatchDeactivatingConnector>;
  return (
    canDeactivate(connector) &&
    typeof candidate.deactivateUsers === 'function' &&
    typeof candidate.batchLimit === 'function'
  );
}
