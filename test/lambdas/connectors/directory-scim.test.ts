import { describe, expect, it } from 'vitest';
import { createScimConnector, type ScimConnector } from '../../../lambdas/connectors/scim/connector';
import type { LookupResult } from '../../../lambdas/connectors/types';
import { findInDirectory } from '../../../lambdas/shared/directory';
import { ERROR_NAMES, OffboardError } from '../../../lambdas/shared/errors';
import {
  SCIM_SANDBOX_TOKEN,
  type ScimSandbox,
  type ScimUserSeed,
  startScimSandbox,
} from '../../../sandboxes/scim';
import { sandboxStarter } from '../../helpers/sandboxes';

/**
 * Issue 10, for SCIM: a bulk run or the audit reads the user list once and matches everyone
 * against it (`readDirectory` + `findInDirectory`). That must answer exactly what a lookup of
 * each person (`lookupUser`) answers, against the built-in SCIM sandbox, and cost a request a
 * page, not requests a person.
 */

const NAME = 'scim-directory';
const sandbox = sandboxStarter(startScimSandbox, (request) => request.method !== 'GET');

const connectorFor = (box: ScimSandbox): ScimConnector =>
  createScimConnector({ name: NAME, type: 'scim', baseUrl: box.baseUrl }, { token: SCIM_SANDBOX_TOKEN });

/** What a lookup answered: its result, or the name of the error it threw. */
async function outcome(find: () => LookupResult | Promise<LookupResult>): Promise<LookupResult | string> {
  try {
    return await find();
  } catch (error) {
    if (error instanceof OffboardError) return error.name;
    throw error;
  }
}

const listRequests = (box: ScimSandbox) =>
  box.requests.filter((request) => request.method === 'GET' && /\/Users$/.test(request.path));

/** A tenant with every way an address can belong, or not, to an account. */
const TENANT: ScimUserSeed[] = [
  // userName is the address
  { id: 'u1', userName: 'jane.doe@example.com', emails: [{ value: 'jane.doe@example.com', primary: true }] },
  // userName is not an address; the primary email is; a home address besides
  {
    id: 'u2',
    userName: 'jdoe2',
    emails: [
      { value: 'j.doe2@example.com', type: 'work', primary: true },
      { value: 'john@home.example', type: 'home' },
    ],
  },
  // someone who receives a former colleague's mail: the old address is only secondary
  {
    id: 'u3',
    userName: 'sam',
    emails: [
      { value: 'sam@example.com', primary: true },
      { value: 'pat.old@legacy.example', type: 'other' },
    ],
  },
  // two accounts with one address: as userName, and as another's primary email, in other case
  { id: 'u4', userName: 'ann@example.com' },
  { id: 'u5', userName: 'E-1042', emails: [{ value: 'Ann@Example.com', primary: true }] },
  // an address stored in mixed case
  { id: 'u6', userName: 'Mixed.Case@Example.COM' },
  // inactive accounts are found too (the workflow says "already inactive")
  { id: 'u7', userName: 'gone@example.com', active: false },
  // several emails, none primary: none of them is the account's own
  {
    id: 'u8',
    userName: 'pat',
    emails: [{ value: 'first@x.example' }, { value: 'second@x.example' }],
  },
  // the only email listed is the account's own
  { id: 'u9', userName: 'only', emails: [{ value: 'only@x.example' }] },
  // a quoted local part with a space (RFC 5321)
  { id: 'u10', userName: '"jane doe"@example.com' },
  // two userNames that differ only in case
  { id: 'u11', userName: 'twin@example.com' },
  { id: 'u12', userName: 'TWIN@example.com' },
  // an address that is one account's own and another's secondary: the own one is the match
  {
    id: 'u13',
    userName: 'lee',
    emails: [
      { value: 'lee@example.com', primary: true },
      { value: 'ops@example.com', type: 'other' },
    ],
  },
  { id: 'u14', userName: 'ops@example.com' },
  // one secondary address on two accounts, one of them inactive
  {
    id: 'u15',
    userName: 'kim@example.com',
    active: false,
    emails: [{ value: 'kim@example.com', primary: true }, { value: 'shared@example.com' }],
  },
  {
    id: 'u16',
    userName: 'lou',
    emails: [{ value: 'lou@example.com', primary: true }, { value: 'shared@example.com' }],
  },
];

/** Every address the tenant holds, as stored, upper-cased and lower-cased, and some it does not. */
const ADDRESSES = [
  ...new Set(
    TENANT.flatMap((user) => [user.userName, ...(user.emails ?? []).map((email) => email.value)])
      .filter((address) => address.includes('@'))
      .flatMap((address) => [address, address.toUpperCase(), address.toLowerCase()]),
  ),
  'nobody@example.com',
  'jane.doe@example.co',
  'xjane.doe@example.com',
];

describe('SCIM: matching against the directory answers as a lookup does', () => {
  it('gives the same answer or error as lookupUser for every address, from one read of the users', async () => {
    // Prepare: pages of 4, so the list takes several.
    const box = await sandbox({ users: TENANT, maxPageSize: 4 });
    const connector = connectorFor(box);

    // Act
    const directory = await connector.readDirectory();
    const readRequests = box.requests.length;
    const pairs: { email: string; lookup: LookupResult | string; directory: LookupResult | string }[] = [];
    for (const email of ADDRESSES) {
      pairs.push({
        email,
        lookup: await outcome(() => connector.lookupUser(email)),
        directory: await outcome(() => findInDirectory(NAME, directory, email)),
      });
    }

    // Assess: the same, address by address
    for (const pair of pairs) expect(pair.directory, pair.email).toEqual(pair.lookup);
    expect(readRequests).toBe(1 + Math.ceil(TENANT.length / 4));
    // ...and what each case is (so that the two cannot agree on something else)
    const answer = (email: string) => pairs.find((pair) => pair.email === email)?.directory;
    expect(answer('jane.doe@example.com')).toEqual({ found: true, userId: 'u1' });
    expect(answer('J.DOE2@EXAMPLE.COM')).toEqual({ found: true, userId: 'u2' });
    expect(answer('john@home.example')).toBe(ERROR_NAMES.needsReview);
    expect(answer('pat.old@legacy.example')).toBe(ERROR_NAMES.needsReview);
    expect(answer('ann@example.com')).toBe(ERROR_NAMES.ambiguous);
    expect(answer('mixed.case@example.com')).toEqual({ found: true, userId: 'u6' });
    expect(answer('gone@example.com')).toEqual({ found: true, userId: 'u7' });
    expect(answer('first@x.example')).toBe(ERROR_NAMES.needsReview);
    expect(answer('only@x.example')).toEqual({ found: true, userId: 'u9' });
    expect(answer('"jane doe"@example.com')).toEqual({ found: true, userId: 'u10' });
    expect(answer('twin@example.com')).toBe(ERROR_NAMES.ambiguous);
    expect(answer('ops@example.com')).toEqual({ found: true, userId: 'u14' });
    expect(answer('shared@example.com')).toBe(ERROR_NAMES.needsReview);
    expect(answer('nobody@example.com')).toEqual({ found: false });
    expect(answer('jane.doe@example.co')).toEqual({ found: false });
  });

  it('gives each user as getUser gives it, with the secondary addresses besides', async () => {
    // Prepare
    const box = await sandbox({ users: TENANT, maxPageSize: 4 });
    const connector = connectorFor(box);

    // Act
    const directory = await connector.readDirectory();

    // Assess
    expect(directory.map((record) => record.id)).toEqual(TENANT.map((user) => user.id));
    for (const { secondaryEmails, ...record } of directory) {
      expect(record, record.id).toEqual(await connector.getUser(record.id));
    }
    expect(directory.find((record) => record.id === 'u2')?.secondaryEmails).toEqual(['john@home.example']);
    expect(directory.find((record) => record.id === 'u8')?.secondaryEmails).toEqual([
      'first@x.example',
      'second@x.example',
    ]);
  });
});

describe('SCIM: a large directory is read a page at a time, not a person at a time', () => {
  const TENANT_SIZE = 5000;
  const users: ScimUserSeed[] = Array.from({ length: TENANT_SIZE }, (_, i) => ({
    id: `e${i + 1}`,
    userName: `employee${i + 1}@example.com`,
    emails: [{ value: `employee${i + 1}@example.com`, primary: true }],
  }));

  it.each([1000, 250, 100])(
    'reads 5,000 users in ceil(5000 / %i) list requests, and the ServiceProviderConfig once',
    async (pageSize) => {
      // Prepare: the service holds pageSize users a page and says so (filter.maxResults).
      const box = await sandbox({ users, maxPageSize: pageSize });
      const connector = connectorFor(box);

      // Act
      const directory = await connector.readDirectory();

      // Assess
      expect(new Set(directory.map((record) => record.id)).size).toBe(TENANT_SIZE);
      expect(listRequests(box)).toHaveLength(Math.ceil(TENANT_SIZE / pageSize));
      expect(box.requests).toHaveLength(Math.ceil(TENANT_SIZE / pageSize) + 1);
      expect(connector.directoryPageSize).toBe(pageSize);
      expect(findInDirectory(NAME, directory, 'Employee4999@example.com')).toEqual({
        found: true,
        userId: 'e4999',
      });
    },
  );
});
