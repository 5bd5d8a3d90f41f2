import { z } from 'zod';
import type { ConnectionRef, TlsOptions } from '../../shared/connections';
import { secretSchemas } from '../../shared/connections';
import {
  BadRequestError,
  BadResponseError,
  ConfigError,
  NotYetAppliedError,
  QuotaExhaustedError,
} from '../../shared/errors';
import { basicAuth, HttpClient, sameEmail } from '../../shared/http';
import {
  assertSamePerson,
  lookupResult,
  parseVendorBody,
  restorableRecord,
} from '../../shared/vendor-answer';
import type { DeactivatingConnector, LookupResult, ReactivatingConnector, UserRecord } from '../types';

/** Insightly never returns more than this many rows per page, whatever `$top` asks. */
export const INSIGHTLY_PAGE_SIZE = 500;
/** A server that ignores the filter would page through everyone; stop somewhere sane. */
const MAX_LOOKUP_PAGES = 200;

/**
 * The fields we rely on. Everything else the vendor sends is kept as is (`looseObject`),
 * because the PUT must send the whole record back.
 */
const insightlyUserSchema = z.looseObject({
  USER_ID: z.number().int(),
  EMAIL_ADDRESS: z.string().nullable().optional(),
  ACTIVE: z.boolean(),
});
type InsightlyUser = z.infer<typeof insightlyUserSchema>;

/** The key owner's id rarely changes; a warm Lambda asks once per key and base URL. */
const ownerCache = new Map<string, { userId: Promise<number>; until: number }>();
const OWNER_CACHE_MS = 15 * 60_000;

/**
 * Insightly REST v3.1 (`https://api.{pod}.insightly.com/v3.1`): Basic auth with the API
 * key as the user name and an empty password; OData `$filter`; 500 rows a page; a PUT that
 * replaces the whole user.
 */
export class InsightlyConnector implements DeactivatingConnector, ReactivatingConnector {
  readonly #http: HttpClient;
  readonly #label: string;
  readonly #cacheKey: string;

  /** The active flag, and the timestamp Insightly moves on every change (our own write included). */
  readonly volatileFields = ['ACTIVE', 'DATE_UPDATED_UTC'] as const;

  constructor(options: {
    label: string;
    baseUrl: string;
    apiKey: string;
    tls?: TlsOptions;
    fetch?: typeof fetch;
  }) {
    this.#label = options.label;
    this.#cacheKey = `${options.baseUrl}\u0000${options.apiKey}`;
    this.#http = new HttpClient({
      label: options.label,
      baseUrl: options.baseUrl,
      headers: { authorization: basicAuth(options.apiKey, '') },
      classifyRateLimit: (response, message) =>
        // Insightly answers 429 both for its 10 req/s limit and for the daily quota. With
        // the day's quota gone, backing off for seconds is pointless: fail clearly.
        response.headers.get('x-ratelimit-remaining') === '0'
          ? new QuotaExhaustedError(
              `${message}: the API key's daily request quota is used up; run again tomorrow`,
            )
          : undefined,
      tls: options.tls,
      fetch: options.fetch,
    });
  }

  /** Requests this connector has sent (benchmarks read it). */
  get requestCount(): number {
    return this.#http.requestCount;
  }

  async lookupUser(email: string): Promise<LookupResult> {
    const action = `look up ${email}`;
    const matches = new Map<number, InsightlyUser>();
    for (let page = 0; page < MAX_LOOKUP_PAGES; page++) {
      const { body } = await this.#http.request('GET', '/Users', {
        action,
        query: {
          $filter: `EMAIL_ADDRESS eq ${odataString(email)}`,
          $top: String(INSIGHTLY_PAGE_SIZE),
          $skip: String(page * INSIGHTLY_PAGE_SIZE),
        },
      });
      const users = parseVendorBody(z.array(insightlyUserSchema), body, `${this.#label}: ${action}`);
      // The server's filter is a hint, not a promise: keep exact (case-insensitive) matches only.
      for (const user of users) if (sameEmail(user.EMAIL_ADDRESS, email)) matches.set(user.USER_ID, user);
      if (users.length < INSIGHTLY_PAGE_SIZE) break;
      if (page === MAX_LOOKUP_PAGES - 1) {
        throw new BadResponseError(
          `${this.#label}: ${action}: more than ${MAX_LOOKUP_PAGES * INSIGHTLY_PAGE_SIZE} rows; the filter seems ignored`,
        );
      }
    }
    return lookupResult(this.#label, [...matches.keys()], `the email ${email}`);
  }

  async getUser(userId: string): Promise<UserRecord> {
    return toRecord(await this.#read(userId, `get user ${userId}`));
  }

  /**
   * The instance's owner (`ACCOUNT_OWNER`) is never switched off automatically: the instance
   * and its billing hang on it. Nor is the user the API key belongs to (`/Users/Me`): the
   * integration would be cut off from every later run.
   */
  async protectedReason(record: UserRecord): Promise<string | undefined> {
    if (record.fields.ACCOUNT_OWNER === true) {
      return 'it is the account owner of this Insightly instance (ACCOUNT_OWNER); transfer ownership first';
    }
    if ((await this.#ownerId()) === Number(record.id)) {
      return 'it owns the API key this connection uses, and switching it off would cut the integration off; move the key to another administrator first';
    }
    return undefined;
  }

  async deactivateUser(record: UserRecord): Promise<void> {
    // PUT replaces the whole user: a field left out is reset. So the body is the record as
    // read, every field, with only ACTIVE changed.
    await this.#put({ ...record.fields, ACTIVE: false }, `deactivate user ${record.id}`);
  }

  /**
   * PUTs `before.fields` as they are: the PUT replaces the whole user, so the one body that
   * brings back every field (ACTIVE among them) is the record as it was read before the
   * deactivation. Two requests: the current record (for the email check), then the PUT.
   */
  async reactivateUser(before: UserRecord): Promise<void> {
    const action = `reactivate user ${before.id}`;
    const where = `${this.#label}: ${action}`;
    const fields = before.fields;
    // The PUT goes to `/Users` and the body's USER_ID says which user it replaces: without
    // one (or with another than before.id) the write would land on nobody, or on someone else.
    if (!Number.isInteger(fields.USER_ID)) {
      throw new BadRequestError(
        `${where}: the before-state has no USER_ID, so a PUT could not say which user it restores; nothing was written`,
      );
    }
    const was = restorableRecord(where, 'Insightly', before, insightlyUserSchema.safeParse(fields), toRecord);
    // One GET before the write: the id may have been reused (see assertSamePerson).
    const now = toRecord(await this.#read(before.id, action));
    assertSamePerson(where, now, was);
    await this.#put(fields, action);
  }

  /** One `PUT /Users` with `body` as the whole user; the 404/405 a plan may answer explained. */
  async #put(body: Record<string, unknown>, action: string): Promise<void> {
    const { status, body: answer } = await this.#http.request('PUT', '/Users', {
      action,
      body,
      accept: [404, 405],
    });
    if (status === 405) {
      throw new BadRequestError(
        `${this.#label}: ${action}: HTTP 405: this account's REST API refuses user writes; ` +
          'use an insightly-scim connection (Enterprise plan) for this instance',
      );
    }
    if (status === 404) {
      // Either the user went away since it was read, or (as some plans answer) user writes
      // are not offered on this API: the operator has to look; say both.
      throw new BadRequestError(
        `${this.#label}: ${action}: HTTP 404: the user no longer exists, or this account's REST API ` +
          'refuses user writes (then use an insightly-scim connection)',
      );
    }
    if (answer !== undefined) parseVendorBody(insightlyUserSchema, answer, `${this.#label}: ${action}`);
  }

  async verifyDeactivated(userId: string): Promise<UserRecord> {
    const record = toRecord(await this.#read(userId, `verify user ${userId}`));
    if (record.active)
      throw new NotYetAppliedError(`${this.#label}: verify user ${userId}: still ACTIVE after the write`);
    return record;
  }

  async verifyReactivated(userId: string): Promise<UserRecord> {
    const record = toRecord(await this.#read(userId, `verify user ${userId}`));
    if (!record.active)
      throw new NotYetAppliedError(`${this.#label}: verify user ${userId}: still inactive after the write`);
    return record;
  }

  async #read(userId: string, action: string): Promise<InsightlyUser> {
    if (!/^\d+$/.test(userId))
      throw new BadRequestError(`${this.#label}: ${action}: '${userId}' is not an Insightly user id`);
    const { status, body } = await this.#http.request('GET', `/Users/${userId}`, { action, accept: [404] });
    if (status === 404) {
      throw new BadRequestError(
        `${this.#label}: ${action}: HTTP 404: no such user, or the API key may not see it`,
      );
    }
    return parseVendorBody(insightlyUserSchema, body, `${this.#label}: ${action}`);
  }

  async #ownerId(): Promise<number> {
    const cached = ownerCache.get(this.#cacheKey);
    if (cached && cached.until > Date.now()) return cached.userId;
    // The promise is cached, not the value: steps running at once (a bulk run in one
    // process) ask the vendor once between them, not once each.
    const userId = this.#askOwner();
    ownerCache.set(this.#cacheKey, { userId, until: Date.now() + OWNER_CACHE_MS });
    // A failed ask is not remembered: the next step asks again.
    userId.catch(() => ownerCache.delete(this.#cacheKey));
    return userId;
  }

  async #askOwner(): Promise<number> {
    const action = 'identify the API key owner';
    const { body } = await this.#http.request('GET', '/Users/Me', { action });
    return parseVendorBody(
      insightlyUserSchema.pick({ USER_ID: true }).loose(),
      body,
      `${this.#label}: ${action}`,
    ).USER_ID;
  }
}

/** An OData string literal: single quotes, and a quote inside doubled (`o''brien@x.com`). */
export function odataString(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

function toRecord(user: InsightlyUser): UserRecord {
  return {
    id: String(user.USER_ID),
    email: user.EMAIL_ADDRESS ?? '',
    active: user.ACTIVE,
    fields: { ...user },
  };
}

/** Builds the connector for one connection from its secret JSON. */
export function createInsightlyConnector(
  connection: ConnectionRef,
  secret: unknown,
  fetchImpl?: typeof fetch,
): InsightlyConnector {
  const parsed = secretSchemas.insightly.safeParse(secret);
  if (!parsed.success) {
    throw new ConfigError(
      `${connection.name}: the secret must be JSON like {"apiKey": "..."}: ${parsed.error.issues[0]?.message ?? 'invalid'}`,
    );
  }
  return new InsightlyConnector({
    label: connection.name,
    baseUrl: connection.baseUrl,
    apiKey: parsed.data.apiKey,
    ...(connection.tls ? { tls: connection.tls } : {}),
    fetch: fetchImpl,
  });
}
