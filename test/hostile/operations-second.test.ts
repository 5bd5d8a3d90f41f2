import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Context } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { brakeHandler } from '../../lambdas/handlers/brake';
import {
  brakeHistory,
  countBulk,
  countOffboarding,
  pauseAnswer,
  resolvePause,
} from '../../lambdas/shared/brake';
import type { BrakeConfig } from '../../lambdas/shared/brake-config';
import type { Ledger } from '../../lambdas/shared/ledger';
import { answerTask, type TaskRecord, type TaskResumer } from '../../lambdas/shared/tasks';
import { runBulkLocally } from '../../local/bulk';
import { openLocalLedger } from '../../local/ledger';
import { runLocally } from '../../local/runner';
import { SqliteLedger } from '../../local/sqlite-ledger';
import { FileTaskStore } from '../../local/tasks';
import { SAMPLE_USERS, startInsightlySandbox } from '../../sandboxes/insightly';

/**
 * Operating the workflow, attacked a second time: what happens when things meet (a pause and
 * the runs that join it from two terminals, an answer racing a join), and where the local
 * runner and the deployed functions part ways.
 */

const dir = mkdtempSync(join(tmpdir(), 'offboard-hostile-operations-second-'));

/** Records what the waiting runs would be told, token by token. */
class RecordingResumer implements TaskResumer {
  readonly resumed: string[] = [];
  async succeed(token: string) {
    this.resumed.push(token);
  }
  async fail(token: string) {
    this.resumed.push(token);
  }
}

function pauseTask(id: string, executionId: string): Omit<TaskRecord, 'tokens' | 'answer'> {
  return {
    id,
    kind: 'release-brake',
    createdAt: '2030-01-01T00:00:00.000Z',
    deadline: '2030-01-08T00:00:00.000Z',
    remindAt: '2030-01-07T00:00:00.000Z',
    executionId,
    details: { count: 3, limit: 2, windowMinutes: 60, people: 1 },
  };
}

describe('local runs in two terminals share one tasks directory', () => {
  it('two runs that join the same pause at once are both resumed by its release', async () => {
    // Prepare: two local runs (two processes, two stores on one directory) paused by the brake
    const tasks = mkdtempSync(join(dir, 'tasks-'));
    const [first, second] = [new FileTaskStore(tasks), new FileTaskStore(tasks)];
    // Act: both join the pause's task at the same moment, then a person releases it
    await Promise.all([
      first.openOrJoin(pauseTask('pause-1', 'run-a'), 'local-a'),
      second.openOrJoin(pauseTask('pause-1', 'run-b'), 'local-b'),
    ]);
    const resumer = new RecordingResumer();
    await answerTask({ store: new FileTaskStore(tasks), resumer }, 'pause-1', {
      ok: true,
      by: 'ops@example.com',
      at: '2030-01-01T01:00:00.000Z',
    });
    // Assess: neither run is left waiting on a release that already happened
    expect(resumer.resumed.sort()).toEqual(['local-a', 'local-b']);
  });

  it('a run that joins while the release is being recorded is resumed or sees the answer', async () => {
    // Prepare: one run waits on the pause
    const tasks = mkdtempSync(join(dir, 'tasks-'));
    await new FileTaskStore(tasks).openOrJoin(pauseTask('pause-2', 'run-a'), 'local-a');
    const resumer = new RecordingResumer();
    // Act: a second run joins while the release is recorded in another terminal
    const [joined] = await Promise.all([
      new FileTaskStore(tasks).openOrJoin(pauseTask('pause-2', 'run-b'), 'local-b'),
      answerTask({ store: new FileTaskStore(tasks), resumer }, 'pause-2', {
        ok: true,
        by: 'ops@example.com',
        at: '2030-01-01T01:00:00.000Z',
      }),
    ]);
    // Assess: the joining run either saw the answer or was resumed by it
    expect(joined.record.answer !== undefined || resumer.resumed.includes('local-b')).toBe(true);
    expect(resumer.resumed).toContain('local-a');
  });
});

describe('a pause whose wait fails for a reason that is not a person', () => {
  it('keeps the pause open, and its record names who released it', async () => {
    // Prepare: a limit of 1; leaver 2 opens a pause and leaver 3 joins it
    const ledger = SqliteLedger.inMemory();
    const answers = new FileTaskStore(mkdtempSync(join(dir, 'tasks-')));
    const brake = { store: ledger, config: { limit: 1, windowMinutes: 60 }, answers };
    const run = (n: number) => `arn:aws:states:eu-west-1:1:execution:offboard-user:run-${n}`;
    await countOffboarding(brake, { executionId: run(1), email: 'leaver1@example.com' });
    const opened = await countOffboarding(brake, { executionId: run(2), email: 'leaver2@example.com' });
    await countOffboarding(brake, { executionId: run(3), email: 'leaver3@example.com' });
    const pauseId = 'pause' in opened ? opened.pause.id : '';
    await answers.openOrJoin({ ...pauseTask(pauseId, run(2)) }, 'token-2');
    await answers.openOrJoin({ ...pauseTask(pauseId, run(3)) }, 'token-3');
    // Act: leaver 2's wait fails (the notify function timed out: nobody refused anything) …
    const stopped = await resolvePause(brake, {
      pauseId,
      executionId: run(2),
      answer: pauseAnswer(undefined, { Error: 'Sandbox.Timedout', Cause: 'Task timed out after 60 seconds' }),
    });
    // … leaver 4 arrives, then the IT lead releases the pause and leaver 3 goes on
    const fourth = await countOffboarding(brake, { executionId: run(4), email: 'leaver4@example.com' });
    await answers.answer(pauseId, { ok: true, by: 'IT lead', at: '2030-01-01T01:00:00.000Z' });
    await resolvePause(brake, {
      pauseId,
      executionId: run(3),
      answer: pauseAnswer({ taskId: pauseId, ok: true, by: 'IT lead', at: '2030-01-01T01:00:00.000Z' }),
    });
    // Assess: the failure stopped leaver 2 only, and says so; leaver 4 waited on the same pause
    // (no second email); the ledger says who released the pause, not that someone refused it
    expect(stopped.message).not.toContain('refused');
    expect(stopped.message).toContain('Task timed out after 60 seconds');
    expect('pause' in fourth && fourth.pause.id).toBe(pauseId);
    const history = await brakeHistory(ledger);
    expect(history.map((p) => [p.id, p.outcome, p.by])).toEqual([[pauseId, 'released', 'IT lead']]);
  });
});

/**
 * The brake of a run that pauses: while it waits, HR says `email` stays and the operator
 * reactivates them; then the IT lead releases the pause (for the others it holds).
 */
function releasedAfterReactivating(
  connections: Parameters<typeof runLocally>[0]['connections'],
  ledger: Ledger,
  email: string,
  config: BrakeConfig,
) {
  return {
    config,
    release: async () => {
      const reactivated = await runLocally({ connections, ledger, input: { email, reactivate: true } });
      expect(reactivated.ok).toBe(true);
      return { ok: true as const, by: 'IT lead' };
    },
  };
}

describe('a reactivation while the brake holds the offboarding', () => {
  it('is not undone by the release: the reactivated person is not switched off afterwards', async () => {
    // Prepare: a limit of 1; one leaver is offboarded, then Sam's offboarding is paused
    const [first, sam] = ['first.leaver@example.com', 'sam.stays@example.com'];
    const box = await startInsightlySandbox({
      users: [...SAMPLE_USERS, { EMAIL_ADDRESS: first }, { EMAIL_ADDRESS: sam }],
    });
    const local = await openLocalLedger(null);
    try {
      const connections = [
        {
          ref: { name: 'insightly', type: 'insightly' as const, baseUrl: box.baseUrl },
          secret: { apiKey: 'sandbox-api-key' },
        },
      ];
      const config = { limit: 1, windowMinutes: 60 };
      await runLocally({ connections, ledger: local.ledger, brake: { config }, input: { email: first } });
      const writesBefore = box.requests.filter((r) => r.method !== 'GET').length;
      // Act: while Sam's run waits on the pause, HR says Sam stays and the operator reactivates
      // Sam; then the IT lead releases the pause (for the others it holds)
      const paused = await runLocally({
        connections,
        ledger: local.ledger,
        input: { email: sam },
        brake: releasedAfterReactivating(connections, local.ledger, sam, config),
      });
      // Assess: nothing was written to the vendor for Sam after the reactivation
      expect(box.requests.filter((r) => r.method !== 'GET')).toHaveLength(writesBefore);
      expect(!paused.ok && paused.error.name).toBe('User.Reactivated');
      expect(!paused.ok && paused.error.message).toContain(`${sam} was reactivated`);
    } finally {
      await Promise.all([box.close(), local.close()]);
    }
  });
});

describe('a reactivation while a future-dated termination waits for its effectiveAt', () => {
  it('stops the offboarding at the count, before any vendor write, and counts nothing', async () => {
    // Prepare: Sam's termination started on the 1st and waits for its date; on the 2nd HR said
    // Sam stays, and the operator reactivated Sam (nothing to restore yet)
    const sam = 'sam.stays@example.com';
    const ledger = SqliteLedger.inMemory();
    await ledger.record([
      {
        email: sam,
        connection: 'crm',
        type: 'insightly',
        outcome: 'nothing-to-restore',
        reactivate: true,
        dryRun: false,
        at: '2030-01-02T00:00:00.000Z',
        executionId: 'arn:aws:states:local:000000000000:execution:offboard-user:reinstate',
      },
    ]);
    const handler = brakeHandler({ ledger: () => ledger, config: () => ({ limit: 25, windowMinutes: 60 }) });
    const context = { functionName: 'offboard-brake', awsRequestId: 'req-1' } as unknown as Context;
    // Act: its date has come, and the run counts toward the brake right before its first write
    const counted = handler(
      {
        action: 'count',
        executionId: 'arn:aws:states:local:000000000000:execution:offboard-user:sam',
        email: sam,
        startedAt: '2030-01-01T00:00:00.000Z',
      },
      context,
    );
    // Assess
    await expect(counted).rejects.toMatchObject({ name: 'User.Reactivated' });
    await expect(counted).rejects.toThrow(/sam\.stays@example\.com was reactivated by .*reinstate/);
    expect(await ledger.brakeState()).toMatchObject({ state: undefined });
  });
});

describe("a reactivation between a bulk run's count and its hand-off", () => {
  it('stops the hand-off single run, which started after the reactivation, before any write', async () => {
    // Prepare: a bulk run counted Sam in its list; Sam was then reactivated (HR said Sam stays);
    // then the bulk run handed Sam off to a single run (a connection that needs a person)
    const sam = 'sam.stays@example.com';
    const ledger = SqliteLedger.inMemory();
    const blobs = ledger.blobs();
    const bulk = 'arn:aws:states:local:000000000000:execution:offboard-bulk:layoff';
    const peopleRef = await blobs.put([sam, 'other.leaver@example.com']);
    const config = { limit: 25, windowMinutes: 60 };
    await countBulk(
      { store: ledger, config, blobs: () => blobs },
      { executionId: bulk, people: 2, peopleRef },
    );
    const counted = Date.now();
    await ledger.record([
      {
        email: sam,
        connection: 'crm',
        type: 'insightly',
        outcome: 'reactivated',
        reactivate: true,
        dryRun: false,
        userId: '1002',
        at: new Date(counted + 1000).toISOString(),
        executionId: 'arn:aws:states:local:000000000000:execution:offboard-user:reinstate',
      },
    ]);
    const handler = brakeHandler({ ledger: () => ledger, config: () => config, blobs: () => blobs });
    const context = { functionName: 'offboard-brake', awsRequestId: 'req-1' } as unknown as Context;
    // Act: the hand-off counts right before its first write (it started after the reactivation)
    const handoff = handler(
      {
        action: 'count',
        executionId: 'arn:aws:states:local:000000000000:execution:offboard-user:handoff-sam',
        email: sam,
        startedAt: new Date(counted + 2000).toISOString(),
        input: { email: sam, AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID: bulk },
      },
      context,
    );
    // Assess: before, its own start was after the reactivation, so it went on as a covered hand-off
    await expect(handoff).rejects.toMatchObject({ name: 'User.Reactivated' });
  });
});

describe('a reactivation while the brake holds a bulk run', () => {
  it('stops the released bulk run before any write, naming who was reactivated', async () => {
    // Prepare: a limit of 1; one leaver is offboarded, then a bulk run of Sam and another
    // leaver pauses; while it waits, HR says Sam stays and the operator reactivates Sam
    const [first, sam, other] = [
      'first.leaver@example.com',
      'sam.stays@example.com',
      'other.leaver@example.com',
    ];
    const box = await startInsightlySandbox({
      users: [...SAMPLE_USERS, { EMAIL_ADDRESS: first }, { EMAIL_ADDRESS: sam }, { EMAIL_ADDRESS: other }],
    });
    const local = await openLocalLedger(null);
    try {
      const connections = [
        {
          ref: { name: 'insightly', type: 'insightly' as const, baseUrl: box.baseUrl },
          secret: { apiKey: 'sandbox-api-key' },
        },
      ];
      const config = { limit: 1, windowMinutes: 60 };
      await runLocally({ connections, ledger: local.ledger, brake: { config }, input: { email: first } });
      const writesBefore = box.requests.filter((r) => r.method !== 'GET').length;
      // Act: the IT lead releases the pause after the reactivation
      const bulk = await runBulkLocally({
        connections,
        ledger: local.ledger,
        emails: [sam, other],
        brake: releasedAfterReactivating(connections, local.ledger, sam, config),
      });
      // Assess: before, the bulk run went on and switched Sam off after the reactivation
      expect(box.requests.filter((r) => r.method !== 'GET')).toHaveLength(writesBefore);
      expect(!bulk.ok && bulk.error.name).toBe('User.Reactivated');
      expect(!bulk.ok && bulk.error.message).toContain(`1 of this bulk run's people were reactivated`);
      expect(!bulk.ok && bulk.error.message).toContain(sam);
    } finally {
      await Promise.all([box.close(), local.close()]);
    }
  });
});
