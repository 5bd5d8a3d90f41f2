/**
 * A built-in SCIM 2.0 service provider (RFC 7643/7644): a real HTTP server on 127.0.0.1 that
 * answers `/Users` the way a SCIM app does (Insightly's and Gainsight's SCIM surfaces, or any
 * other), with a filter subset, 1-based `startIndex`/`count` paging under a page-size cap,
 * strict PatchOp validation, a full-replacement PUT, `POST /Bulk` (RFC 7644 §3.7) within the
 * limits its `/ServiceProviderConfig` announces, and SCIM error bodies. Auth is a static
 * bearer token or an OAuth client-credentials token from a token endpoint on the same
 * server. The demo, the tests and the benchmarks point the real connector at it.
 *
 * Real services differ where the RFCs leave room, and options reproduce them: a service that
 * filters on userName only (`refuseEmailFilter`: 400 invalidFilter on `emails.value`), one
 * that takes only the path-less PatchOp form Okta sends (`patchForms: 'value-only'`), and
 * Gainsight's SCIM API, whose writes only super admins' clients may make
 * (`refuseWrites`, vendor-contracts/gainsight/README.md), with its hourly and daily windows
 * (`rateLimit`).
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import {
  type SandboxAnswer as Answer,
  basicCredentials,
  Faults,
  FixedWindows,
  isObject,
  parseJson,
  type SandboxControls,
  type SandboxFault,
  type SandboxRequestRecord,
  StaleReads,
  sandboxControls,
  seedStore,
  startSandboxServer,
} from './kit';

export const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
export const ENTERPRISE_USER_SCHEMA = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const LIST_RESPONSE = 'urn:ietf:params:scim:api:messages:2.0:ListResponse';
const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const ERROR = 'urn:ietf:params:scim:api:messages:2.0:Error';
const BULK_REQUEST = 'urn:ietf:params:scim:api:messages:2.0:BulkRequest';
const BULK_RESPONSE = 'urn:ietf:params:scim:api:messages:2.0:BulkResponse';

/** The bearer token the sandbox accepts by default. */
export const SCIM_SANDBOX_TOKEN = 'sandbox-scim-token';

/** RFC 7643 §4.1.2: one entry of `emails`. */
export interface ScimEmail {
  value: string;
  type?: string;
  primary?: boolean;
  display?: string;
}

/** RFC 7643 §3.1. */
export interface ScimMeta {
  resourceType: 'User';
  created: string;
  lastModified: string;
  /** A weak ETag, bumped on every write. */
  version: string;
}

/** A User as the sandbox stores it; `meta.location` is added when it is served. */
export interface ScimUser {
  schemas: string[];
  id: string;
  userName: string;
  active: boolean;
  emails?: ScimEmail[];
  meta: ScimMeta;
  /** Any other RFC 7643 attribute (name, title, groups, the enterprise extension, …). */
  [attribute: string]: unknown;
}

/** A user to seed: `id`, `schemas`, `active` and `meta` get defaults. */
export type ScimUserSeed = Partial<ScimUser> & { userName: string };

/** An injected answer: the next `times` requests that match get it instead of the real one. */
export interface ScimFault extends SandboxFault {
  /** Raw response text, so malformed JSON can be served. Default a SCIM error body. */
  body?: string;
  /** Query parameters the request must carry, all with these values (a `filter`, say). */
  query?: Record<string, string>;
}

/** OAuth 2.0 client credentials, served by a token endpoint on the sandbox itself. */
export interface ScimOAuthOptions {
  clientId: string;
  clientSecret: string;
  /** Default '/oauth/token' (outside the SCIM prefix, as Gainsight's `/v1/users/m2m/oauth/token` is). */
  tokenPath?: string;
  /** Token lifetime in seconds, sent as `expires_in`. Default 3600. */
  expiresIn?: number;
}

/** At most `requests` SCIM requests in each fixed window of `windowMs`. */
export interface ScimRateWindow {
  requests: number;
  windowMs: number;
}

/**
 * The PatchOp forms a service takes (RFC 7644 §3.5.2 allows both): `path` names the attribute
 * (`{"op":"replace","path":"active","value":false}`), or the value is an object of attributes
 * without a path (`{"op":"replace","value":{"active":false}}`, what Okta sends).
 */
export type ScimPatchForms = 'both' | 'value-only' | 'path-only';

/**
 * What `/Bulk` takes, as the ServiceProviderConfig announces it (RFC 7643 §5). The defaults,
 * 1,000 operations and 1 MiB (1,048,576 bytes), are RFC 7643's own example (§8.5), and what
 * SCIM gateways that take bulk requests commonly allow. Neither Insightly nor Gainsight
 * documents `/Bulk` for its SCIM API (vendor-contracts/): a sandbox standing for either
 * should say `{ supported: false }`, so that what passes here is what their services take.
 */
export interface ScimBulkOptions {
  /** False: the ServiceProviderConfig says so and `POST /Bulk` answers 501. Default true. */
  supported?: boolean;
  /** More operations in one request are refused whole with 413. Default 1000. */
  maxOperations?: number;
  /** A larger body (in bytes) is refused whole with 413. Default 1048576. */
  maxPayloadSize?: number;
}

/** How the sandbox starts and misbehaves. Every option defaults to a well-behaved server. */
export interface ScimSandboxOptions {
  /** Initial users; ids default to u1001, u1002, … Default SAMPLE_USERS. */
  users?: ReadonlyArray<ScimUserSeed>;
  /** `{ token }` (static bearer) or `{ oauth }`. Default `{ token: SCIM_SANDBOX_TOKEN }`. */
  auth?: { token: string } | { oauth: ScimOAuthOptions };
  /**
   * The most rows one page holds, whatever `count` asks (RFC 7644 §3.4.2.4: fewer than asked
   * is allowed); announced as `filter.maxResults`. Default 100.
   */
  maxPageSize?: number;
  /** `/Bulk` (see {@link ScimBulkOptions}). Default supported, 1,000 operations, 1 MiB. */
  bulk?: ScimBulkOptions;
  /**
   * Fixed windows over SCIM requests (the token endpoint is not counted): above `requests`
   * per `windowMs` in any of them, 429 without Retry-After. Gainsight: 100 an hour and 1,000
   * a day, `[{ requests: 100, windowMs: 3_600_000 }, { requests: 1000, windowMs: 86_400_000 }]`.
   * Default unlimited.
   */
  rateLimit?: ScimRateWindow | readonly ScimRateWindow[];
  /** Fixed delay before every answer, in milliseconds. Default 0. */
  latencyMs?: number;
  /** After a PATCH or PUT, the next N `GET /Users/{id}` of that user still answer the old record. */
  verifyLag?: number;
  /** Accept `filter` but answer every user, as a server that ignores it would. */
  ignoreFilter?: boolean;
  /**
   * Refuse filters on `emails` (`emails.value eq "…"`) with 400 `invalidFilter`, as a service
   * that filters on userName alone does. Default false.
   */
  refuseEmailFilter?: boolean;
  /**
   * The PatchOp forms taken (see {@link ScimPatchForms}). `value-only` refuses an operation
   * with a `path` (400 `invalidPath`); `path-only` refuses one without (400 `invalidSyntax`).
   * Default `both`.
   */
  patchForms?: ScimPatchForms;
  /**
   * Answer every write (PATCH, PUT, DELETE) with this status, as Gainsight answers an API
   * client that is not a super admin's ("Create, Update, and Patch APIs are available only to
   * super admins"). Reads still work. Default: writes are taken.
   */
  refuseWrites?: 401 | 403;
  faults?: ScimFault[];
  /** Default '/scim/v2'. */
  pathPrefix?: string;
}

/** One request as the sandbox saw it, with the status it answered. */
export interface ScimRequestRecord extends SandboxRequestRecord {
  /** The request's Content-Type header, when it had one. */
  contentType?: string;
  /** The request's If-Match header (a conditional write), when it had one. */
  ifMatch?: string;
  /** Parsed JSON (or the form fields of a token request), or the raw text; absent when empty. */
  body?: unknown;
}

/** A running sandbox. */
export interface ScimSandbox extends SandboxControls<ScimFault, ScimRequestRecord> {
  /** For example `http://127.0.0.1:PORT/scim/v2`, without a trailing slash. */
  baseUrl: string;
  /** The token endpoint's URL, in OAuth mode. */
  tokenUrl?: string;
  /** Live state: tests may read and change it between requests. */
  users: Map<string, ScimUser>;
  /** Every request, token requests included, in arrival order. */
  requests: ScimRequestRecord[];
  /** Makes every token issued so far invalid (as a server-side revocation would). */
  revokeTokens(): void;
}

const CREATED = '2023-01-16T09:30:00Z';
const UPDATED = '2024-05-02T14:12:45Z';

function completeUser(seed: ScimUserSeed, id: string): ScimUser {
  const { meta, ...rest } = seed;
  return {
    ...rest,
    schemas: seed.schemas ?? [USER_SCHEMA],
    id,
    userName: seed.userName,
    active: seed.active ?? true,
    meta: {
      resourceType: 'User',
      created: meta?.created ?? CREATED,
      lastModified: meta?.lastModified ?? meta?.created ?? CREATED,
      version: meta?.version ?? 'W/"1"',
    },
  };
}

const sampleMeta = {
  resourceType: 'User',
  created: CREATED,
  lastModified: UPDATED,
  version: 'W/"3"',
} as const;
const work = (value: string): ScimEmail[] => [{ value, type: 'work', primary: true }];

/**
 * The demo tenant. jane.doe (u1002) is the leaver, with many attributes set so a careless
 * write visibly loses them; jdoe2 (u1004) signs in with a userName that is not an email.
 */
export const SAMPLE_USERS: ReadonlyArray<Readonly<ScimUser>> = [
  {
    schemas: [USER_SCHEMA],
    id: 'u1001',
    externalId: '00u1admin',
    userName: 'admin@example.com',
    name: { formatted: 'Alex Admin', familyName: 'Admin', givenName: 'Alex' },
    displayName: 'Alex Admin',
    title: 'IT Administrator',
    emails: work('admin@example.com'),
    groups: [{ value: 'g-admins', display: 'Administrators' }],
    active: true,
    meta: sampleMeta,
  },
  {
    schemas: [USER_SCHEMA, ENTERPRISE_USER_SCHEMA],
    id: 'u1002',
    externalId: '00u1jane',
    userName: 'jane.doe@example.com',
    name: { formatted: 'Ms. Jane Q. Doe', familyName: 'Doe', givenName: 'Jane', middleName: 'Quinn' },
    displayName: 'Jane Doe',
    nickName: 'Janie',
    title: 'Senior Account Executive',
    userType: 'Employee',
    preferredLanguage: 'en-US',
    locale: 'en-US',
    timezone: 'America/Los_Angeles',
    emails: work('jane.doe@example.com'),
    phoneNumbers: [{ value: '+1 555 0100', type: 'work' }],
    groups: [
      { value: 'g-sales', display: 'Sales' },
      { value: 'g-emea', display: 'EMEA Accounts' },
    ],
    [ENTERPRISE_USER_SCHEMA]: {
      employeeNumber: '1002',
      department: 'Sales',
      manager: { value: 'u1001', displayName: 'Alex Admin' },
    },
    active: true,
    meta: sampleMeta,
  },
  {
    schemas: [USER_SCHEMA],
    id: 'u1003',
    userName: 'already.gone@example.com',
    name: { formatted: 'Gary Gone', familyName: 'Gone', givenName: 'Gary' },
    displayName: 'Gary Gone',
    emails: work('already.gone@example.com'),
    active: false,
    meta: sampleMeta,
  },
  {
    schemas: [USER_SCHEMA],
    id: 'u1004',
    externalId: '00u1jdoe2',
    userName: 'jdoe2',
    name: { formatted: 'John Doe', familyName: 'Doe', givenName: 'John' },
    displayName: 'John Doe',
    title: 'Support Engineer',
    emails: work('j.doe2@example.com'),
    active: true,
    meta: sampleMeta,
  },
  {
    schemas: [USER_SCHEMA],
    id: 'u1005',
    userName: 'marcus.lee@example.com',
    name: { formatted: 'Marcus Lee', familyName: 'Lee', givenName: 'Marcus' },
    displayName: 'Marcus Lee',
    emails: work('marcus.lee@example.com'),
    active: true,
    meta: sampleMeta,
  },
  {
    schemas: [USER_SCHEMA],
    id: 'u1006',
    userName: 'priya.natarajan@example.com',
    name: { formatted: 'Priya Natarajan', familyName: 'Natarajan', givenName: 'Priya' },
    displayName: 'Priya Natarajan',
    emails: work('priya.natarajan@example.com'),
    active: true,
    meta: sampleMeta,
  },
];

/** Attributes PATCH may set by path, and the JSON type each must have. */
const PATCHABLE: Record<string, 'string' | 'boolean' | 'array' | 'object'> = {
  userName: 'string',
  externalId: 'string',
  displayName: 'string',
  nickName: 'string',
  profileUrl: 'string',
  title: 'string',
  userType: 'string',
  preferredLanguage: 'string',
  locale: 'string',
  timezone: 'string',
  active: 'boolean',
  name: 'object',
  emails: 'array',
  phoneNumbers: 'array',
  addresses: 'array',
  [ENTERPRISE_USER_SCHEMA]: 'object',
};
const NAME_PARTS = [
  'formatted',
  'familyName',
  'givenName',
  'middleName',
  'honorificPrefix',
  'honorificSuffix',
];
/** Attributes a client cannot write (RFC 7643: `id` and `meta` are readOnly; `groups` too, managed via /Groups). */
const READ_ONLY = new Set(['id', 'meta', 'groups']);

const JSON_TYPE = 'application/scim+json';

/** RFC 7644 §3.12: `status` is a string. */
const scimError = (status: number, detail: string, scimType?: string): Answer => ({
  status,
  body: { schemas: [ERROR], ...(scimType ? { scimType } : {}), detail, status: String(status) },
});

/** Attribute names are case-insensitive in SCIM (RFC 7644 §3.10). */
function canonical(name: string, names: Iterable<string>): string | undefined {
  const lower = name.toLowerCase();
  for (const candidate of names) if (candidate.toLowerCase() === lower) return candidate;
  return undefined;
}

const FILTER = /^\s*([A-Za-z][\w$-]*(?:\.[A-Za-z][\w$-]*)?)\s+([A-Za-z]+)\s+("(?:[^"\\]|\\.)*")\s*$/;

/**
 * The filter subset the sandbox understands; anything else is named in a 400, never ignored.
 * With `refuseEmailFilter`, filters on `emails` are refused as well.
 */
function parseFilter(expression: string, refuseEmailFilter = false): ((user: ScimUser) => boolean) | Answer {
  const match = FILTER.exec(expression);
  const unsupported = () =>
    scimError(
      400,
      `Unsupported filter "${expression}". Supported: userName eq "…", emails.value eq "…", emails eq "…"`,
      'invalidFilter',
    );
  if (!match) return unsupported();
  const [, attribute = '', operator = '', literal = ''] = match;
  if (operator.toLowerCase() !== 'eq') return unsupported();
  let value: unknown;
  try {
    // The value is a JSON string (RFC 7644 §3.4.2.2): `\"` and `\\` inside are escapes.
    value = JSON.parse(literal);
  } catch {
    return scimError(400, `The filter's string ${literal} is not a valid JSON string`, 'invalidFilter');
  }
  // userName and emails.value are caseExact: false (RFC 7643 §4.1), so compare ignoring case.
  const wanted = String(value).toLowerCase();
  switch (attribute.toLowerCase()) {
    case 'username':
      return (user) => user.userName.toLowerCase() === wanted;
    case 'emails':
    case 'emails.value':
      if (refuseEmailFilter) {
        return scimError(
          400,
          `Filtering on ${attribute} is not supported. Supported: userName eq "…"`,
          'invalidFilter',
        );
      }
      return (user) => (user.emails ?? []).some((email) => email.value.toLowerCase() === wanted);
    default:
      return unsupported();
  }
}

function integerParam(query: URLSearchParams, name: string): number | undefined | Answer {
  const value = query.get(name);
  if (value === null) return undefined;
  if (!/^-?\d+$/.test(value))
    return scimError(400, `${name} must be an integer, not "${value}"`, 'invalidValue');
  return Number(value);
}

function typeOk(kind: string, value: unknown): boolean {
  if (kind === 'array') return Array.isArray(value);
  if (kind === 'object') return typeof value === 'object' && value !== null && !Array.isArray(value);
  return typeof value === kind;
}

/** Starts a sandbox on a random port of 127.0.0.1. */
export async function startScimSandbox(options: ScimSandboxOptions = {}): Promise<ScimSandbox> {
  const users = seedStore(options.users ?? SAMPLE_USERS, {
    idOf: (seed) => seed.id,
    newId: (n) => `u${n}`,
    first: 1001,
    // A copy: live state that tests change must not reach back into the seeds (SAMPLE_USERS).
    complete: (seed, id) => completeUser(structuredClone(seed), id),
    label: 'scim sandbox: duplicate id',
  });
  const auth = options.auth ?? { token: SCIM_SANDBOX_TOKEN };
  const oauth = 'oauth' in auth ? auth.oauth : undefined;
  const tokenPath = oauth ? (oauth.tokenPath ?? '/oauth/token') : undefined;
  const prefix = (options.pathPrefix ?? '/scim/v2').replace(/\/+$/, '');
  const maxPageSize = options.maxPageSize ?? 100;
  const faults = new Faults(options.faults, (status, message) => scimError(status, message).body);
  // id -> the record before the last write.
  const stale = new StaleReads<string, ScimUser>(options.verifyLag);
  /** Issued access token -> epoch ms when it expires. */
  const issued = new Map<string, number>();
  const windows = options.rateLimit === undefined ? [] : [options.rateLimit].flat();
  // On Date.now, which tests fake; a new window opens with the first request after the last
  // one ran out, not on a fixed schedule from the start.
  const limits = new FixedWindows(
    windows.map((window) => ({ limit: window.requests, windowMs: window.windowMs })),
    { now: () => Date.now(), restart: 'on-request' },
  );
  const patchForms = options.patchForms ?? 'both';
  const bulk = {
    supported: options.bulk?.supported ?? true,
    maxOperations: options.bulk?.maxOperations ?? 1000,
    maxPayloadSize: options.bulk?.maxPayloadSize ?? 1_048_576,
  };
  // Known once the server listens; every served user's meta.location carries it.
  let baseUrl = '';

  function authorized(header: string | undefined): boolean {
    const token = /^Bearer\s+(\S+)$/i.exec(header ?? '')?.[1];
    if (token === undefined) return false;
    if ('token' in auth) return token === auth.token;
    const expiresAt = issued.get(token);
    return expiresAt !== undefined && expiresAt > Date.now();
  }

  /** RFC 6749 §4.4: client credentials, the client authenticated with HTTP Basic. */
  function issueToken(req: IncomingMessage, text: string, record: ScimRequestRecord): Answer {
    const oauthError = (status: number, error: string, description: string): Answer => ({
      status,
      type: 'application/json',
      body: { error, error_description: description },
      ...(status === 401 ? { headers: { 'WWW-Authenticate': 'Basic realm="oauth"' } } : {}),
    });
    if (!oauth) return scimError(404, 'Not found');
    const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
    if (type !== 'application/x-www-form-urlencoded') {
      return oauthError(400, 'invalid_request', 'The body must be application/x-www-form-urlencoded');
    }
    const form = new URLSearchParams(text);
    record.body = Object.fromEntries(form);
    const client = basicCredentials(req.headers.authorization);
    if (client?.user !== oauth.clientId || client.password !== oauth.clientSecret) {
      return oauthError(401, 'invalid_client', 'Client authentication failed');
    }
    if (form.get('grant_type') !== 'client_credentials') {
      return oauthError(400, 'unsupported_grant_type', 'Only client_credentials is supported');
    }
    const expiresIn = oauth.expiresIn ?? 3600;
    const token = `sandbox-at-${randomBytes(12).toString('hex')}`;
    issued.set(token, Date.now() + expiresIn * 1000);
    return {
      status: 200,
      type: 'application/json',
      headers: { 'Cache-Control': 'no-store' },
      body: { access_token: token, token_type: 'Bearer', expires_in: expiresIn },
    };
  }

  const served = (user: ScimUser) => ({
    ...user,
    meta: { ...user.meta, location: `${baseUrl}/Users/${user.id}` },
  });
  const single = (user: ScimUser, status = 200): Answer => ({
    status,
    body: served(user),
    headers: { ETag: user.meta.version },
  });

  function listUsers(query: URLSearchParams): Answer {
    let predicate: (user: ScimUser) => boolean = () => true;
    const filter = query.get('filter');
    if (filter !== null && !options.ignoreFilter) {
      const parsed = parseFilter(filter, options.refuseEmailFilter);
      if (typeof parsed !== 'function') return parsed;
      predicate = parsed;
    }
    const start = integerParam(query, 'startIndex');
    if (typeof start === 'object') return start;
    const count = integerParam(query, 'count');
    if (typeof count === 'object') return count;
    // RFC 7644 §3.4.2.4: startIndex below 1 means 1, a negative count means 0; a count
    // above the server's maximum is quietly lowered, so clients must page on what came back.
    const startIndex = Math.max(1, start ?? 1);
    const size = Math.min(Math.max(0, count ?? maxPageSize), maxPageSize);
    const matching = [...users.values()].filter(predicate);
    const page = matching.slice(startIndex - 1, startIndex - 1 + size);
    return {
      status: 200,
      body: {
        schemas: [LIST_RESPONSE],
        totalResults: matching.length,
        itemsPerPage: page.length,
        startIndex,
        Resources: page.map(served),
      },
    };
  }

  function getUser(id: string): Answer {
    const user = users.get(id);
    if (!user) return scimError(404, `Resource ${id} not found`);
    return single(stale.take(id) ?? user);
  }

  function userNameTaken(userName: string, id: string): boolean {
    return [...users.values()].some(
      (other) => other.id !== id && other.userName.toLowerCase() === userName.toLowerCase(),
    );
  }

  /** Stores a write: bumps meta, keeps the old record for verifyLag. */
  function commit(before: ScimUser, after: ScimUser): Answer {
    const version = Number(/\d+/.exec(before.meta.version)?.[0] ?? '0') + 1;
    const next = {
      ...after,
      meta: { ...before.meta, lastModified: new Date().toISOString(), version: `W/"${version}"` },
    };
    users.set(next.id, next);
    stale.remember(next.id, before);
    return single(next);
  }

  /** RFC 7644 §3.5.2, strictly: the PatchOp schema, known ops, typed values, no filtered paths. */
  function patchUser(id: string, body: unknown): Answer {
    const user = users.get(id);
    if (!user) return scimError(404, `Resource ${id} not found`);
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      return scimError(400, 'The request body must be a PatchOp object', 'invalidSyntax');
    }
    const request = body as { schemas?: unknown; Operations?: unknown };
    if (!Array.isArray(request.schemas) || request.schemas.length !== 1 || request.schemas[0] !== PATCH_OP) {
      return scimError(400, `schemas must be ["${PATCH_OP}"]`, 'invalidSyntax');
    }
    if (!Array.isArray(request.Operations) || request.Operations.length === 0) {
      return scimError(400, 'Operations must be a non-empty array', 'invalidSyntax');
    }
    const next = structuredClone(user) as ScimUser & Record<string, unknown>;
    for (const operation of request.Operations as unknown[]) {
      if (typeof operation !== 'object' || operation === null) {
        return scimError(400, 'Each operation must be an object', 'invalidSyntax');
      }
      const { op, path, value } = operation as { op?: unknown; path?: unknown; value?: unknown };
      const kind = typeof op === 'string' ? op.toLowerCase() : undefined;
      if (kind !== 'add' && kind !== 'replace' && kind !== 'remove') {
        return scimError(
          400,
          `Unknown op ${JSON.stringify(op)}: use add, replace or remove`,
          'invalidSyntax',
        );
      }
      if (path !== undefined && patchForms === 'value-only') {
        return scimError(
          400,
          'This service takes PATCH operations without a path: {"op":"replace","value":{"<attribute>":…}}',
          'invalidPath',
        );
      }
      if (path === undefined) {
        if (kind === 'remove') return scimError(400, 'remove needs a path', 'noTarget');
        if (patchForms === 'path-only') return scimError(400, 'Each operation needs a path', 'invalidSyntax');
        if (typeof value !== 'object' || value === null || Array.isArray(value)) {
          return scimError(400, 'Without a path, value must be an object of attributes', 'invalidValue');
        }
        for (const [name, attributeValue] of Object.entries(value)) {
          const problem = setAttribute(next, name, attributeValue);
          if (problem) return problem;
        }
        continue;
      }
      if (typeof path !== 'string') return scimError(400, 'path must be a string', 'invalidPath');
      const problem = kind === 'remove' ? removeAttribute(next, path) : setAttribute(next, path, value);
      if (problem) return problem;
    }
    if (userNameTaken(next.userName, id))
      return scimError(409, `userName ${next.userName} is taken`, 'uniqueness');
    return commit(user, next);
  }

  function setAttribute(user: Record<string, unknown>, path: string, value: unknown): Answer | undefined {
    if (path.includes('[')) {
      return scimError(400, `The sandbox does not support value filters in paths (${path})`, 'invalidPath');
    }
    const [head = '', sub, ...more] = path.split('.');
    if (canonical(head, READ_ONLY)) return scimError(400, `${head} is read-only`, 'mutability');
    const name = canonical(head, Object.keys(PATCHABLE));
    const kind = name === undefined ? undefined : PATCHABLE[name];
    if (name === undefined || kind === undefined || more.length > 0) {
      return scimError(400, `Unknown or unsupported attribute path ${path}`, 'invalidPath');
    }
    if (sub !== undefined) {
      const part = name === 'name' ? canonical(sub, NAME_PARTS) : undefined;
      if (part === undefined) return scimError(400, `Unknown attribute path ${path}`, 'invalidPath');
      if (typeof value !== 'string') return scimError(400, `${path} must be a string`, 'invalidValue');
      user.name = { ...((user.name as object | undefined) ?? {}), [part]: value };
      return undefined;
    }
    if (!typeOk(kind, value)) {
      return scimError(400, `${name} must be a ${kind}, not ${JSON.stringify(value)}`, 'invalidValue');
    }
    if (name === 'userName' && (value as string).trim() === '') {
      return scimError(400, 'userName must not be empty', 'invalidValue');
    }
    user[name] = value;
    return undefined;
  }

  function removeAttribute(user: Record<string, unknown>, path: string): Answer | undefined {
    const name = canonical(path, Object.keys(PATCHABLE));
    if (canonical(path, READ_ONLY)) return scimError(400, `${path} is read-only`, 'mutability');
    if (name === undefined)
      return scimError(400, `Unknown or unsupported attribute path ${path}`, 'invalidPath');
    if (name === 'userName' || name === 'active') {
      return scimError(400, `${name} is required and cannot be removed`, 'mutability');
    }
    delete user[name];
    return undefined;
  }

  // RFC 7644 §3.5.1: PUT replaces the resource. Attributes the body leaves out are cleared
  // (read-only ones are kept): a client that PUTs a partial user loses data.
  function putUser(id: string, fields: unknown): Answer {
    const user = users.get(id);
    if (!user) return scimError(404, `Resource ${id} not found`);
    if (!isObject(fields)) return scimError(400, 'The request body must be a User resource', 'invalidSyntax');
    if (!Array.isArray(fields.schemas) || !fields.schemas.includes(USER_SCHEMA)) {
      return scimError(400, `schemas must include "${USER_SCHEMA}"`, 'invalidSyntax');
    }
    if (typeof fields.userName !== 'string' || fields.userName.trim() === '') {
      return scimError(400, 'userName is required', 'invalidValue');
    }
    if (fields.id !== undefined && fields.id !== id) return scimError(400, 'id cannot change', 'mutability');
    if (fields.active !== undefined && typeof fields.active !== 'boolean') {
      return scimError(400, 'active must be a boolean', 'invalidValue');
    }
    if (userNameTaken(fields.userName, id)) {
      return scimError(409, `userName ${fields.userName} is taken`, 'uniqueness');
    }
    const { id: _id, meta: _meta, groups: _groups, ...writable } = fields;
    const next: ScimUser = {
      ...writable,
      schemas: fields.schemas as string[],
      id,
      userName: fields.userName,
      // Left out, `active` is unassigned; this service reads that as active.
      active: (fields.active as boolean | undefined) ?? true,
      ...(user.groups === undefined ? {} : { groups: user.groups }),
      meta: user.meta,
    };
    return commit(user, next);
  }

  function deleteUser(id: string): Answer {
    if (!users.delete(id)) return scimError(404, `Resource ${id} not found`);
    stale.forget(id);
    return { status: 204 };
  }

  /**
   * RFC 7644 §3.7: each operation is done as its own request would be (PATCH, PUT, DELETE on
   * `/Users/{id}`), `version` standing for that request's `If-Match`, and answered in the
   * BulkResponse with its own status. Whole requests beyond `maxPayloadSize` or
   * `maxOperations` are refused with 413 (§3.7.4), before anything is done; after
   * `failOnErrors` errors, the rest is left undone and unanswered.
   */
  function bulkRequest(text: string): Answer {
    if (!bulk.supported) return scimError(501, 'Bulk operations are not supported');
    if (Buffer.byteLength(text) > bulk.maxPayloadSize) {
      return scimError(
        413,
        `The size of the bulk operation exceeds the maxPayloadSize (${bulk.maxPayloadSize}).`,
      );
    }
    const parsed = parseJson(text);
    if (!parsed.ok || !isObject(parsed.value)) {
      return scimError(400, 'The request body must be a BulkRequest object', 'invalidSyntax');
    }
    const request = parsed.value;
    if (
      !Array.isArray(request.schemas) ||
      request.schemas.length !== 1 ||
      request.schemas[0] !== BULK_REQUEST
    ) {
      return scimError(400, `schemas must be ["${BULK_REQUEST}"]`, 'invalidSyntax');
    }
    const operations = request.Operations;
    if (!Array.isArray(operations) || operations.length === 0) {
      return scimError(400, 'Operations must be a non-empty array', 'invalidSyntax');
    }
    if (operations.length > bulk.maxOperations) {
      return scimError(
        413,
        `The number of operations (${operations.length}) exceeds the maxOperations (${bulk.maxOperations}).`,
      );
    }
    const { failOnErrors } = request;
    if (failOnErrors !== undefined && !(Number.isInteger(failOnErrors) && (failOnErrors as number) >= 1)) {
      return scimError(400, 'failOnErrors must be a positive integer', 'invalidValue');
    }
    const bulkIds = operations.flatMap((operation) =>
      isObject(operation) && operation.bulkId !== undefined ? [operation.bulkId] : [],
    );
    if (new Set(bulkIds).size !== bulkIds.length) {
      return scimError(400, 'bulkId must be unique within a bulk request', 'invalidValue');
    }
    const answered: Record<string, unknown>[] = [];
    let errors = 0;
    for (const operation of operations) {
      if (failOnErrors !== undefined && errors >= (failOnErrors as number)) break;
      const result = bulkOperation(operation);
      if (Number(result.status) >= 400) errors++;
      answered.push(result);
    }
    return { status: 200, body: { schemas: [BULK_RESPONSE], Operations: answered } };
  }

  /** One operation of a bulk request, answered as RFC 7644 §3.7.3 words it. */
  function bulkOperation(operation: unknown): Record<string, unknown> {
    const given = isObject(operation) ? operation : {};
    const method = typeof given.method === 'string' ? given.method.toUpperCase() : undefined;
    const path = typeof given.path === 'string' ? given.path : undefined;
    const answer = ((): Answer => {
      if (!isObject(operation)) return scimError(400, 'Each operation must be an object', 'invalidSyntax');
      if (method !== 'POST' && method !== 'PUT' && method !== 'PATCH' && method !== 'DELETE') {
        return scimError(400, 'method must be POST, PUT, PATCH or DELETE', 'invalidSyntax');
      }
      if (path === undefined) return scimError(400, 'path is required', 'invalidPath');
      const id = /^\/Users\/([^/?#]+)$/.exec(path)?.[1];
      if (method === 'POST' || id === undefined) {
        return scimError(method === 'POST' ? 405 : 404, `${method} is not supported on ${path}`);
      }
      let userId: string;
      try {
        userId = decodeURIComponent(id);
      } catch {
        return scimError(400, `path ${path} is not a valid resource path`, 'invalidPath');
      }
      const current = users.get(userId);
      if (!current) return scimError(404, `Resource ${userId} not found`);
      // `version` is the operation's If-Match (RFC 7644 §3.7, §3.14).
      if (given.version !== undefined) {
        if (typeof given.version !== 'string')
          return scimError(400, 'version must be a string', 'invalidValue');
        if (given.version !== '*' && given.version !== current.meta.version) {
          return scimError(
            412,
            `Failed to update. Resource changed on the server (version ${current.meta.version})`,
          );
        }
      }
      if (method === 'DELETE') return deleteUser(userId);
      if (given.data === undefined) return scimError(400, `data is required for ${method}`, 'invalidSyntax');
      return method === 'PATCH' ? patchUser(userId, given.data) : putUser(userId, given.data);
    })();
    const written = answer.status < 300 && isObject(answer.body) ? answer.body : undefined;
    const version = isObject(written?.meta) ? written.meta.version : undefined;
    return {
      ...(method === undefined ? {} : { method }),
      ...(given.bulkId === undefined ? {} : { bulkId: given.bulkId }),
      ...(path === undefined ? {} : { location: `${baseUrl}${path}` }),
      ...(version === undefined ? {} : { version }),
      status: String(answer.status),
      ...(answer.status >= 400 ? { response: answer.body } : {}),
    };
  }

  function decide(
    req: IncomingMessage,
    method: string,
    url: URL,
    text: string,
    record: ScimRequestRecord,
  ): Answer {
    const isTokenRequest = tokenPath !== undefined && url.pathname === tokenPath && method === 'POST';
    // Like a gateway, the limit comes before the credential is even looked at.
    if (!isTokenRequest && !limits.admit()) return scimError(429, 'Too many requests');
    if (!isTokenRequest && !authorized(req.headers.authorization)) {
      return {
        ...scimError(401, 'Authorization failure: the bearer token is missing, unknown or expired'),
        headers: { 'WWW-Authenticate': 'Bearer realm="scim", error="invalid_token"' },
      };
    }
    const injected = faults.answer(method, url);
    if (injected) return injected;
    if (isTokenRequest) return issueToken(req, text, record);
    if (options.refuseWrites !== undefined && ['PATCH', 'PUT', 'POST', 'DELETE'].includes(method)) {
      return scimError(
        options.refuseWrites,
        'Create, Update, and Patch APIs are available only to super admins',
      );
    }
    if (url.pathname !== prefix && !url.pathname.startsWith(`${prefix}/`)) return scimError(404, 'Not found');
    const route = url.pathname.slice(prefix.length).replace(/\/+$/, '');
    if (text !== '') {
      const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
      if (type !== JSON_TYPE && type !== 'application/json') {
        return scimError(415, `Content-Type must be ${JSON_TYPE}`, 'invalidSyntax');
      }
    }
    // RFC 7644 §3.14: a write conditional on a version the user no longer has is refused.
    const ifMatch = req.headers['if-match'];
    if (typeof ifMatch === 'string') record.ifMatch = ifMatch;
    const target = /^\/Users\/([^/]+)$/.exec(route);
    if (typeof ifMatch === 'string' && target && method !== 'GET') {
      const current = users.get(decodeURIComponent(target[1] ?? ''));
      if (current && ifMatch !== '*' && ifMatch !== current.meta.version) {
        return scimError(
          412,
          `Failed to update. Resource changed on the server (version ${current.meta.version})`,
        );
      }
    }
    if (route === '/ServiceProviderConfig' && method === 'GET') {
      return {
        status: 200,
        body: {
          schemas: ['urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig'],
          patch: { supported: true },
          bulk: bulk.supported
            ? { supported: true, maxOperations: bulk.maxOperations, maxPayloadSize: bulk.maxPayloadSize }
            : { supported: false, maxOperations: 0, maxPayloadSize: 0 },
          filter: { supported: true, maxResults: maxPageSize },
          changePassword: { supported: false },
          sort: { supported: false },
          etag: { supported: true },
          authenticationSchemes: [
            oauth
              ? {
                  type: 'oauth2',
                  name: 'OAuth 2.0 client credentials',
                  description: `Token from ${tokenPath}`,
                }
              : { type: 'oauthbearertoken', name: 'Bearer token', description: 'Static bearer token' },
          ],
        },
      };
    }
    if (route === '/Users' && method === 'GET') return listUsers(url.searchParams);
    if (route === '/Bulk') {
      if (method === 'POST') return bulkRequest(text);
      return { ...scimError(405, `${method} is not allowed on ${url.pathname}`), headers: { Allow: 'POST' } };
    }
    const id = /^\/Users\/([^/]+)$/.exec(route)?.[1];
    if (id === undefined) return scimError(404, `No resource at ${url.pathname}`);
    const userId = decodeURIComponent(id);
    if (method === 'GET') return getUser(userId);
    if (method === 'DELETE') return deleteUser(userId);
    if (method === 'PATCH' || method === 'PUT') {
      const body = parseJson(text);
      if (!body.ok) return scimError(400, 'The request body is not valid JSON', 'invalidSyntax');
      return method === 'PATCH' ? patchUser(userId, body.value) : putUser(userId, body.value);
    }
    return {
      ...scimError(405, `${method} is not allowed on ${url.pathname}`),
      headers: { Allow: 'GET, PUT, PATCH, DELETE' },
    };
  }

  const server = await startSandboxServer<ScimRequestRecord>({
    contentType: JSON_TYPE,
    latencyMs: options.latencyMs,
    handle: ({ req, method, url, text, record }) => {
      if (req.headers['content-type']) record.contentType = req.headers['content-type'];
      return decide(req, method, url, text, record);
    },
  });
  baseUrl = `${server.origin}${prefix}`;

  return {
    baseUrl,
    ...(tokenPath === undefined ? {} : { tokenUrl: `${server.origin}${tokenPath}` }),
    users,
    revokeTokens: () => issued.clear(),
    ...sandboxControls(server, faults),
  };
}
