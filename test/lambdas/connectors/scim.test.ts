import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  createScimConnector,
  forgetLearnedScimBehaviour,
  PATCH_OP_SCHEMA,
  type ScimConnector,
  scimString,
} from '../../../lambdas/connectors/scim/connector';
import { type Connector, canReactivate, type UserRecord } from '../../../lambdas/connectors/types';
import type { ConnectionRef, ConnectionType, TlsOptions } from '../../../lambdas/shared/connections';
import { ERROR_NAMES } from '../../../lambdas/shared/errors';
import { runStep } from '../../../lambdas/shared/steps';
import {
  SAMPLE_USERS,
  SCIM_SANDBOX_TOKEN,
  type ScimRequestRecord,
  type ScimSandbox,
  type ScimSandboxOptions,
  type ScimUser,
  type ScimUserSeed,
  startScimSandbox,
} from '../../../sandboxes/scim';
import { verifyThroughLag } from '../../helpers/connectors';
import { rejectionOf } from '../../helpers/errors';
import { sandboxStarter } from '../../helpers/sandboxes';
import { selfSignedCertificate, startScriptedServer } from '../../helpers/servers';
import { stepEnvironment } from '../../helpers/steps';

/**
 * The SCIM connector against the built-in SCIM sandbox: a real HTTP server that answers like a
 * SCIM 2.0 service provider (filter subset with JSON-string literals, 1-based paging under a
 * page cap, strict PatchOp, a PUT that clears what it is not sent, bearer or OAuth auth) and
 * misbehaves on request.
 */

const NAME = 'scim-test';
const CLIENT = { clientId: 'offboard-m2m', clientSecret: 'client-secret-9f2c71' };

// A SCIM DELETE removes the account for good: offboarding must never send one, alone or
// as an operation of a bulk request.
const sandbox = sandboxStarter(
  startScimSandbox,
  (request) =>
    request.method === 'DELETE' ||
    (request.method === 'POST' &&
      /\/Bulk$/.test(request.path) &&
      operationsOf(request).some((operation) => String(operation.method).toUpperCase() === 'DELETE')),
);
// Registered after the sandboxes' hook, so it runs before it: real timers to close them with.
afterEach(() => {
  vi.useRealTimers();
});

/** A sandbox whose API takes OAuth client-credentials tokens from its own token endpoint. */
const oauthSandbox = (options: ScimSandboxOptions & { expiresIn?: number } = {}) =>
  sandbox({ ...options, auth: { oauth: { ...CLIENT, expiresIn: options.expiresIn ?? 3600 } } });

function connection(baseUrl: string, type: ConnectionType = 'scim'): ConnectionRef {
  return { name: NAME, type, baseUrl };
}

function connectorFor(
  box: { baseUrl: string },
  secret: unknown = { token: SCIM_SANDBOX_TOKEN },
  type: ConnectionType = 'scim',
): ScimConnector {
  return createScimConnector(connection(box.baseUrl, type), secret, undefined);
}

const oauthConnector = (box: ScimSandbox) =>
  connectorFor(box, { ...CLIENT, tokenUrl: box.tokenUrl as string });

const lookups = (box: ScimSandbox) =>
  box.requests.filter((request) => request.method === 'GET' && /\/Users$/.test(request.path));
const tokenRequests = (box: ScimSandbox) => box.requests.filter((request) => request.path === '/oauth/token');
const writes = (box: ScimSandbox) => box.requests.filter((request) => request.method !== 'GET');
const trail = (box: ScimSandbox) =>
  box.requests.map((request) => `${request.method} ${request.path} ${request.status}`);

const seed = (id: string, userName: string, extra: Partial<ScimUserSeed> = {}): ScimUserSeed => ({
  id,
  userName,
  ...extra,
});

describe('ScimConnector.lookupUser', () => {
  it('finds the user by userName, ignoring case, and asks by emails.value too', async () => {
    // Prepare
    const box = await sandbox();

    // Act
    const result = await connectorFor(box).lookupUser('JANE.DOE@Example.COM');

    // Assess
    expect(result).toEqual({ found: true, userId: 'u1002' });
    expect(lookups(box)).toHaveLength(2);
    expect(lookups(box)[0]?.path).toBe('/scim/v2/Users');
    expect(lookups(box)[0]?.query).toEqual({
      filter: 'userName eq "JANE.DOE@Example.COM"',
      startIndex: '1',
      count: '100',
    });
    expect(lookups(box)[1]?.query.filter).toBe('emails.value eq "JANE.DOE@Example.COM"');
  });

  it('answers User.Ambiguous when a second account has the address as its primary email, though the userName matched one', async () => {
    // Prepare: Jane's login account, and another whose userName is not an address but whose
    // primary email is hers (her second account, or someone else's): neither is switched off.
    const box = await sandbox({
      users: [
        seed('u1', 'jane.doe@example.com'),
        seed('u2', 'jdoe', { emails: [{ value: 'jane.doe@example.com', primary: true }] }),
      ],
    });

    // Act
    const error = await rejectionOf(connectorFor(box).lookupUser('jane.doe@example.com'));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.ambiguous);
    expect(error.message).toContain('ids u1, u2');
  });

  it('asks again by emails.value when the userName is not the email (one extra request)', async () => {
    // Prepare: u1004 signs in as "jdoe2"; its work email is j.doe2@example.com.
    const box = await sandbox();

    // Act
    const result = await connectorFor(box).lookupUser('J.Doe2@example.com');

    // Assess
    expect(result).toEqual({ found: true, userId: 'u1004' });
    expect(lookups(box).map((request) => request.query.filter)).toEqual([
      'userName eq "J.Doe2@example.com"',
      'emails.value eq "J.Doe2@example.com"',
    ]);
  });

  it('answers found: false when nobody has the email, after both queries', async () => {
    // Prepare
    const box = await sandbox();

    // Act
    const result = await connectorFor(box).lookupUser('nobody@example.com');

    // Assess
    expect(result).toEqual({ found: false });
    expect(lookups(box)).toHaveLength(2);
  });

  it('escapes a double quote and a backslash in the filter as a JSON string, and finds the user', async () => {
    // Prepare: a quoted local part may hold both characters (RFC 5321).
    const odd = String.raw`"o\"neil\\x"@example.com`;
    const box = await sandbox({ users: [seed('u1', 'admin@example.com'), seed('u2', odd)] });

    // Act
    const result = await connectorFor(box).lookupUser(odd);

    // Assess
    expect(result).toEqual({ found: true, userId: 'u2' });
    expect(lookups(box)[0]?.query.filter).toBe(String.raw`userName eq "\"o\\\"neil\\\\x\"@example.com"`);
    expect(lookups(box)[0]?.status).toBe(200);
  });

  it('refuses to choose between two users whose userNames differ only in case, and writes nothing', async () => {
    // Prepare
    const box = await sandbox({
      users: [seed('u1', 'jane.doe@example.com'), seed('u2', 'Jane.Doe@Example.com')],
    });

    // Act
    const error = await rejectionOf(connectorFor(box).lookupUser('jane.doe@example.com'));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.ambiguous);
    expect(error.message).toMatch(new RegExp(`^${NAME}: 2 users have the email jane.doe@example.com`));
    expect(error.message).toContain('u1, u2');
    expect(writes(box)).toEqual([]);
  });

  it('counts a user whose userName matches and another whose email matches as two', async () => {
    // Prepare: the server ignores the filter, so both come back on the first query.
    const box = await sandbox({
      ignoreFilter: true,
      users: [
        seed('u1', 'jane.doe@example.com'),
        seed('u2', 'jdoe', { emails: [{ value: 'JANE.DOE@example.com', type: 'work' }] }),
      ],
    });

    // Act
    const error = await rejectionOf(connectorFor(box).lookupUser('jane.doe@example.com'));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.ambiguous);
    expect(writes(box)).toEqual([]);
  });

  describe('against a server that ignores the filter', () => {
    const lookAlikes = [
      seed('u1', 'jane.doe@example.com.evil.io'),
      seed('u2', 'xjane.doe@example.com'),
      seed('u3', 'jdoe', { emails: [{ value: 'jane.doe+x@example.com' }] }),
      seed('u4', 'jane.doe@example.co', { emails: [{ value: 'jane.doe@example.co' }] }),
    ];

    it('keeps only the exact match among look-alikes, by its primary email', async () => {
      // Prepare
      const box = await sandbox({
        ignoreFilter: true,
        users: [
          ...lookAlikes,
          seed('u5', 'jd', {
            emails: [
              { value: 'jd@corp.example' },
              { value: 'Jane.Doe@Example.com', type: 'work', primary: true },
            ],
          }),
        ],
      });

      // Act
      const result = await connectorFor(box).lookupUser('jane.doe@example.com');

      // Assess
      expect(result).toEqual({ found: true, userId: 'u5' });
    });

    it('finds nobody when only look-alikes exist', async () => {
      // Prepare
      const box = await sandbox({ ignoreFilter: true, users: lookAlikes });

      // Act
      const result = await connectorFor(box).lookupUser('jane.doe@example.com');

      // Assess
      expect(result).toEqual({ found: false });
    });

    it('pages with 1-based startIndex by what each page held, and stops at totalResults', async () => {
      // Prepare: 120 users, pages capped at 50; the leaver is the 110th.
      const fillers = Array.from({ length: 120 }, (_, i) =>
        seed(`u${1000 + i}`, i === 109 ? 'Leaver@Example.com' : `user${i}@example.com`),
      );
      const box = await sandbox({ ignoreFilter: true, maxPageSize: 50, users: fillers });

      // Act
      const result = await connectorFor(box).lookupUser('leaver@example.com');

      // Assess
      expect(result).toEqual({ found: true, userId: 'u1109' });
      // Both queries (userName, then emails.value) read every page: the server ignores the filter.
      expect(lookups(box).map((request) => request.query.startIndex)).toEqual([
        '1',
        '51',
        '101',
        '1',
        '51',
        '101',
      ]);
      expect(lookups(box).every((request) => request.query.count === '100')).toBe(true);
    });

    it('gives up with Vendor.BadResponse after 200 pages instead of paging forever', async () => {
      // Prepare: one user a page, 205 users, nobody matches.
      const users = Array.from({ length: 205 }, (_, i) => seed(`u${i}`, `user${i}@example.com`));
      const box = await sandbox({ ignoreFilter: true, maxPageSize: 1, users });

      // Act
      const error = await rejectionOf(connectorFor(box).lookupUser('leaver@example.com'));

      // Assess
      expect(error.name).toBe(ERROR_NAMES.badResponse);
      expect(error.message).toMatch(new RegExp(`^${NAME}: look up leaver@example.com: more than 200 pages`));
      expect(lookups(box)).toHaveLength(200);
    });
  });

  it('stops with Vendor.BadResponse when a server ignores startIndex and repeats its first page', async () => {
    // Prepare: every list answer is the same page of one user out of a claimed 1000.
    const page = JSON.stringify({
      schemas: ['urn:ietf:params:scim:api:messages:2.0:ListResponse'],
      totalResults: 1000,
      Resources: [{ id: 'u9', userName: 'someone@example.com', active: true }],
    });
    const box = await sandbox({
      faults: [{ method: 'GET', path: /\/Users$/, status: 200, times: 10, body: page }],
    });

    // Act
    const error = await rejectionOf(connectorFor(box).lookupUser('jane.doe@example.com'));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.badResponse);
    expect(error.message).toContain('ignore startIndex');
    expect(lookups(box)).toHaveLength(2);
  });

  it.each([
    ['malformed JSON', '{"totalResults": 1, "Resources": ['],
    ['no totalResults', '{"Resources": []}'],
    [
      'a user without id',
      '{"totalResults": 1, "Resources": [{"userName": "jane.doe@example.com", "active": true}]}',
    ],
    ['a bare array', '[{"id": "u1002", "userName": "jane.doe@example.com", "active": true}]'],
  ])('answers Vendor.BadResponse to a 200 with %s', async (_case, body) => {
    // Prepare
    const box = await sandbox({ faults: [{ method: 'GET', path: /\/Users$/, status: 200, times: 1, body }] });

    // Act
    const error = await rejectionOf(connectorFor(box).lookupUser('jane.doe@example.com'));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.badResponse);
    expect(error.message).toMatch(new RegExp(`^${NAME}: look up jane.doe@example.com: `));
  });
});

describe('scimString', () => {
  it.each([
    ['jane@example.com', '"jane@example.com"'],
    ['o"neil@example.com', String.raw`"o\"neil@example.com"`],
    [String.raw`back\slash@example.com`, String.raw`"back\\slash@example.com"`],
  ])('quotes %s as %s', (value, literal) => {
    // Act
    const result = scimString(value);

    // Assess
    expect(result).toBe(literal);
  });
});

describe('ScimConnector.getUser', () => {
  it('returns the whole resource as served, every attribute kept', async () => {
    // Prepare
    const box = await sandbox();

    // Act
    const record = await connectorFor(box).getUser('u1002');

    // Assess
    const jane = SAMPLE_USERS[1] as ScimUser;
    expect(record).toEqual({
      id: 'u1002',
      email: 'jane.doe@example.com',
      emails: ['jane.doe@example.com'],
      active: true,
      fields: { ...jane, meta: { ...jane.meta, location: `${box.baseUrl}/Users/u1002` } },
      // meta.version: the deactivation's PATCH is conditional on it (If-Match).
      version: jane.meta.version,
    });
  });

  it.each([
    [
      'the userName when it is an email',
      seed('u1', 'Pat@Example.com', { emails: [{ value: 'p@x.example' }] }),
      'Pat@Example.com',
    ],
    [
      'else the primary email',
      seed('u1', 'pat', { emails: [{ value: 'home@x.example' }, { value: 'pat@x.example', primary: true }] }),
      'pat@x.example',
    ],
    ['else the only email', seed('u1', 'pat', { emails: [{ value: 'only@x.example' }] }), 'only@x.example'],
    [
      'else nothing, when several are listed and none is primary',
      seed('u1', 'pat', { emails: [{ value: 'first@x.example' }, { value: 'b@x.example' }] }),
      '',
    ],
    ['else nothing', seed('u1', 'pat'), ''],
  ])('gives as the record email %s', async (_case, user, email) => {
    // Prepare
    const box = await sandbox({ users: [user] });

    // Act
    const record = await connectorFor(box).getUser('u1');

    // Assess
    expect(record.email).toBe(email);
  });

  it('never takes a secondary address for the person: the lookup asks for a review, nobody is switched off', async () => {
    // Prepare: Sam's account lists the leaver's old address as a secondary one (Sam receives
    // the leaver's mail). The leaver has no account of their own here.
    const sam = seed('u1', 'sam', {
      emails: [
        { value: 'sam@example.com', type: 'work', primary: true },
        { value: 'pat.old@legacy.example', type: 'other' },
      ],
    });
    const box = await sandbox({ users: [sam] });
    const connector = connectorFor(box);

    // Act
    const lookup = await rejectionOf(connector.lookupUser('Pat.Old@legacy.example'));
    const record = await connector.getUser('u1');
    const step = await rejectionOf(
      runStep(
        { step: 'getRecord', connection: { name: NAME }, email: 'Pat.Old@legacy.example', userId: 'u1' },
        createScimConnector,
        stepEnvironment(connection(box.baseUrl), { token: SCIM_SANDBOX_TOKEN }),
      ),
    );

    // Assess
    expect(lookup.name).toBe(ERROR_NAMES.needsReview);
    expect(lookup.message).toContain('u1');
    expect(record.email).toBe('sam@example.com');
    expect(record.emails).toEqual(['sam@example.com']);
    expect(step.name).toBe(ERROR_NAMES.mismatch);
    expect(writes(box)).toEqual([]);
  });

  it('takes the only email a user lists as its own', async () => {
    const box = await sandbox({ users: [seed('u1', 'pat', { emails: [{ value: 'Pat@Example.com' }] })] });
    expect(await connectorFor(box).lookupUser('pat@example.com')).toEqual({ found: true, userId: 'u1' });
  });

  it('escapes the id in the path', async () => {
    // Prepare
    const box = await sandbox({ users: [seed('a/b c', 'pat@example.com')] });

    // Act
    const record = await connectorFor(box).getUser('a/b c');

    // Assess
    expect(record.id).toBe('a/b c');
    expect(box.requests[0]?.path).toBe('/scim/v2/Users/a%2Fb%20c');
  });

  it('answers Vendor.BadRequest with the SCIM detail when the user does not exist (HTTP 404)', async () => {
    // Prepare
    const box = await sandbox();

    // Act
    const error = await rejectionOf(connectorFor(box).getUser('u999'));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.badRequest);
    expect(error.message).toBe(
      `${NAME}: get user u999: HTTP 404 (Resource u999 not found): no such user, or the token may not see it`,
    );
  });

  it('offers no protection check: a bearer token is not a user', () => {
    // Act
    const connector: Connector = connectorFor({ baseUrl: 'https://scim.example.com/scim/v2' });

    // Assess
    expect(connector.protectedReason).toBeUndefined();
  });
});

describe('ScimConnector.deactivateUser', () => {
  it('sends one PatchOp replacing active with false, as application/scim+json, and nothing else changes', async () => {
    // Prepare
    const box = await sandbox();
    const connector = connectorFor(box);
    const before = structuredClone(box.users.get('u1002') as ScimUser);
    const record = await connector.getUser('u1002');

    // Act
    await connector.deactivateUser(record);

    // Assess
    expect(writes(box)).toHaveLength(1);
    const patch = writes(box)[0];
    expect(patch?.method).toBe('PATCH');
    expect(patch?.path).toBe('/scim/v2/Users/u1002');
    expect(patch?.contentType).toBe('application/scim+json');
    expect(patch?.body).toEqual({
      schemas: [PATCH_OP_SCHEMA],
      Operations: [{ op: 'replace', path: 'active', value: false }],
    });
    expect(patch?.status).toBe(200);
    const { active, meta, ...after } = box.users.get('u1002') as ScimUser;
    const { active: _active, meta: _meta, ...kept } = before;
    expect(active).toBe(false);
    expect(after).toEqual(kept);
    expect(meta.created).toBe(before.meta.created);
  });

  it('makes the PATCH conditional on the version read: a user changed since is refused by the service, nothing written', async () => {
    // Prepare: read, then a colleague edits the user (its version moves on).
    const box = await sandbox();
    const connector = connectorFor(box);
    const record = await connector.getUser('u1002');
    const jane = box.users.get('u1002') as ScimUser;
    box.users.set('u1002', {
      ...jane,
      title: 'Head of Sales',
      meta: { ...jane.meta, version: 'W/"9"' },
    } as ScimUser);

    // Act
    const error = await rejectionOf(connector.deactivateUser(record));

    // Assess
    expect(writes(box)[0]?.ifMatch).toBe(record.version);
    expect(error.name).toBe(ERROR_NAMES.recordChanged);
    expect(box.users.get('u1002')?.active).toBe(true);
    expect((box.users.get('u1002') as ScimUser & { title?: string }).title).toBe('Head of Sales');
  });

  it('puts the SCIM scimType and detail of a refusal in the message', async () => {
    // Prepare
    const box = await sandbox({
      faults: [
        {
          method: 'PATCH',
          status: 400,
          times: 1,
          body: JSON.stringify({
            schemas: ['urn:ietf:params:scim:api:messages:2.0:Error'],
            scimType: 'invalidValue',
            detail: 'Attribute active is not writable for federated users',
            status: '400',
          }),
        },
      ],
    });
    const connector = connectorFor(box);
    const record = await connector.getUser('u1002');

    // Act
    const error = await rejectionOf(connector.deactivateUser(record));

    // Assess: a refusal of the change itself, not of how it is written: no second form
    expect(error.name).toBe(ERROR_NAMES.badRequest);
    expect(error.message).toBe(
      `${NAME}: deactivate user u1002: HTTP 400 (invalidValue: Attribute active is not writable for federated users)`,
    );
    expect(writes(box)).toHaveLength(1);
    expect(box.users.get('u1002')?.active).toBe(true);
  });

  it('says the user may be gone when the PATCH answers 404', async () => {
    // Prepare: read, then someone else removes the user before the write.
    const box = await sandbox();
    const connector = connectorFor(box);
    const record = await connector.getUser('u1002');
    box.users.delete('u1002');

    // Act
    const error = await rejectionOf(connector.deactivateUser(record));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.badRequest);
    expect(error.message).toMatch(/HTTP 404 \(Resource u1002 not found\): the user no longer exists/);
  });
});

describe('ScimConnector.verifyDeactivated', () => {
  it('answers Vendor.NotYetApplied while reads still show the user active, then resolves', async () => {
    // Prepare
    const box = await sandbox({ verifyLag: 2 });

    // Act
    const { first, second, third } = await verifyThroughLag(connectorFor(box), 'u1002');

    // Assess
    expect(first.name).toBe(ERROR_NAMES.notYetApplied);
    expect(first.retryable).toBe(true);
    expect(first.message).toBe(`${NAME}: verify user u1002: still active after the PATCH`);
    expect(second.name).toBe(ERROR_NAMES.notYetApplied);
    expect(third).toMatchObject({ id: 'u1002', active: false });
    const reads = box.requests.filter(
      (request) => request.method === 'GET' && request.path === '/scim/v2/Users/u1002',
    );
    expect(reads).toHaveLength(4);
  });
});

/** Reads the user, switches it off and confirms it, as an offboarding run does; the read is the ledger's before-state. */
async function offboarded(connector: ScimConnector, userId = 'u1002'): Promise<UserRecord> {
  const before = await connector.getUser(userId);
  await connector.deactivateUser(before);
  await connector.verifyDeactivated(userId);
  return before;
}

/** The requests sent from `from` on, as `METHOD path`. */
const sentSince = (box: ScimSandbox, from: number) =>
  box.requests.slice(from).map((request) => `${request.method} ${request.path}`);

/** A user without `meta`, which the service keeps itself (lastModified and version move on every write). */
const withoutMeta = ({ meta: _meta, ...user }: Record<string, unknown>) => user;

describe('ScimConnector.reactivateUser', () => {
  it.each(['scim', 'insightly-scim', 'gainsight-scim'] as const)(
    '%s: PATCHes active back to true, and the account is exactly as before, with one GET and one PATCH',
    async (type) => {
      // Prepare
      const box = await sandbox();
      const connector = connectorFor(box, { token: SCIM_SANDBOX_TOKEN }, type);
      const before = await offboarded(connector);
      const from = box.requests.length;

      // Act
      await connector.reactivateUser(before);

      // Assess
      expect(canReactivate(connector)).toBe(true);
      expect(sentSince(box, from)).toEqual(['GET /scim/v2/Users/u1002', 'PATCH /scim/v2/Users/u1002']);
      expect(box.requests.at(-1)?.body).toEqual({
        schemas: [PATCH_OP_SCHEMA],
        Operations: [{ op: 'replace', path: 'active', value: true }],
      });
      const now = await connector.getUser('u1002');
      expect(withoutMeta(now.fields)).toEqual(withoutMeta(before.fields));
      expect(withoutMeta(box.users.get('u1002') as ScimUser)).toEqual(
        withoutMeta(SAMPLE_USERS[1] as ScimUser),
      );
      expect(now.active).toBe(true);
    },
  );

  it('checks an account whose userName is not an address by its primary email', async () => {
    // Prepare: jdoe2 (u1004) is known by j.doe2@example.com
    const box = await sandbox();
    const connector = connectorFor(box);
    const before = await offboarded(connector, 'u1004');

    // Act
    await connector.reactivateUser(before);

    // Assess
    expect(box.users.get('u1004')?.active).toBe(true);
  });

  it('refuses, writing nothing, when the id now holds someone with another email', async () => {
    // Prepare: Jane's id was given to a new hire, who is switched off.
    const box = await sandbox();
    const connector = connectorFor(box);
    const before = await offboarded(connector);
    const off = box.users.get('u1002') as ScimUser;
    const newHire: ScimUser = {
      ...off,
      userName: 'nora.new@example.com',
      emails: [{ value: 'nora.new@example.com', type: 'work', primary: true }],
    };
    box.users.set('u1002', newHire);
    const from = box.requests.length;

    // Act
    const error = await rejectionOf(connector.reactivateUser(before));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.badRequest);
    expect(error.message).toMatch(new RegExp(`^${NAME}: reactivate user u1002: `));
    expect(error.message).toContain('nora.new@example.com, not jane.doe@example.com');
    expect(sentSince(box, from)).toEqual(['GET /scim/v2/Users/u1002']);
    expect(box.users.get('u1002')).toEqual(newHire);
  });

  it('takes the same email in another case as the same account', async () => {
    // Prepare
    const box = await sandbox();
    const connector = connectorFor(box);
    const before = await offboarded(connector);
    const off = box.users.get('u1002') as ScimUser;
    box.users.set('u1002', { ...off, userName: 'Jane.Doe@Example.COM' });

    // Act
    await connector.reactivateUser(before);

    // Assess
    expect(box.users.get('u1002')?.active).toBe(true);
  });

  it.each([
    ['names another user', (user: ScimUser) => ({ ...user, id: 'u1005' }), 'is user u1005, not u1002'],
    [
      'was already inactive',
      (user: ScimUser) => ({ ...user, active: false }),
      'already inactive before the offboarding',
    ],
    ['is not a SCIM user', ({ userName: _name, ...user }: ScimUser) => user, 'not a SCIM user'],
  ])('refuses a before-state that %s, without sending anything', async (_case, change, words) => {
    // Prepare
    const box = await sandbox();
    const before: UserRecord = {
      id: 'u1002',
      email: 'jane.doe@example.com',
      active: true,
      fields: change(structuredClone(SAMPLE_USERS[1] as ScimUser)),
    };

    // Act
    const error = await rejectionOf(connectorFor(box).reactivateUser(before));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.badRequest);
    expect(error.message).toContain(words);
    expect(box.requests).toEqual([]);
  });
});

describe('ScimConnector.verifyReactivated', () => {
  it('answers Vendor.NotYetApplied while reads still show the user inactive, then resolves', async () => {
    // Prepare: reads answer the record before each write twice more.
    const box = await sandbox({ verifyLag: 2 });
    const connector = connectorFor(box);
    const before = await connector.getUser('u1002');
    await connector.deactivateUser(before);
    await connector.reactivateUser(before);

    // Act
    const first = await rejectionOf(connector.verifyReactivated('u1002'));
    const second = await rejectionOf(connector.verifyReactivated('u1002'));
    const third = await connector.verifyReactivated('u1002');

    // Assess
    expect(first.name).toBe(ERROR_NAMES.notYetApplied);
    expect(first.retryable).toBe(true);
    expect(first.message).toBe(`${NAME}: verify user u1002: still inactive after the PATCH`);
    expect(second.name).toBe(ERROR_NAMES.notYetApplied);
    expect(third).toMatchObject({ id: 'u1002', email: 'jane.doe@example.com', active: true });
  });
});

describe('ScimConnector with OAuth client credentials', () => {
  it('fetches one token with a Basic-authenticated form request and reuses it across connectors', async () => {
    // Prepare
    const box = await oauthSandbox();

    // Act: each Lambda step builds a new connector; the warm container keeps the token.
    const found = await oauthConnector(box).lookupUser('jane.doe@example.com');
    const record = await oauthConnector(box).getUser('u1002');

    // Assess
    expect(found).toEqual({ found: true, userId: 'u1002' });
    expect(record.id).toBe('u1002');
    expect(tokenRequests(box)).toHaveLength(1);
    expect(tokenRequests(box)[0]).toMatchObject({
      method: 'POST',
      contentType: 'application/x-www-form-urlencoded',
      body: { grant_type: 'client_credentials' },
      status: 200,
    });
    expect(box.requests.every((request) => request.status === 200)).toBe(true);
  });

  it('keeps the token until expires_in minus a margin, then fetches a new one before the server refuses it', async () => {
    // Prepare
    vi.useFakeTimers({ toFake: ['Date'] });
    const start = Date.now();
    const box = await oauthSandbox({ expiresIn: 3600 });
    await oauthConnector(box).lookupUser('jane.doe@example.com');

    // Act
    vi.setSystemTime(start + 3000_000);
    await oauthConnector(box).getUser('u1002');
    const afterReuse = tokenRequests(box).length;
    vi.setSystemTime(start + 3545_000);
    await oauthConnector(box).getUser('u1002');

    // Assess
    expect(afterReuse).toBe(1);
    expect(tokenRequests(box)).toHaveLength(2);
    expect(box.requests.filter((request) => request.status === 401)).toEqual([]);
  });

  it('drops a cached token the API refuses (401), fetches a new one once and repeats the request', async () => {
    // Prepare
    const box = await oauthSandbox();
    await oauthConnector(box).lookupUser('jane.doe@example.com');
    box.revokeTokens();
    const connector = oauthConnector(box);

    // Act
    const record = await connector.getUser('u1002');

    // Assess
    expect(record.id).toBe('u1002');
    expect(trail(box)).toEqual([
      'POST /oauth/token 200',
      'GET /scim/v2/Users 200',
      'GET /scim/v2/Users 200',
      'GET /scim/v2/Users/u1002 401',
      'POST /oauth/token 200',
      'GET /scim/v2/Users/u1002 200',
    ]);
    expect(connector.requestCount).toBe(3);
  });

  it('answers Vendor.AuthFailed when the renewed token is refused too, without asking a third time', async () => {
    // Prepare
    const box = await oauthSandbox();
    await oauthConnector(box).lookupUser('jane.doe@example.com');
    box.addFault({ path: /\/Users\/u1002$/, status: 401, times: 5 });

    // Act
    const error = await rejectionOf(oauthConnector(box).getUser('u1002'));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.authFailed);
    expect(error.message).toMatch(new RegExp(`^${NAME}: get user u1002: HTTP 401`));
    expect(tokenRequests(box)).toHaveLength(2);
    expect(box.requests.filter((request) => request.path === '/scim/v2/Users/u1002')).toHaveLength(2);
  });

  it('does not renew a token it has just fetched when the API refuses it', async () => {
    // Prepare
    const box = await oauthSandbox({ faults: [{ path: /\/Users$/, status: 401, times: 5 }] });

    // Act
    const error = await rejectionOf(oauthConnector(box).lookupUser('jane.doe@example.com'));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.authFailed);
    expect(trail(box)).toEqual(['POST /oauth/token 200', 'GET /scim/v2/Users 401']);
  });

  it('answers Vendor.AuthFailed to a wrong client secret without putting it in the message', async () => {
    // Prepare
    const box = await oauthSandbox();
    const wrong = 'wrong-secret-5d1e';

    // Act
    const error = await rejectionOf(
      connectorFor(box, { ...CLIENT, clientSecret: wrong, tokenUrl: box.tokenUrl }).lookupUser(
        'jane.doe@example.com',
      ),
    );

    // Assess
    expect(error.name).toBe(ERROR_NAMES.authFailed);
    expect(error.message).toBe(`${NAME}: get an OAuth access token: HTTP 401 (Client authentication failed)`);
    expect(error.message).not.toContain(wrong);
    expect(lookups(box)).toEqual([]);
  });

  it.each([
    ['invalid_client', ERROR_NAMES.authFailed],
    ['unsupported_grant_type', ERROR_NAMES.badRequest],
  ])('maps a token endpoint 400 with %s to %s', async (code, name) => {
    // Prepare
    const body = JSON.stringify({ error: code, error_description: 'refused' });
    const box = await oauthSandbox({ faults: [{ path: /^\/oauth\/token$/, status: 400, times: 1, body }] });

    // Act
    const error = await rejectionOf(oauthConnector(box).lookupUser('jane.doe@example.com'));

    // Assess
    expect(error.name).toBe(name);
    expect(error.message).toMatch(
      new RegExp(`^${NAME}: get an OAuth access token: HTTP 400 \\(${code}: refused\\)`),
    );
  });

  it('answers Vendor.BadResponse when the token answer has no access_token', async () => {
    // Prepare
    const box = await oauthSandbox({
      faults: [{ path: /^\/oauth\/token$/, status: 200, times: 1, body: '{"result":true,"data":{}}' }],
    });

    // Act
    const error = await rejectionOf(oauthConnector(box).lookupUser('jane.doe@example.com'));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.badResponse);
    expect(error.message).toContain('no access_token (keys: result, data)');
  });
});

describe('ScimConnector errors', () => {
  it('answers Vendor.AuthFailed to a wrong static token, once, without the token in the message', async () => {
    // Prepare
    const box = await sandbox();
    const wrong = 'wrong-token-7f3a9c';

    // Act
    const error = await rejectionOf(connectorFor(box, { token: wrong }).lookupUser('jane.doe@example.com'));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.authFailed);
    expect(error.message).toMatch(
      new RegExp(`^${NAME}: look up jane.doe@example.com: HTTP 401 \\(Authorization failure`),
    );
    expect(error.message).not.toContain(wrong);
    expect(box.requests).toHaveLength(1);
  });

  it.each([
    ['scim', ERROR_NAMES.rateLimited],
    ['insightly-scim', ERROR_NAMES.rateLimited],
    ['gainsight-scim', ERROR_NAMES.rateLimitedHourly],
  ] as const)('answers a %s 429 with %s, retryable', async (type, name) => {
    // Prepare: two requests an hour; the lookup's two queries spend them.
    const box = await sandbox({ rateLimit: { requests: 2, windowMs: 3_600_000 } });
    const connector = connectorFor(box, { token: SCIM_SANDBOX_TOKEN }, type);
    await connector.lookupUser('jane.doe@example.com');

    // Act
    const error = await rejectionOf(connector.getUser('u1002'));

    // Assess
    expect(error.name).toBe(name);
    expect(error.retryable).toBe(true);
    expect(error.message).toMatch(new RegExp(`^${NAME}: get user u1002: HTTP 429 \\(Too many requests\\)`));
    expect(box.counts().throttled).toBe(1);
  });

  it('says why a Gainsight 429 waits for the hour', async () => {
    // Prepare
    const box = await sandbox({ faults: [{ status: 429, times: 1 }] });

    // Act
    const error = await rejectionOf(
      connectorFor(box, { token: SCIM_SANDBOX_TOKEN }, 'gainsight-scim').lookupUser('jane.doe@example.com'),
    );

    // Assess
    expect(error.message).toContain('100 user-management requests an hour');
  });

  it('answers Vendor.RateLimitedHourly when a Gainsight token endpoint answers 429', async () => {
    // Prepare
    const box = await oauthSandbox({ faults: [{ path: /^\/oauth\/token$/, status: 429, times: 1 }] });

    // Act
    const error = await rejectionOf(
      connectorFor(box, { ...CLIENT, tokenUrl: box.tokenUrl }, 'gainsight-scim').lookupUser(
        'jane.doe@example.com',
      ),
    );

    // Assess
    expect(error.name).toBe(ERROR_NAMES.rateLimitedHourly);
  });

  it('puts scimType and detail of a refused lookup in the message', async () => {
    // Prepare
    const body = JSON.stringify({
      schemas: ['urn:ietf:params:scim:api:messages:2.0:Error'],
      scimType: 'invalidFilter',
      detail: 'The specified filter syntax was invalid',
      status: '400',
    });
    const box = await sandbox({ faults: [{ path: /\/Users$/, status: 400, times: 1, body }] });

    // Act
    const error = await rejectionOf(connectorFor(box).lookupUser('jane.doe@example.com'));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.badRequest);
    expect(error.message).toBe(
      `${NAME}: look up jane.doe@example.com: HTTP 400 (invalidFilter: The specified filter syntax was invalid)`,
    );
  });

  it.each([500, 503])('answers Vendor.Unavailable to HTTP %i', async (status) => {
    // Prepare
    const box = await sandbox({ faults: [{ status, times: 1 }] });

    // Act
    const error = await rejectionOf(connectorFor(box).lookupUser('jane.doe@example.com'));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.unavailable);
    expect(error.retryable).toBe(true);
    expect(error.message).toBe(
      `${NAME}: look up jane.doe@example.com: HTTP ${status} (Sandbox fault: HTTP ${status})`,
    );
  });
});

describe('createScimConnector', () => {
  it.each([
    ['no fields', {}, '{"clientId"'],
    ['an empty token', { token: '' }, 'token: token is empty'],
    [
      'client credentials without a secret',
      { clientId: 'c', tokenUrl: 'https://t.example/token' },
      'clientSecret',
    ],
    [
      'a plain-http token URL',
      { clientId: 'c', clientSecret: 'shh-1b7d', tokenUrl: 'http://t.example/token' },
      'tokenUrl: must use https',
    ],
    ['no JSON object', 'k', '{"clientId"'],
  ])(
    'answers Config.Invalid to a secret with %s, naming the problem but never a value',
    (_case, secret, problem) => {
      // Act
      const act = () => createScimConnector(connection('https://scim.example.com/scim/v2'), secret);

      // Assess
      expect(act).toThrow(expect.objectContaining({ name: ERROR_NAMES.config }));
      expect(act).toThrow(new RegExp(`^${NAME}: the SCIM secret must be JSON like \\{"token"`));
      expect(act).toThrow(problem);
      expect(act).not.toThrow('shh-1b7d');
    },
  );

  it('names the vendor preset in the message', () => {
    // Act
    const act = () =>
      createScimConnector(connection('https://api.insightly.com/scim/v2', 'insightly-scim'), { apiKey: 'k' });

    // Assess
    expect(act).toThrow(
      `${NAME}: the Insightly SCIM secret must be JSON like {"token":"<SCIM bearer token>"}`,
    );
  });

  it('refuses a connection of another type', () => {
    // Act
    const otherType = () => createScimConnector(connection('https://x.example', 'insightly'), { token: 't' });

    // Assess
    expect(otherType).toThrow(expect.objectContaining({ name: ERROR_NAMES.config }));
  });

  it('honours connection.tls: reaches a self-signed HTTPS service only when told not to verify', async () => {
    // Prepare: an on-prem style service with a self-signed certificate, answering jane to any lookup.
    const jane = { id: 'u1', userName: 'jane.doe@example.com', active: true };
    const server = await startScriptedServer(
      () => ({
        status: 200,
        headers: { 'content-type': 'application/scim+json' },
        body: JSON.stringify({ totalResults: 1, Resources: [jane] }),
      }),
      await selfSignedCertificate(),
    );
    const baseUrl = `${server.baseUrl}/scim/v2`;
    const lookup = (tls?: TlsOptions) =>
      createScimConnector({ ...connection(baseUrl), tls }, { token: 't' }).lookupUser('jane.doe@example.com');

    try {
      // Act
      const verified = await rejectionOf(lookup());
      const unverified = await lookup({ rejectUnauthorized: false });

      // Assess
      expect(verified.name).toBe(ERROR_NAMES.config);
      expect(unverified).toEqual({ found: true, userId: 'u1' });
    } finally {
      await server.close();
    }
  });
});

describe('ScimConnector against services that differ where the RFCs leave room', () => {
  // What a service taught the connector is kept per connection for the process: each story
  // meets its service for the first time.
  afterEach(() => {
    forgetLearnedScimBehaviour();
  });

  const scimError = (scimType: string | undefined, detail: string) =>
    JSON.stringify({
      schemas: ['urn:ietf:params:scim:api:messages:2.0:Error'],
      ...(scimType ? { scimType } : {}),
      detail,
      status: '400',
    });
  const patches = (box: ScimSandbox) => box.requests.filter((request) => request.method === 'PATCH');

  it('answers not found, not a failure, when the service cannot filter on emails (400 invalidFilter), having read the users itself', async () => {
    // Prepare
    const box = await sandbox({ refuseEmailFilter: true });

    // Act
    const first = await connectorFor(box).lookupUser('nobody@example.com');
    const second = await connectorFor(box).lookupUser('someone.else@example.com');

    // Assess: the refusal is learned; the next lookup asks by userName, then reads the users
    expect(first).toEqual({ found: false });
    expect(second).toEqual({ found: false });
    expect(lookups(box).map((request) => [request.query.filter, request.status])).toEqual([
      ['userName eq "nobody@example.com"', 200],
      ['emails.value eq "nobody@example.com"', 400],
      [undefined, 200],
      ['userName eq "someone.else@example.com"', 200],
      [undefined, 200],
    ]);
  });

  it('never misses someone whose userName is not their address on such a service: found through the users it lists', async () => {
    // Prepare: Pat's userName is an employee number; the primary email is the address asked.
    const box = await sandbox({
      refuseEmailFilter: true,
      users: [seed('u1', 'E-1042', { emails: [{ value: 'pat@example.com', primary: true }] })],
    });
    // Act
    const result = await connectorFor(box).lookupUser('pat@example.com');
    // Assess
    expect(result).toEqual({ found: true, userId: 'u1' });
  });

  it('still finds by userName on such a service', async () => {
    const box = await sandbox({ refuseEmailFilter: true });
    await expect(connectorFor(box).lookupUser('jane.doe@example.com')).resolves.toEqual({
      found: true,
      userId: 'u1002',
    });
  });

  it('keeps any other 400 to the email search an error', async () => {
    // Prepare
    const box = await sandbox({
      faults: [
        {
          path: /\/Users$/,
          query: { filter: 'emails.value eq "nobody@example.com"' },
          status: 400,
          times: 1,
          body: scimError('tooMany', 'The filter matches too many users'),
        },
      ],
    });

    // Act
    const error = await rejectionOf(connectorFor(box).lookupUser('nobody@example.com'));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.badRequest);
    expect(error.message).toBe(
      `${NAME}: look up nobody@example.com: HTTP 400 (tooMany: The filter matches too many users)`,
    );
  });

  it('sends Okta\'s path-less form once when the service refuses path: "active", keeps If-Match, and says which form it took', async () => {
    // Prepare
    const box = await sandbox({ patchForms: 'value-only' });
    const connector = connectorFor(box);
    const record = await connector.getUser('u1002');

    // Act
    await connector.deactivateUser(record);

    // Assess
    expect(patches(box).map((request) => [request.status, request.ifMatch, request.body])).toEqual([
      [
        400,
        record.version,
        { schemas: [PATCH_OP_SCHEMA], Operations: [{ op: 'replace', path: 'active', value: false }] },
      ],
      [
        200,
        record.version,
        { schemas: [PATCH_OP_SCHEMA], Operations: [{ op: 'replace', value: { active: false } }] },
      ],
    ]);
    expect(box.users.get('u1002')?.active).toBe(false);
    expect(connector.lastWrite).toEqual({
      patchForm: 'value',
      note: expect.stringMatching(
        /^the service refused the PatchOp \{"op":"replace","path":"active",…\} \(HTTP 400 \(invalidPath: This service takes PATCH operations without a path.*\)\) and took \{"op":"replace","value":\{"active":…\}\}/,
      ),
    });
  });

  it('records, with the step that wrote, which form the service took', async () => {
    // Prepare
    forgetLearnedScimBehaviour();
    const box = await sandbox({ patchForms: 'value-only' });
    const env = stepEnvironment(connection(box.baseUrl), { token: SCIM_SANDBOX_TOKEN });
    const base = { connection: { name: NAME }, email: 'jane.doe@example.com' };
    const record = await runStep({ ...base, step: 'getRecord', userId: 'u1002' }, createScimConnector, env);
    // Act
    const result = await runStep({ ...base, step: 'deactivate', record }, createScimConnector, env);
    // Assess
    expect(result).toMatchObject({
      written: true,
      note: expect.stringContaining('took {"op":"replace","value"'),
    });
  });

  it('sends the form the service took first from then on, the reactivation included', async () => {
    // Prepare: one deactivation taught the connection its service's form
    const box = await sandbox({ patchForms: 'value-only' });
    const before = await offboarded(connectorFor(box));
    const from = box.requests.length;

    // Act: the next step's connector (a warm Lambda builds one per step)
    const connector = connectorFor(box);
    await connector.reactivateUser(before);

    // Assess
    expect(sentSince(box, from)).toEqual(['GET /scim/v2/Users/u1002', 'PATCH /scim/v2/Users/u1002']);
    expect(box.requests.at(-1)?.body).toEqual({
      schemas: [PATCH_OP_SCHEMA],
      Operations: [{ op: 'replace', value: { active: true } }],
    });
    expect(box.users.get('u1002')?.active).toBe(true);
    expect(connector.lastWrite).toEqual({ patchForm: 'value' });
  });

  it('says so when the service refuses both forms, and nothing is written', async () => {
    // Prepare: a refusal without scimType, twice
    const refusal = {
      method: 'PATCH',
      status: 400,
      times: 2,
      body: scimError(undefined, 'Bad PATCH request'),
    };
    const box = await sandbox({ faults: [refusal] });
    const connector = connectorFor(box);
    const record = await connector.getUser('u1002');

    // Act
    const error = await rejectionOf(connector.deactivateUser(record));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.badRequest);
    expect(error.message).toBe(
      `${NAME}: deactivate user u1002: HTTP 400 (Bad PATCH request) to the PatchOp {"op":"replace","value":{"active":…}}, ` +
        'after HTTP 400 (Bad PATCH request) to {"op":"replace","path":"active",…}: the service takes neither form; nothing was written',
    );
    expect(patches(box)).toHaveLength(2);
    expect(box.users.get('u1002')?.active).toBe(true);
  });

  it('switches the account off through the deactivate step on a service that takes only the path-less form', async () => {
    // Prepare
    const box = await sandbox({ patchForms: 'value-only' });
    const env = stepEnvironment(connection(box.baseUrl), { token: SCIM_SANDBOX_TOKEN });
    const common = { connection: { name: NAME }, email: 'jane.doe@example.com' };
    const record = await runStep({ step: 'getRecord', ...common, userId: 'u1002' }, createScimConnector, env);

    // Act
    const result = await runStep({ step: 'deactivate', ...common, record }, createScimConnector, env);

    // Assess
    expect(result).toMatchObject({ userId: 'u1002', written: true, person: false });
    expect(box.users.get('u1002')?.active).toBe(false);
  });

  it.each([
    [401, 'OAuth client credentials', true],
    [403, 'a static token', false],
  ] as const)(
    'tells a Gainsight SCIM PATCH answered %i (%s) that only super admins may write through SCIM',
    async (status, _auth, oauth) => {
      // Prepare
      const box = oauth
        ? await oauthSandbox({ refuseWrites: status })
        : await sandbox({ refuseWrites: status });
      const secret = oauth ? { ...CLIENT, tokenUrl: box.tokenUrl as string } : { token: SCIM_SANDBOX_TOKEN };
      const connector = connectorFor(box, secret, 'gainsight-scim');
      const record = await connector.getUser('u1002');

      // Act
      const error = await rejectionOf(connector.deactivateUser(record));

      // Assess
      expect(error.name).toBe(ERROR_NAMES.authFailed);
      expect(error.message).toMatch(
        new RegExp(
          `^${NAME}: deactivate user u1002: HTTP ${status} \\(Create, Update, and Patch APIs are available only to super admins\\): ` +
            "Gainsight lets only super admins' API clients write through SCIM",
        ),
      );
      expect(box.users.get('u1002')?.active).toBe(true);
    },
  );

  it('gives no Gainsight hint to another SCIM service that refuses a write', async () => {
    const box = await sandbox({ refuseWrites: 403 });
    const connector = connectorFor(box);
    const error = await rejectionOf(connector.deactivateUser(await connector.getUser('u1002')));
    expect(error.name).toBe(ERROR_NAMES.authFailed);
    expect(error.message).not.toContain('Gainsight');
  });
});

/** The requests a connector sent to `/Bulk`, with the operations each carried. */
const bulkRequests = (box: ScimSandbox) =>
  box.requests.filter((request) => request.method === 'POST' && /\/Bulk$/.test(request.path));
const operationsOf = (request: ScimRequestRecord | undefined) =>
  ((request?.body as { Operations?: Record<string, unknown>[] } | undefined)?.Operations ?? []) as Record<
    string,
    unknown
  >[];
const configReads = (box: ScimSandbox) =>
  box.requests.filter((request) => request.path.endsWith('/ServiceProviderConfig'));
const listResponse = (totalResults: number, users: Partial<ScimUser>[]) =>
  JSON.stringify({
    schemas: ['urn:ietf:params:scim:api:messages:2.0:ListResponse'],
    totalResults,
    Resources: users.map((user) => ({ active: true, ...user })),
  });
const people = (count: number, extra: (i: number) => Partial<ScimUserSeed> = () => ({})) =>
  Array.from({ length: count }, (_, i) => seed(`p${i + 1}`, `person${i + 1}@example.com`, extra(i)));

describe('ScimConnector.readDirectory', () => {
  it('reads every user in pages of the filter.maxResults the service announces, each as getUser reads it', async () => {
    // Prepare: 250 users; the service holds at most 100 a page and says so.
    const box = await sandbox({ maxPageSize: 100, users: people(250) });
    const connector = connectorFor(box);

    // Act
    const users = await connector.readDirectory();

    // Assess
    expect(users).toHaveLength(250);
    expect(users[249]).toEqual(await connector.getUser('p250'));
    expect(connector.directoryComplete).toBe(true);
    expect(lookups(box).map((request) => request.query)).toEqual([
      { startIndex: '1', count: '100' },
      { startIndex: '101', count: '100' },
      { startIndex: '201', count: '100' },
    ]);
    expect(configReads(box)).toHaveLength(1);
  });

  it('pages by what came back when the service answers fewer than its ServiceProviderConfig said', async () => {
    // Prepare: the config claims 1,000 a page; the service gives 100.
    const config = JSON.stringify({
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig'],
      filter: { supported: true, maxResults: 1000 },
    });
    const box = await sandbox({
      maxPageSize: 100,
      users: people(250),
      faults: [{ method: 'GET', path: /\/ServiceProviderConfig$/, status: 200, times: 1, body: config }],
    });

    const connector = connectorFor(box);

    // Act
    const before = connector.directoryPageSize;
    const users = await connector.readDirectory();

    // Assess: a bulk run weighs another read of the list by the pages it really holds
    expect(users.map((user) => user.id)).toEqual(people(250).map((user) => user.id));
    expect([before, connector.directoryPageSize]).toEqual([undefined, 100]);
    expect(lookups(box).map((request) => [request.query.startIndex, request.query.count])).toEqual([
      ['1', '1000'],
      ['101', '1000'],
      ['201', '1000'],
    ]);
  });

  it('asks 1,000 a page of a service without a ServiceProviderConfig (404)', async () => {
    // Prepare
    const box = await sandbox({
      maxPageSize: 1000,
      users: people(1500),
      faults: [{ method: 'GET', path: /\/ServiceProviderConfig$/, status: 404, times: 1 }],
    });

    // Act
    const users = await connectorFor(box).readDirectory();

    // Assess
    expect(users).toHaveLength(1500);
    expect(lookups(box).map((request) => request.query.count)).toEqual(['1000', '1000']);
  });

  it('never asks more than 1,000 a page, whatever maxResults says', async () => {
    // Prepare
    const box = await sandbox({ maxPageSize: 5000, users: people(1200) });

    // Act
    await connectorFor(box).readDirectory();

    // Assess
    expect(lookups(box).map((request) => request.query.count)).toEqual(['1000', '1000']);
  });

  it('gives the addresses a user lists besides its own as secondaryEmails, and none for others', async () => {
    // Prepare
    const box = await sandbox({
      users: [
        seed('u1', 'sam', {
          emails: [
            { value: 'sam@example.com', primary: true },
            { value: 'pat.old@legacy.example', type: 'other' },
          ],
        }),
        seed('u2', 'ann@example.com', { emails: [{ value: 'ann@example.com', primary: true }] }),
      ],
    });

    // Act
    const [sam, ann] = await connectorFor(box).readDirectory();

    // Assess
    expect(sam).toMatchObject({ email: 'sam@example.com', secondaryEmails: ['pat.old@legacy.example'] });
    expect(ann?.secondaryEmails).toBeUndefined();
  });

  it('refuses a list whose page comes back empty before totalResults: nobody would be found past it', async () => {
    // Prepare: the second page is lost on the server's side.
    const box = await sandbox({
      maxPageSize: 2,
      users: people(5),
      faults: [
        {
          method: 'GET',
          path: /\/Users$/,
          query: { startIndex: '3' },
          status: 200,
          times: 1,
          body: listResponse(5, []),
        },
      ],
    });

    // Act
    const error = await rejectionOf(connectorFor(box).readDirectory());

    // Assess
    expect(error.name).toBe(ERROR_NAMES.badResponse);
    expect(error.message).toBe(
      `${NAME}: read the user list: the page at startIndex 3 is empty, though totalResults is 5: the list cannot be read whole`,
    );
  });

  it('refuses a server that ignores startIndex, without reading forever', async () => {
    // Prepare
    const page = listResponse(1000, [{ id: 'u9', userName: 'someone@example.com' }]);
    const box = await sandbox({
      faults: [{ method: 'GET', path: /\/Users$/, status: 200, times: 10, body: page }],
    });

    // Act
    const error = await rejectionOf(connectorFor(box).readDirectory());

    // Assess
    expect(error.name).toBe(ERROR_NAMES.badResponse);
    expect(error.message).toContain('ignore startIndex');
    expect(lookups(box)).toHaveLength(2);
  });

  it('reads the list again when someone joined while it was read, and gives it whole', async () => {
    // Prepare: a user is created right after the first page was served.
    const box = await sandbox({ maxPageSize: 2, users: people(4) });
    box.afterAnswer({
      method: 'GET',
      path: /\/Users$/,
      times: 1,
      act: () => {
        box.users.set('p0', { ...(box.users.get('p1') as ScimUser), id: 'p0', userName: 'new@example.com' });
      },
    });

    // Act
    const users = await connectorFor(box).readDirectory();

    // Assess: the second page said 5 users, not 4: the list was read again, from the start
    expect(users.map((user) => user.id).sort()).toEqual(['p0', 'p1', 'p2', 'p3', 'p4']);
    expect(lookups(box).map((request) => request.query.startIndex)).toEqual(['1', '3', '1', '3', '5']);
  });

  it('refuses with Vendor.Unavailable (retried later) a list that keeps changing while it is read', async () => {
    // Prepare: someone joins after every page.
    const box = await sandbox({ maxPageSize: 2, users: people(4) });
    let n = 100;
    box.afterAnswer({
      method: 'GET',
      path: /\/Users$/,
      times: 10,
      act: () => {
        n++;
        box.users.set(`p${n}`, {
          ...(box.users.get('p1') as ScimUser),
          id: `p${n}`,
          userName: `n${n}@example.com`,
        });
      },
    });

    // Act
    const error = await rejectionOf(connectorFor(box).readDirectory());

    // Assess
    expect(error.name).toBe(ERROR_NAMES.unavailable);
    expect(error.message).toMatch(
      /totalResults went from \d+ to \d+ .*changed while it was read.*nothing was changed/,
    );
    expect(lookups(box)).toHaveLength(4);
  });

  it('refuses pages that hold fewer users than totalResults says', async () => {
    // Prepare: every answer lists the same user twice and claims 2 users.
    const box = await sandbox({
      faults: [
        {
          method: 'GET',
          path: /\/Users$/,
          status: 200,
          times: 4,
          body: listResponse(2, [
            { id: 'u1', userName: 'a@example.com' },
            { id: 'u1', userName: 'a@example.com' },
          ]),
        },
      ],
    });

    // Act
    const error = await rejectionOf(connectorFor(box).readDirectory());

    // Assess: read twice, then refused as the other vendors' lists are (retried later)
    expect(error.name).toBe(ERROR_NAMES.unavailable);
    expect(error.message).toContain('the pages held 1 different users, though totalResults is 2');
  });
});

describe('ScimConnector.batchLimit', () => {
  it("is the service's bulk.maxOperations, read once from its ServiceProviderConfig", async () => {
    // Prepare
    const box = await sandbox({ bulk: { maxOperations: 100 } });
    const connector = connectorFor(box);

    // Act
    const first = await connector.batchLimit();
    const second = await connector.batchLimit();
    await connector.readDirectory();

    // Assess
    expect([first, second]).toEqual([100, 100]);
    expect(configReads(box)).toHaveLength(1);
  });

  it.each([
    ['says bulk.supported false', { bulk: { supported: false } }],
    [
      'has no ServiceProviderConfig (404)',
      { faults: [{ method: 'GET', path: /\/ServiceProviderConfig$/, status: 404, times: 1 }] },
    ],
  ] as [string, ScimSandboxOptions][])('is 1 for a service that %s', async (_case, options) => {
    // Prepare
    const box = await sandbox(options);

    // Act
    const limit = await connectorFor(box).batchLimit();

    // Assess
    expect(limit).toBe(1);
  });

  it('is lowered so that a full batch fits in bulk.maxPayloadSize, and such a batch is taken', async () => {
    // Prepare: 1,000 operations allowed, but only 20 kB; ids as long as UUIDs.
    const uuids = people(200, (i) => ({ id: `5c0e7a4e-1b1d-4a55-9a57-${String(i).padStart(12, '0')}` }));
    const box = await sandbox({
      bulk: { maxOperations: 1000, maxPayloadSize: 20_000 },
      users: uuids,
      maxPageSize: 1000,
    });
    const connector = connectorFor(box);
    const users = await connector.readDirectory();

    // Act
    const limit = await connector.batchLimit();
    const results = await connector.deactivateUsers(users.slice(0, limit));

    // Assess
    expect(limit).toBeGreaterThan(10);
    expect(limit).toBeLessThan(100);
    expect(results.every((result) => result.ok)).toBe(true);
    expect(bulkRequests(box)[0]?.status).toBe(200);
  });
});

describe('ScimConnector.deactivateUsers', () => {
  afterEach(() => {
    forgetLearnedScimBehaviour();
  });

  it("switches 250 users off in 3 bulk requests of at most the service's 100 operations", async () => {
    // Prepare: what a bulk run does: read the directory, ask the limit, send chunks of it.
    const box = await sandbox({ bulk: { maxOperations: 100 }, maxPageSize: 1000, users: people(250) });
    const connector = connectorFor(box);
    const records = await connector.readDirectory();
    const limit = await connector.batchLimit();

    // Act
    const results = [];
    for (let at = 0; at < records.length; at += limit) {
      results.push(...(await connector.deactivateUsers(records.slice(at, at + limit))));
    }

    // Assess
    expect(results).toHaveLength(250);
    expect(results.every((result) => result.ok)).toBe(true);
    expect([...box.users.values()].every((user) => !user.active)).toBe(true);
    expect(bulkRequests(box).map((request) => operationsOf(request).length)).toEqual([100, 100, 50]);
    expect(writes(box)).toEqual(bulkRequests(box));
    expect(operationsOf(bulkRequests(box)[0])[0]).toEqual({
      method: 'PATCH',
      bulkId: 'offboard-1',
      path: '/Users/p1',
      version: 'W/"1"',
      data: { schemas: [PATCH_OP_SCHEMA], Operations: [{ op: 'replace', path: 'active', value: false }] },
    });
    expect(bulkRequests(box)[0]?.body).toMatchObject({
      schemas: ['urn:ietf:params:scim:api:messages:2.0:BulkRequest'],
      failOnErrors: 100,
    });
    expect(bulkRequests(box)[0]?.contentType).toBe('application/scim+json');
  });

  it('refuses more users than batchLimit with Input.Invalid, sending nothing', async () => {
    // Prepare
    const box = await sandbox({ bulk: { maxOperations: 100 }, maxPageSize: 1000, users: people(101) });
    const connector = connectorFor(box);
    const records = await connector.readDirectory();

    // Act
    const error = await rejectionOf(connector.deactivateUsers(records));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.invalidInput);
    expect(error.message).toBe(
      `${NAME}: deactivate 101 users in one bulk request: the service takes at most 100 operations a bulk request (batchLimit); nothing was sent: send at most 100 at a time`,
    );
    expect(writes(box)).toEqual([]);
  });

  it('does not send a user whose operation would take the request past bulk.maxPayloadSize, and sends the rest', async () => {
    // Prepare: an id far longer than any batchLimit allows room for.
    const box = await sandbox({ bulk: { maxOperations: 10, maxPayloadSize: 2_000 } });
    const connector = connectorFor(box);
    const jane = await connector.getUser('u1002');
    const odd = { ...jane, id: 'x'.repeat(3_000) };

    // Act
    const results = await connector.deactivateUsers([jane, odd]);

    // Assess
    expect(results[0]).toEqual({ id: 'u1002', ok: true });
    expect(results[1]).toMatchObject({ ok: false, error: { name: ERROR_NAMES.badRequest } });
    expect(!results[1]?.ok && results[1]?.error.message).toContain(
      "not sent: with it the bulk request would exceed the service's bulk.maxPayloadSize of 2000 bytes",
    );
    expect(operationsOf(bulkRequests(box)[0]).map((operation) => operation.path)).toEqual(['/Users/u1002']);
  });

  it('refuses the same user twice in a batch, sending nothing', async () => {
    // Prepare
    const box = await sandbox();
    const connector = connectorFor(box);
    const jane = await connector.getUser('u1002');

    // Act
    const error = await rejectionOf(connector.deactivateUsers([jane, jane]));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.invalidInput);
    expect(error.message).toContain('user u1002 is in the batch more than once');
    expect(writes(box)).toEqual([]);
  });

  it('answers Record.Changed for the one user edited since it was read, and writes the others', async () => {
    // Prepare: the directory is read, then a colleague edits Marcus (u1005).
    const box = await sandbox();
    const connector = connectorFor(box);
    const records = (await connector.readDirectory()).filter((record) => record.active);
    const marcus = box.users.get('u1005') as ScimUser;
    box.users.set('u1005', { ...marcus, title: 'Team Lead', meta: { ...marcus.meta, version: 'W/"7"' } });

    // Act
    const results = await connector.deactivateUsers(records);

    // Assess
    const failed = results.filter((result) => !result.ok);
    expect(failed.map((result) => [result.id, !result.ok && result.error.name])).toEqual([
      ['u1005', ERROR_NAMES.recordChanged],
    ]);
    expect(!failed[0]?.ok && failed[0]?.error.message).toMatch(
      /^scim-test: deactivate user u1005: HTTP 412 \(Failed to update\. Resource changed on the server \(version W\/"7"\)\) in the bulk request: the user changed since it was read \(version W\/"3"\); nothing was written$/,
    );
    expect(box.users.get('u1005')?.active).toBe(true);
    expect(results.filter((result) => result.ok).map((result) => result.id)).toEqual([
      'u1001',
      'u1002',
      'u1004',
      'u1006',
    ]);
    expect(['u1001', 'u1002', 'u1004', 'u1006'].map((id) => box.users.get(id)?.active)).toEqual([
      false,
      false,
      false,
      false,
    ]);
    expect(bulkRequests(box)).toHaveLength(1);
  });

  it('answers for a user gone since it was read, by itself', async () => {
    // Prepare
    const box = await sandbox();
    const connector = connectorFor(box);
    const records = [await connector.getUser('u1002'), await connector.getUser('u1005')];
    box.users.delete('u1002');

    // Act
    const results = await connector.deactivateUsers(records);

    // Assess
    expect(results[0]).toMatchObject({ id: 'u1002', ok: false, error: { name: ERROR_NAMES.badRequest } });
    expect(!results[0]?.ok && results[0]?.error.message).toContain('the user no longer exists');
    expect(results[1]).toEqual({ id: 'u1005', ok: true });
  });

  it('leaves a user whose PatchOp form the service refuses to the single write, which learns the form for the next batch', async () => {
    // Prepare: a service that takes only the path-less form Okta sends.
    const box = await sandbox({ patchForms: 'value-only' });
    const connector = connectorFor(box);
    const [jane, marcus, priya] = await Promise.all(
      ['u1002', 'u1005', 'u1006'].map((id) => connector.getUser(id)),
    );

    // Act
    const [first] = await connector.deactivateUsers([jane as UserRecord]);
    await connector.deactivateUser(jane as UserRecord);
    const next = await connector.deactivateUsers([marcus as UserRecord, priya as UserRecord]);

    // Assess
    expect(first).toMatchObject({ id: 'u1002', ok: false, error: { name: ERROR_NAMES.badRequest } });
    expect(!first?.ok && first?.error.message).toContain('deactivate this user on its own');
    expect(next).toEqual([
      { id: 'u1005', ok: true },
      { id: 'u1006', ok: true },
    ]);
    expect(operationsOf(bulkRequests(box)[1])[0]?.data).toEqual({
      schemas: [PATCH_OP_SCHEMA],
      Operations: [{ op: 'replace', value: { active: false } }],
    });
    expect(['u1002', 'u1005', 'u1006'].map((id) => box.users.get(id)?.active)).toEqual([false, false, false]);
  });

  it('matches answers by location when the service does not echo bulkId, and says which operation went unanswered', async () => {
    // Prepare: the answer names u1005 by location only and says nothing of u1002.
    const box = await sandbox({
      faults: [
        {
          method: 'POST',
          path: /\/Bulk$/,
          status: 200,
          times: 1,
          body: JSON.stringify({
            schemas: ['urn:ietf:params:scim:api:messages:2.0:BulkResponse'],
            Operations: [
              { method: 'PATCH', location: 'https://scim.example.com/scim/v2/Users/u1005', status: '204' },
            ],
          }),
        },
      ],
    });
    const connector = connectorFor(box);
    const records = [await connector.getUser('u1002'), await connector.getUser('u1005')];

    // Act
    const results = await connector.deactivateUsers(records);

    // Assess
    expect(results[1]).toEqual({ id: 'u1005', ok: true });
    expect(results[0]).toMatchObject({ id: 'u1002', ok: false, error: { name: ERROR_NAMES.badResponse } });
    expect(!results[0]?.ok && results[0]?.error.message).toBe(
      `${NAME}: deactivate user u1002: the bulk response says nothing of this operation; it may or may not have been written: read the user again`,
    );
  });

  it.each([
    [429, ERROR_NAMES.rateLimited],
    [503, ERROR_NAMES.unavailable],
  ])('throws when the whole request is answered %s, as a single write does', async (status, name) => {
    // Prepare
    const box = await sandbox({ faults: [{ method: 'POST', path: /\/Bulk$/, status, times: 1 }] });
    const connector = connectorFor(box);
    const records = [await connector.getUser('u1002')];

    // Act
    const error = await rejectionOf(connector.deactivateUsers(records));

    // Assess
    expect(error.name).toBe(name);
    expect(box.users.get('u1002')?.active).toBe(true);
  });

  it('stops batching when /Bulk refuses what its ServiceProviderConfig allowed (413): batchLimit is then 1', async () => {
    // Prepare
    const box = await sandbox({ faults: [{ method: 'POST', path: /\/Bulk$/, status: 413, times: 1 }] });
    const connector = connectorFor(box);
    const records = [await connector.getUser('u1002'), await connector.getUser('u1005')];

    // Act
    const error = await rejectionOf(connector.deactivateUsers(records));
    const limit = await connector.batchLimit();

    // Assess
    expect(error.name).toBe(ERROR_NAMES.badRequest);
    expect(error.message).toMatch(
      /^scim-test: deactivate 2 users in one bulk request: HTTP 413 .*nothing was written/,
    );
    expect(limit).toBe(1);
  });

  it('refuses a batch for a service without /Bulk, sending nothing', async () => {
    // Prepare
    const box = await sandbox({ bulk: { supported: false } });
    const connector = connectorFor(box);
    const records = [await connector.getUser('u1002')];

    // Act
    const error = await rejectionOf(connector.deactivateUsers(records));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.invalidInput);
    expect(error.message).toContain('the service offers no /Bulk');
    expect(writes(box)).toEqual([]);
  });

  it("gives Gainsight's hint when the bulk request is refused to a client that is not a super admin's", async () => {
    // Prepare
    const box = await sandbox({ refuseWrites: 403 });
    const connector = connectorFor(box, { token: SCIM_SANDBOX_TOKEN }, 'gainsight-scim');
    const records = [await connector.getUser('u1002')];

    // Act
    const error = await rejectionOf(connector.deactivateUsers(records));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.authFailed);
    expect(error.message).toContain("Gainsight lets only super admins' API clients write through SCIM");
  });
});
