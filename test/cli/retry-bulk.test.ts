import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../cli/main';
import { bulkRetryRuns } from '../../cli/retry';
import type { LedgerEntry } from '../../lambdas/shared/ledger';
import type { BulkSummary } from '../../lambdas/shared/summary';
import { type InsightlySandbox, SAMPLE_USERS, startInsightlySandbox } from '../../sandboxes/insightly';
import { leavers } from '../helpers/bulk';
import { run } from '../helpers/cli';

/**
 * `offboard retry <bulk execution>`: a bulk run whose second tenant refused its key part way
 * is resumed on that tenant only, for only the people it did not reach; someone offboarded
 * there since is left out; the ledger links the runs; once all is done, nothing is sent.
 */

const dir = mkdtempSync(join(tmpdir(), 'offboard-retry-bulk-'));
process.env.OFFBOARD_LEDGER_DIR = join(dir, 'ledger');
const config = join(dir, 'config.json');
const list = join(dir, 'leavers.txt');
const people = leavers(6);
let healthy: InsightlySandbox;
let broken: InsightlySandbox;

beforeAll(async () => {
  const users = [...SAMPLE_USERS, ...people.map((email) => ({ EMAIL_ADDRESS: email }))];
  [healthy, broken] = await Promise.all([startInsightlySandbox({ users }), startInsightlySandbox({ users })]);
  writeFileSync(
    config,
    JSON.stringify({
      connections: [
        { name: 'crm', type: 'insightly', baseUrl: healthy.baseUrl, secret: { apiKey: 'sandbox-api-key' } },
        { name: 'crm-eu', type: 'insightly', baseUrl: broken.baseUrl, secret: { apiKey: 'sandbox-api-key' } },
      ],
    }),
  );
  writeFileSync(list, `${people.join('\n')}\n`);
});
afterAll(async () => {
  await Promise.all([healthy.close(), broken.close()]);
});

const idOf = (box: InsightlySandbox, email: string) =>
  [...box.users.values()].find((u) => u.EMAIL_ADDRESS === email)?.USER_ID;
/** The accounts each successful PUT wrote, from `from` on in the request log. */
const written = (box: InsightlySandbox, from: number) =>
  box.requests
    .slice(from)
    .filter((r) => r.method === 'PUT' && r.status === 200)
    .map((r) => (r.body as { USER_ID: number }).USER_ID);
const entriesOf = async (email: string) =>
  (JSON.parse((await run(['report', '--email', email, '--json'])).stdout) as { entries: LedgerEntry[] })
    .entries;

describe('offboard retry <bulk execution>', () => {
  let first: BulkSummary;
  let missed: string[];

  it('a bulk run cut off part way on one tenant says where its failures are, and who', async () => {
    // Prepare: after the EU tenant's 4th write its key is refused once (a rotation under way)
    broken.afterAnswer({
      method: 'PUT',
      skip: 3,
      times: 1,
      act: () => broken.addFault({ status: 401, times: 1 }),
    });

    // Act
    const result = await run(['run', '--config', config, '--emails', list, '--json']);

    // Assess: the healthy tenant finished; the EU tenant did not reach two people
    expect(result.code).toBe(EXIT.failed);
    first = JSON.parse(result.stdout) as BulkSummary;
    expect(first.status).toBe('partial');
    missed = people.filter((email) => broken.users.get(idOf(broken, email) ?? 0)?.ACTIVE !== false);
    expect(missed).toHaveLength(2);
    expect(first.retry).toMatchObject({
      retryOf: expect.stringContaining(':execution:offboard-bulk:'),
      peopleRef: { sha256: expect.any(String) },
      connections: [
        { name: 'crm-eu', failed: 2, emails: missed, resultsRef: { sha256: expect.any(String) } },
      ],
    });
  });

  it('re-sends only to the failed tenant, only for the people not offboarded since, linked to the bulk run', async () => {
    // Prepare: one of the two is offboarded there by hand since
    const [since, left] = missed as [string, string];
    const single = await run(['run', '--config', config, '--email', since, '--connections', 'crm-eu']);
    expect(single.code).toBe(EXIT.ok);
    const [healthyBefore, brokenBefore] = [healthy.requests.length, broken.requests.length];

    // Act
    const result = await run(['retry', first.retry?.retryOf ?? '', '--config', config, '--json']);

    // Assess: one run, one person, one tenant
    expect(result.code).toBe(EXIT.ok);
    const retried = JSON.parse(result.stdout) as BulkSummary;
    expect(retried).toMatchObject({ status: 'succeeded', people: 1, outcomes: { deactivated: 1 } });
    expect(retried.connections.map((c) => c.name)).toEqual(['crm-eu']);
    expect(healthy.requests.length).toBe(healthyBefore);
    expect(written(broken, brokenBefore)).toEqual([idOf(broken, left)]);
    expect(people.every((email) => broken.users.get(idOf(broken, email) ?? 0)?.ACTIVE === false)).toBe(true);
    const entries = (await entriesOf(left)).filter(
      (e) => e.connection === 'crm-eu' && e.outcome === 'deactivated',
    );
    expect(entries).toEqual([expect.objectContaining({ retryOf: first.retry?.retryOf })]);
    expect(entries[0]?.executionId).not.toBe(first.retry?.retryOf);
  });

  it('once all is done there is nothing to retry: exit 0, nothing sent', async () => {
    // Prepare
    const sent = healthy.requests.length + broken.requests.length;

    // Act
    const result = await run(['retry', first.retry?.retryOf ?? '', '--config', config]);

    // Assess
    expect(result.code).toBe(EXIT.ok);
    expect(result.stderr).toContain(`nothing to retry for ${first.retry?.retryOf} (a bulk run of 6 people)`);
    expect(healthy.requests.length + broken.requests.length).toBe(sent);
  });
});

describe('bulkRetryRuns', () => {
  const BULK = 'arn:aws:states:local:000000000000:execution:offboard-bulk:first';
  const entry = (email: string, connection: string, outcome: LedgerEntry['outcome'], at: string) =>
    ({ email, connection, type: 'insightly', outcome, dryRun: false, at, executionId: BULK }) as LedgerEntry;

  it('groups people by the connections they failed on: each person in one run', () => {
    // Prepare: a failed on crm and crm-eu, b on crm-eu only, c on nothing
    const at = '2026-11-23T09:00:00.000Z';
    const outcomes: Array<[string, LedgerEntry['outcome'], LedgerEntry['outcome']]> = [
      ['a@example.com', 'failed', 'failed'],
      ['b@example.com', 'deactivated', 'failed'],
      ['c@example.com', 'deactivated', 'not-found'],
      ['d@example.com', 'failed', 'failed'],
    ];
    const histories = new Map(
      outcomes.map(([email, crm, eu]) => [
        email,
        {
          connections: ['crm', 'crm-eu'],
          history: [entry(email, 'crm', crm, at), entry(email, 'crm-eu', eu, at)],
        },
      ]),
    );

    // Act
    const runs = bulkRetryRuns({ executionId: BULK, dryRun: false, startedAt: at }, histories);

    // Assess
    expect(runs).toEqual([
      { emails: ['a@example.com', 'd@example.com'], connections: ['crm', 'crm-eu'], retryOf: BULK },
      { emails: ['b@example.com'], connections: ['crm-eu'], retryOf: BULK },
    ]);
  });
});
