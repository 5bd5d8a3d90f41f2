import { afterEach, describe, expect, it } from 'vitest';
import { formatBrakeHistory } from '../../cli/format';
import { brakeHistory, resolveBrake } from '../../lambdas/shared/brake';
import { runBulkWorkflowLocally } from '../../local/bulk';
import { type LocalLedger, openLocalLedger } from '../../local/ledger';
import {
  type BrakeReleaseRequest,
  type LocalConnection,
  type LocalRunResult,
  runLocally,
} from '../../local/runner';
import type { SqliteLedger } from '../../local/sqlite-ledger';
import type { PersonTask } from '../../local/tasks';
import { type InsightlySandbox, SAMPLE_USERS, startInsightlySandbox } from '../../sandboxes/insightly';
import {
  SAMPLE_USERS as PLATFORM_USERS,
  RAPID7_PLATFORM_SANDBOX_KEY,
  startRapid7PlatformSandbox,
} from '../../sandboxes/rapid7-platform';
import { leavers, summaryOf } from '../helpers/bulk';

/**
 * The safety brake, through offboard-user.asl.json and offboard-bulk.asl.json run locally with
 * the SQLite ledger: past the limit within the window, every further offboarding waits on one
 * release task, before anything is sent to a vendor.
 */

const opened: Array<{ close(): Promise<void> | void }> = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((o) => o.close()));
});

async function setUp(people: readonly string[], options: Parameters<typeof startInsightlySandbox>[0] = {}) {
  const box = await startInsightlySandbox({
    users: [...SAMPLE_USERS, ...people.map((email) => ({ EMAIL_ADDRESS: email }))],
    ...options,
  });
  const local: LocalLedger = await openLocalLedger(null);
  opened.push(box, local);
  const connections: LocalConnection[] = [
    {
      ref: { name: 'insightly', type: 'insightly', baseUrl: box.baseUrl },
      secret: { apiKey: 'sandbox-api-key' },
    },
  ];
  return { box, ledger: local.ledger as SqliteLedger, connections };
}

/**
 * Whoever releases pauses in these stories: each request is a run that waits, keyed by the
 * pause's task id, until the story answers that task.
 */
function releaseDesk() {
  type Answer = { ok: true; by?: string } | { ok: false; reason: string; by?: string };
  const requests: BrakeReleaseRequest[] = [];
  const answers = new Map<string, Answer>();
  const waiters = new Map<string, Array<(answer: Answer) => void>>();
  return {
    requests,
    release: (request: BrakeReleaseRequest) => {
      requests.push(request);
      const known = answers.get(request.taskId);
      if (known) return Promise.resolve(known);
      return new Promise<Answer>((resolve) => {
        waiters.set(request.taskId, [...(waiters.get(request.taskId) ?? []), resolve]);
      });
    },
    answer(taskId: string, answer: Answer) {
      answers.set(taskId, answer);
      for (const resolve of waiters.get(taskId) ?? []) resolve(answer);
      waiters.delete(taskId);
    },
    /** Resolves once `n` runs are waiting. */
    async waiting(n: number) {
      const deadline = Date.now() + 20_000; // a bound for a busy machine, not a measure
      while (requests.length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      expect(requests).toHaveLength(n);
    },
  };
}

const writesTo = (box: InsightlySandbox) => box.requests.filter((r) => r.method !== 'GET');

describe('the safety brake', () => {
  it('pauses the 26th offboarding within an hour before anything is sent to the vendor', async () => {
    // Prepare: 26 leavers, the default brake (25 within 60 minutes)
    const people = leavers(26);
    const { box, ledger, connections } = await setUp(people);
    const desk = releaseDesk();
    const brake = { config: resolveBrake(), release: desk.release };
    for (const email of people.slice(0, 25)) {
      const result = await runLocally({ connections, ledger, brake, input: { email } });
      expect(result.ok && result.summary.status).toBe('succeeded');
    }
    const requestsBefore = box.requests.length;
    // Act
    const last = runLocally({ connections, ledger, brake, input: { email: people[25] } });
    await desk.waiting(1);
    // Assess: one release task, saying why; the vendor has heard nothing of the 26th
    expect(desk.requests[0]).toMatchObject({
      details: { count: 26, limit: 25, windowMinutes: 60, email: people[25] },
    });
    expect(box.requests.length).toBe(requestsBefore);
    expect(writesTo(box)).toHaveLength(25);
    desk.answer(desk.requests[0]?.taskId ?? '', { ok: true, by: 'it-lead@example.com' });
    expect(((await last) as Extract<LocalRunResult, { ok: true }>).summary.status).toBe('succeeded');
  });

  it('holds several runs on one task; the release lets them all finish, and the window counts afresh', async () => {
    // Prepare: a limit of 2; two offboardings fill the window
    const people = leavers(8);
    const { box, ledger, connections } = await setUp(people);
    const desk = releaseDesk();
    const brake = { config: { limit: 2, windowMinutes: 60 }, release: desk.release };
    for (const email of people.slice(0, 2))
      await runLocally({ connections, ledger, brake, input: { email } });
    // Act: three more, at once
    const held = people
      .slice(2, 5)
      .map((email) => runLocally({ connections, ledger, brake, input: { email } }));
    await desk.waiting(3);
    // Assess: one task for the three
    expect(new Set(desk.requests.map((r) => r.taskId)).size).toBe(1);
    expect(writesTo(box)).toHaveLength(2);
    // Act: released
    desk.answer(desk.requests[0]?.taskId ?? '', { ok: true, by: 'it-lead@example.com' });
    const results = await Promise.all(held);
    // Assess: all three finished
    expect(results.map((r) => r.ok && r.summary.status)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    expect(writesTo(box)).toHaveLength(5);
    // Assess: counted afresh from the release: two more go straight through, the third pauses again
    for (const email of people.slice(5, 7)) {
      const result = await runLocally({ connections, ledger, brake, input: { email } });
      expect(result.ok && result.summary.status).toBe('succeeded');
    }
    expect(desk.requests).toHaveLength(3);
    const again = runLocally({ connections, ledger, brake, input: { email: people[7] } });
    await desk.waiting(4);
    expect(desk.requests[3]?.taskId).not.toBe(desk.requests[0]?.taskId);
    desk.answer(desk.requests[3]?.taskId ?? '', { ok: false, reason: 'enough for today' });
    expect(await again).toMatchObject({ ok: false, error: { name: 'Brake.Refused' } });
  });

  it('refused: the waiting runs fail having written nothing, and the next offboarding opens a new pause', async () => {
    // Prepare: a limit of 1, filled
    const people = leavers(4);
    const { box, ledger, connections } = await setUp(people);
    const desk = releaseDesk();
    const brake = { config: { limit: 1, windowMinutes: 60 }, release: desk.release };
    await runLocally({ connections, ledger, brake, input: { email: people[0] } });
    const requestsBefore = box.requests.length;
    // Act: two wait, and the pause is refused
    const held = people
      .slice(1, 3)
      .map((email) => runLocally({ connections, ledger, brake, input: { email } }));
    await desk.waiting(2);
    desk.answer(desk.requests[0]?.taskId ?? '', {
      ok: false,
      reason: 'the HR feed is broken',
      by: 'sam@example.com',
    });
    const results = await Promise.all(held);
    // Assess: both stopped by the brake; nothing sent, nothing in their ledger
    for (const result of results) {
      expect(result).toMatchObject({ ok: false, error: { name: 'Brake.Refused' } });
    }
    expect(box.requests.length).toBe(requestsBefore);
    for (const email of people.slice(1, 3)) expect(await ledger.history(email)).toEqual([]);
    // Assess: the next offboarding asks again, on a new task
    const next = runLocally({ connections, ledger, brake, input: { email: people[3] } });
    await desk.waiting(3);
    expect(desk.requests[2]?.taskId).not.toBe(desk.requests[0]?.taskId);
    desk.answer(desk.requests[2]?.taskId ?? '', { ok: true, by: 'sam@example.com' });
    expect(await next).toMatchObject({ ok: true });
  });

  it('never counts or pauses a dry run', async () => {
    // Prepare: a limit of 1
    const people = leavers(6);
    const { ledger, connections } = await setUp(people);
    const desk = releaseDesk();
    const brake = { config: { limit: 1, windowMinutes: 60 }, release: desk.release };
    // Act: five dry runs, then a real one
    for (const email of people.slice(0, 5)) {
      const result = await runLocally({ connections, ledger, brake, input: { email, dryRun: true } });
      expect(result.ok && result.summary.status).toBe('succeeded');
    }
    const real = await runLocally({ connections, ledger, brake, input: { email: people[5] } });
    // Assess: nobody was asked; the real run went through (the dry runs left the window empty)
    expect(desk.requests).toEqual([]);
    expect(real.ok && real.summary.status).toBe('succeeded');
  });

  it('keeps the pause, and who released it when, in the ledger', async () => {
    // Prepare: a limit of 1, filled
    const people = leavers(2);
    const { ledger, connections } = await setUp(people);
    const desk = releaseDesk();
    const brake = { config: { limit: 1, windowMinutes: 60 }, release: desk.release };
    await runLocally({ connections, ledger, brake, input: { email: people[0] } });
    // Act
    const held = runLocally({ connections, ledger, brake, input: { email: people[1] } });
    await desk.waiting(1);
    const open = await brakeHistory(ledger);
    desk.answer(desk.requests[0]?.taskId ?? '', { ok: true, by: 'it-lead@example.com' });
    const result = await held;
    // Assess: open while it waited; then released, by whom and when
    expect(open).toMatchObject([
      { id: desk.requests[0]?.taskId, openedBy: result.executionId, count: 2, limit: 1 },
    ]);
    expect(open[0]?.outcome).toBeUndefined();
    const [pause] = await brakeHistory(ledger);
    expect(pause).toMatchObject({
      id: desk.requests[0]?.taskId,
      openedBy: result.executionId,
      email: people[1],
      count: 2,
      limit: 1,
      windowMinutes: 60,
      outcome: 'released',
      by: 'it-lead@example.com',
    });
    expect(Date.parse(pause?.at ?? '')).toBeGreaterThanOrEqual(Date.parse(pause?.openedAt ?? ''));
    expect(formatBrakeHistory([pause as NonNullable<typeof pause>])).toMatch(
      /released\s+it-lead@example\.com/,
    );
  });
});

describe('the safety brake on a bulk run', () => {
  it('a bulk run of 40 asks once, and its hand-offs to single runs are not counted again', async () => {
    // Prepare: a limit of 25; 40 leavers, three of whom also hold a Rapid7 cloud account that
    // only a person can switch off (each a hand-off to a single run)
    const people = leavers(40);
    const { box, ledger, connections } = await setUp(people);
    const cloud = await startRapid7PlatformSandbox({
      users: [...PLATFORM_USERS, ...people.slice(0, 3).map((email) => ({ email }))],
    });
    opened.push(cloud);
    const desk = releaseDesk();
    const askPerson = async (task: PersonTask) => {
      cloud.disableUser(task.email);
      return { ok: true } as const;
    };
    // Act
    const run = runBulkWorkflowLocally({
      connections: [
        ...connections,
        {
          ref: { name: 'rapid7-cloud', type: 'rapid7-platform', baseUrl: cloud.baseUrl },
          secret: { apiKey: RAPID7_PLATFORM_SANDBOX_KEY },
        },
      ],
      ledger,
      askPerson,
      retryPauseMs: 5,
      input: { emails: people },
      brake: { config: { limit: 25, windowMinutes: 60 }, release: desk.release },
    });
    await desk.waiting(1);
    // Assess: asked once, saying how many, before any write
    expect(desk.requests[0]?.details).toMatchObject({ count: 40, limit: 25, people: 40 });
    expect(writesTo(box)).toEqual([]);
    desk.answer(desk.requests[0]?.taskId ?? '', { ok: true, by: 'it-lead@example.com' });
    const bulk = summaryOf(await run);
    // Assess: everyone offboarded; the three hand-offs did not ask again
    expect(bulk).toMatchObject({ people: 40, status: 'succeeded' });
    expect(desk.requests).toHaveLength(1);
    // Assess: the released bulk run counts its 40, and the hand-offs nothing more
    const { state } = await ledger.brakeState();
    expect((state as { window: Array<{ n: number }> }).window.reduce((sum, e) => sum + e.n, 0)).toBe(40);
  });
});
