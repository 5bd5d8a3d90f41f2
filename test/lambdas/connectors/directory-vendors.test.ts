import { describe, expect, it } from 'vitest';
import {
  createInsightlyConnector,
  INSIGHTLY_PAGE_SIZE,
  type InsightlyConnector,
} from '../../../lambdas/connectors/insightly/connector';
import {
  ASSET_GROUP_GRANTS_FIELD,
  createRapid7InsightvmConnector,
  INSIGHTVM_PAGE_SIZE,
  type Rapid7InsightvmConnector,
  SITE_GRANTS_FIELD,
} from '../../../lambdas/connectors/rapid7-insightvm/connector';
import {
  createRapid7PlatformConnector,
  PLATFORM_PAGE_SIZE,
  type Rapid7PlatformConnector,
} from '../../../lambdas/connectors/rapid7-platform/connector';
import type { DirectoryConnector, LookupResult, UserRecord } from '../../../lambdas/connectors/types';
import { findInDirectory } from '../../../lambdas/shared/directory';
import { ERROR_NAMES } from '../../../lambdas/shared/errors';
import { type InsightlySandboxOptions, startInsightlySandbox } from '../../../sandboxes/insightly';
import {
  type InsightvmSandbox,
  type InsightvmSandboxOptions,
  type InsightvmUserSeed,
  RAPID7_INSIGHTVM_SANDBOX_PASSWORD,
  RAPID7_INSIGHTVM_SANDBOX_USERNAME,
  startRapid7InsightvmSandbox,
} from '../../../sandboxes/rapid7-insightvm';
import {
  RAPID7_PLATFORM_SANDBOX_KEY,
  type Rapid7PlatformSandboxOptions,
  startRapid7PlatformSandbox,
} from '../../../sandboxes/rapid7-platform';
import { rejectionOf } from '../../helpers/errors';
import { sandboxStarter } from '../../helpers/sandboxes';

/**
 * Bulk runs and the audit read each vendor's user list once (`readDirectory`) and match
 * everyone against it (`findInDirectory`), instead of one lookup a person. For Insightly,
 * InsightVM and the Insight Platform, against their sandboxes: the directory answers every
 * address exactly as a lookup does, costs the pages of one read of the list, and never hands
 * back part of the users.
 */

const NAME = 'directory-test';
/** What the bulk run sees for one address: the lookup's answer, or the name of its error. */
type Answer = LookupResult | { error: string };

// Every connector here only reads: nothing may be written, let alone deleted.
const insightly = sandboxStarter(startInsightlySandbox, (request) => request.method !== 'GET');
const insightvm = sandboxStarter(startRapid7InsightvmSandbox, (request) => request.method !== 'GET');
const platform = sandboxStarter(startRapid7PlatformSandbox, (request) => request.method !== 'GET');

async function answerOf(ask: () => Promise<LookupResult> | LookupResult): Promise<Answer> {
  try {
    return await ask();
  } catch (error) {
    return { error: (error as Error).name };
  }
}

/**
 * For each address: what `lookupUser` answers, what `findInDirectory` over one
 * `readDirectory` answers, and what the test expects both to answer.
 */
async function bothWays(connector: DirectoryConnector, expected: ReadonlyArray<[string, Answer]>) {
  const directory = await connector.readDirectory();
  const rows = [];
  for (const [email, wanted] of expected) {
    rows.push({
      email,
      lookup: await answerOf(() => connector.lookupUser(email)),
      directory: await answerOf(() => findInDirectory(NAME, directory, email)),
      wanted,
    });
  }
  return { directory, rows };
}

/** `getUser` of every record the directory holds, by id. */
async function readOneByOne(connector: DirectoryConnector, directory: readonly UserRecord[]) {
  return Promise.all(directory.map((record) => connector.getUser(record.id)));
}

const found = (userId: string | number): Answer => ({ found: true, userId: String(userId) });
const notFound: Answer = { found: false };
const ambiguous: Answer = { error: ERROR_NAMES.ambiguous };

// ── Insightly ──

const insightlyConnector = (box: { baseUrl: string }): InsightlyConnector =>
  createInsightlyConnector(
    { name: NAME, type: 'insightly', baseUrl: box.baseUrl },
    { apiKey: 'sandbox-api-key' },
  );

/** The API key's owner first (the sandbox gives it the key), then the people the story needs. */
const INSIGHTLY_USERS = [
  { USER_ID: 1001, EMAIL_ADDRESS: 'admin@example.com', ADMINISTRATOR: true, ACCOUNT_OWNER: true },
  { USER_ID: 1002, EMAIL_ADDRESS: 'jane.doe@example.com', FIRST_NAME: 'Jane', PROFILE_ID: 7 },
  { USER_ID: 1003, EMAIL_ADDRESS: 'jane.doe+crm@example.com' },
  { USER_ID: 1004, EMAIL_ADDRESS: 'Case.Variant@Example.COM' },
  { USER_ID: 1005, EMAIL_ADDRESS: 'shared@example.com' },
  { USER_ID: 1006, EMAIL_ADDRESS: 'shared@example.com' },
  { USER_ID: 1007, EMAIL_ADDRESS: 'already.gone@example.com', ACTIVE: false },
];
const INSIGHTLY_ANSWERS: ReadonlyArray<[string, Answer]> = [
  ['jane.doe@example.com', found(1002)],
  ['JANE.DOE@example.com', found(1002)],
  ['case.variant@example.com', found(1004)],
  ['shared@example.com', ambiguous],
  ['already.gone@example.com', found(1007)],
  ['nobody@example.com', notFound],
  ['jane.doe@example.co', notFound],
];

/** `count` users, the API key's owner first. */
const insightlyTenant = (count: number) => [
  { USER_ID: 1001, EMAIL_ADDRESS: 'admin@example.com', ADMINISTRATOR: true },
  ...Array.from({ length: count - 1 }, (_, i) => ({
    USER_ID: 2000 + i,
    EMAIL_ADDRESS: `user${i}@example.com`,
  })),
];

describe('Insightly: readDirectory', () => {
  it.each<[string, InsightlySandboxOptions]>([
    ['as Insightly documents it', {}],
    ['with a search that compares case-sensitively', { caseSensitiveSearch: true }],
    [
      'that pages 100 rows whatever top says, and counts no total',
      { maxPageSize: 100, omitCountTotal: true },
    ],
    ["in the seed guide's OData dialect", { dialect: 'odata' }],
  ])('answers every address as lookupUser does, on a server %s', async (_server, options) => {
    // Prepare
    const box = await insightly({ users: INSIGHTLY_USERS, ...options });
    const connector = insightlyConnector(box);

    // Act
    const { directory, rows } = await bothWays(connector, INSIGHTLY_ANSWERS);

    // Assess
    for (const row of rows) expect(row.directory, row.email).toEqual(row.lookup);
    for (const row of rows) expect(row.lookup, row.email).toEqual(row.wanted);
    expect(directory).toHaveLength(INSIGHTLY_USERS.length);
  });

  it('holds every record exactly as getUser reads it, so a write may be planned from it', async () => {
    // Prepare
    const box = await insightly({ users: INSIGHTLY_USERS });
    const connector = insightlyConnector(box);

    // Act
    const directory = await connector.readDirectory();

    // Assess
    expect(connector.directoryComplete).toBe(true);
    expect(directory).toEqual(await readOneByOne(connector, directory));
    expect(directory.find((record) => record.id === '1007')?.active).toBe(false);
  });

  it('reads 5,000 users in 10 pages of 500 (11 where only an empty page ends the list), where 10 lookups cost 60', async () => {
    // Prepare: five of the ten people have an account; a lookup that finds nobody by search
    // reads the whole list to be sure (case may differ).
    const users = insightlyTenant(5000);
    const people = [
      ...[10, 1200, 2500, 3700, 4990].map((i) => `user${i}@example.com`),
      ...[1, 2, 3, 4, 5].map((i) => `left${i}@example.com`),
    ];
    const counted = await insightly({ users });
    const uncounted = await insightly({ users, omitCountTotal: true });

    // Act
    const once = insightlyConnector(counted);
    const directory = await once.readDirectory();
    const withoutTotal = insightlyConnector(uncounted);
    await withoutTotal.readDirectory();
    const oneByOne = insightlyConnector(counted);
    for (const email of people) await oneByOne.lookupUser(email);

    // Assess
    expect(directory).toHaveLength(5000);
    expect(once.requestCount).toBe(Math.ceil(5000 / INSIGHTLY_PAGE_SIZE));
    expect(withoutTotal.requestCount).toBe(Math.ceil(5000 / INSIGHTLY_PAGE_SIZE) + 1);
    expect(
      counted.requests.slice(0, 10).map((request) => [request.path, request.query.skip, request.query.top]),
    ).toEqual(Array.from({ length: 10 }, (_, page) => ['/v3.1/Users', String(page * 500), '500']));
    expect(oneByOne.requestCount).toBe(5 * 1 + 5 * (1 + 10));
  });

  it('throws, rather than answer part of the users, on a server that ignores skip', async () => {
    // Prepare: the first page is all a server that ignores skip (and $skip) ever shows.
    const box = await insightly({ users: insightlyTenant(1200), ignoreSkip: true, maxPageSize: 100 });

    // Act
    const error = await rejectionOf(insightlyConnector(box).readDirectory());

    // Assess
    expect(error.name).toBe(ERROR_NAMES.badResponse);
    expect(error.message).toMatch(
      new RegExp(`^${NAME}: read the user list: no way of listing users could be paged`),
    );
    expect(error.message).toContain('skip is ignored');
  });

  it('throws, rather than answer part of the users, when a page in the middle comes back empty', async () => {
    // Prepare: 1,200 users counted; the page at skip=500 answers no rows once.
    const box = await insightly({
      users: insightlyTenant(1200),
      faults: [
        { method: 'GET', path: /\/Users$/, query: { skip: '500' }, status: 200, times: 2, body: '[]' },
      ],
    });
    const connector = insightlyConnector(box);

    // Act
    const error = await rejectionOf(connector.readDirectory());
    const lookup = await rejectionOf(connector.lookupUser('left@example.com'));

    // Assess: retried by the state machine; a lookup that reads the list (the search found
    // nobody) is never "not found" past the gap either.
    expect(error.name).toBe(ERROR_NAMES.unavailable);
    expect(error.message).toContain('answered no rows at skip=500, though it counted 1200');
    expect(lookup.name).toBe(ERROR_NAMES.unavailable);
  });

  it('reads the list again when a user is deleted between two pages, and answers everyone', async () => {
    // Prepare: pages of 3 users, counted; user2 is the first of page 2. Right after page 1 is
    // answered, another administrator deletes user0 (page 1): everyone after moves up a place.
    const box = await insightly({ users: insightlyTenant(7), maxPageSize: 3 });
    box.afterAnswer({ method: 'GET', path: /\/Users$/, times: 1, act: () => box.users.delete(2000) });
    const connector = insightlyConnector(box);

    // Act
    const directory = await connector.readDirectory();

    // Assess: the count went from 7 to 6 at page 2: read again from the start, whole.
    expect(await answerOf(() => findInDirectory(NAME, directory, 'user2@example.com'))).toEqual(found(2002));
    expect(directory.map((record) => record.id)).toEqual(['1001', '2001', '2002', '2003', '2004', '2005']);
    expect(box.requests.map((request) => request.query.skip)).toEqual(['0', '3', '0', '3']);
  });

  it('a lookup that reads the list finds the person whom a deletion between two pages moved', async () => {
    // Prepare: a server without /Users/Search, so the lookup pages through GET /Users.
    const box = await insightly({ users: insightlyTenant(7), maxPageSize: 3, searchRefusedWith: 404 });
    box.afterAnswer({ method: 'GET', path: /\/Users$/, times: 1, act: () => box.users.delete(2000) });

    // Act
    const answer = await answerOf(() => insightlyConnector(box).lookupUser('user2@example.com'));

    // Assess
    expect(answer).toEqual(found(2002));
  });

  it('throws Vendor.Unavailable, naming the counts seen, when the list moves again as it is read once more', async () => {
    // Prepare: a user is deleted after each of the first four pages answered.
    const box = await insightly({ users: insightlyTenant(9), maxPageSize: 3 });
    const doomed = [2000, 2001, 2002, 2003];
    box.afterAnswer({
      method: 'GET',
      path: /\/Users$/,
      times: 4,
      act: () => box.users.delete(doomed.shift() as number),
    });
    const connector = insightlyConnector(box);

    // Act
    const error = await rejectionOf(connector.readDirectory());

    // Assess: retried by the state machine; nobody was answered "not found" from a moving list.
    expect(error.name).toBe(ERROR_NAMES.unavailable);
    expect(error.message).toMatch(
      new RegExp(
        `^${NAME}: read the user list: GET /Users: the user list changed while it was read, 2 times`,
      ),
    );
    expect(error.message).toContain('count_total went from 9 to 8 at skip=3');
    expect(error.message).toContain('count_total went from 7 to 6 at skip=3');
    expect(error.message).toContain('nothing was changed');
    expect(box.requests).toHaveLength(4);
  });
});

// ── InsightVM ──

const insightvmConnector = (box: InsightvmSandbox): Rapid7InsightvmConnector =>
  createRapid7InsightvmConnector(
    { name: NAME, type: 'rapid7-insightvm', baseUrl: box.baseUrl, tls: { caCert: box.caCert ?? '' } },
    { username: RAPID7_INSIGHTVM_SANDBOX_USERNAME, password: RAPID7_INSIGHTVM_SANDBOX_PASSWORD },
  );

const integration: InsightvmUserSeed = {
  id: 1,
  login: RAPID7_INSIGHTVM_SANDBOX_USERNAME,
  email: 'offboard-svc@example.com',
  role: { id: 'global-admin', allSites: true, allAssetGroups: true, superuser: true },
};
const INSIGHTVM_USERS: InsightvmUserSeed[] = [
  integration,
  {
    id: 2,
    login: 'jdoe',
    email: 'jane.doe@example.com',
    role: { id: 'security-manager', allSites: true, allAssetGroups: true },
  },
  // Signs in with an address as login; the email field says otherwise: both are his.
  {
    id: 3,
    login: 'marcus.lee@example.com',
    email: 'm.lee@corp.example.com',
    role: { id: 'site-admin', allSites: false, allAssetGroups: true },
    sites: [1, 3],
  },
  // No email field at all: the login is the address.
  { id: 4, login: 'no.email@example.com', role: { id: 'user', allSites: true, allAssetGroups: true } },
  { id: 5, login: 'cvariant', email: 'Case.Variant@Example.COM' },
  // One user's email is another's login: nobody is switched off on a guess.
  { id: 6, login: 'shared1', email: 'shared@example.com' },
  { id: 7, login: 'Shared@Example.com', email: 'other@example.com' },
  { id: 8, login: 'ggone', email: 'already.gone@example.com', enabled: false, sites: [2], assetGroups: [5] },
  { id: 9, login: 'xjane.doe@example.com', email: 'jane.doe@example.com.evil.io' },
];
const INSIGHTVM_ANSWERS: ReadonlyArray<[string, Answer]> = [
  ['jane.doe@example.com', found(2)],
  ['Marcus.Lee@example.com', found(3)],
  ['m.lee@corp.example.com', found(3)],
  ['no.email@example.com', found(4)],
  ['case.variant@example.com', found(5)],
  ['shared@example.com', ambiguous],
  ['already.gone@example.com', found(8)],
  ['nobody@example.com', notFound],
  ['jane.doe@example.co', notFound],
];

/** `count` users, the integration's login first. */
const insightvmTenant = (count: number): InsightvmUserSeed[] => [
  integration,
  ...Array.from({ length: count - 1 }, (_, i) => ({ login: `user${i}`, email: `user${i}@example.com` })),
];

/** A record without the grants `getUser` reads besides the user: what the list can give. */
function withoutGrants(record: UserRecord): UserRecord {
  const { [SITE_GRANTS_FIELD]: _sites, [ASSET_GROUP_GRANTS_FIELD]: _assetGroups, ...fields } = record.fields;
  return { ...record, fields };
}

describe('InsightVM: readDirectory', () => {
  it.each<[string, InsightvmSandboxOptions]>([
    ['in pages of 500', {}],
    ['capping pages at 3 users', { maxPageSize: 3 }],
  ])('answers every address, by email or by login, as lookupUser does, %s', async (_pages, options) => {
    // Prepare
    const box = await insightvm({ users: INSIGHTVM_USERS, ...options });
    const connector = insightvmConnector(box);

    // Act
    const { directory, rows } = await bothWays(connector, INSIGHTVM_ANSWERS);

    // Assess
    for (const row of rows) expect(row.directory, row.email).toEqual(row.lookup);
    for (const row of rows) expect(row.lookup, row.email).toEqual(row.wanted);
    expect(directory.map((record) => record.id)).toEqual(INSIGHTVM_USERS.map((seed) => String(seed.id)));
  });

  it('holds each user as getUser reads it, but for the site and asset-group grants the list cannot give', async () => {
    // Prepare
    const box = await insightvm({ users: INSIGHTVM_USERS });
    const connector = insightvmConnector(box);

    // Act
    const directory = await connector.readDirectory();
    const read = await readOneByOne(connector, directory);

    // Assess: a write is planned from getUser (directoryComplete false), whose grants the
    // ledger keeps; every other field, the email, the login among the emails and the active
    // flag are as getUser has them.
    expect(connector.directoryComplete).toBe(false);
    expect(directory).toEqual(read.map(withoutGrants));
    const marcus = read.find((record) => record.id === '3');
    expect(marcus?.fields[SITE_GRANTS_FIELD]).toEqual([1, 3]);
    expect(directory.find((record) => record.id === '3')?.fields[SITE_GRANTS_FIELD]).toBeUndefined();
    expect(directory.find((record) => record.id === '3')?.emails).toEqual(['marcus.lee@example.com']);
    expect(directory.find((record) => record.id === '8')?.active).toBe(false);
    // A user whose role sees every site and asset group: the very record getUser reads.
    expect(directory.find((record) => record.id === '2')).toEqual(read.find((record) => record.id === '2'));
  });

  it('reads 5,000 users in 10 pages of 500, where 10 lookups cost 100', async () => {
    // Prepare: the console has no email filter, so every lookup pages through everyone.
    const box = await insightvm({ users: insightvmTenant(5000) });
    const people = [10, 600, 1200, 1800, 2400, 3000, 3600, 4200, 4800, 4998].map(
      (i) => `user${i}@example.com`,
    );

    // Act
    const once = insightvmConnector(box);
    const directory = await once.readDirectory();
    const oneByOne = insightvmConnector(box);
    for (const email of people) await oneByOne.lookupUser(email);

    // Assess
    expect(directory).toHaveLength(5000);
    expect(once.requestCount).toBe(Math.ceil(5000 / INSIGHTVM_PAGE_SIZE));
    expect(oneByOne.requestCount).toBe(10 * Math.ceil(5000 / INSIGHTVM_PAGE_SIZE));
  });

  it('throws, rather than answer part of the users, on a console that answers page 0 whatever is asked', async () => {
    // Prepare
    const box = await insightvm({ users: insightvmTenant(1200), ignorePage: true });

    // Act
    const error = await rejectionOf(insightvmConnector(box).readDirectory());

    // Assess
    expect(error.name).toBe(ERROR_NAMES.badResponse);
    expect(error.message).toMatch(
      new RegExp(`^${NAME}: read the user list: asked for page 1 of the users, the console answered page 0`),
    );
  });

  it('throws, rather than answer part of the users, when a page it said it had answers 404', async () => {
    // Prepare: three pages; the middle one is missing once.
    const box = await insightvm({
      users: insightvmTenant(1200),
      faults: [{ method: 'GET', path: /\/users$/, query: { page: '1' }, status: 404, times: 1 }],
    });

    // Act
    const error = await rejectionOf(insightvmConnector(box).readDirectory());

    // Assess: retried by the state machine.
    expect(error.name).toBe(ERROR_NAMES.unavailable);
    expect(error.message).toContain('HTTP 404 for page 1 of 3 pages of users');
  });

  it('throws, rather than answer part of the users, when a page before the last is short', async () => {
    // Prepare: page 1 of 3 holds two users where 500 belong.
    const box = await insightvm({
      users: insightvmTenant(1200),
      faults: [
        {
          method: 'GET',
          path: /\/users$/,
          query: { page: '1' },
          status: 200,
          times: 2,
          body: JSON.stringify({
            resources: [
              { id: 900, login: 'a', email: 'a@example.com', enabled: true },
              { id: 901, login: 'b', email: 'b@example.com', enabled: true },
            ],
            page: { number: 1, size: 500, totalPages: 3, totalResources: 1200 },
          }),
        },
      ],
    });
    const connector = insightvmConnector(box);

    // Act
    const error = await rejectionOf(connector.readDirectory());
    const lookup = await rejectionOf(connector.lookupUser('user1100@example.com'));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.badResponse);
    expect(error.message).toContain('page 1 of 3 held 2 users in pages of 500');
    expect(lookup.name).toBe(ERROR_NAMES.badResponse);
  });

  it('reads the list again when a user is deleted between two pages, and answers everyone', async () => {
    // Prepare: pages of 3 users; user2 (id 4) is the first of page 2. Right after page 1 is
    // answered, another administrator deletes user0 (id 2): everyone after moves up a place.
    const box = await insightvm({ users: insightvmTenant(7), maxPageSize: 3 });
    box.afterAnswer({ method: 'GET', path: /\/users$/, times: 1, act: () => box.users.delete(2) });
    const connector = insightvmConnector(box);

    // Act
    const directory = await connector.readDirectory();

    // Assess: totalResources went from 7 to 6 at page 2: read again from the start, whole.
    expect(await answerOf(() => findInDirectory(NAME, directory, 'user2@example.com'))).toEqual(found(4));
    expect(directory.map((record) => record.id)).toEqual(['1', '3', '4', '5', '6', '7']);
    expect(box.requests.map((request) => request.query.page)).toEqual(['0', '1', '0', '1']);
  });

  it('a lookup finds the person whom a deletion between two pages moved', async () => {
    // Prepare
    const box = await insightvm({ users: insightvmTenant(7), maxPageSize: 3 });
    box.afterAnswer({ method: 'GET', path: /\/users$/, times: 1, act: () => box.users.delete(2) });

    // Act
    const answer = await answerOf(() => insightvmConnector(box).lookupUser('user2@example.com'));

    // Assess
    expect(answer).toEqual(found(4));
  });

  it('throws Vendor.Unavailable, naming the totals seen, when the list moves again as it is read once more', async () => {
    // Prepare: a user is deleted after each of the first eight pages answered: four for the
    // directory's two reads, four for the lookup's.
    const box = await insightvm({ users: insightvmTenant(13), maxPageSize: 3 });
    const doomed = [2, 3, 4, 5, 6, 7, 8, 9];
    box.afterAnswer({
      method: 'GET',
      path: /\/users$/,
      times: doomed.length,
      act: () => box.users.delete(doomed.shift() as number),
    });
    const connector = insightvmConnector(box);

    // Act
    const error = await rejectionOf(connector.readDirectory());
    const lookup = await rejectionOf(connector.lookupUser('user10@example.com'));

    // Assess: retried by the state machine; neither says "not found" from a moving list.
    expect(error.name).toBe(ERROR_NAMES.unavailable);
    expect(error.message).toMatch(
      new RegExp(`^${NAME}: read the user list: the user list changed while it was read, 2 times`),
    );
    expect(error.message).toContain('totalResources went from 13 to 12 at page 1');
    expect(error.message).toContain('totalResources went from 11 to 10 at page 1');
    expect(error.message).toContain('nothing was changed');
    expect(lookup.name).toBe(ERROR_NAMES.unavailable);
    expect(lookup.message).toMatch(new RegExp(`^${NAME}: look up user10@example.com: the user list changed`));
    expect(box.requests).toHaveLength(8);
  });
});

// ── Insight Platform ──

const platformConnector = (box: { baseUrl: string }): Rapid7PlatformConnector =>
  createRapid7PlatformConnector(
    { name: NAME, type: 'rapid7-platform', baseUrl: box.baseUrl },
    { apiKey: RAPID7_PLATFORM_SANDBOX_KEY },
  );

const PLATFORM_USERS = [
  { id: 'u-1', email: 'admin@example.com', platform_admin: true },
  { id: 'u-2', email: 'jane.doe@example.com', first_name: 'Jane', last_login: '2026-03-14T08:01:19.000Z' },
  { id: 'u-3', email: 'Case.Variant@Example.COM' },
  { id: 'u-4', email: 'shared@example.com' },
  { id: 'u-5', email: 'SHARED@example.com' },
  { id: 'u-6', email: 'already.gone@example.com', status: 'DISABLED' as const },
  { id: 'u-7', email: 'new.hire@example.com', status: 'PENDING' as const },
  { id: 'u-8', email: 'jane.doe+x@example.com' },
];
const PLATFORM_ANSWERS: ReadonlyArray<[string, Answer]> = [
  ['jane.doe@example.com', found('u-2')],
  ['case.variant@example.com', found('u-3')],
  ['shared@example.com', ambiguous],
  ['already.gone@example.com', found('u-6')],
  ['new.hire@example.com', found('u-7')],
  ['nobody@example.com', notFound],
];

const platformTenant = (count: number) =>
  Array.from({ length: count }, (_, i) => ({ id: `p-${i}`, email: `user${i}@example.com` }));

describe('Insight Platform: readDirectory', () => {
  it.each<[string, Rapid7PlatformSandboxOptions]>([
    ['one plain array, as public clients read it', {}],
    ['pages of 3', { listShape: 'paged', pageSize: 3 }],
    ['pages of 3, the email filter ignored', { listShape: 'paged', pageSize: 3, ignoreFilter: true }],
  ])('answers every address as lookupUser does, from a list in %s', async (_shape, options) => {
    // Prepare
    const box = await platform({ users: PLATFORM_USERS, ...options });
    const connector = platformConnector(box);

    // Act
    const { directory, rows } = await bothWays(connector, PLATFORM_ANSWERS);

    // Assess
    for (const row of rows) expect(row.directory, row.email).toEqual(row.lookup);
    for (const row of rows) expect(row.lookup, row.email).toEqual(row.wanted);
    expect(directory.map((record) => record.id)).toEqual(PLATFORM_USERS.map((user) => user.id));
  });

  it('holds every record exactly as getUser reads it, so a write may be planned from it', async () => {
    // Prepare
    const box = await platform({ users: PLATFORM_USERS });
    const connector = platformConnector(box);

    // Act
    const directory = await connector.readDirectory();

    // Assess
    expect(connector.directoryComplete).toBe(true);
    expect(directory).toEqual(await readOneByOne(connector, directory));
    expect(directory.filter((record) => !record.active).map((record) => record.id)).toEqual(['u-6']);
  });

  it('reads 5,000 users in one request from a plain list, and in 1 + 10 pages of 500 from a server paging 100 by default; 10 lookups cost 10', async () => {
    // Prepare
    const users = platformTenant(5000);
    const plain = await platform({ users });
    const paged = await platform({ users, listShape: 'paged' });
    const people = [10, 600, 1200, 1800, 2400, 3000, 3600, 4200, 4800, 4998].map(
      (i) => `user${i}@example.com`,
    );

    // Act
    const fromPlain = platformConnector(plain);
    const plainDirectory = await fromPlain.readDirectory();
    const fromPaged = platformConnector(paged);
    const pagedDirectory = await fromPaged.readDirectory();
    const oneByOne = platformConnector(paged);
    for (const email of people) await oneByOne.lookupUser(email);

    // Assess: the first request asks nothing of paging (a plain list may refuse it); a paged
    // answer of 100 is then read again from page 0 in pages of 500.
    expect(plainDirectory).toHaveLength(5000);
    expect(fromPlain.requestCount).toBe(1);
    expect(pagedDirectory).toHaveLength(5000);
    expect(fromPaged.requestCount).toBe(1 + Math.ceil(5000 / PLATFORM_PAGE_SIZE));
    expect(paged.requests.slice(0, 3).map((request) => request.query)).toEqual([
      {},
      { index: '0', size: '500' },
      { index: '1', size: '500' },
    ]);
    expect(oneByOne.requestCount).toBe(10);
  });

  it('throws, rather than answer part of the users, on a server that answers page 0 whatever is asked', async () => {
    // Prepare: pages of 500; the second request gets the first page again.
    const box = await platform({ users: platformTenant(1200), listShape: 'paged', pageSize: 500 });
    const first = {
      data: platformTenant(500).map((user) => ({ ...user, status: 'ACTIVE' })),
      metadata: { index: 0, size: 500, totalPages: 3, totalResources: 1200 },
    };
    box.addFault({
      method: 'GET',
      path: /\/users$/,
      query: { index: '1' },
      status: 200,
      times: 1,
      body: JSON.stringify(first),
    });

    // Act
    const error = await rejectionOf(platformConnector(box).readDirectory());

    // Assess
    expect(error.name).toBe(ERROR_NAMES.badResponse);
    expect(error.message).toMatch(new RegExp(`^${NAME}: read the user list: asked for page 1, got page 0`));
  });

  it('throws, rather than answer part of the users, when a page it said it had answers 404', async () => {
    // Prepare
    const box = await platform({
      users: platformTenant(1200),
      listShape: 'paged',
      pageSize: 500,
      faults: [{ method: 'GET', path: /\/users$/, query: { index: '1' }, status: 404, times: 1 }],
    });

    // Act
    const error = await rejectionOf(platformConnector(box).readDirectory());

    // Assess: retried by the state machine.
    expect(error.name).toBe(ERROR_NAMES.unavailable);
    expect(error.message).toContain('HTTP 404 for page 1 of the users');
  });

  it('throws, rather than answer part of the users, when a page before the last comes back empty', async () => {
    // Prepare
    const box = await platform({
      users: platformTenant(1200),
      listShape: 'paged',
      pageSize: 500,
      faults: [
        {
          method: 'GET',
          path: /\/users$/,
          query: { index: '1' },
          status: 200,
          times: 1,
          body: JSON.stringify({
            data: [],
            metadata: { index: 1, size: 500, totalPages: 3, totalResources: 1200 },
          }),
        },
      ],
    });

    // Act
    const error = await rejectionOf(platformConnector(box).readDirectory());

    // Assess
    expect(error.name).toBe(ERROR_NAMES.badResponse);
    expect(error.message).toContain('page 1 of 3 held 0 users in pages of 500');
  });
});
