import { z } from 'zod';
import type { ConnectionRef, TlsOptions } from '../../shared/connections';
import { SECRET_EXAMPLES, secretSchemas } from '../../shared/connections';
import {
  BadRequestError,
  BadResponseError,
  ConfigError,
  HourlyRateLimitedError,
  NotYetAppliedError,
} from '../../shared/errors';
import { HttpClient, sameEmail } from '../../shared/http';
import {
  assertSamePerson,
  lookupResult,
  parseVendorBody,
  restorableRecord,
} from '../../shared/vendor-answer';
import type { DeactivatingConnector, LookupResult, ReactivatingConnector, UserRecord } from '../types';

/** Gainsight's largest page (`pageSize`); the default is 100, so always ask for the cap. */
export const GAINSIGHT_PAGE_SIZE = 1000;
/**
 * A server whose paging never ends would read forever; 50 pages is 50,000 users, far more
 * than a tenant's user list, and half of the hourly request budget.
 */
export const GAINSIGHT_MAX_LOOKUP_PAGES = 50;

/**
 * The fields we rely on. Everything else the vendor sends is kept as is (`looseObject`),
 * because the PUT sends the whole record back.
 */
const listedUserSchema = z.looseObject({
  userId: z.string().min(1),
  email: z.string().nullable().optional(),
});
const gainsightUserSchema = listedUserSchema.extend({ isActive: z.boolean() });
type GainsightUser = z.infer<typeof gainsightUserSchema>;

/** Every answer comes in this envelope; `result: false` is a refusal even with HTTP 200. */
const envelopeSchema = z.looseObject({
  result: z.boolean(),
  message: z.string().nullable().optional(),
  data: z.unknown().optional(),
  totalCount: z.number().int().nonnegative().optional(),
});

/**
 * Gainsight REST user management (`https://{domain}.gainsightcloud.com/v1`): a tenant-scoped
 * `Accesskey` header, `page`/`pageSize` paging without an email filter, `PUT
 * /v1/users/{userId}` with `isActive: false` to deactivate. DELETE also deactivates, but
 * is not what we send: its effect is documented only as "typically".
 *
 * There is no `isIntegrationAccount`: the access key belongs to the tenant, not to a user,
 * so no account's deactivation can cut the integration off.
 */
export class GainsightConnector implements DeactivatingConnector, ReactivatingConnector {
  readonly #http: HttpClient;
  readonly #label: string;

  /** The flag our write changes; the rest of a user changes only when someone edits it. */
  readonly volatileFields: readonly string[] = ['isActive', 'modifiedDate', 'lastModifiedDate'];

  constructor(options: {
    label: string;
    baseUrl: string;
    accessKey: string;
    tls?: TlsOptions;
    fetch?: typeof fetch;
  }) {
    this.#label = options.label;
    this.#http = new HttpClient({
      label: options.label,
      baseUrl: `${tenantUrl(options.baseUrl)}/v1`,
      headers: { Accesskey: options.accessKey },
      // Gainsight limits the User Management APIs to 100 requests an hour and 1,000 a day,
      // in fixed windows. Backing off for seconds only burns retries: the state machine must
      // wait minutes, so every 429 here is the hourly kind.
      classifyRateLimit: (_response, message) =>
        new HourlyRateLimitedError(
          `${message}: Gainsight allows 100 user-management requests an hour (1,000 a day); ` +
            'the next window opens within the hour',
        ),
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
    // The API has no email filter, so the lookup reads the user list (inactive users
    // included, as an already-inactive account is an outcome too) and matches here.
    const matches = new Map<string, z.infer<typeof listedUserSchema>>();
    const seen = new Set<string>();
    for (let page = 1; ; page++) {
      if (page > GAINSIGHT_MAX_LOOKUP_PAGES) {
        throw new BadResponseError(
          `${this.#label}: ${action}: the user list did not end after ${GAINSIGHT_MAX_LOOKUP_PAGES} pages of ${GAINSIGHT_PAGE_SIZE}; nothing was changed`,
        );
      }
      const { body } = await this.#http.request('GET', '/users', {
        action,
        query: { page: String(page), pageSize: String(GAINSIGHT_PAGE_SIZE) },
      });
      const { data: users, totalCount: total } = this.#envelope(body, action, z.array(listedUserSchema));
      const fresh = users.filter((user) => !seen.has(user.userId));
      // A server that ignores `page` answers the first page again and again: without this,
      // the users on later pages would silently never be seen.
      if (users.length > 0 && fresh.length === 0) {
        throw new BadResponseError(
          `${this.#label}: ${action}: page ${page} repeats users already read; the server seems to ignore paging`,
        );
      }
      for (const user of fresh) {
        seen.add(user.userId);
        if (sameEmail(user.email, email)) matches.set(user.userId, user);
      }
      if (total !== undefined && seen.size >= total) break;
      if (users.length < GAINSIGHT_PAGE_SIZE) {
        // A short page ends the list, unless the count says there is more: then the server
        // pages by a smaller size than asked, and reading on by our size would skip users.
        if (total !== undefined && users.length > 0 && seen.size < total) {
          throw new BadResponseError(
            `${this.#label}: ${action}: page ${page} held ${users.length} users of ${total} with pageSize=${GAINSIGHT_PAGE_SIZE}, ` +
              `yet only ${seen.size} were read; the server pages differently than documented`,
          );
        }
        break;
      }
    }
    return lookupResult(this.#label, [...matches.keys()], `the email ${email}`);
  }

  async getUser(userId: string): Promise<UserRecord> {
    return toRecord(await this.#read(userId, `get user ${userId}`));
  }

  async deactivateUser(record: UserRecord): Promise<void> {
    // The guide warns that PUT is a full replacement on some API versions and a partial
    // update on others. Sending the record exactly as read, with only isActive changed, is
    // right under both: a replacement gets every field back, a partial update changes
    // nothing else. A body of just {isActive: false} would wipe the user on a full PUT.
    await this.#put(record.id, { ...record.fields, isActive: false }, `deactivate user ${record.id}`);
  }

  /**
   * PUTs `before.fields` as they are: under a full-replacement PUT that brings back every
   * field, under a partial one it sets every field, so either way the user is as it was,
   * isActive included. Two requests (of the hourly 100): the current user, for the email
   * check, then the PUT.
   */
  async reactivateUser(before: UserRecord): Promise<void> {
    const action = `reactivate user ${before.id}`;
    const where = `${this.#label}: ${action}`;
    const was = restorableRecord(
      where,
      'Gainsight',
      before,
      gainsightUserSchema.safeParse(before.fields),
      toRecord,
    );
    // One GET before the write: the id may have been reused (see assertSamePerson).
    const now = toRecord(await this.#read(before.id, action));
    assertSamePerson(where, now, was);
    await this.#put(before.id, before.fields, action);
  }

  /** `PUT /v1/users/{id}` with `body`; a 404 or an envelope saying `result: false` is refused. */
  async #put(userId: string, body: Record<string, unknown>, action: string): Promise<void> {
    const { status, body: answer } = await this.#http.request('PUT', userPath(userId), {
      action,
      body,
      accept: [404],
    });
    if (status === 404) {
      throw new BadRequestError(`${this.#label}: ${action}: HTTP 404: the user no longer exists`);
    }
    this.#envelope(answer, action, z.unknown());
  }

  async verifyDeactivated(userId: string): Promise<UserRecord> {
    const record = toRecord(await this.#read(userId, `verify user ${userId}`));
    if (record.active) {
      throw new NotYetAppliedError(`${this.#label}: verify user ${userId}: still isActive after the write`);
    }
    return record;
  }

  async verifyReactivated(userId: string): Promise<UserRecord> {
    const record = toRecord(await this.#read(userId, `verify user ${userId}`));
    if (!record.active) {
      throw new NotYetAppliedError(`${this.#label}: verify user ${userId}: still inactive after the write`);
    }
    return record;
  }

  async #read(userId: string, action: string): Promise<GainsightUser> {
    const { status, body } = await this.#http.request('GET', userPath(userId), { action, accept: [404] });
    if (status === 404) {
      throw new BadRequestError(`${this.#label}: ${action}: HTTP 404: no such user in this tenant`);
    }
    const user = this.#envelope(body, action, gainsightUserSchema).data;
    // The write goes to the id asked for; a record of someone else must never be written back.
    if (user.userId !== userId) {
      throw new BadResponseError(`${this.#label}: ${action}: the API answered user ${user.userId} instead`);
    }
    return user;
  }

  /**
   * The `{result, data}` envelope, its `data` read as `schema`: `result: false` or no `data`
   * means the call did not do its job.
   */
  #envelope<T>(body: unknown, action: string, schema: z.ZodType<T>): { data: T; totalCount?: number } {
    const where = `${this.#label}: ${action}`;
    const envelope = parseVendorBody(envelopeSchema, body, where);
    if (!envelope.result) {
      throw new BadResponseError(
        `${where}: the API answered result: false${envelope.message ? ` (${envelope.message})` : ''}`,
      );
    }
    if (envelope.data === undefined || envelope.data === null) {
      throw new BadResponseError(`${where}: the answer holds no data`);
    }
    return { ...envelope, data: parseVendorBody(schema, envelope.data, where, 'data') };
  }
}

/**
 * The tenant URL (`https://{domain}.gainsightcloud.com`) the API version is added to. A base
 * URL that already ends in `/v1` (as the guide writes it) is taken as the same tenant.
 */
function tenantUrl(baseUrl: string): string {
  return baseUrl.replace(/\/+$/, '').replace(/\/v1$/i, '');
}

/** The id is the vendor's string: encoded, so that no id can point the request elsewhere. */
function userPath(userId: string): string {
  return `/users/${encodeURIComponent(userId)}`;
}

function toRecord(user: GainsightUser): UserRecord {
  return { id: user.userId, email: user.email ?? '', active: user.isActive, fields: { ...user } };
}

/** Builds the connector for one connection from its secret JSON (`{"accessKey": "..."}`). */
export function createGainsightConnector(
  connection: ConnectionRef,
  secret: unknown,
  fetchImpl?: typeof fetch,
): GainsightConnector {
  const parsed = secretSchemas.gainsight.safeParse(secret);
  if (!parsed.success) {
    throw new ConfigError(
      `${connection.name}: the secret must be JSON like ${SECRET_EXAMPLES.gainsight}: ${parsed.error.issues[0]?.message ?? 'invalid'}`,
    );
  }
  return new GainsightConnector({
    label: connection.name,
    baseUrl: connection.baseUrl,
    accessKey: parsed.data.accessKey,
    ...(connection.tls ? { tls: connection.tls } : {}),
    fetch: fetchImpl,
  });
}
