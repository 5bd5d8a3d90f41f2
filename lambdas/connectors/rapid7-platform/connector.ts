/**
 * Rapid7 Insight Platform (cloud) users, through the Insight Account API:
 * `https://{region}.api.insight.rapid7.com/account/api/1/users`, `X-Api-Key` header.
 *
 * Why this connector is a `Connector` and not a `DeactivatingConnector`: the API offers no
 * public way to *disable* a platform user, only to remove one for good. What we searched
 * and found (public material, 2026; searched Rapid7 docs, public code and web pages for the
 * Insight Account API, `account/api/1/users`, and InsightConnect / SOAR plugins for the
 * platform; none of Rapid7's InsightConnect plugins we found manages platform users):
 *
 * - Rapid7's list of product APIs (https://docs.rapid7.com/insight/product-apis/) gives
 *   "Rapid7 account controls" as: create, update, delete, get users; assign and remove
 *   product access. Nothing names a disable or status change.
 * - The Insight Account API reference (https://help.rapid7.com/insightAccount/en-us/api/v1/docs.html)
 *   is cited by jschipp-r7/r7cli (src/r7cli/solutions/platform.py), which wraps
 *   `GET /account/api/1/users`, `GET /account/api/1/users/{id}`, `POST /account/api/1/users`
 *   and `DELETE /account/api/1/users/{id}` (operation `deleteUser`): a removal, not a disable.
 * - Public clients of the list endpoint (creativice/graph-rapid7 src/types.ts and
 *   src/client.ts, a JupiterOne integration; several small proxies) read a plain JSON array
 *   of `{id, email, first_name, last_name, timezone, status, platform_admin, federated,
 *   last_login}` with filters `email`, `status` (ACTIVE / DISABLED / PENDING), `first_name`,
 *   `last_name` and `platform-admin`. None sends a write that sets `status`.
 * - The product guide (https://docs.rapid7.com/insight/edit-and-delete-user-accounts/)
 *   has a person edit users (details, roles, product access) and remove them in User
 *   Management: switching an account off is work done in that UI.
 *
 * Deleting is irreversible and offboarding never deletes by default, so the workflow hands
 * the step to a person (a Step Functions task with a task token): they disable (or remove)
 * the account in the Insight Platform, and `verifyDeactivated` then checks their work
 * through the API. This connector therefore only reads: it never sends a write.
 */
import { z } from 'zod';
import type { ConnectionRef, TlsOptions } from '../../shared/connections';
import { SECRET_EXAMPLES, secretSchemas } from '../../shared/connections';
import { isPerson } from '../../shared/directory';
import {
  AuthFailedError,
  BadRequestError,
  BadResponseError,
  ConfigError,
  NotYetAppliedError,
  UnavailableError,
} from '../../shared/errors';
import { HttpClient } from '../../shared/http';
import { lookupResult, parseVendorBody } from '../../shared/vendor-answer';
import type { DirectoryConnector, LookupResult, UserRecord } from '../types';

/** The Insight Account API, under the regional base URL. */
export const ACCOUNT_API_PATH = '/account/api/1';
/** A server that ignores the filter, or pages in tiny pages, pages on for ever: stop somewhere sane. */
const MAX_LOOKUP_PAGES = 200;
/**
 * Users a page when the directory is read from a server that answers in pages: the most the
 * seed guide gives (shared/seeds/002, "Max page size: 500", `index` and `size`). Rapid7
 * documents no page size for the account API, whose public clients read one plain array.
 */
export const PLATFORM_PAGE_SIZE = 500;

/** Platform user status. Anything else is kept as read and treated as not yet disabled. */
export type Rapid7PlatformStatus = 'ACTIVE' | 'DISABLED' | 'PENDING';

/**
 * The fields we rely on; everything else the API sends (names, `platform_admin`,
 * `federated`, `last_login`, `timezone`, …) is kept as is (`looseObject`) for the ledger.
 * Public clients show string (UUID) ids; a numeric id is accepted and stringified.
 */
const platformUserSchema = z.looseObject({
  id: z.union([z.string().min(1), z.number().int()]),
  email: z.string().nullable().optional(),
  status: z.string(),
});
type PlatformUser = z.infer<typeof platformUserSchema>;

/**
 * The list answers a plain array in every public client we found. Rapid7's v4 APIs page as
 * `{data, metadata: {index, size, totalPages, totalResources}}`; if the account API ever
 * answers that way, the lookup follows the pages.
 */
const pagedUsersSchema = z.looseObject({
  data: z.array(platformUserSchema),
  metadata: z.looseObject({
    index: z.number().int().nonnegative(),
    size: z.number().int().positive(),
    totalPages: z.number().int().nonnegative(),
    totalResources: z.number().int().nonnegative().optional(),
  }),
});
const userListSchema = z.union([z.array(platformUserSchema), pagedUsersSchema]);

/** Ids go into the URL path: UUIDs (or numbers) only, so nothing can reach another route. */
const USER_ID = /^[A-Za-z0-9-]{1,64}$/;

const KEY_HINT =
  'an organization API key is required (Insight Platform → Administration → API Key Management; ' +
  'user-scoped keys cannot manage other accounts). This is the cloud platform: InsightVM console ' +
  'Basic credentials do not work here';

/**
 * Rapid7 Insight Platform users: look up, read (one, or every user at once) and verify.
 * Switching an account off is a person's step (see the comment at the top of this file).
 */
export class Rapid7PlatformConnector implements DirectoryConnector {
  readonly #http: HttpClient;
  readonly #label: string;

  /** What a person's work changes, and what moves by itself (the last sign-in). */
  readonly volatileFields = ['status', 'last_login'] as const;
  /** The list's rows are the users `GET /users/{id}` answers (public clients read the same fields). */
  readonly directoryComplete = true;
  readonly directoryPageSize = PLATFORM_PAGE_SIZE;

  /** `baseUrl` is the regional base, e.g. `https://us.api.insight.rapid7.com`. */
  constructor(options: {
    label: string;
    baseUrl: string;
    apiKey: string;
    tls?: TlsOptions;
    fetch?: typeof fetch;
  }) {
    this.#label = options.label;
    this.#http = new HttpClient({
      label: options.label,
      baseUrl: regionalBase(options.baseUrl) + ACCOUNT_API_PATH,
      // The platform's only credential: an API key header. Never Basic (that is the console).
      headers: { 'x-api-key': options.apiKey },
      tls: options.tls,
      fetch: options.fetch,
    });
  }

  /** Requests this connector has sent (benchmarks read it). */
  get requestCount(): number {
    return this.#http.requestCount;
  }

  /**
   * Asks the list with the `email` filter and keeps the exact matches (ignoring case): the
   * filter is a hint. A paged answer is followed to its last page, in the server's page size.
   */
  async lookupUser(email: string): Promise<LookupResult> {
    const users = await this.#listUsers(`look up ${email}`, { email }, false);
    // The server's filter is a hint, not a promise: keep exact (case-insensitive) matches only,
    // on the identity a record carries, so a lookup and a match against the directory
    // (`isPerson`) cannot disagree.
    const matches = users.filter((user) => isPerson(toRecord(user), email)).map((user) => String(user.id));
    return lookupResult(this.#label, matches, `the email ${email}`);
  }

  /**
   * Every user of the organization, each mapped as `getUser` maps it: `GET /users` as every
   * public client asks it (one plain array), or, from a server that answers in pages, every
   * page, in pages of `PLATFORM_PAGE_SIZE` (the most the seed guide gives). Never part of the
   * users: paging that does not add up throws, as for `lookupUser`.
   */
  async readDirectory(): Promise<UserRecord[]> {
    return (await this.#listUsers('read the user list', {}, true)).map(toRecord);
  }

  /**
   * `GET /users` with `filter`, every page of it. The first request carries no paging
   * parameters: public clients read a plain array, and a server that lists so may refuse
   * parameters it does not know. Only a server that answered in pages is sent `index`/`size`,
   * in its own page size (`largest`: in pages of `PLATFORM_PAGE_SIZE`, asked again from page 0
   * when that takes fewer requests than the rest of the pages at the server's size).
   *
   * @throws BadResponseError pages counted otherwise than from 0, a page numbered otherwise
   *   than asked, a later page sized otherwise than the first, a page short before the last,
   *   a plain array after a paged page.
   * @throws UnavailableError a 404 for a page the server said it had.
   */
  async #listUsers(
    action: string,
    filter: Record<string, string>,
    largest: boolean,
  ): Promise<PlatformUser[]> {
    const users = new Map<string, PlatformUser>();
    // Undefined until a server answered in pages: its page size from then on.
    let size: number | undefined;
    let restarted = false;
    let page = 0;
    for (let request = 0; request < MAX_LOOKUP_PAGES; request++) {
      const query = size === undefined ? filter : { ...filter, index: String(page), size: String(size) };
      const body = await this.#get('/users', action, query, page > 0 ? [404] : []);
      if (body === NOT_FOUND) {
        throw new UnavailableError(
          `${this.#label}: ${action}: HTTP 404 for page ${page} of the users, a page the server said it had; ` +
            'the list cannot have been read whole, so it stops rather than answer with part of the users',
        );
      }
      const list = parseVendorBody(userListSchema, body, `${this.#label}: ${action}`);
      if (Array.isArray(list)) {
        // A plain array is the whole answer; an array after a paged page is not.
        if (size !== undefined) {
          throw new BadResponseError(`${this.#label}: ${action}: page ${page} is not a paged answer`);
        }
        for (const user of list) users.set(String(user.id), user);
        return [...users.values()];
      }
      const { index, size: answered, totalPages, totalResources } = list.metadata;
      // Pages count from 0. A server that numbers them otherwise (from 1) would stop a page
      // early by `totalPages`, and the people on the last page would be missed.
      if (index !== page) {
        throw new BadResponseError(
          `${this.#label}: ${action}: asked for page ${page}, got page ${index}; the server ignores paging, or does not count pages from 0`,
        );
      }
      // Pages are cut at index × size: a later page of another size than the first (a server
      // may lower the size asked for its first page, never change it after), or a page short
      // before the last, means rows skipped or read twice, and the people there never seen.
      const last = index + 1 >= totalPages;
      if ((page > 0 && answered !== size) || (!last && list.data.length !== answered)) {
        throw new BadResponseError(
          `${this.#label}: ${action}: page ${index} of ${totalPages} held ${list.data.length} users in pages of ${answered}` +
            `${page > 0 ? ` (asked for ${size})` : ''}; the pages do not add up, so the list cannot be read whole`,
        );
      }
      for (const user of list.data) users.set(String(user.id), user);
      if (last) return [...users.values()];
      size = answered;
      page = index + 1;
      if (largest && !restarted && answered < PLATFORM_PAGE_SIZE) {
        // The server's own page size was smaller than the largest: ask again from page 0 in
        // the largest pages when that takes fewer requests than the pages still to come.
        const total = totalResources ?? totalPages * answered;
        if (Math.ceil(total / PLATFORM_PAGE_SIZE) < totalPages - 1) {
          restarted = true;
          users.clear();
          size = PLATFORM_PAGE_SIZE;
          page = 0;
        }
      }
    }
    throw new BadResponseError(
      `${this.#label}: ${action}: more than ${MAX_LOOKUP_PAGES} pages of users; stopped rather than page forever`,
    );
  }

  async getUser(userId: string): Promise<UserRecord> {
    const action = `get user ${userId}`;
    const user = await this.#read(userId, action);
    if (user === undefined) {
      throw new BadRequestError(
        `${this.#label}: ${action}: HTTP 404: no such user, or the API key may not see it`,
      );
    }
    return toRecord(user);
  }

  /**
   * Resolves once the person's work shows: the user is DISABLED, or gone (HTTP 404). Removal
   * in User Management is an acceptable way to switch the account off: a removed user cannot
   * sign in, and the id was read moments before on the same base URL, so a 404 now means the
   * account went away, not that we asked the wrong place. ACTIVE and PENDING (an invitation
   * that can still be accepted) are not off yet: `Vendor.NotYetApplied`.
   */
  async verifyDeactivated(userId: string): Promise<UserRecord> {
    const action = `verify user ${userId}`;
    const user = await this.#read(userId, action);
    if (user === undefined) return { id: userId, email: '', active: false, fields: {} };
    const record = toRecord(user);
    if (record.active) {
      throw new NotYetAppliedError(
        `${this.#label}: ${action}: still ${user.status}; a person has to disable or remove the account ` +
          'in the Insight Platform (User Management)',
      );
    }
    return record;
  }

  /** The user, or undefined on HTTP 404. */
  async #read(userId: string, action: string): Promise<PlatformUser | undefined> {
    if (!USER_ID.test(userId)) {
      throw new BadRequestError(`${this.#label}: ${action}: '${userId}' is not an Insight Platform user id`);
    }
    const body = await this.#get(`/users/${userId}`, action, undefined, [404]);
    return body === NOT_FOUND
      ? undefined
      : parseVendorBody(platformUserSchema, body, `${this.#label}: ${action}`);
  }

  /** One GET; 401/403 become `Vendor.AuthFailed` with the key hint, 404 only when accepted. */
  async #get(
    path: string,
    action: string,
    query?: Record<string, string>,
    accept: number[] = [],
  ): Promise<unknown> {
    const { status, body } = await this.#http.request('GET', path, {
      action,
      ...(query ? { query } : {}),
      accept: [401, 403, ...accept],
    });
    if (status === 401 || status === 403) {
      throw new AuthFailedError(
        `${this.#label}: ${action}: HTTP ${status}${this.#http.vendorMessage(body)}: ${KEY_HINT}`,
      );
    }
    if (status === 404) return NOT_FOUND;
    return body;
  }
}

const NOT_FOUND = Symbol('not found');

/**
 * Whether the account can still be used. Only DISABLED is off: PENDING is an invitation that
 * can still be accepted (and then signs in), so it counts as active and needs switching off.
 */
export function isActiveStatus(status: string): boolean {
  return status.trim().toUpperCase() !== 'DISABLED';
}

function toRecord(user: PlatformUser): UserRecord {
  return {
    id: String(user.id),
    email: user.email ?? '',
    active: isActiveStatus(user.status),
    fields: { ...user },
  };
}

/** Accepts the regional base with or without the account API path an operator may paste. */
function regionalBase(baseUrl: string): string {
  return baseUrl.replace(/\/+$/, '').replace(/\/account\/api\/1$/i, '');
}

/** Builds the connector for one connection from its secret JSON. */
export function createRapid7PlatformConnector(
  connection: ConnectionRef,
  secret: unknown,
  fetchImpl?: typeof fetch,
): Rapid7PlatformConnector {
  const parsed = secretSchemas['rapid7-platform'].safeParse(secret);
  if (!parsed.success) {
    // A console credential here is the classic mix-up between the two Rapid7 surfaces.
    const consoleHint =
      secret && typeof secret === 'object' && 'username' in secret
        ? ' (a username/password is the InsightVM console credential: use a rapid7-insightvm connection for it)'
        : '';
    throw new ConfigError(
      `${connection.name}: the secret must be JSON like ${SECRET_EXAMPLES['rapid7-platform']}: ` +
        `${parsed.error.issues[0]?.message ?? 'invalid'}${consoleHint}`,
    );
  }
  return new Rapid7PlatformConnector({
    label: connection.name,
    baseUrl: connection.baseUrl,
    apiKey: parsed.data.apiKey,
    ...(connection.tls ? { tls: connection.tls } : {}),
    fetch: fetchImpl,
  });
}
