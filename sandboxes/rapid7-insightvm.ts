/**
 * A built-in Rapid7 InsightVM Security Console sandbox: a real HTTPS server on 127.0.0.1
 * that answers the API v3 user endpoints the way the console's own Swagger
 * (vendor-contracts/rapid7/insightvm-console-swagger.json, console 6.6.55) and the seed guide
 * describe them: Basic auth with a console login, `PageOf«User»` pages of at most 500, a
 * `PUT /api/3/users/{id}` that takes `UserEdit` and replaces the whole user (omitted fields
 * go back to their defaults; unknown fields are refused), a write-only password, errors as
 * `{status, message, links}`, and 404 for whatever the credential may not see.
 *
 * Per-user site and asset-group grants live in sub-resources, as the Swagger defines them:
 * `GET /api/3/users/{id}/sites` answers `ReferencesWith«SiteID,Link»` (`{resources: [ids],
 * links}`), `PUT` takes a bare JSON array of site ids and replaces the grants (ignored for a
 * user whose role has `allSites`), `DELETE` revokes them all; `PUT`/`DELETE
 * /sites/{siteId}` grant or revoke one. `/asset_groups` is the same for asset groups.
 * Public clients (My-Random-Thoughts/Rapid7Nexpose, `Update-NexposeUser`) re-apply these
 * grants after every `PUT /api/3/users/{id}` "as they get removed": with `putDropsGrants`
 * (the default) the sandbox does that to them.
 *
 * Like most on-prem consoles it serves a self-signed certificate, generated at start for
 * 127.0.0.1 and localhost: `caCert` is its PEM, for clients told to trust it.
 */
import { generate } from 'selfsigned';
import {
  type SandboxAnswer as Answer,
  basicCredentials,
  Faults,
  isObject,
  parseJson,
  type SandboxControls,
  type SandboxFault,
  type SandboxRequestRecord,
  StaleReads,
  sandboxControls,
  seedStore,
  startSandboxServer,
  TokenBucket,
} from './kit';

/** Authentication source types (`AuthenticationSource.type`). */
export type InsightvmAuthType = 'normal' | 'kerberos' | 'ldap' | 'saml' | 'admin';

/** A user as the sandbox holds it: `User` without its hypermedia links. */
export interface InsightvmUser {
  id: number;
  login: string;
  /** The full name (a string in the Swagger, not `{first, last}` as the seed guide shows). */
  name: string;
  /** Absent when the console holds none (a PUT that leaves it out clears it). */
  email?: string;
  enabled: boolean;
  /** Read-only: too many failed sign-ins. `DELETE /users/{id}/lock` clears it. */
  locked: boolean;
  locale: { default: string; reports: string };
  role: {
    id: string;
    name: string;
    privileges: string[];
    /** Site and asset-group access live here, not in a top-level `accessAllSites`. */
    allSites: boolean;
    allAssetGroups: boolean;
    superuser: boolean;
  };
  authentication: { id: number; name: string; type: InsightvmAuthType; external: boolean };
}

/**
 * A user's explicit grants: ids of the sites and asset groups it may see. Only meaningful
 * while its role lacks `allSites` (resp. `allAssetGroups`); the console keeps them apart
 * from the `User`, under `/api/3/users/{id}/sites` and `/asset_groups`.
 */
export interface InsightvmGrants {
  sites?: number[];
  assetGroups?: number[];
}

/** What a test or the demo gives for a user; the rest comes from the console's defaults. */
export interface InsightvmUserSeed extends InsightvmGrants {
  id?: number;
  login: string;
  name?: string;
  email?: string;
  enabled?: boolean;
  locked?: boolean;
  locale?: { default?: string; reports?: string };
  role?: { id: string; allSites?: boolean; allAssetGroups?: boolean; superuser?: boolean };
  /** A source of the catalogue, by type (the first of it) or by id. Default: the built-in users. */
  authentication?: { type: InsightvmAuthType; id?: number };
}

/** The login the sandbox accepts by default: the integration's own console account. */
export const RAPID7_INSIGHTVM_SANDBOX_USERNAME = 'offboard-svc';
/** The default account's password. */
export const RAPID7_INSIGHTVM_SANDBOX_PASSWORD = 'sandbox-password';

/** An injected answer: the next `times` requests that match get it instead of the real one. */
export interface InsightvmFault extends SandboxFault {
  /** Query parameters that must all be present with these values (any when absent). */
  query?: Record<string, string>;
  /** Raw response text, so malformed JSON can be served. Default `{"status","message","links"}`. */
  body?: string;
}

/** How the sandbox starts and misbehaves. Every option defaults to a well-behaved console. */
export interface InsightvmSandboxOptions {
  /**
   * Initial users (a held `InsightvmUser` is a seed too); ids are assigned from 1 where
   * missing. Default SAMPLE_USERS.
   */
  users?: ReadonlyArray<InsightvmUserSeed>;
  /**
   * Console login -> password of the accounts that may sign in (each must be one of the
   * users). Default `{ [RAPID7_INSIGHTVM_SANDBOX_USERNAME]: RAPID7_INSIGHTVM_SANDBOX_PASSWORD }`.
   */
  credentials?: Record<string, string>;
  /**
   * HTTPS with this key and certificate (PEM), HTTPS with a certificate generated at start
   * (default), or `false` for plain HTTP.
   */
  tls?: false | { key: string; cert: string };
  /** The page size cap. Default 500, as the console documents. */
  maxPageSize?: number;
  /** Answer page 0 to every `page`, as a console that ignores paging would. */
  ignorePage?: boolean;
  /** Token bucket (burst = rate); above it 429 without Retry-After. Default unlimited. */
  ratePerSecond?: number;
  /** Fixed delay before every answer, in milliseconds. Default 0. */
  latencyMs?: number;
  /** After a PUT, the next N `GET /api/3/users/{id}` of that user still answer the old user. */
  verifyLag?: number;
  /**
   * A `PUT /api/3/users/{id}` clears the user's explicit site grants when its role has
   * `allSites: false`, and its asset-group grants when `allAssetGroups: false`, as public
   * clients report consoles doing. Default true (the pessimistic reading); false keeps them.
   */
  putDropsGrants?: boolean;
  faults?: InsightvmFault[];
}

/** One request as the sandbox saw it, with the status it answered. */
export type InsightvmRequestRecord = SandboxRequestRecord;

/** A running sandbox. */
export interface InsightvmSandbox extends SandboxControls<InsightvmFault, InsightvmRequestRecord> {
  /** The console URL, `https://127.0.0.1:PORT` (the API is under `/api/3`). */
  baseUrl: string;
  /** PEM of the certificate the sandbox serves (absent with `tls: false`). */
  caCert?: string;
  /** Live state: tests may read and change it between requests. */
  users: Map<number, InsightvmUser>;
  /** User id -> password, for the accounts that can sign in with a password. */
  passwords: Map<number, string>;
  /** User id -> the site ids it is granted, ascending (absent: none). */
  siteGrants: Map<number, number[]>;
  /** User id -> the asset-group ids it is granted, ascending (absent: none). */
  assetGroupGrants: Map<number, number[]>;
}

/** The sites the sandbox console holds; a grant of any other id is refused. */
export const INSIGHTVM_SANDBOX_SITE_IDS: readonly number[] = [1, 2, 3, 4, 5, 6];
/** The asset groups the sandbox console holds. */
export const INSIGHTVM_SANDBOX_ASSET_GROUP_IDS: readonly number[] = [1, 2, 3, 4, 5, 6];

/** The console's built-in roles the sandbox knows (`role.id` -> name and privileges). */
const ROLES: Record<string, { name: string; privileges: string[] }> = {
  'global-admin': { name: 'Global Administrator', privileges: ['all-permissions'] },
  'security-manager': {
    name: 'Security Manager',
    privileges: ['create-reports', 'view-site-asset-data', 'view-asset-group-asset-data', 'manage-tags'],
  },
  'site-admin': {
    name: 'Site Owner',
    privileges: [
      'manage-site-access',
      'specify-scan-targets',
      'start-unscheduled-scans',
      'view-site-asset-data',
    ],
  },
  'asset-owner': { name: 'Asset Owner', privileges: ['view-site-asset-data', 'create-reports'] },
  user: { name: 'User', privileges: ['view-site-asset-data', 'view-asset-group-asset-data'] },
};

/** The console's authentication sources. */
const AUTH_SOURCES: ReadonlyArray<InsightvmUser['authentication']> = [
  { id: 1, name: 'Builtin Administrators', type: 'admin', external: false },
  { id: 2, name: 'Builtin Users', type: 'normal', external: false },
  { id: 3, name: 'corp-ldap', type: 'ldap', external: true },
  { id: 4, name: 'okta-saml', type: 'saml', external: true },
  { id: 5, name: 'CORP.EXAMPLE.COM', type: 'kerberos', external: true },
];
const DEFAULT_AUTH = AUTH_SOURCES[1] as InsightvmUser['authentication'];
const DEFAULT_LOCALE = 'en-US';

/** Fields `UserEdit` defines; anything else in a PUT is refused. `id`, `locked` are read-only. */
const USER_EDIT_FIELDS = new Set([
  'authentication',
  'email',
  'enabled',
  'id',
  'locale',
  'locked',
  'login',
  'name',
  'password',
  'passwordResetOnLogin',
  'role',
]);
const ROLE_FIELDS = new Set(['allAssetGroups', 'allSites', 'id', 'superuser']);
const AUTHENTICATION_FIELDS = new Set(['id', 'type']);
const LOCALE_FIELDS = new Set(['default', 'links', 'reports']);

const JSON_TYPE = 'application/json;charset=UTF-8';

/** Fills what a seed leaves out with the defaults a PUT also falls back to. */
function completeUser(seed: InsightvmUserSeed, id: number): InsightvmUser {
  const role = ROLES[seed.role?.id ?? 'user'];
  if (!role) throw new Error(`rapid7-insightvm sandbox: unknown role ${seed.role?.id}`);
  const authentication = resolveSource(seed.authentication);
  if (!authentication)
    throw new Error(`rapid7-insightvm sandbox: unknown authentication source for ${seed.login}`);
  const user: InsightvmUser = {
    id,
    login: seed.login,
    name: seed.name ?? seed.login,
    enabled: seed.enabled ?? true,
    locked: seed.locked ?? false,
    locale: {
      default: seed.locale?.default ?? DEFAULT_LOCALE,
      reports: seed.locale?.reports ?? DEFAULT_LOCALE,
    },
    role: {
      id: seed.role?.id ?? 'user',
      name: role.name,
      privileges: [...role.privileges],
      allSites: seed.role?.allSites ?? false,
      allAssetGroups: seed.role?.allAssetGroups ?? false,
      superuser: seed.role?.superuser ?? false,
    },
    authentication: { ...authentication },
  };
  if (seed.email !== undefined) user.email = seed.email;
  return user;
}

/** A sample user: the user as held, with the grants the sandbox seeds for it. */
function sample(seed: InsightvmUserSeed, id: number): InsightvmUser & InsightvmGrants {
  const user: InsightvmUser & InsightvmGrants = completeUser(seed, id);
  if (seed.sites) user.sites = [...seed.sites];
  if (seed.assetGroups) user.assetGroups = [...seed.assetGroups];
  return user;
}

function resolveSource(wanted?: { type: string; id?: number }): InsightvmUser['authentication'] | undefined {
  if (!wanted) return DEFAULT_AUTH;
  if (wanted.id !== undefined) {
    const source = AUTH_SOURCES.find((candidate) => candidate.id === wanted.id);
    return source?.type === wanted.type ? source : undefined;
  }
  return AUTH_SOURCES.find((candidate) => candidate.type === wanted.type);
}

/**
 * The demo console. `offboard-svc` (1) is the integration's own account; jane.doe (3) is the
 * leaver, with every optional field set away from its default so a careless PUT visibly
 * resets them; `marcus.lee@example.com` (5) signs in with an email as login while his email
 * field says otherwise, and may see sites 1 and 3 only; tom.nguyen (8) sees sites 2 and 4 and
 * asset groups 1 and 3 only. Gary (4, disabled) keeps grants too.
 */
export const SAMPLE_USERS: ReadonlyArray<Readonly<InsightvmUser & InsightvmGrants>> = [
  sample(
    {
      login: RAPID7_INSIGHTVM_SANDBOX_USERNAME,
      name: 'Offboard Integration',
      email: 'offboard-svc@example.com',
      role: { id: 'global-admin', allSites: true, allAssetGroups: true, superuser: true },
      authentication: { type: 'admin' },
    },
    1,
  ),
  sample(
    {
      login: 'nxadmin',
      name: 'Alex Admin',
      email: 'admin@example.com',
      role: { id: 'global-admin', allSites: true, allAssetGroups: true, superuser: true },
      authentication: { type: 'admin' },
    },
    2,
  ),
  sample(
    {
      login: 'jdoe',
      name: 'Jane Doe',
      email: 'jane.doe@example.com',
      locale: { default: 'de-DE', reports: 'fr-FR' },
      role: { id: 'security-manager', allSites: true, allAssetGroups: true, superuser: false },
      authentication: { type: 'ldap', id: 3 },
    },
    3,
  ),
  sample(
    {
      login: 'ggone',
      name: 'Gary Gone',
      email: 'already.gone@example.com',
      enabled: false,
      role: { id: 'user' },
      sites: [2],
      assetGroups: [5],
    },
    4,
  ),
  sample(
    {
      login: 'marcus.lee@example.com',
      name: 'Marcus Lee',
      email: 'm.lee@corp.example.com',
      role: { id: 'site-admin', allSites: false, allAssetGroups: true },
      authentication: { type: 'saml', id: 4 },
      sites: [1, 3],
    },
    5,
  ),
  sample(
    {
      login: 'pnatarajan',
      name: 'Priya Natarajan',
      email: 'priya.natarajan@example.com',
      locale: { default: 'en-GB', reports: 'en-GB' },
      role: { id: 'asset-owner' },
    },
    6,
  ),
  sample(
    {
      login: 'sobrien',
      name: "Siobhan O'Brien",
      email: "o'brien@example.com",
      locked: true,
      role: { id: 'user', allSites: true },
    },
    7,
  ),
  sample(
    {
      login: 'tnguyen',
      name: 'Tom Nguyen',
      email: 'tom.nguyen@example.com',
      role: { id: 'user', allSites: false, allAssetGroups: false },
      sites: [2, 4],
      assetGroups: [1, 3],
    },
    8,
  ),
];

/** The console's error body: `status` is a string in the Swagger (`"400"`). */
const fail = (status: number, message: string): Answer => ({
  status,
  body: { status: String(status), message, links: [] },
});

let generated: Promise<{ key: string; cert: string }> | undefined;

/** One certificate per process: generating takes tens of milliseconds, sandboxes start often. */
function sandboxCertificate(): Promise<{ key: string; cert: string }> {
  generated ??= generate([{ name: 'commonName', value: '127.0.0.1' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', digitalSignature: true, keyCertSign: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
        ],
      },
    ],
  }).then((pems) => ({ key: pems.private, cert: pems.cert }));
  return generated;
}

type GrantRoute = 'sites' | 'asset_groups';

/** One kind of explicit grant: its sub-resource, the role flag that makes it moot, its store. */
interface GrantKind {
  route: GrantRoute;
  flag: 'allSites' | 'allAssetGroups';
  noun: string;
  seed: keyof InsightvmGrants;
  known: ReadonlySet<number>;
  store: Map<number, number[]>;
}

/** Stores a seed's grants of one kind, refusing what the console could not hold. */
function seedGrants(kind: GrantKind, seed: InsightvmUserSeed, user: InsightvmUser): void {
  const ids = seed[kind.seed];
  if (!ids || ids.length === 0) return;
  if (user.role[kind.flag]) {
    throw new Error(`rapid7-insightvm sandbox: ${user.login} has ${kind.flag}, so no ${kind.noun} grants`);
  }
  const unknown = ids.filter((value) => !kind.known.has(value));
  if (unknown.length > 0) {
    throw new Error(`rapid7-insightvm sandbox: no ${kind.noun} has the id ${unknown.join(', ')}`);
  }
  kind.store.set(
    user.id,
    [...new Set(ids)].sort((a, b) => a - b),
  );
}

/** Names the fields of `value` that `allowed` does not define, prefixed with `where`. */
function unknownFields(value: Record<string, unknown>, allowed: Set<string>, where: string): string[] {
  return Object.keys(value)
    .filter((name) => !allowed.has(name))
    .map((name) => `${where}${name}`);
}

/** Starts a sandbox on a random port of 127.0.0.1. */
export async function startRapid7InsightvmSandbox(
  options: InsightvmSandboxOptions = {},
): Promise<InsightvmSandbox> {
  const siteGrants = new Map<number, number[]>();
  const assetGroupGrants = new Map<number, number[]>();
  const kinds: Record<GrantRoute, GrantKind> = {
    sites: {
      route: 'sites',
      flag: 'allSites',
      noun: 'site',
      seed: 'sites',
      known: new Set(INSIGHTVM_SANDBOX_SITE_IDS),
      store: siteGrants,
    },
    asset_groups: {
      route: 'asset_groups',
      flag: 'allAssetGroups',
      noun: 'asset group',
      seed: 'assetGroups',
      known: new Set(INSIGHTVM_SANDBOX_ASSET_GROUP_IDS),
      store: assetGroupGrants,
    },
  };
  const users = seedStore(options.users ?? SAMPLE_USERS, {
    idOf: (seed) => seed.id,
    newId: (n) => n,
    complete: (seed, id) => {
      const user = completeUser(seed, id);
      for (const kind of Object.values(kinds)) seedGrants(kind, seed, user);
      return user;
    },
    label: 'rapid7-insightvm sandbox: duplicate user id',
  });
  const putDropsGrants = options.putDropsGrants ?? true;
  const passwords = new Map<number, string>();
  const credentials = options.credentials ?? {
    [RAPID7_INSIGHTVM_SANDBOX_USERNAME]: RAPID7_INSIGHTVM_SANDBOX_PASSWORD,
  };
  for (const [login, password] of Object.entries(credentials)) {
    const user = [...users.values()].find(
      (candidate) => candidate.login.toLowerCase() === login.toLowerCase(),
    );
    if (!user) throw new Error(`rapid7-insightvm sandbox: the credential for '${login}' has no user`);
    passwords.set(user.id, password);
  }
  const maxPageSize = options.maxPageSize ?? 500;
  const faults = new Faults(options.faults, (status, message) => fail(status, message).body);
  // User id -> the user before the last PUT.
  const stale = new StaleReads<number, InsightvmUser>(options.verifyLag);
  const bucket = new TokenBucket(options.ratePerSecond);
  // Known once the server listens; the links in every answer carry it.
  let origin = '';

  const self = (path: string) => [{ href: `${origin}${path}`, rel: 'self' }];

  /** `User` as the console answers it: the held user with its hypermedia links. */
  function present(user: InsightvmUser): Record<string, unknown> {
    return {
      ...user,
      authentication: {
        ...user.authentication,
        links: self(`/api/3/authentication_sources/${user.authentication.id}`),
      },
      links: self(`/api/3/users/${user.id}`),
    };
  }

  function integer(query: URLSearchParams, name: string, fallback: number): number | Answer {
    const value = query.get(name);
    if (value === null) return fallback;
    if (!/^\d{1,9}$/.test(value)) return fail(400, `The parameter '${name}' must be a non-negative integer.`);
    return Number(value);
  }

  function listUsers(query: URLSearchParams): Answer {
    const asked = integer(query, 'page', 0);
    if (typeof asked !== 'number') return asked;
    const requested = integer(query, 'size', 10);
    if (typeof requested !== 'number') return requested;
    if (requested < 1) return fail(400, "The parameter 'size' must be at least 1.");
    // A size above the cap is quietly lowered, not refused: clients must page on their own.
    const size = Math.min(requested, maxPageSize);
    const page = options.ignorePage ? 0 : asked;
    const all = [...users.values()].sort((a, b) => a.id - b.id);
    const totalPages = Math.ceil(all.length / size);
    if (page > 0 && page >= totalPages) return fail(404, `Page ${page} does not exist.`);
    const path = (n: number) => `/api/3/users?page=${n}&size=${size}`;
    const links = [{ href: `${origin}${path(page)}`, rel: 'self' }];
    if (totalPages > 0) links.unshift({ href: `${origin}${path(0)}`, rel: 'first' });
    if (page + 1 < totalPages) links.push({ href: `${origin}${path(page + 1)}`, rel: 'next' });
    if (totalPages > 0) links.push({ href: `${origin}${path(totalPages - 1)}`, rel: 'last' });
    return {
      status: 200,
      body: {
        resources: all.slice(page * size, page * size + size).map(present),
        page: { number: page, size, totalPages, totalResources: all.length },
        links,
      },
    };
  }

  function getUser(id: number): Answer {
    const user = users.get(id);
    if (!user) return fail(404, `The user ${id} does not exist.`);
    return { status: 200, body: present(stale.take(id) ?? user) };
  }

  /** Checks a PUT body against `UserEdit` and builds the user it replaces the old one with. */
  function readUserEdit(body: unknown, stored: InsightvmUser): InsightvmUser | Answer {
    if (!isObject(body)) return fail(400, 'The request body must be a user (UserEdit) object.');
    const unknown = unknownFields(body, USER_EDIT_FIELDS, '');
    const { role, authentication, locale } = body;
    if (isObject(role)) unknown.push(...unknownFields(role, ROLE_FIELDS, 'role.'));
    if (isObject(authentication)) {
      unknown.push(...unknownFields(authentication, AUTHENTICATION_FIELDS, 'authentication.'));
    }
    if (isObject(locale)) unknown.push(...unknownFields(locale, LOCALE_FIELDS, 'locale.'));
    if (unknown.length > 0) return fail(400, `Unrecognized field(s): ${unknown.join(', ')}.`);

    const problems: string[] = [];
    const want = (ok: boolean, problem: string) => {
      if (!ok) problems.push(problem);
    };
    const optional = (value: unknown, type: 'string' | 'boolean') =>
      value === undefined || typeof value === type;
    want(typeof body.login === 'string' && body.login.trim() !== '', 'login is required');
    want(typeof body.name === 'string', 'name is required');
    want(isObject(role) && typeof role.id === 'string', 'role.id is required');
    want(optional(body.email, 'string'), 'email must be a string');
    want(optional(body.enabled, 'boolean'), 'enabled must be a boolean');
    want(optional(body.password, 'string'), 'password must be a string');
    want(optional(body.passwordResetOnLogin, 'boolean'), 'passwordResetOnLogin must be a boolean');
    want(body.id === undefined || Number.isInteger(body.id), 'id must be an integer');
    want(optional(body.locked, 'boolean'), 'locked must be a boolean');
    if (isObject(role)) {
      for (const name of ['allSites', 'allAssetGroups', 'superuser']) {
        want(optional(role[name], 'boolean'), `role.${name} must be a boolean`);
      }
    }
    want(locale === undefined || isObject(locale), 'locale must be an object');
    if (isObject(locale)) {
      want(optional(locale.default, 'string'), 'locale.default must be a string');
      want(optional(locale.reports, 'string'), 'locale.reports must be a string');
    }
    want(authentication === undefined || isObject(authentication), 'authentication must be an object');
    if (isObject(authentication)) {
      want(typeof authentication.type === 'string', 'authentication.type is required');
      want(
        authentication.id === undefined || Number.isInteger(authentication.id),
        'authentication.id must be an integer',
      );
    }
    if (problems.length > 0) return fail(400, `Invalid user: ${problems.join('; ')}.`);

    const edit = body as {
      login: string;
      name: string;
      email?: string;
      enabled?: boolean;
      role: { id: string; allSites?: boolean; allAssetGroups?: boolean; superuser?: boolean };
      locale?: { default?: string; reports?: string };
      authentication?: { type: InsightvmAuthType; id?: number };
    };
    if (!ROLES[edit.role.id]) return fail(400, `The role '${edit.role.id}' does not exist.`);
    if (edit.authentication && !resolveSource(edit.authentication)) {
      return fail(400, 'No authentication source matches the given type and id.');
    }
    const clash = [...users.values()].find(
      (other) => other.id !== stored.id && other.login.toLowerCase() === edit.login.toLowerCase(),
    );
    if (clash) return fail(400, `The login '${edit.login}' is already in use.`);
    // Full replacement: everything the body leaves out takes its default, as on creation.
    // `id` and `locked` are read-only: the stored values stay, whatever the body says.
    const seed: InsightvmUserSeed = {
      login: edit.login,
      name: edit.name,
      enabled: edit.enabled ?? true,
      locked: stored.locked,
      role: edit.role,
    };
    if (edit.email !== undefined) seed.email = edit.email;
    if (edit.locale) seed.locale = edit.locale;
    if (edit.authentication) seed.authentication = edit.authentication;
    return completeUser(seed, stored.id);
  }

  function putUser(id: number, text: string): Answer {
    const stored = users.get(id);
    if (!stored) return fail(404, `The user ${id} does not exist.`);
    const body = parseJson(text);
    if (!body.ok) return fail(400, 'The request body is not valid JSON.');
    const next = readUserEdit(body.value, stored);
    if ('status' in next) return next;
    users.set(id, next);
    if (putDropsGrants) {
      // What public clients work around: the update loses the explicit grants of a user
      // whose role does not already give access to everything.
      for (const kind of Object.values(kinds)) if (!next.role[kind.flag]) kind.store.delete(id);
    }
    // Write-only: taken, never answered.
    const password = (body.value as { password?: string }).password;
    if (password !== undefined) passwords.set(id, password);
    stale.remember(id, stored);
    return { status: 200, body: { links: self(`/api/3/users/${id}`) } };
  }

  function unlockUser(id: number): Answer {
    const user = users.get(id);
    if (!user) return fail(404, `The user ${id} does not exist.`);
    if (!user.enabled) return fail(400, 'Disabled accounts may not be unlocked.');
    user.locked = false;
    return { status: 200, body: { links: self(`/api/3/users/${id}`) } };
  }

  function deleteUser(id: number): Answer {
    if (!users.delete(id)) return fail(404, `The user ${id} does not exist.`);
    stale.forget(id);
    passwords.delete(id);
    siteGrants.delete(id);
    assetGroupGrants.delete(id);
    return { status: 200, body: { links: self('/api/3/users') } };
  }

  /** `ReferencesWith«SiteID,Link»` (or «AssetGroupID,Link»): the ids granted, ascending. */
  function listGrants(kind: GrantKind, id: number): Answer {
    const user = users.get(id);
    if (!user) return fail(404, `The user ${id} does not exist.`);
    // A role with access to everything has no explicit grants to list (seed guide).
    const granted = user.role[kind.flag] ? [] : (kind.store.get(id) ?? []);
    return {
      status: 200,
      body: { resources: [...granted], links: self(`/api/3/users/${id}/${kind.route}`) },
    };
  }

  function setGrants(kind: GrantKind, user: InsightvmUser, ids: Iterable<number>): void {
    const sorted = [...new Set(ids)].sort((a, b) => a - b);
    if (sorted.length === 0) kind.store.delete(user.id);
    else kind.store.set(user.id, sorted);
  }

  /** `PUT /users/{id}/sites`: a bare JSON array of ids (the body is optional: none is `[]`). */
  function putGrants(kind: GrantKind, id: number, text: string): Answer {
    const user = users.get(id);
    if (!user) return fail(404, `The user ${id} does not exist.`);
    const body = text.trim() === '' ? { ok: true as const, value: [] } : parseJson(text);
    if (!body.ok) return fail(400, 'The request body is not valid JSON.');
    const ids = body.value;
    if (!Array.isArray(ids) || !ids.every((value) => Number.isInteger(value) && Math.abs(value) < 2 ** 31)) {
      return fail(400, `The request body must be a list of ${kind.noun} ids.`);
    }
    const unknown = ids.filter((value) => !kind.known.has(value));
    if (unknown.length > 0) return fail(400, `No ${kind.noun} has the id ${unknown.join(', ')}.`);
    // "Ignored if the user has access to `allSites`" (Swagger): answered 200, nothing kept.
    if (!user.role[kind.flag]) setGrants(kind, user, ids as number[]);
    return { status: 200, body: { links: self(`/api/3/users/${id}/${kind.route}`) } };
  }

  /** `PUT` / `DELETE /users/{id}/sites/{siteId}`: grants or revokes one. */
  function changeGrant(kind: GrantKind, method: string, id: number, child: number): Answer {
    const user = users.get(id);
    if (!user) return fail(404, `The user ${id} does not exist.`);
    if (!kind.known.has(child)) return fail(404, `The ${kind.noun} ${child} does not exist.`);
    const granted = kind.store.get(id) ?? [];
    if (method === 'DELETE') {
      setGrants(
        kind,
        user,
        granted.filter((value) => value !== child),
      );
    } else {
      if (user.role[kind.flag]) {
        return fail(
          400,
          `Individual ${kind.noun} access cannot be granted to users with the ${kind.flag} permission.`,
        );
      }
      setGrants(kind, user, [...granted, child]);
    }
    return { status: 200, body: { links: self(`/api/3/users/${id}/${kind.route}/${child}`) } };
  }

  function grantsRoute(
    kind: GrantKind,
    method: string,
    id: number,
    child: number | undefined,
    text: string,
    may: { read: boolean; write: boolean },
  ): Answer {
    const hidden = fail(404, 'The resource could not be found.');
    if (child === undefined) {
      if (method === 'GET') return may.read ? listGrants(kind, id) : hidden;
      if (method === 'PUT') return may.write ? putGrants(kind, id, text) : hidden;
      if (method === 'DELETE') {
        if (!may.write) return hidden;
        const user = users.get(id);
        if (!user) return fail(404, `The user ${id} does not exist.`);
        kind.store.delete(id);
        return { status: 200, body: { links: self(`/api/3/users/${id}/${kind.route}`) } };
      }
      return fail(405, `Method ${method} is not allowed here.`);
    }
    if (method === 'PUT' || method === 'DELETE') {
      return may.write ? changeGrant(kind, method, id, child) : hidden;
    }
    return fail(405, `Method ${method} is not allowed here.`);
  }

  function decide(method: string, url: URL, text: string, authorization?: string): Answer {
    // The limits come before the credential is even looked at.
    if (!bucket.take()) return fail(429, 'Too many requests.');
    const given = basicCredentials(authorization);
    // An empty login never signs in, whatever the users are.
    const caller = given?.user
      ? [...users.values()].find((user) => user.login.toLowerCase() === given.user.toLowerCase())
      : undefined;
    // A disabled or locked account cannot sign in: switching it off ends its API access too.
    if (
      !caller ||
      !given ||
      passwords.get(caller.id) !== given.password ||
      !caller.enabled ||
      caller.locked
    ) {
      return fail(401, 'An error occurred while authenticating the user.');
    }
    const injected = faults.answer(method, url);
    if (injected) return injected;
    const admin = caller.role.id === 'global-admin';
    // The console answers 404, not 403, to what the caller may not see or do.
    const hidden = fail(404, 'The resource could not be found.');
    const route = url.pathname.replace(/\/+$/, '');
    if (route === '/api/3/users') {
      if (method === 'GET') return admin ? listUsers(url.searchParams) : hidden;
      return fail(405, `Method ${method} is not allowed here.`);
    }
    const item = /^\/api\/3\/users\/(\d{1,9})(?:\/(lock|sites|asset_groups)(?:\/(\d{1,9}))?)?$/.exec(route);
    if (!item?.[1]) return hidden;
    const id = Number(item[1]);
    const [, , sub, child] = item;
    if (sub === 'lock') {
      if (child !== undefined) return hidden;
      if (method !== 'DELETE') return fail(405, `Method ${method} is not allowed here.`);
      return admin ? unlockUser(id) : hidden;
    }
    if (sub === 'sites' || sub === 'asset_groups') {
      // Reading is open to the user itself, as for its own user; changing takes a Global Administrator.
      const may = { read: admin || id === caller.id, write: admin };
      return grantsRoute(kinds[sub], method, id, child === undefined ? undefined : Number(child), text, may);
    }
    if (method === 'GET') return admin || id === caller.id ? getUser(id) : hidden;
    if (method === 'PUT') return admin ? putUser(id, text) : hidden;
    if (method === 'DELETE') return admin ? deleteUser(id) : hidden;
    return fail(405, `Method ${method} is not allowed here.`);
  }

  const pems = options.tls === false ? undefined : (options.tls ?? (await sandboxCertificate()));
  const server = await startSandboxServer({
    contentType: JSON_TYPE,
    // The console always pretty-prints its JSON.
    indent: 2,
    latencyMs: options.latencyMs,
    tls: pems,
    handle: ({ req, method, url, text }) => decide(method, url, text, req.headers.authorization),
  });
  origin = server.origin;

  return {
    baseUrl: origin,
    ...(pems ? { caCert: pems.cert } : {}),
    users,
    passwords,
    siteGrants,
    assetGroupGrants,
    ...sandboxControls(server, faults),
  };
}
