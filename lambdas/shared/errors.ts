/**
 * Errors the workflow reacts to. Each class sets `name` to a literal string: the
 * state machine's Retry and Catch match on it (`ErrorEquals`), so the names are an API
 * shared by the ASL, the tests and the docs. Literal strings survive minification;
 * `this.constructor.name` would not.
 */

/** Options every offboard error accepts. */
export interface OffboardErrorOptions {
  cause?: unknown;
}

/** Base class: lets callers tell our errors from anything else that was thrown. */
export abstract class OffboardError extends Error {
  /** True when the state machine retries this error (with its own backoff). */
  abstract readonly retryable: boolean;
}

/** The execution input is not usable (bad email, unknown connection). Nothing was sent. */
export class InvalidInputError extends OffboardError {
  readonly retryable = false;
  constructor(message: string, options?: OffboardErrorOptions) {
    super(message, options);
    this.name = 'Input.Invalid';
  }
}

/** A connection's configuration or secret is unusable (missing key, bad URL). */
export class ConfigError extends OffboardError {
  readonly retryable = false;
  constructor(message: string, options?: OffboardErrorOptions) {
    super(message, options);
    this.name = 'Config.Invalid';
  }
}

/** HTTP 401/403: the credential is wrong, expired or lacks the permission. */
export class AuthFailedError extends OffboardError {
  readonly retryable = false;
  constructor(message: string, options?: OffboardErrorOptions) {
    super(message, options);
    this.name = 'Vendor.AuthFailed';
  }
}

/** HTTP 400/404/405/409/422 on a request we built: the vendor refuses it as asked. */
export class BadRequestError extends OffboardError {
  readonly retryable = false;
  constructor(message: string, options?: OffboardErrorOptions) {
    super(message, options);
    this.name = 'Vendor.BadRequest';
  }
}

/** HTTP 429: slow down. The state machine retries with exponential backoff and jitter. */
export class RateLimitedError extends OffboardError {
  readonly retryable = true;
  constructor(message: string, options?: OffboardErrorOptions) {
    super(message, options);
    this.name = 'Vendor.RateLimited';
  }
}

/**
 * HTTP 429 from a vendor whose limit is a fixed hourly window (Gainsight's user management
 * APIs: 100 requests an hour). The state machine waits minutes, not seconds, and keeps
 * trying for more than an hour.
 */
export class HourlyRateLimitedError extends OffboardError {
  readonly retryable = true;
  constructor(message: string, options?: OffboardErrorOptions) {
    super(message, options);
    this.name = 'Vendor.RateLimitedHourly';
  }
}

/**
 * HTTP 429 with the quota for the day used up (`X-RateLimit-Remaining: 0`): retrying in
 * seconds cannot help, so the connection fails with this instead of burning retries.
 */
export class QuotaExhaustedError extends OffboardError {
  readonly retryable = false;
  constructor(message: string, options?: OffboardErrorOptions) {
    super(message, options);
    this.name = 'Vendor.QuotaExhausted';
  }
}

/** HTTP 5xx, a timeout or a reset connection: worth a few retries. */
export class UnavailableError extends OffboardError {
  readonly retryable = true;
  constructor(message: string, options?: OffboardErrorOptions) {
    super(message, options);
    this.name = 'Vendor.Unavailable';
  }
}

/** The vendor answered 2xx with a body we cannot read (not JSON, or not the documented shape). */
export class BadResponseError extends OffboardError {
  readonly retryable = false;
  constructor(message: string, options?: OffboardErrorOptions) {
    super(message, options);
    this.name = 'Vendor.BadResponse';
  }
}

/** Verification still sees the account active: the write has not shown up yet. Retried. */
export class NotYetAppliedError extends OffboardError {
  readonly retryable = true;
  constructor(message: string, options?: OffboardErrorOptions) {
    super(message, options);
    this.name = 'Vendor.NotYetApplied';
  }
}

/** More than one account matches the email exactly: nobody is deactivated. */
export class AmbiguousUserError extends OffboardError {
  readonly retryable = false;
  constructor(message: string, options?: OffboardErrorOptions) {
    super(message, options);
    this.name = 'User.Ambiguous';
  }
}

/** The record read back belongs to another email than the one asked for. */
export class UserMismatchError extends OffboardError {
  readonly retryable = false;
  constructor(message: string, options?: OffboardErrorOptions) {
    super(message, options);
    this.name = 'User.Mismatch';
  }
}

/** The account is one we must not switch off (it owns the integration's credential). */
export class ProtectedUserError extends OffboardError {
  readonly retryable = false;
  constructor(message: string, options?: OffboardErrorOptions) {
    super(message, options);
    this.name = 'User.Protected';
  }
}

/**
 * The vendor's API does not let this credential switch accounts off at all (users are
 * read-only on this plan or API version: 405, a 404 on the write route, a 403 or a 400 that
 * says read-only). Not a failure of the offboarding: the step is handed to a person, as for
 * a vendor with no such API, and their work is verified through the API.
 */
export class WriteRefusedError extends OffboardError {
  readonly retryable = false;
  constructor(message: string, options?: OffboardErrorOptions) {
    super(message, options);
    this.name = 'Vendor.WriteRefused';
  }
}

/**
 * The account changed between the read that planned the write and the write itself: a field
 * was edited, or the vendor's version moved on (SCIM `If-Match` answered 412). Nothing was
 * written; the state machine reads the account again and plans afresh from what it finds.
 */
export class RecordChangedError extends OffboardError {
  readonly retryable = false;
  constructor(message: string, options?: OffboardErrorOptions) {
    super(message, options);
    this.name = 'Record.Changed';
  }
}

/**
 * The only account carrying the address holds it as a secondary address (SCIM `emails[]`,
 * not primary, not the userName). It may belong to someone else who forwards mail: nobody
 * is switched off, and a person is asked to look.
 */
export class UserNeedsReviewError extends OffboardError {
  readonly retryable = false;
  constructor(message: string, options?: OffboardErrorOptions) {
    super(message, options);
    this.name = 'User.NeedsReview';
  }
}

/**
 * The ledger refused a write for good (not a passing outage): the evidence of the run is not
 * kept. Before a vendor write this stops the write; after, it fails the execution loudly.
 */
export class LedgerWriteFailedError extends OffboardError {
  readonly retryable = false;
  constructor(message: string, options?: OffboardErrorOptions) {
    super(message, options);
    this.name = 'Ledger.WriteFailed';
  }
}

/** The ledger (DynamoDB) could not take the write just now (throttled, 5xx, network): retried. */
export class LedgerUnavailableError extends OffboardError {
  readonly retryable = true;
  constructor(message: string, options?: OffboardErrorOptions) {
    super(message, options);
    this.name = 'Ledger.Unavailable';
  }
}

/** Every error name the workflow can produce, as the ASL spells them. */
export const ERROR_NAMES = {
  invalidInput: 'Input.Invalid',
  config: 'Config.Invalid',
  authFailed: 'Vendor.AuthFailed',
  badRequest: 'Vendor.BadRequest',
  rateLimited: 'Vendor.RateLimited',
  rateLimitedHourly: 'Vendor.RateLimitedHourly',
  quotaExhausted: 'Vendor.QuotaExhausted',
  unavailable: 'Vendor.Unavailable',
  badResponse: 'Vendor.BadResponse',
  notYetApplied: 'Vendor.NotYetApplied',
  ambiguous: 'User.Ambiguous',
  mismatch: 'User.Mismatch',
  protected: 'User.Protected',
  ledgerUnavailable: 'Ledger.Unavailable',
  ledgerWriteFailed: 'Ledger.WriteFailed',
  recordChanged: 'Record.Changed',
  writeRefused: 'Vendor.WriteRefused',
  needsReview: 'User.NeedsReview',
} as const;

export type ErrorName = (typeof ERROR_NAMES)[keyof typeof ERROR_NAMES];
