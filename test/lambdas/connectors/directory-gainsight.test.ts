import { describe, expect, it } from 'vitest';
import {
  createGainsightConnector,
  GAINSIGHT_PAGE_SIZE,
  type GainsightConnector,
} from '../../../lambdas/connectors/gainsight/connector';
import { canReadDirectory, type LookupResult } from '../../../lambdas/connectors/types';
import { findInDirectory } from '../../../lambdas/shared/directory';
import { ERROR_NAMES, OffboardError } from '../../../lambdas/shared/errors';
import {
  GAINSIGHT_SANDBOX_ACCESS_KEY,
  type GainsightSandbox,
  type GainsightSandboxOptions,
  type GainsightUserSeed,
  gsidOf,
  JANE_GSID,
  SAMPLE_USERS,
  startGainsightSandbox,
} from '../../../sandboxes/gainsight';
import { rejectionOf } from '../../helpers/errors';
import { sandboxStarter } from '../../helpers/sandboxes';

/**
 * Gainsight's whole user list, read once (`readDirectory`), answers every person as a
 * lookup of them would: a bulk run or an audit that matches everyone against it finds the
 * same accounts, the same nobody, and refuses the same ambiguities, for a fraction of the
 * requests (100 an hour is all Gainsight allows).
 */

const NAME = 'gainsight-directory';

// The list is all the directory reads: it never writes.
const sandbox = sandboxStarter(
  (options: GainsightSandboxOptions = {}) => startGainsightSandbox({ rateLimit: false, ...options }),
  (request) => request.method !== 'POST',
);

function connectorFor(box: { baseUrl: string }, fetchImpl?: typeof fetch): GainsightConnector {
  return createGainsightConnector(
    { name: NAME, type: 'gainsight', baseUrl: box.baseUrl },
    { accessKey: GAINSIGHT_SANDBOX_ACCESS_KEY },
    fetchImpl,
  );
}

const lists = (box: GainsightSandbox) =>
  box.requests.filter((request) => request.path === '/v1/users/services/list');

/** What a lookup said: its result, or the name of the error it threw. */
async function answerOf(find: () => LookupResult | Promise<LookupResult>): Promise<LookupResult | string> {
  try {
    return await find();
  } catch (error) {
    if (error instanceof OffboardError) return error.name;
    throw error;
  }
}

/**
 * The demo's users (Jane active, Gary already off), with one stored in other case than HR
 * sends, two holding one address in different case, a look-alike and a user with no email.
 */
const TENANT: GainsightUserSeed[] = [
  ...SAMPLE_USERS,
  { Gsid: gsidOf(201), Email: 'Casey.Mixed@Example.COM', FirstName: 'Casey' },
  { Gsid: gsidOf(202), Email: 'shared@example.com', FirstName: 'Sam' },
  { Gsid: gsidOf(203), Email: 'Shared@Example.com', FirstName: 'Sasha', IsActiveUser: false },
  { Gsid: gsidOf(204), Email: 'jane.doe@example.com.evil.io', FirstName: 'Mallory' },
  { Gsid: gsidOf(205), Email: null as never, FirstName: 'Nobody' },
];

const EMAILS = [
  'jane.doe@example.com', // found
  'JANE.DOE@EXAMPLE.COM', // found, asked in other case
  '  jane.doe@example.com ', // found, with spaces around
  'already.gone@example.com', // inactive, still found
  'casey.mixed@example.com', // stored in other case
  'shared@example.com', // two accounts: ambiguous
  'SHARED@example.com',
  "o'brien@example.com",
  'nobody@example.com', // not found
  'jane.doe@example.com.evil', // a look-alike's prefix: not found
  'doe@example.com',
];

describe('GainsightConnector.readDirectory', () => {
  it('answers every email as a lookup of it does, found, not found, case, duplicate or inactive', async () => {
    // Prepare
    const box = await sandbox({ users: TENANT });
    const connector = connectorFor(box);

    // Act
    const directory = await connector.readDirectory();
    const fromDirectory = await Promise.all(
      EMAILS.map((email) => answerOf(() => findInDirectory(NAME, directory, email))),
    );
    const fromLookups: Array<LookupResult | string> = [];
    for (const email of EMAILS) fromLookups.push(await answerOf(() => connector.lookupUser(email)));

    // Assess: the same answer for every email, and the answers are the ones a person expects.
    expect(fromDirectory).toEqual(fromLookups);
    expect(Object.fromEntries(EMAILS.map((email, i) => [email, fromDirectory[i]]))).toEqual({
      'jane.doe@example.com': { found: true, userId: JANE_GSID },
      'JANE.DOE@EXAMPLE.COM': { found: true, userId: JANE_GSID },
      '  jane.doe@example.com ': { found: true, userId: JANE_GSID },
      'already.gone@example.com': { found: true, userId: gsidOf(124) },
      'casey.mixed@example.com': { found: true, userId: gsidOf(201) },
      'shared@example.com': 'User.Ambiguous',
      'SHARED@example.com': 'User.Ambiguous',
      "o'brien@example.com": { found: true, userId: gsidOf(125) },
      'nobody@example.com': { found: false },
      'jane.doe@example.com.evil': { found: false },
      'doe@example.com': { found: false },
    });
  });

  it('holds each user exactly as getUser reads it, inactive ones included, so a write may be planned from it', async () => {
    // Prepare
    const box = await sandbox({ users: TENANT });
    const connector = connectorFor(box);

    // Act
    const directory = await connector.readDirectory();
    const read = await Promise.all(directory.map((record) => connector.getUser(record.id)));

    // Assess
    expect(canReadDirectory(connector)).toBe(true);
    expect(connector.directoryComplete).toBe(true);
    expect(directory.map((record) => record.id)).toEqual([...box.users.keys()]);
    expect(directory).toEqual(read);
    expect(directory.find((record) => record.id === gsidOf(124))).toMatchObject({ active: false });
  });

  it(`reads 5,000 users in ${Math.ceil(5000 / GAINSIGHT_PAGE_SIZE)} requests of ${GAINSIGHT_PAGE_SIZE}, every field selected`, async () => {
    // Prepare
    const users = Array.from({ length: 5000 }, (_, i) => ({ Email: `user${i}@example.com` }));
    const box = await sandbox({ users });

    // Act
    const directory = await connectorFor(box).readDirectory();

    // Assess: the total the list gives says when to stop; no request confirms the end.
    expect(directory).toHaveLength(5000);
    expect(new Set(directory.map((record) => record.id)).size).toBe(5000);
    expect(lists(box).map((request) => request.body)).toEqual(
      [0, 1, 2, 3, 4].map((page) =>
        expect.objectContaining({ limit: GAINSIGHT_PAGE_SIZE, page, includeTotal: true }),
      ),
    );
    expect(lists(box)[0]?.body).not.toHaveProperty('where');
  });

  it('reads 5,000 users in 6 requests from a server that gives no total: the sixth, empty, confirms the end', async () => {
    // Prepare: the real sandbox behind a fetch that drops `totalCount` from every answer.
    const users = Array.from({ length: 5000 }, (_, i) => ({ Email: `user${i}@example.com` }));
    const box = await sandbox({ users });
    const withoutTotal = (async (input: Parameters<typeof fetch>[0], init?: RequestInit) => {
      const response = await fetch(input, init);
      const answer = (await response.json()) as { data?: { totalCount?: number } };
      delete answer.data?.totalCount;
      return new Response(JSON.stringify(answer), {
        status: response.status,
        headers: { 'content-type': 'application/json' },
      });
    }) as typeof fetch;

    // Act
    const directory = await connectorFor(box, withoutTotal).readDirectory();

    // Assess
    expect(directory).toHaveLength(5000);
    expect(lists(box)).toHaveLength(6);
  });

  it('reads on by the rows a server serves when it caps the page lower: 5,000 users at 700 a page', async () => {
    // Prepare
    const users = Array.from({ length: 5000 }, (_, i) => ({ Email: `user${i}@example.com` }));
    const box = await sandbox({ users, maxLimit: 700 });

    // Act
    const directory = await connectorFor(box).readDirectory();

    // Assess
    expect(directory).toHaveLength(5000);
    expect(lists(box).map((request) => (request.body as { limit: number }).limit)).toEqual([
      1000, 700, 700, 700, 700, 700, 700, 700,
    ]);
  });
});

/** `count` users, user0@example.com to user{count-1}, Gsids in the order given. */
const tenantOf = (count: number): GainsightUserSeed[] =>
  Array.from({ length: count }, (_, i) => ({ Email: `user${i}@example.com` }));

/** The Gsid the sandbox gave the user with this email. */
function gsidIn(box: GainsightSandbox, email: string): string {
  const user = [...box.users.values()].find((candidate) => candidate.Email === email);
  if (!user) throw new Error(`no sandbox user has ${email}`);
  return user.Gsid;
}

describe('GainsightConnector: a user list that moves while it is read', () => {
  it('is read again when a user is deleted between two pages, and answers everyone', async () => {
    // Prepare: a server that serves 3 users a page; user3 is the first of page 2. Right after
    // page 1 is answered, another administrator deletes user1: everyone after moves up a place.
    const box = await sandbox({ users: tenantOf(7), maxLimit: 3 });
    const deleted = gsidIn(box, 'user1@example.com');
    box.afterAnswer({ method: 'POST', path: /\/list$/, times: 1, act: () => box.users.delete(deleted) });
    const connector = connectorFor(box);

    // Act
    const directory = await connector.readDirectory();

    // Assess: the total went from 7 to 6 at page 2: read again from the start, whole.
    expect(await answerOf(() => findInDirectory(NAME, directory, 'user3@example.com'))).toEqual({
      found: true,
      userId: gsidIn(box, 'user3@example.com'),
    });
    expect(directory.map((record) => record.email)).toEqual(
      [0, 2, 3, 4, 5, 6].map((i) => `user${i}@example.com`),
    );
    expect(lists(box).map((request) => (request.body as { page: number }).page)).toEqual([0, 1, 0, 1]);
  });

  it('a lookup that reads the users whole finds the person whom a deletion between two pages moved', async () => {
    // Prepare: an EQ that minds case, and the person stored in other case than HR sends: the
    // filtered list finds nobody, so the users are read whole, and user1 is deleted right
    // after the first page of that read.
    const users = tenantOf(7).map((user, i) => (i === 3 ? { Email: 'User3@Example.com' } : user));
    const box = await sandbox({ users, maxLimit: 3, caseSensitiveWhere: true });
    const deleted = gsidIn(box, 'user1@example.com');
    box.afterAnswer({
      method: 'POST',
      path: /\/list$/,
      skip: 1,
      times: 1,
      act: () => box.users.delete(deleted),
    });

    // Act
    const answer = await answerOf(() => connectorFor(box).lookupUser('user3@example.com'));

    // Assess
    expect(answer).toEqual({ found: true, userId: gsidIn(box, 'User3@Example.com') });
  });

  it('throws Vendor.Unavailable, naming the totals seen, when the list moves again as it is read once more', async () => {
    // Prepare: a user is deleted after each of the first four pages answered.
    const box = await sandbox({ users: tenantOf(9), maxLimit: 3 });
    const doomed = [0, 1, 2, 3].map((i) => gsidIn(box, `user${i}@example.com`));
    box.afterAnswer({
      method: 'POST',
      path: /\/list$/,
      times: doomed.length,
      act: () => box.users.delete(doomed.shift() as string),
    });

    // Act
    const error = await rejectionOf(connectorFor(box).readDirectory());

    // Assess: retried by the state machine (Gainsight allows 100 requests an hour: two reads,
    // then the step's retry, rather than reading on and on).
    expect(error.name).toBe(ERROR_NAMES.unavailable);
    expect(error.message).toBe(
      `${NAME}: read the user list: the user list changed while it was read, 2 times in a row ` +
        '(read 1: the total went from 9 to 8 at page 1; read 2: the total went from 7 to 6 at page 1); ' +
        'nothing was changed; it is read again when the step is retried',
    );
    expect(lists(box)).toHaveLength(4);
  });
});
