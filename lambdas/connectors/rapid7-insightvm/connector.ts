/**
 * Rapid7 InsightVM, on-premise Security Console API v3 (`https://host:3780/api/3`).
 *
 * The console's own Swagger (vendor-contracts/rapid7/insightvm-console-swagger.json,
 * console 6.6.55) is the authority on shapes; the seed guide is the baseline for behaviour.
 * What matters here:
 *
 * - Basic auth with a console user's login and password (not the cloud platform's API key).
 * - No email filter on `GET /api/3/users`: we page through everyone (`page`, `size` ≤ 500)
 *   and match on our side, on `email` or on `login` (logins are often the email address).
 * - `PUT /api/3/users/{id}` is a full replacement whose body is `UserEdit`, a different
 *   shape from the `User` a GET answers. We map one onto the other field by field.
 * - A user whose role lacks `allSites` (`allAssetGroups`) sees only the sites (asset groups)
 *   granted to it, held apart from the user under `/api/3/users/{id}/sites`
 *   (`/asset_groups`). Public clients report that the PUT above loses them, so we read them
 *   with the user and put them back after the PUT (see `deactivateUser`).
 * - `DELETE /api/3/users/{id}/lock` *unlocks* an account: never sent.
 * - Consoles often run with a self-signed certificate. Verification stays on; the
 *   connection trusts a private CA with `tls.caCert`, or turns it off explicitly.
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
import { basicAuth, HttpClient, sameEmail } from '../../shared/http';
import {
  assertSamePerson,
  type ListPages,
  lookupResult,
  parseVendorBody,
  readWholeList,
  restorableRecord,
} from '../../shared/vendor-answer';
import type {
  DeactivatingConnector,
  DirectoryConnector,
  LookupResult,
  ReactivatingConnector,
  UserRecord,
} from '../types';

/** The console's API lives under this path of the console URL (`https://host:3780`). */
export const INSIGHTVM_API_PATH = '/api/3';
/** The console never returns more than this many users a page, whatever `size` asks. */
export const INSIGHTVM_PAGE_SIZE = 500;
/** 200 pages of 500 is 100,000 users: past that the console is not paging as documented. */
const MAX_LOOKUP_PAGES = 200;
/**
 * Keys of `UserRecord.fields` that hold the user's explicit grants, read from
 * `GET /users/{id}/sites` and `/asset_groups` (ids, ascending as the console answers). They
 * are not `User` fields (the underscore says so, and no `User` field starts with one): the
 * record carries them so the ledger keeps them and a retried write can put them back.
 */
export const SITE_GRANTS_FIELD = '_sites';
export const ASSET_GROUP_GRANTS_FIELD = '_assetGroups';

const linkSchema = z.looseObject({ href: z.string().optional(), rel: z.string().optional() });

/**
 * `User` as the console answers it. The fields we rely on are checked; everything else is
 * kept as read (`looseObject`), because the record is the state the ledger keeps.
 */
const userSchema = z.looseObject({
  id: z.number().int(),
  login: z.string(),
  email: z.string().nullable().optional(),
  enabled: z.boolean(),
  role: z
    .looseObject({ allSites: z.boolean().optional(), allAssetGroups: z.boolean().optional() })
    .optional(),
});
type InsightvmUser = z.infer<typeof userSchema>;

/** A list row: only what the lookup reads, so one odd account cannot break everyone's lookup. */
const listedUserSchema = z.looseObject({
  id: z.number().int(),
  login: z.string().nullable().optional(),
  email: z.string().nullable().optional(),
});
type ListedUser = z.infer<typeof listedUserSchema>;

/**
 * A list row as the directory maps it: what the lookup reads, and the flag a record's
 * `active` comes from. Everything else is kept as listed (the whole `User`).
 */
const directoryRowSchema = listedUserSchema.extend({ enabled: z.boolean() });

/** `PageOf«User»`: `{resources, page: {number, size, totalPages, totalResources}, links}`. */
const pageSchema = z.looseObject({
  resources: z.array(listedUserSchema).optional(),
  page: z
    .looseObject({
      number: z.number().int().nonnegative(),
      size: z.number().int().nonnegative(),
      totalPages: z.number().int().nonnegative(),
      totalResources: z.number().int().nonnegative().optional(),
    })
    .optional(),
  links: z.array(linkSchema).optional(),
});

/**
 * What the write-back needs from a `User`, in the Swagger's shapes: `UserRole` (read) and
 * `AuthenticationSource` (read). `UserEdit` requires `login`, `name` and `role.id`.
 */
const writableUserSchema = z.looseObject({
  login: z.string().min(1),
  name: z.string(),
  email: z.string().nullable().optional(),
  role: z.looseObject({
    id: z.string().min(1),
    allSites: z.boolean().optional(),
    allAssetGroups: z.boolean().optional(),
    superuser: z.boolean().optional(),
  }),
  locale: z
    .looseObject({ default: z.string().optional(), reports: z.string().optional() })
    .nullable()
    .optional(),
  authentication: z
    .looseObject({ id: z.number().int().optional(), type: z.string().min(1) })
    .nullable()
    .optional(),
});
type WritableUser = z.infer<typeof writableUserSchema>;

/** Swagger int32 ids. */
const grantIdsSchema = z.array(
  z
    .number()
    .int()
    .min(-(2 ** 31))
    .max(2 ** 31 - 1),
);

/**
 * `ReferencesWith«SiteID,Link»` / `«AssetGroupID,Link»`. `resources` is optional in the
 * Swagger but required here: a console that leaves it out has not said the user has none,
 * and guessing could lose grants.
 */
const referencesSchema = z.looseObject({ resources: grantIdsSchema, links: z.array(linkSchema).optional() });

/** The grants a record carries, as `getUser` stored them; absent when it did not read them. */
const recordGrantsSchema = z.looseObject({
  [SITE_GRANTS_FIELD]: grantIdsSchema.optional(),
  [ASSET_GROUP_GRANTS_FIELD]: grantIdsSchema.optional(),
});

/** One kind of explicit grant: its sub-resource, the role flag that makes it moot, its record field. */
interface GrantKind {
  route: 'sites' | 'asset_groups';
  flag: 'allSites' | 'allAssetGroups';
  field: typeof SITE_GRANTS_FIELD | typeof ASSET_GROUP_GRANTS_FIELD;
  noun: string;
}
const GRANT_KINDS: readonly GrantKind[] = [
  { route: 'sites', flag: 'allSites', field: SITE_GRANTS_FIELD, noun: 'site' },
  { route: 'asset_groups', flag: 'allAssetGroups', field: ASSET_GROUP_GRANTS_FIELD, noun: 'asset group' },
];

/**
 * Whether a user with this role holds explicit grants of a kind: unless the role says
 * `allSites: true` (resp. `allAssetGroups`). A role that does not say is read as `false`, the
 * default a PUT gives it (`UserCreateRole`), so the grants are kept then too.
 */
const restricted = (role: { allSites?: boolean; allAssetGroups?: boolean } | undefined, kind: GrantKind) =>
  role !== undefined && role[kind.flag] !== true;

/**
 * `UserEdit`, the body of `PUT /api/3/users/{id}`, as far as a write-back can fill it.
 * `password` (required by the Swagger, shared with `POST`) is write-only: it cannot be read
 * back, so it is never sent, and the console keeps the password it has. `passwordResetOnLogin`
 * is not readable either; left out, it is `false`, which is what an existing account has.
 */
export interface InsightvmUserEdit {
  login: string;
  name: string;
  email?: string;
  enabled: boolean;
  role: { id: string; allSites?: boolean; allAssetGroups?: boolean; superuser?: boolean };
  locale?: { default?: string; reports?: string };
  authentication?: { type: string; id?: number };
}

/** Ids go into the URL path: the Swagger's int32 ids only, so nothing can reach another route. */
const USER_ID = /^\d{1,10}$/;

/**
 * Rapid7 InsightVM console users: look up by email or login, read, disable (and enable again)
 * with a full-replacement PUT, verify.
 */
export class Rapid7InsightvmConnector
  implements DeactivatingConnector, ReactivatingConnector, DirectoryConnector
{
  readonly #http: HttpClient;
  readonly #label: string;
  readonly #username: string;
  /**
   * The flag our write changes, and what the console changes by itself: `locked` after failed
   * sign-ins (not part of `UserEdit`, so never written), and `links`.
   */
  readonly volatileFields = ['enabled', 'locked', 'links'] as const;
  // PUT /users/{id} sends the whole UserEdit back.
  readonly writesWholeRecord = true;
  /**
   * The list gives each whole `User`, but not the site and asset-group grants `getUser` reads
   * from `/users/{id}/sites` and `/asset_groups` (the Swagger's `User` has no such field):
   * a write is planned from `getUser`, never from the list.
   */
  readonly directoryComplete = false;
  readonly directoryPageSize = INSIGHTVM_PAGE_SIZE;

  /** `baseUrl` is the console, `https://host:3780`; `/api/3` is added here. */
  constructor(options: {
    label: string;
    baseUrl: string;
    username: string;
    password: string;
    tls?: TlsOptions;
    fetch?: typeof fetch;
  }) {
    this.#label = options.label;
    this.#username = options.username;
    this.#http = new HttpClient({
      label: options.label,
      baseUrl: consoleBase(options.baseUrl) + INSIGHTVM_API_PATH,
      headers: { authorization: basicAuth(options.username, options.password) },
      tls: options.tls,
      fetch: options.fetch,
    });
  }

  /** Requests this connector has sent (benchmarks read it). */
  get requestCount(): number {
    return this.#http.requestCount;
  }

  /**
   * Pages through every user (the console has no email filter) and keeps the exact matches,
   * ignoring case, on the email field or on the login.
   */
  async lookupUser(email: string): Promise<LookupResult> {
    const rows = await this.#listUsers(`look up ${email}`);
    // The identity a record carries (`identityOf`), so a lookup and a match against the
    // directory (`isPerson`) cannot disagree about whose account a row is.
    const matches = rows.filter((row) => isPerson(identityOf(row), email)).map((row) => row.id);
    return lookupResult(this.#label, matches, `${email} as email or login`);
  }

  /**
   * Every user of the console, read in pages of 500 (the most the console gives), each mapped
   * as `getUser` maps it as far as the list allows: the list carries the whole `User`, but not
   * the site and asset-group grants `getUser` reads separately (`directoryComplete` is false).
   * Throws rather than answer part of the users, as `lookupUser` does.
   */
  async readDirectory(): Promise<UserRecord[]> {
    const action = 'read the user list';
    return (await this.#listUsers(action)).map((row) =>
      toRecord(parseVendorBody(directoryRowSchema, row, `${this.#label}: ${action}: user ${row.id}`)),
    );
  }

  /**
   * `GET /users` page by page, 500 at a time, to the last page the console says it has.
   * Never part of the list: a page numbered otherwise than asked, a page that is short or of
   * another size before the last, or a 404 for a page the console said it had, throws.
   * Pages are cut at page × size, so a user deleted (or added) between two pages moves the
   * others past the cut: the page's `totalResources` and `totalPages` must stay as the first
   * page gave them, and the users read must be `totalResources` in the end. A list that moved
   * is read once more from the start, then `Vendor.Unavailable` (see `readWholeList`).
   */
  async #listUsers(action: string): Promise<ListedUser[]> {
    return readWholeList(`${this.#label}: ${action}`, (pages) => this.#listUsersOnce(action, pages));
  }

  /** One read of every page of `GET /users`, each page's totals told to `pages`. */
  async #listUsersOnce(action: string, pages: ListPages): Promise<ListedUser[]> {
    const rows = new Map<number, ListedUser>();
    // What the first page said: how many pages there are (a 404 within them is not the end),
    // and how large they are (every later page must be as large, or the pages overlap or skip).
    let first: { totalPages: number; size: number } | undefined;
    for (let page = 0; page < MAX_LOOKUP_PAGES; page++) {
      const { status, body } = await this.#http.request('GET', '/users', {
        action,
        query: { page: String(page), size: String(INSIGHTVM_PAGE_SIZE) },
        accept: [404],
      });
      if (status === 404) {
        // The console answers 404 to an authenticated user who may not list users, and to a
        // page past the end. The last page gone means the list shrank after the page before
        // was read: the users who moved up onto that page were never seen.
        if (page > 0 && first !== undefined && page >= first.totalPages - 1) {
          pages.moved(`HTTP 404 for page ${page}, the last of ${first.totalPages}: the list shrank`);
        }
        // A page it said it had is not the end: stopping there would miss everyone after it.
        if (page > 0) {
          throw new UnavailableError(
            `${this.#label}: ${action}: HTTP 404 for page ${page} of ${first?.totalPages ?? 'an unknown number of'} pages of users; ` +
              'the list cannot have been read whole, so it stops rather than answer "not found"',
          );
        }
        throw new AuthFailedError(
          `${this.#label}: ${action}: HTTP 404: the console hides the user list from accounts that are not ` +
            'Global Administrators; give the connection a Global Administrator login (and check that baseUrl ' +
            'is the console, https://host:3780)',
        );
      }
      const parsed = parseVendorBody(pageSchema, body, `${this.#label}: ${action}`);
      const users = parsed.resources ?? [];
      for (const user of users) rows.set(user.id, user);
      const info = parsed.page;
      if (page === 0 && info) first = { totalPages: info.totalPages, size: info.size };
      if (info && info.number !== page) {
        throw new BadResponseError(
          `${this.#label}: ${action}: asked for page ${page} of the users, the console answered page ${info.number}; ` +
            'it does not page as documented, so the list cannot be read whole',
        );
      }
      // Before the size checks: a list that moved can make a page look short.
      pages.total(info?.totalResources, `page ${page}`, 'totalResources');
      pages.total(info?.totalPages, `page ${page}`, 'totalPages');
      const pageSize = info?.size || INSIGHTVM_PAGE_SIZE;
      const last = info ? page + 1 >= info.totalPages : users.length < pageSize;
      if (info && !last && (users.length !== pageSize || info.size !== first?.size)) {
        // Pages are cut at page × size: one short, or of another size than the first, before
        // the last means rows skipped or read twice, and the people there never seen.
        throw new BadResponseError(
          `${this.#label}: ${action}: page ${page} of ${info.totalPages} held ${users.length} users in pages of ` +
            `${info.size} (the first page said ${first?.size}); the pages do not add up, so the list cannot be read whole`,
        );
      }
      if (last || users.length === 0) break;
      if (page === MAX_LOOKUP_PAGES - 1) {
        throw new BadResponseError(
          `${this.#label}: ${action}: more than ${MAX_LOOKUP_PAGES} pages of users; stopped rather than page forever`,
        );
      }
    }
    pages.end(rows.size, 'totalResources');
    return [...rows.values()];
  }

  /**
   * The user as the console answers it, plus, for a user whose role does not give access to
   * every site (asset group), the ids it is granted, under `SITE_GRANTS_FIELD`
   * (`ASSET_GROUP_GRANTS_FIELD`). Disabled users too: a reactivation writes one, and grants
   * revoked while it was off must show as a change, not be granted again. A user with
   * `allSites` and `allAssetGroups` costs one request.
   */
  async getUser(userId: string): Promise<UserRecord> {
    const action = `get user ${userId}`;
    const user = await this.#read(userId, action);
    const record = toRecord(user);
    for (const kind of GRANT_KINDS) {
      if (restricted(user.role, kind)) record.fields[kind.field] = await this.#grants(userId, kind, action);
    }
    return record;
  }

  /** The console account the connection signs in with (its `login` is the secret's username) is never switched off. */
  async protectedReason(record: UserRecord): Promise<string | undefined> {
    return sameEmail(record.fields.login, this.#username)
      ? 'it is the console login this connection signs in with, and switching it off would cut the integration off; give the connection another Global Administrator first'
      : undefined;
  }

  async deactivateUser(record: UserRecord): Promise<void> {
    const action = `deactivate user ${record.id}`;
    if (!USER_ID.test(record.id)) {
      throw new BadRequestError(`${this.#label}: ${action}: '${record.id}' is not an InsightVM user id`);
    }
    // PUT replaces the whole user: a field the body leaves out is reset to its default (the
    // role's site and asset-group access to false, the locale to the console's, the
    // authentication source to the built-in one). So the body is the user as read, mapped
    // from `User` onto `UserEdit` field by field, with only `enabled` changed.
    const user = parseVendorBody(writableUserSchema, record.fields, `${this.#label}: ${action}`);
    await this.#write(record, user, false, action);
  }

  /**
   * PUTs the `UserEdit` mapped from `before` (the same mapping as a deactivation, `enabled`
   * as it was), then puts back the site and asset-group grants `before` carries under
   * `SITE_GRANTS_FIELD` / `ASSET_GROUP_GRANTS_FIELD`, which the PUT may drop. Requests: the
   * current user (for the email check), the PUT, and one PUT a kind of grant the role limits
   * and the user held (a read of them first when `before` lacks them).
   */
  async reactivateUser(before: UserRecord): Promise<void> {
    const action = `reactivate user ${before.id}`;
    const where = `${this.#label}: ${action}`;
    if (!USER_ID.test(before.id))
      throw new BadRequestError(`${where}: '${before.id}' is not an InsightVM user id`);
    const parsed = userSchema.safeParse(before.fields);
    const writable = writableUserSchema.safeParse(before.fields);
    // Both readings must hold: the User as the console answered it, and what UserEdit takes.
    const was = restorableRecord(
      where,
      'InsightVM',
      before,
      parsed.success && !writable.success ? writable : parsed,
      toRecord,
    );
    // One GET before the write: the id may have been reused (see assertSamePerson).
    const now = toRecord(await this.#read(before.id, action));
    assertSamePerson(where, now, was);
    // restorableRecord refused anything writable could not read, so it holds here.
    await this.#write(before, writable.data as WritableUser, was.active, action);
  }

  /**
   * `PUT /users/{id}` with `user` mapped onto `UserEdit` and `enabled`, then the explicit
   * grants put back.
   */
  async #write(record: UserRecord, user: WritableUser, enabled: boolean, action: string): Promise<void> {
    const body = toUserEdit(user, enabled);
    // The explicit site and asset-group grants are not part of `User` and cannot travel in
    // the PUT, and the PUT may drop them: the public PowerShell client
    // My-Random-Thoughts/Rapid7Nexpose (`Update-NexposeUser`) re-applies them after every
    // `PUT /api/3/users/{id}` "as they get removed", for roles without allSites /
    // allAssetGroups. A mistaken termination must be fully reversible, so we take the
    // grants as read with the record (getUser), or read them now when the record lacks
    // them, and put them back right after the PUT. The record's copy comes first: if a
    // restore fails and the step is retried, a fresh read would find them already gone.
    const recorded = parseVendorBody(recordGrantsSchema, record.fields, `${this.#label}: ${action}: record`);
    const keep: Array<{ kind: GrantKind; ids: number[] }> = [];
    for (const kind of GRANT_KINDS) {
      if (!restricted(user.role, kind)) continue;
      keep.push({ kind, ids: recorded[kind.field] ?? (await this.#grants(record.id, kind, action)) });
    }
    const { status, body: answer } = await this.#http.request('PUT', `/users/${record.id}`, {
      action,
      body,
      accept: [400, 404],
    });
    const words = this.#http.vendorMessage(answer);
    if (status === 404) {
      throw new BadRequestError(
        `${this.#label}: ${action}: HTTP 404${words}: the user no longer exists, or the connection's login is ` +
          'not a Global Administrator (the console answers 404 to requests it does not permit)',
      );
    }
    if (status === 400) {
      const hint = /password/i.test(words)
        ? ': this console wants a password with every user update, which offboard cannot send (it cannot be ' +
          `read back); ${enabled ? 'enable' : 'disable'} the user in the console by hand`
        : '';
      throw new BadRequestError(`${this.#label}: ${action}: HTTP 400${words}${hint}`);
    }
    const state = enabled ? 'enabled again' : 'disabled';
    for (const { kind, ids } of keep) await this.#restoreGrants(record.id, kind, ids, action, state);
  }

  async verifyDeactivated(userId: string): Promise<UserRecord> {
    const record = toRecord(await this.#read(userId, `verify user ${userId}`));
    if (record.active) {
      throw new NotYetAppliedError(`${this.#label}: verify user ${userId}: still enabled after the write`);
    }
    return record;
  }

  async verifyReactivated(userId: string): Promise<UserRecord> {
    const record = toRecord(await this.#read(userId, `verify user ${userId}`));
    if (!record.active) {
      throw new NotYetAppliedError(`${this.#label}: verify user ${userId}: still disabled after the write`);
    }
    return record;
  }

  /** `GET /users/{id}/sites` (or `/asset_groups`): the ids granted. */
  async #grants(userId: string, kind: GrantKind, action: string): Promise<number[]> {
    const doing = `${action}: read ${kind.noun} grants`;
    const { status, body } = await this.#http.request('GET', `/users/${userId}/${kind.route}`, {
      action: doing,
      accept: [404],
    });
    if (status === 404) {
      throw new BadRequestError(
        `${this.#label}: ${doing}: HTTP 404${this.#http.vendorMessage(body)}: no such user, or the ` +
          "connection's login is not a Global Administrator",
      );
    }
    return parseVendorBody(referencesSchema, body, `${this.#label}: ${doing}`).resources;
  }

  /**
   * `PUT /users/{id}/sites` (or `/asset_groups`) with the ids as read: the body is the bare
   * int32 array the Swagger defines, and it replaces the grants, so repeating it is harmless.
   * Nothing to put back when none were granted. Every failure names the ids, so a person can
   * grant them again by hand.
   */
  async #restoreGrants(
    userId: string,
    kind: GrantKind,
    ids: number[],
    action: string,
    state: string,
  ): Promise<void> {
    if (ids.length === 0) return;
    const doing = `${action}: put back ${kind.noun} grants ${ids.join(', ')}`;
    const { status, body } = await this.#http.request('PUT', `/users/${userId}/${kind.route}`, {
      action: doing,
      body: ids,
      accept: [400, 404],
    });
    if (status === 400 || status === 404) {
      throw new BadRequestError(
        `${this.#label}: ${doing}: HTTP ${status}${this.#http.vendorMessage(body)}: the user is ${state}, ` +
          `but its ${kind.noun} grants are not back; grant them again in the console`,
      );
    }
  }

  async #read(userId: string, action: string): Promise<InsightvmUser> {
    if (!USER_ID.test(userId)) {
      throw new BadRequestError(`${this.#label}: ${action}: '${userId}' is not an InsightVM user id`);
    }
    const { status, body } = await this.#http.request('GET', `/users/${userId}`, { action, accept: [404] });
    if (status === 404) {
      throw new BadRequestError(
        `${this.#label}: ${action}: HTTP 404${this.#http.vendorMessage(body)}: no such user, or the ` +
          "connection's login is not a Global Administrator",
      );
    }
    return parseVendorBody(userSchema, body, `${this.#label}: ${action}`);
  }
}

/**
 * Maps a `User` as read onto the `UserEdit` a PUT takes, field by field, as the Swagger
 * defines both. Read-only fields (`id`, `links`, `locked`) and read-side details `UserEdit`
 * does not define (`role.name`, `role.privileges`, `authentication.name`, `.external`,
 * `.links`, `locale.links`) are left out; the console derives them again.
 */
export function toUserEdit(user: WritableUser, enabled: boolean): InsightvmUserEdit {
  const role: InsightvmUserEdit['role'] = { id: user.role.id };
  if (user.role.allSites !== undefined) role.allSites = user.role.allSites;
  if (user.role.allAssetGroups !== undefined) role.allAssetGroups = user.role.allAssetGroups;
  if (user.role.superuser !== undefined) role.superuser = user.role.superuser;
  const edit: InsightvmUserEdit = { login: user.login, name: user.name, enabled, role };
  if (typeof user.email === 'string') edit.email = user.email;
  if (user.locale) {
    const locale: NonNullable<InsightvmUserEdit['locale']> = {};
    if (user.locale.default !== undefined) locale.default = user.locale.default;
    if (user.locale.reports !== undefined) locale.reports = user.locale.reports;
    edit.locale = locale;
  }
  if (user.authentication) {
    // With an id the console keeps the very same source; without one it picks one of the type.
    edit.authentication = { type: user.authentication.type };
    if (user.authentication.id !== undefined) edit.authentication.id = user.authentication.id;
  }
  return edit;
}

/**
 * Whose account a user is: the email field first (or the login when there is no email), and
 * a login that is an address among its other addresses, so a person found by login counts
 * as asked for. The list's rows are read leniently (a row without a login is kept).
 */
function identityOf(user: ListedUser): Pick<UserRecord, 'email' | 'emails'> {
  const login = user.login?.includes('@') ? user.login : undefined;
  const email = user.email?.trim() ? user.email : (login ?? '');
  return login && !sameEmail(login, email) ? { email, emails: [login] } : { email };
}

/** A `User` (from `GET /users/{id}`, or a row of the list) as a record. */
function toRecord(user: ListedUser & { enabled: boolean }): UserRecord {
  return { id: String(user.id), ...identityOf(user), active: user.enabled, fields: { ...user } };
}

/** `https://host:3780`, tolerating a trailing slash or `/api/3` given by habit. */
function consoleBase(baseUrl: string): string {
  return baseUrl.replace(/\/+$/, '').replace(/\/api\/3$/, '');
}

/** Builds the connector for one connection from its secret JSON. */
export function createRapid7InsightvmConnector(
  connection: ConnectionRef,
  secret: unknown,
  fetchImpl?: typeof fetch,
): Rapid7InsightvmConnector {
  const parsed = secretSchemas['rapid7-insightvm'].safeParse(secret);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError(
      `${connection.name}: the secret must be JSON like ${SECRET_EXAMPLES['rapid7-insightvm']}: ` +
        `${issue ? `${issue.path.join('.') || 'secret'}: ${issue.message}` : 'invalid'}`,
    );
  }
  return new Rapid7InsightvmConnector({
    label: connection.name,
    baseUrl: connection.baseUrl,
    username: parsed.data.username,
    password: parsed.data.password,
    ...(connection.tls ? { tls: connection.tls } : {}),
    fetch: fetchImpl,
  });
}
