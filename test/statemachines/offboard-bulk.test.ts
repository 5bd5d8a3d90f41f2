import { readFileSync } from 'node:fs';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import aslValidator from 'asl-validator';
import type { Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, describe, expect, it } from 'vitest';
import { handler as deployedHandler, normalizeBulkHandler } from '../../lambdas/handlers/normalize-bulk';
import type { ConnectionRef } from '../../lambdas/shared/connections';
import { type BlobRef, MemoryBlobStore } from '../../lambdas/shared/evidence';
import { OFFBOARD_BULK_ASL, runBulkWorkflowLocally } from '../../local/bulk';
import { type LocalConnection, type ProgressEvent, runLocally } from '../../local/runner';
import { SqliteLedger } from '../../local/sqlite-ledger';
import type { PersonTask } from '../../local/tasks';
import {
  GAINSIGHT_MAX_STATUS_GSIDS,
  GAINSIGHT_SANDBOX_ACCESS_KEY,
  SAMPLE_USERS as GAINSIGHT_USERS,
  type GainsightSandbox,
  startGainsightSandbox,
} from '../../sandboxes/gainsight';
import { type InsightlySandbox, SAMPLE_USERS, startInsightlySandbox } from '../../sandboxes/insightly';
import {
  SAMPLE_USERS as PLATFORM_USERS,
  RAPID7_PLATFORM_SANDBOX_KEY,
  startRapid7PlatformSandbox,
} from '../../sandboxes/rapid7-platform';
import { SCIM_SANDBOX_TOKEN, startScimSandbox } from '../../sandboxes/scim';
import { leavers, summaryOf, totalsOf } from '../helpers/bulk';
import { rejectionOf } from '../helpers/errors';
import { sandboxStarter } from '../helpers/sandboxes';

/**
 * offboard-bulk.asl.json: many people, each connection working through the whole list. Its
 * vendor's user list is read once to match everyone and once to verify; writes go in batches
 * where the vendor takes them; only the people who need a person (or whose account changed)
 * get an offboard-user run of their own. Every story runs the real ASL with the real handlers
 * against the built-in sandboxes.
 */

process.env.AWS_REGION ??= 'us-east-1';
// The deployed function's S3 client, faked; the other stories use the local evidence store.
const s3 = mockClient(S3Client);
afterAll(() => s3.restore());

// No story may ever delete an account: deletion is irreversible.
const insightly = sandboxStarter(startInsightlySandbox, (r) => r.method === 'DELETE');
const gainsight = sandboxStarter(startGainsightSandbox);
const platform = sandboxStarter(startRapid7PlatformSandbox, (r) => r.method !== 'GET');
const scim = sandboxStarter(startScimSandbox, (r) => r.method === 'DELETE');

/** An Insightly instance holding the demo users and these people, all active. */
const insightlyWith = (
  people: readonly string[],
  options: Parameters<typeof startInsightlySandbox>[0] = {},
) =>
  insightly({ users: [...SAMPLE_USERS, ...people.map((email) => ({ EMAIL_ADDRESS: email }))], ...options });

const gainsightWith = (people: readonly string[]) =>
  gainsight({ users: [...GAINSIGHT_USERS, ...people.map((email) => ({ Email: email }))] });

function insightlyConnection(
  box: InsightlySandbox,
  name = 'insightly',
  apiKey = 'sandbox-api-key',
): LocalConnection {
  return { ref: { name, type: 'insightly', baseUrl: box.baseUrl }, secret: { apiKey } };
}

function gainsightConnection(box: GainsightSandbox, name = 'gainsight'): LocalConnection {
  return {
    ref: { name, type: 'gainsight', baseUrl: box.baseUrl },
    secret: { accessKey: GAINSIGHT_SANDBOX_ACCESS_KEY },
  };
}

/** Insightly requests to `GET /Users` itself: the user list, a page a request. */
const listPages = (box: InsightlySandbox) =>
  box.requests.filter((r) => r.method === 'GET' && /\/Users$/i.test(r.path));

/** `USER_ID`s of the accounts each Insightly PUT wrote. */
const putIds = (box: InsightlySandbox) =>
  box.requests
    .filter((r) => r.method === 'PUT' && r.status === 200)
    .map((r) => (r.body as { USER_ID: number }).USER_ID);

const idOf = (box: InsightlySandbox, email: string) =>
  [...box.users.values()].find((u) => u.EMAIL_ADDRESS === email)?.USER_ID;

describe('offboard-bulk.asl.json', () => {
  it('is a valid definition whose state carries a reference to the checked list, never the list', () => {
    // Prepare
    const definition = JSON.parse(readFileSync(OFFBOARD_BULK_ASL, 'utf8'));
    const text = JSON.stringify(definition.States);
    // Act
    const perConnection = definition.States['Each connection'];
    // Assess
    expect(aslValidator(definition).errors).toEqual([]);
    expect(text).not.toContain('DISTRIBUTED');
    expect(perConnection.ItemsPath).toBe('$.connections');
    expect(perConnection.ItemSelector['peopleRef.$']).toBe('$.peopleRef');
    // The list (or where it was uploaded) is read by the first state only.
    expect(text.match(/\$\.(emails|source)\b/g) ?? []).toEqual([]);
  });

  describe('1. everyone on one connection', () => {
    it('offboards everyone once, reading the user list once to match and once to verify', async () => {
      // Prepare: 30 leavers, read in pages of 20; Jane listed twice (in two cases), Gary already
      // off, someone Insightly does not know
      const people = leavers(30);
      const box = await insightlyWith(people, { maxPageSize: 20 });
      const emails = [
        ...people,
        'jane.doe@example.com',
        'JANE.DOE@example.com',
        'already.gone@example.com',
        'nobody@example.com',
      ];
      const users = box.users.size;
      // Act
      const result = await runBulkWorkflowLocally({
        connections: [insightlyConnection(box)],
        input: { emails },
      });
      // Assess: totals
      const bulk = summaryOf(result);
      expect(bulk).toMatchObject({ people: 33, status: 'succeeded', failed: [], failedCount: 0 });
      expect(bulk.outcomes).toEqual({ deactivated: 31, 'already-inactive': 1, 'not-found': 1 });
      expect(totalsOf(bulk, 'insightly').outcomes).toEqual(bulk.outcomes);
      // Assess: the whole list read twice, in its pages; nobody looked up one by one. Insightly's
      // PUT sends the whole user back, so each account is read right before its write (as in a
      // single run) and never from the older list: one GET of it, then its PUT
      const pagesPerRead = Math.ceil(users / 20);
      expect(listPages(box)).toHaveLength(2 * pagesPerRead);
      expect(box.requests.filter((r) => /\/Users\/Search/i.test(r.path))).toEqual([]);
      const reads = box.requests.filter((r) => /\/Users\/\d+$/i.test(r.path)).map((r) => r.path);
      expect(reads).toHaveLength(31);
      const order = box.requests.map((r) => `${r.method} ${r.method === 'PUT' ? 'put' : r.path}`);
      for (const path of reads) expect(order[order.indexOf(`GET ${path}`) + 1]).toBe('PUT put');
      // Assess: one write per account found active, each to its own account, now off
      const written = putIds(box);
      expect(written).toHaveLength(31);
      expect(new Set(written).size).toBe(31);
      for (const email of [...people, 'jane.doe@example.com']) {
        expect(box.users.get(idOf(box, email) ?? 0)?.ACTIVE, email).toBe(false);
      }
    });
  });

  describe('2. two connections', () => {
    it('writes Gainsight in batches of at most 50, and Insightly one account at a time', async () => {
      // Prepare
      const people = leavers(120);
      const [insightlyBox, gainsightBox] = await Promise.all([insightlyWith(people), gainsightWith(people)]);
      // Act
      const result = await runBulkWorkflowLocally({
        connections: [insightlyConnection(insightlyBox), gainsightConnection(gainsightBox)],
        input: { emails: people },
      });
      // Assess
      const bulk = summaryOf(result);
      expect(bulk).toMatchObject({ people: 120, status: 'succeeded' });
      expect(bulk.outcomes).toEqual({ deactivated: 240 });
      expect(totalsOf(bulk, 'insightly').outcomes).toEqual({ deactivated: 120 });
      expect(totalsOf(bulk, 'gainsight').outcomes).toEqual({ deactivated: 120 });
      const statusCalls = gainsightBox.requests.filter((r) => r.path.endsWith('/services/status'));
      expect(statusCalls).toHaveLength(Math.ceil(120 / GAINSIGHT_MAX_STATUS_GSIDS));
      const gsids = statusCalls.flatMap((r) => r.body as string[]);
      expect(statusCalls.every((r) => (r.body as string[]).length <= GAINSIGHT_MAX_STATUS_GSIDS)).toBe(true);
      expect(new Set(gsids).size).toBe(120);
      // One list read to match, one to verify: 5 requests for 120 people.
      expect(gainsightBox.requests.filter((r) => r.path.endsWith('/services/list'))).toHaveLength(2);
      expect(putIds(insightlyBox)).toHaveLength(120);
      const off = [...gainsightBox.users.values()].filter((u) => people.includes(u.Email) && !u.IsActiveUser);
      expect(off).toHaveLength(120);
    });
  });

  describe('3. a rate limit mid-list', () => {
    it('retries and resumes: everyone deactivated, once each in the totals, none "already inactive"', async () => {
      // Prepare: the 8th write is answered 429
      const people = leavers(20);
      const box = await insightlyWith(people);
      box.afterAnswer({
        method: 'PUT',
        skip: 6,
        times: 1,
        act: () => box.addFault({ method: 'PUT', status: 429, times: 1 }),
      });
      const events: ProgressEvent[] = [];
      const ledger = SqliteLedger.inMemory();
      // Act
      const result = await runBulkWorkflowLocally({
        connections: [insightlyConnection(box)],
        input: { emails: people },
        retryPauseMs: 5,
        ledger,
        onProgress: (e) => events.push(e),
      });
      // Assess
      const bulk = summaryOf(result);
      expect(box.counts().throttled).toBe(1);
      expect(events.filter((e) => e.step === 'Offboard the list' && e.phase === 'failed')).toEqual([
        expect.objectContaining({ errorName: 'Vendor.RateLimited' }),
      ]);
      expect(bulk).toMatchObject({ people: 20, status: 'succeeded', failedCount: 0 });
      expect(bulk.outcomes).toEqual({ deactivated: 20 });
      for (const email of people) {
        const outcomes = (await ledger.history(email)).map((e) => e.outcome);
        expect(
          outcomes.filter((o) => o === 'deactivated'),
          email,
        ).toHaveLength(1);
      }
      for (const email of people) expect(box.users.get(idOf(box, email) ?? 0)?.ACTIVE, email).toBe(false);
    });
  });

  describe('4. one account the vendor will not write', () => {
    it('fails that person by name, after the verification retried, and deactivates everyone else', async () => {
      // Prepare: a SCIM app without /Bulk; every PATCH of one account answers 500
      const people = leavers(10);
      const box = await scim({
        users: people.map((email) => ({ userName: email, emails: [{ value: email, primary: true }] })),
        bulk: { supported: false },
      });
      const stuck = people[4] as string;
      const stuckId = [...box.users.values()].find((u) => u.userName === stuck)?.id as string;
      box.addFault({ method: 'PATCH', path: new RegExp(`/Users/${stuckId}$`), status: 500, times: 1000 });
      const events: ProgressEvent[] = [];
      // Act
      const result = await runBulkWorkflowLocally({
        connections: [
          {
            ref: { name: 'scim-app', type: 'scim', baseUrl: box.baseUrl },
            secret: { token: SCIM_SANDBOX_TOKEN },
          },
        ],
        input: { emails: people },
        retryPauseMs: 5,
        onProgress: (e) => events.push(e),
      });
      // Assess
      const bulk = summaryOf(result);
      expect(bulk).toMatchObject({ people: 10, status: 'partial', failedCount: 1 });
      expect(bulk.outcomes).toEqual({ deactivated: 9, failed: 1 });
      expect(bulk.failed).toEqual([
        {
          email: stuck,
          connections: [
            expect.objectContaining({
              name: 'scim-app',
              outcome: 'failed',
              userId: stuckId,
              error: expect.objectContaining({ message: expect.stringContaining('500') }),
            }),
          ],
        },
      ]);
      // The verifying read was retried before the person was given up on.
      const verifies = events.filter((e) => e.step === 'Verify the list' && e.phase === 'failed');
      expect(verifies.length).toBeGreaterThan(1);
      expect(verifies.every((e) => e.errorName === 'Vendor.NotYetApplied')).toBe(true);
      expect([...box.users.values()].filter((u) => u.active).map((u) => u.userName)).toEqual([stuck]);
    });
  });

  describe('5. a connection that fails as a whole', () => {
    it('never stops the other connection, and names everyone failed on it', async () => {
      // Prepare: the Insightly key was revoked (401 on every request)
      const people = leavers(10);
      const [insightlyBox, gainsightBox] = await Promise.all([insightlyWith(people), gainsightWith(people)]);
      const ledger = SqliteLedger.inMemory();
      // Act
      const result = await runBulkWorkflowLocally({
        connections: [
          insightlyConnection(insightlyBox, 'insightly', 'revoked-key'),
          gainsightConnection(gainsightBox),
        ],
        input: { emails: people },
        ledger,
        retryPauseMs: 5,
      });
      // Assess: Gainsight did its work
      const bulk = summaryOf(result);
      expect(bulk.status).toBe('partial');
      expect(totalsOf(bulk, 'gainsight').outcomes).toEqual({ deactivated: 10 });
      expect(
        [...gainsightBox.users.values()].filter((u) => people.includes(u.Email) && u.IsActiveUser),
      ).toEqual([]);
      // Assess: on Insightly everyone is failed, by name, with the reason
      expect(totalsOf(bulk, 'insightly')).toMatchObject({ failed: 10 });
      expect(totalsOf(bulk, 'insightly').outcomes).toEqual({ failed: 10 });
      expect(bulk.failedCount).toBe(10);
      expect(bulk.failed.map((f) => f.email).sort()).toEqual(people);
      for (const person of bulk.failed) {
        expect(person.connections).toEqual([
          expect.objectContaining({
            name: 'insightly',
            outcome: 'failed',
            error: expect.objectContaining({ name: 'Vendor.AuthFailed' }),
          }),
        ]);
      }
      expect(insightlyBox.requests.filter((r) => r.status !== 401)).toEqual([]);
      // Assess: and so says the ledger, person by person
      const history = await ledger.history(people[3] as string);
      expect(history.filter((e) => e.connection === 'insightly').map((e) => e.outcome)).toEqual(['failed']);
    });

    it('a credential refused part way: everyone named, the writes sent as unverified', async () => {
      // Prepare: after the 3rd write, the key is refused
      const people = leavers(10);
      const box = await insightlyWith(people);
      box.afterAnswer({
        method: 'PUT',
        skip: 2,
        times: 1,
        act: () => box.addFault({ status: 401, times: 1000 }),
      });
      // Act
      const result = await runBulkWorkflowLocally({
        connections: [insightlyConnection(box)],
        input: { emails: people },
        retryPauseMs: 5,
      });
      // Assess: what the vendor holds and what the summary says agree
      const bulk = summaryOf(result);
      const off = people.filter((email) => box.users.get(idOf(box, email) ?? 0)?.ACTIVE === false);
      expect(off).toHaveLength(3);
      // Nobody is left out: the three whose write was sent are failed as unverified, since the
      // list could not be read to see them off (the fourth's read right before its write was
      // refused, so nothing was sent for it); the seven others as not reached; all by name.
      expect(bulk.failed.map((f) => f.email).sort()).toEqual(people);
      expect(bulk.outcomes).toEqual({ failed: 10 });
      const messages = bulk.failed.map((f) => f.connections[0]?.error?.message ?? '');
      expect(messages.filter((m) => m.includes('the write was sent'))).toHaveLength(3);
      expect(messages.filter((m) => m.includes('not reached'))).toHaveLength(7);
    });

    it('an outage while verifying: a later read decides, and every outcome is in the ledger', async () => {
      // Prepare: every write goes through; then the user list answers 503 four times, one
      // more than the verification's retries
      const people = leavers(5);
      const box = await insightlyWith(people);
      const ledger = SqliteLedger.inMemory();
      let outage = false;
      const onProgress = (e: ProgressEvent) => {
        if (e.step !== 'Verify the list' || outage) return;
        outage = true;
        box.addFault({ method: 'GET', path: /\/Users$/, status: 503, times: 4 });
      };
      // Act
      const result = await runBulkWorkflowLocally({
        connections: [insightlyConnection(box)],
        input: { emails: people },
        retryPauseMs: 5,
        ledger,
        onProgress,
      });
      // Assess: every account is off, and the summary and the ledger say so
      expect(people.map((email) => box.users.get(idOf(box, email) ?? 0)?.ACTIVE)).toEqual(
        people.map(() => false),
      );
      const bulk = summaryOf(result);
      expect(bulk.status).toBe('succeeded');
      expect(bulk.outcomes).toEqual({ deactivated: 5 });
      const last = await Promise.all(
        people.map(async (email) => (await ledger.history(email)).at(-1)?.outcome),
      );
      expect(last).toEqual(people.map(() => 'deactivated'));
    });
  });

  describe('6. dry run', () => {
    it('writes nothing, counts who would be deactivated, and records it as a dry run', async () => {
      // Prepare
      const people = leavers(10);
      const [insightlyBox, gainsightBox] = await Promise.all([insightlyWith(people), gainsightWith(people)]);
      const ledger = SqliteLedger.inMemory();
      // Act
      const result = await runBulkWorkflowLocally({
        connections: [insightlyConnection(insightlyBox), gainsightConnection(gainsightBox)],
        input: { emails: [...people, 'already.gone@example.com', 'nobody@example.com'], dryRun: true },
        ledger,
      });
      // Assess
      const bulk = summaryOf(result);
      expect(bulk).toMatchObject({ dryRun: true, people: 12, status: 'succeeded' });
      expect(bulk.outcomes).toEqual({ 'would-deactivate': 20, 'already-inactive': 2, 'not-found': 2 });
      expect(insightlyBox.requests.filter((r) => r.method !== 'GET')).toEqual([]);
      expect(gainsightBox.requests.filter((r) => !r.path.endsWith('/services/list'))).toEqual([]);
      expect(
        [...insightlyBox.users.values()].filter((u) => people.includes(u.EMAIL_ADDRESS) && !u.ACTIVE),
      ).toEqual([]);
      const history = await ledger.history(people[0] as string);
      expect(history.map((e) => `${e.connection}:${e.outcome}:${e.dryRun}`).sort()).toEqual([
        'gainsight:would-deactivate:true',
        'insightly:would-deactivate:true',
      ]);
    });
  });

  describe('7. the ledger', () => {
    it("keeps each person's deactivation with the account as it was, and one of them can be restored", async () => {
      // Prepare: five leavers whose accounts carry settings a careless restore would lose
      const people = leavers(5);
      const box = await insightly({
        users: [
          ...SAMPLE_USERS,
          ...people.map((email, i) => ({
            EMAIL_ADDRESS: email,
            PROFILE_ID: 40 + i,
            ROLE_ID: 7,
            USER_CURRENCY: 'EUR',
          })),
        ],
      });
      const beforeRun = new Map(people.map((email) => [email, { ...box.users.get(idOf(box, email) ?? 0) }]));
      const ledger = SqliteLedger.inMemory();
      const connection = insightlyConnection(box);
      const bulk = await runBulkWorkflowLocally({
        connections: [connection],
        input: { emails: people },
        ledger,
      });
      expect(summaryOf(bulk).outcomes).toEqual({ deactivated: 5 });
      // Act
      const histories = await Promise.all(people.map((email) => ledger.history(email)));
      const restored = await runLocally({
        connections: [connection],
        input: { email: people[2], reactivate: true },
        ledger,
      });
      // Assess: each history holds the write-ahead and the outcome, with the account as it was
      for (const [i, email] of people.entries()) {
        const entries = histories[i] ?? [];
        expect(entries.map((e) => e.outcome)).toEqual(['deactivating', 'deactivated']);
        expect(entries.every((e) => e.executionId === bulk.executionId)).toBe(true);
        const deactivated = entries.find((e) => e.outcome === 'deactivated');
        expect(deactivated?.before).toEqual(beforeRun.get(email));
      }
      // Assess: the one restored is back as it was; the others stay off
      expect(restored.ok && restored.summary.connections).toEqual([
        expect.objectContaining({ name: 'insightly', outcome: 'reactivated' }),
      ]);
      const back = box.users.get(idOf(box, people[2] as string) ?? 0);
      const { DATE_UPDATED_UTC: _was, ...expected } = beforeRun.get(people[2] as string) ?? {};
      expect(back).toMatchObject({ ...expected, ACTIVE: true });
      for (const email of people.filter((_, i) => i !== 2)) {
        expect(box.users.get(idOf(box, email) ?? 0)?.ACTIVE, email).toBe(false);
      }
    });
  });

  describe('8. people who need a person', () => {
    it('hands them to single runs with a task, and counts what those runs did', async () => {
      // Prepare: rapid7-platform has no API to switch an account off; this Insightly key may
      // read users but not write them
      const people = leavers(4);
      const [cloud, readOnly] = await Promise.all([
        platform({ users: [...PLATFORM_USERS, ...people.map((email) => ({ email }))] }),
        insightlyWith(people, { userWrites: 'refused' }),
      ]);
      const tasks: PersonTask[] = [];
      const askPerson = async (task: PersonTask) => {
        tasks.push(task);
        // The person switches the account off in the vendor's own UI.
        if (task.connection === 'rapid7-cloud') cloud.disableUser(task.email);
        else readOnly.deactivateByHand(task.email);
        return { ok: true } as const;
      };
      // Act
      const result = await runBulkWorkflowLocally({
        connections: [
          {
            ref: { name: 'rapid7-cloud', type: 'rapid7-platform', baseUrl: cloud.baseUrl },
            secret: { apiKey: RAPID7_PLATFORM_SANDBOX_KEY },
          },
          insightlyConnection(readOnly, 'insightly-readonly'),
        ],
        input: { emails: [...people, 'nobody@example.com'] },
        askPerson,
        retryPauseMs: 5,
      });
      // Assess: one task a person a connection, none for someone who has no account
      const bulk = summaryOf(result);
      expect(tasks.map((t) => `${t.connection}:${t.email}`).sort()).toEqual(
        [...people.map((p) => `insightly-readonly:${p}`), ...people.map((p) => `rapid7-cloud:${p}`)].sort(),
      );
      // Assess: the totals count what the single runs did
      expect(bulk).toMatchObject({ people: 5, status: 'succeeded' });
      expect(bulk.outcomes).toEqual({ deactivated: 8, 'not-found': 2 });
      expect(totalsOf(bulk, 'rapid7-cloud').outcomes).toEqual({ deactivated: 4, 'not-found': 1 });
      expect(totalsOf(bulk, 'insightly-readonly').outcomes).toEqual({ deactivated: 4, 'not-found': 1 });
      for (const email of people) {
        expect([...cloud.users.values()].find((u) => u.email === email)?.status).toBe('DISABLED');
        expect(readOnly.users.get(idOf(readOnly, email) ?? 0)?.ACTIVE).toBe(false);
      }
    });
  });

  describe('9. the 256 KB limit', () => {
    it('200 people on 20 connections: no state input or output above 256 KB, and a complete summary', async () => {
      // Prepare: 150 of 200 people have an account; the admin is protected, two accounts share
      // one address; two connections use a revoked key
      const known = leavers(150, 'person');
      const unknown = leavers(196, 'person').slice(150);
      const box = await insightly({
        users: [
          ...SAMPLE_USERS,
          ...known.map((email) => ({ EMAIL_ADDRESS: email })),
          { EMAIL_ADDRESS: 'twin@example.com' },
          { EMAIL_ADDRESS: 'twin@example.com', FIRST_NAME: 'Other' },
        ],
      });
      const emails = [
        ...known,
        ...unknown,
        'admin@example.com',
        'twin@example.com',
        'already.gone@example.com',
        'jane.doe@example.com',
      ];
      const names = Array.from({ length: 20 }, (_, i) => `insightly-${String(i + 1).padStart(2, '0')}`);
      const broken = new Set(names.slice(18));
      const connections = names.map((name) =>
        insightlyConnection(box, name, broken.has(name) ? 'revoked-key' : 'sandbox-api-key'),
      );
      // Act
      const result = await runBulkWorkflowLocally({
        connections,
        input: { emails, dryRun: true },
        measureStates: true,
        retryPauseMs: 5,
      });
      // Assess: the largest payload of the whole run
      expect(emails).toHaveLength(200);
      expect(result.largestState?.bytes).toBeGreaterThan(0);
      expect(result.largestState?.bytes).toBeLessThanOrEqual(256 * 1024);
      // Assess: the summary is whole
      const bulk = summaryOf(result);
      expect(bulk.people).toBe(200);
      expect(bulk.connections.map((c) => c.name).sort()).toEqual(names);
      for (const name of names.slice(0, 18)) {
        expect(totalsOf(bulk, name).outcomes).toEqual({
          'would-deactivate': 151,
          'not-found': 46,
          'already-inactive': 1,
          failed: 2,
        });
        expect(totalsOf(bulk, name).failed).toBe(2);
      }
      for (const name of broken)
        expect(totalsOf(bulk, name)).toMatchObject({ outcomes: { failed: 200 }, failed: 200 });
      expect(bulk.outcomes).toEqual({
        'would-deactivate': 18 * 151,
        'not-found': 18 * 46,
        'already-inactive': 18,
        failed: 18 * 2 + 2 * 200,
      });
      expect(bulk.failedCount).toBe(18 * 2 + 2 * 200);
      expect(bulk.status).toBe('partial');
      // Each connection names its first failures (all are counted, and every one is in the ledger).
      const failedOn = (email: string) =>
        bulk.failed.find((f) => f.email === email)?.connections.map((c) => `${c.name}:${c.error?.name}`);
      expect(failedOn('admin@example.com')).toEqual(names.slice(0, 18).map((n) => `${n}:User.Protected`));
      expect(failedOn('twin@example.com')).toEqual(names.slice(0, 18).map((n) => `${n}:User.Ambiguous`));
      expect(failedOn('person000@example.com')).toEqual([...broken].map((n) => `${n}:Vendor.AuthFailed`));
      expect(box.requests.filter((r) => r.method !== 'GET')).toEqual([]);
    }, 120_000);
  });

  describe('bad input', () => {
    it('refuses the whole list, before anyone is touched, when one entry is bad', async () => {
      // Prepare
      const box = await insightlyWith([]);
      // Act
      const result = await runBulkWorkflowLocally({
        connections: [insightlyConnection(box)],
        input: { emails: ['jane.doe@example.com', 'marcus.lee@example', 'priya@'] },
      });
      // Assess
      expect(result).toMatchObject({
        ok: false,
        error: { name: 'Input.Invalid', message: expect.stringMatching(/2 invalid entries.*item 2.*item 3/) },
      });
      expect(box.requests).toEqual([]);
    });

    it('sends a list of more than 200 to S3 instead of the state, naming source {bucket, key}', async () => {
      const box = await insightlyWith([]);
      const result = await runBulkWorkflowLocally({
        connections: [insightlyConnection(box)],
        input: { emails: leavers(201) },
      });
      expect(result).toMatchObject({
        ok: false,
        error: { name: 'Input.Invalid', message: expect.stringContaining('source {bucket, key}') },
      });
      expect(box.requests).toEqual([]);
    });
  });
});

describe('the list in S3', () => {
  const refs: ConnectionRef[] = [
    { name: 'insightly', type: 'insightly', baseUrl: 'https://api.na1.insightly.com/v3.1' },
  ];
  const context = { functionName: 'NormalizeBulk', awsRequestId: 'r' } as unknown as Context;
  const UPLOAD = { bucket: 'offboard-bulk', key: 'layoff.csv' };

  /** The evidence store in memory, keeping count of what was put in it. */
  class CountingBlobStore extends MemoryBlobStore {
    readonly puts: unknown[] = [];
    override async put(value: unknown): Promise<BlobRef> {
      this.puts.push(value);
      return super.put(value);
    }
  }

  /** A bucket in memory holding the upload, and the check as the first state runs it. */
  function upload(body: string) {
    const blobs = new CountingBlobStore();
    const check = normalizeBulkHandler(
      () => refs,
      async (bucket, key) => {
        if (bucket !== UPLOAD.bucket || key !== UPLOAD.key) throw new Error(`NoSuchKey: ${bucket}/${key}`);
        return body;
      },
      () => blobs,
    );
    return { blobs, check };
  }
  /** What the state machine sends the function: the execution input, and its name. */
  const asCalled = (request: unknown) => ({ request, executionName: 'layoff-2026-11' });

  it('is checked whole, then kept as checked in the evidence store, for every connection to read', async () => {
    // Prepare: a CSV whose quoted name holds a comma, the manager in the column before
    const { blobs, check } = upload(
      'name,manager,email\n"Doe, Jane",bob.smith@example.com,jane.doe@example.com\nLee,,marcus.lee@example.com\n',
    );
    // Act
    const result = await check(asCalled({ source: UPLOAD, dryRun: true }), context);
    // Assess: the connections read the checked copy, which names Jane and Marcus, not Bob
    expect(result).toMatchObject({
      dryRun: true,
      count: 2,
      connections: [expect.objectContaining({ name: 'insightly', type: 'insightly' })],
      peopleRef: { sha256: expect.stringMatching(/^[0-9a-f]{64}$/), bytes: expect.any(Number) },
    });
    expect(await blobs.get(result.peopleRef)).toEqual(['jane.doe@example.com', 'marcus.lee@example.com']);
  });

  it('may be a JSON array of addresses or of {email} objects, checked and kept the same way', async () => {
    const { blobs, check } = upload('["jane.doe@example.com", {"email": "marcus.lee@example.com", "id": 7}]');
    const result = await check(asCalled({ source: UPLOAD }), context);
    expect(result).toMatchObject({ count: 2, dryRun: false });
    expect(await blobs.get(result.peopleRef)).toEqual(['jane.doe@example.com', 'marcus.lee@example.com']);
  });

  it('refuses a CSV with a broken row, naming its line, and keeps nothing', async () => {
    // Prepare: line 3 opens a quote it never closes
    const { blobs, check } = upload('name,email\nDoe,jane.doe@example.com\n"Smith,bob.smith@example.com\n');
    // Act
    const error = await rejectionOf(check(asCalled({ source: UPLOAD }), context));
    // Assess
    expect(error).toMatchObject({
      name: 'Input.Invalid',
      message: expect.stringMatching(/^s3:\/\/offboard-bulk\/layoff\.csv: line 3 is not valid CSV/),
    });
    expect(blobs.puts).toEqual([]);
  });

  it('names every bad row, and keeps nothing when the options are wrong either', async () => {
    const bad = upload('email\njane.doe@example.com\nnot an email\n');
    await expect(bad.check(asCalled({ source: UPLOAD }), context)).rejects.toMatchObject({
      name: 'Input.Invalid',
      message: expect.stringContaining('line 3'),
    });
    const unknown = upload('email\njane.doe@example.com\n');
    await expect(
      unknown.check(asCalled({ source: UPLOAD, connections: ['salesforce'] }), context),
    ).rejects.toMatchObject({ name: 'Input.Invalid' });
    expect([...bad.blobs.puts, ...unknown.blobs.puts]).toEqual([]);
  });

  it('is a deployment fault when the state machine does not name the execution', async () => {
    const { check } = upload('email\njane.doe@example.com\n');
    await expect(check({ source: UPLOAD }, context)).rejects.toMatchObject({ name: 'Config.Invalid' });
  });

  it('reads the upload from S3 and keeps the checked list in the evidence bucket, as deployed', async () => {
    // Prepare
    process.env.OFFBOARD_CONNECTIONS = JSON.stringify(refs);
    process.env.OFFBOARD_EVIDENCE_BUCKET = 'offboard-evidence';
    s3.reset();
    s3.on(GetObjectCommand, { Bucket: UPLOAD.bucket, Key: UPLOAD.key }).resolves({
      Body: { transformToString: async () => '\uFEFFEmail\r\njane.doe@example.com\r\n' } as never,
    });
    s3.on(PutObjectCommand).resolves({});
    // Act
    const result = await deployedHandler(asCalled({ source: UPLOAD }), context);
    // Assess
    expect(result).toMatchObject({ count: 1 });
    const puts = s3.commandCalls(PutObjectCommand).map((call) => call.args[0].input);
    expect(puts).toEqual([
      expect.objectContaining({
        Bucket: 'offboard-evidence',
        Key: `evidence/${result.peopleRef.sha256}.json`,
        Body: '["jane.doe@example.com"]',
      }),
    ]);
  });

  it('writes nothing to S3 when the deployed function refuses the list', async () => {
    process.env.OFFBOARD_CONNECTIONS = JSON.stringify(refs);
    process.env.OFFBOARD_EVIDENCE_BUCKET = 'offboard-evidence';
    s3.reset();
    s3.on(GetObjectCommand).resolves({
      Body: { transformToString: async () => 'name,email\nDoe,jane.doe@example.com,extra\n' } as never,
    });
    await expect(deployedHandler(asCalled({ source: UPLOAD }), context)).rejects.toMatchObject({
      name: 'Input.Invalid',
      message: expect.stringContaining('line 2 is not valid CSV'),
    });
    expect(s3.commandCalls(PutObjectCommand)).toEqual([]);
  });
});
