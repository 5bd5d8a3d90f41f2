import { readFileSync } from 'node:fs';
import aslValidator from 'asl-validator';
import { afterEach, describe, expect, it } from 'vitest';
import { ERROR_NAMES } from '../../lambdas/shared/errors';
import { type LocalConnection, OFFBOARD_USER_ASL, type ProgressEvent, runLocally } from '../../local/runner';
import {
  type InsightlySandbox,
  type InsightlySandboxOptions,
  startInsightlySandbox,
} from '../../sandboxes/insightly';

/**
 * The real ASL, executed in-process with the real handlers, against Insightly sandboxes.
 * Retry pauses are shortened (retryPauseMs); everything else is as deployed.
 */

const KEY = 'sandbox-api-key';
const JANE = 'jane.doe@example.com';
const sandboxes: InsightlySandbox[] = [];

async function sandbox(options: InsightlySandboxOptions = {}): Promise<InsightlySandbox> {
  const started = await startInsightlySandbox(options);
  sandboxes.push(started);
  return started;
}

function connection(name: string, box: InsightlySandbox, apiKey = KEY): LocalConnection {
  return { ref: { name, type: 'insightly', baseUrl: box.baseUrl }, secret: { apiKey } };
}

const writes = (box: InsightlySandbox) => box.requests.filter((r) => r.method !== 'GET');

afterEach(async () => {
  // Whatever a test did, nothing may ever have been deleted.
  for (const box of sandboxes) expect(box.requests.filter((r) => r.method === 'DELETE')).toEqual([]);
  await Promise.all(sandboxes.splice(0).map((box) => box.close()));
});

describe('offboard-user.asl.json', () => {
  it('is a valid state machine definition', () => {
    const definition = JSON.parse(readFileSync(OFFBOARD_USER_ASL, 'utf8'));
    const { isValid, errors } = aslValidator(definition);
    expect(errors).toEqual([]);
    expect(isValid).toBe(true);
  });

  it('retries 429 with capped exponential backoff and full jitter, long enough to ride out a minute', () => {
    // Prepare
    const definition = JSON.parse(readFileSync(OFFBOARD_USER_ASL, 'utf8'));
    const steps = definition.States['Offboard connections'].ItemProcessor.States;
    for (const name of ['Lookup', 'GetRecord', 'Deactivate', 'Verify']) {
      // Act
      const retrier = steps[name].Retry.find((r: { ErrorEquals: string[] }) =>
        r.ErrorEquals.includes('Vendor.RateLimited'),
      );
      // Assess: with full jitter a wait is uniform in [0, cap], so its mean is half the cap.
      expect(retrier.JitterStrategy).toBe('FULL');
      expect(retrier.MaxDelaySeconds).toBeGreaterThan(0);
      let meanTotal = 0;
      for (let attempt = 0; attempt < retrier.MaxAttempts; attempt++) {
        meanTotal +=
          Math.min(retrier.IntervalSeconds * retrier.BackoffRate ** attempt, retrier.MaxDelaySeconds) / 2;
      }
      expect(meanTotal).toBeGreaterThanOrEqual(90);
      expect(steps[name].Catch.at(-1).ErrorEquals).toEqual(['States.ALL']);
    }
    expect(
      steps.Verify.Retry.some((r: { ErrorEquals: string[] }) =>
        r.ErrorEquals.includes(ERROR_NAMES.notYetApplied),
      ),
    ).toBe(true);
  });

  it('rides out an hour of 429s from a fixed-window vendor (Gainsight: 100 requests an hour)', () => {
    // Prepare
    const definition = JSON.parse(readFileSync(OFFBOARD_USER_ASL, 'utf8'));
    const steps = definition.States['Offboard connections'].ItemProcessor.States;
    for (const name of ['Lookup', 'GetRecord', 'Deactivate', 'Verify']) {
      // Act
      const retrier = steps[name].Retry.find((r: { ErrorEquals: string[] }) =>
        r.ErrorEquals.includes(ERROR_NAMES.rateLimitedHourly),
      );
      // Assess: no jitter, so the total is certain, and it spans more than a whole window
      expect(retrier.JitterStrategy).toBe('NONE');
      let total = 0;
      for (let attempt = 0; attempt < retrier.MaxAttempts; attempt++) {
        total += Math.min(retrier.IntervalSeconds * retrier.BackoffRate ** attempt, retrier.MaxDelaySeconds);
      }
      expect(total).toBeGreaterThan(3600);
    }
  });
});

describe('offboarding one person through the state machine', () => {
  it('finds, reads, deactivates and verifies, keeping every other field', async () => {
    // Prepare
    const box = await sandbox();
    const before = structuredClone(box.users.get(1002));
    // Act
    const result = await runLocally({
      connections: [connection('insightly-prod', box)],
      input: { email: JANE },
    });
    // Assess
    expect(result.ok && result.summary).toEqual({
      email: JANE,
      dryRun: false,
      status: 'succeeded',
      connections: [{ name: 'insightly-prod', type: 'insightly', outcome: 'deactivated', userId: '1002' }],
    });
    const after = box.users.get(1002);
    expect(after?.ACTIVE).toBe(false);
    expect({ ...after, ACTIVE: true, DATE_UPDATED_UTC: '' }).toEqual({ ...before, DATE_UPDATED_UTC: '' });
    expect(box.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      'GET /v3.1/Users/Search',
      'GET /v3.1/Users/1002',
      'GET /v3.1/Users/Me',
      // Read again right before the write: the write must carry the record as it is now.
      'GET /v3.1/Users/1002',
      'PUT /v3.1/Users',
      'GET /v3.1/Users/1002',
    ]);
  });

  it('dry run reports would-deactivate and sends no write', async () => {
    const box = await sandbox();
    const result = await runLocally({
      connections: [connection('insightly-prod', box)],
      input: { email: JANE, dryRun: true },
    });
    expect(result.ok && result.summary.connections[0]).toMatchObject({
      outcome: 'would-deactivate',
      userId: '1002',
    });
    expect(result.ok && result.summary.dryRun).toBe(true);
    expect(writes(box)).toEqual([]);
    expect(box.users.get(1002)?.ACTIVE).toBe(true);
  });

  it('an unknown email is the outcome not-found, not a failure', async () => {
    const box = await sandbox();
    const result = await runLocally({
      connections: [connection('insightly-prod', box)],
      input: { email: 'nobody@example.com' },
    });
    expect(result.ok && result.summary).toMatchObject({
      status: 'succeeded',
      connections: [{ outcome: 'not-found' }],
    });
    expect(writes(box)).toEqual([]);
  });

  it('an already inactive account is success with no write', async () => {
    const box = await sandbox();
    const result = await runLocally({
      connections: [connection('insightly-prod', box)],
      input: { email: 'ALREADY.GONE@example.com' },
    });
    expect(result.ok && result.summary.connections[0]).toMatchObject({
      outcome: 'already-inactive',
      userId: '1003',
    });
    expect(writes(box)).toEqual([]);
  });

  it('a bad email fails the execution with Input.Invalid before any vendor request', async () => {
    const box = await sandbox();
    const result = await runLocally({
      connections: [connection('insightly-prod', box)],
      input: { email: 'jane.doe@' },
    });
    expect(result.ok).toBe(false);
    expect(!result.ok && result.error.name).toBe('Input.Invalid');
    expect(!result.ok && result.error.message).toContain('jane.doe@');
    expect(box.requests).toEqual([]);
  });

  it('a misspelt option fails the execution instead of running for real', async () => {
    const box = await sandbox();
    const result = await runLocally({
      connections: [connection('insightly-prod', box)],
      input: { email: JANE, dryrun: true },
    });
    expect(!result.ok && result.error).toMatchObject({
      name: 'Input.Invalid',
      message: expect.stringContaining("'dryrun'"),
    });
    expect(box.requests).toEqual([]);
  });

  it('runs only the connections asked for', async () => {
    const a = await sandbox();
    const b = await sandbox();
    const result = await runLocally({
      connections: [connection('insightly-a', a), connection('insightly-b', b)],
      input: { email: JANE, connections: ['insightly-b'] },
    });
    expect(result.ok && result.summary.connections.map((c) => c.name)).toEqual(['insightly-b']);
    expect(a.requests).toEqual([]);
    expect(b.users.get(1002)?.ACTIVE).toBe(false);
  });
});

describe('vendor trouble on one connection', () => {
  it('rides out a burst of 429s without a failure', async () => {
    // Prepare: the next six requests are throttled, wherever they land.
    const box = await sandbox({
      faults: [{ status: 429, times: 6, body: '{"Message":"API rate limit exceeded"}' }],
    });
    const progress: ProgressEvent[] = [];
    // Act
    const result = await runLocally({
      connections: [connection('insightly-prod', box)],
      input: { email: JANE },
      retryPauseMs: 5,
      onProgress: (event) => progress.push(event),
    });
    // Assess
    expect(result.ok && result.summary.connections[0]?.outcome).toBe('deactivated');
    expect(box.counts().throttled).toBe(6);
    expect(progress.filter((p) => p.errorName === 'Vendor.RateLimited')).toHaveLength(6);
  });

  it('gives up on endless 429s with Vendor.RateLimited and writes nothing', async () => {
    const box = await sandbox({ faults: [{ method: 'GET', status: 429, times: 1000 }] });
    const result = await runLocally({
      connections: [connection('insightly-prod', box)],
      input: { email: JANE },
      retryPauseMs: 1,
    });
    expect(result.ok && result.summary.connections[0]).toMatchObject({
      outcome: 'failed',
      error: {
        name: 'Vendor.RateLimited',
        message: expect.stringMatching(/^insightly-prod: look up .*HTTP 429/),
      },
    });
    // The first try plus every retry the ASL allows.
    expect(box.requests.length).toBe(13);
    expect(writes(box)).toEqual([]);
  });

  it('retries a 5xx on the write and then succeeds', async () => {
    const box = await sandbox({ faults: [{ method: 'PUT', status: 503, times: 2 }] });
    const result = await runLocally({
      connections: [connection('insightly-prod', box)],
      input: { email: JANE },
      retryPauseMs: 1,
    });
    expect(result.ok && result.summary.connections[0]?.outcome).toBe('deactivated');
    expect(writes(box).map((r) => r.status)).toEqual([503, 503, 200]);
  });

  it('fails the connection with Vendor.Unavailable when the 5xx does not stop', async () => {
    const box = await sandbox({
      faults: [{ method: 'GET', path: /Users\/Search$/, status: 500, times: 100 }],
    });
    const result = await runLocally({
      connections: [connection('insightly-prod', box)],
      input: { email: JANE },
      retryPauseMs: 1,
    });
    expect(result.ok && result.summary).toMatchObject({
      status: 'failed',
      connections: [{ outcome: 'failed', error: { name: 'Vendor.Unavailable' } }],
    });
    expect(box.requests.length).toBe(4);
  });

  it('waits for a write the vendor has not applied yet (verify lag)', async () => {
    const box = await sandbox({ verifyLag: 2 });
    const progress: ProgressEvent[] = [];
    const result = await runLocally({
      connections: [connection('insightly-prod', box)],
      input: { email: JANE },
      retryPauseMs: 1,
      onProgress: (event) => progress.push(event),
    });
    expect(result.ok && result.summary.connections[0]?.outcome).toBe('deactivated');
    expect(
      progress.filter((p) => p.step === 'Verify' && p.errorName === 'Vendor.NotYetApplied'),
    ).toHaveLength(2);
  });

  it('an auth failure on one connection leaves the others to finish: status partial', async () => {
    const good = await sandbox();
    const bad = await sandbox();
    const result = await runLocally({
      connections: [connection('insightly-good', good), connection('insightly-bad', bad, 'revoked-key-123')],
      input: { email: JANE },
      retryPauseMs: 1,
    });
    expect(result.ok && result.summary.status).toBe('partial');
    expect(result.ok && result.summary.connections).toEqual([
      { name: 'insightly-good', type: 'insightly', outcome: 'deactivated', userId: '1002' },
      {
        name: 'insightly-bad',
        type: 'insightly',
        outcome: 'failed',
        error: { name: 'Vendor.AuthFailed', message: expect.stringContaining('insightly-bad: look up') },
      },
    ]);
    // Auth failures are not retried: one request, and the key is in no message.
    expect(bad.requests).toHaveLength(1);
    expect(JSON.stringify(result)).not.toContain('revoked-key-123');
  });

  it('malformed JSON from the vendor fails that connection only', async () => {
    const broken = await sandbox({
      faults: [
        { method: 'GET', path: /Users\/1002$/, status: 200, body: '{"USER_ID": 1002, "FIRST', times: 1 },
      ],
    });
    const fine = await sandbox();
    const result = await runLocally({
      connections: [connection('insightly-broken', broken), connection('insightly-fine', fine)],
      input: { email: JANE },
      retryPauseMs: 1,
    });
    expect(result.ok && result.summary.connections).toEqual([
      {
        name: 'insightly-broken',
        type: 'insightly',
        outcome: 'failed',
        userId: '1002',
        error: { name: 'Vendor.BadResponse', message: expect.stringContaining('not valid JSON') },
      },
      { name: 'insightly-fine', type: 'insightly', outcome: 'deactivated', userId: '1002' },
    ]);
    expect(writes(broken)).toEqual([]);
  });
});

describe('people the workflow must not switch off', () => {
  it('never deactivates the account that owns the API key', async () => {
    const box = await sandbox();
    const result = await runLocally({
      connections: [connection('insightly-prod', box)],
      input: { email: 'admin@example.com' },
    });
    expect(result.ok && result.summary.connections[0]).toMatchObject({
      outcome: 'failed',
      userId: '1001',
      error: { name: 'User.Protected' },
    });
    expect(writes(box)).toEqual([]);
    expect(box.users.get(1001)?.ACTIVE).toBe(true);
  });

  it('writes nothing when two accounts share the email', async () => {
    const box = await sandbox({
      users: [
        { EMAIL_ADDRESS: 'admin@example.com', ADMINISTRATOR: true },
        { EMAIL_ADDRESS: 'sam@example.com' },
        { EMAIL_ADDRESS: 'Sam@Example.com' },
      ],
    });
    const result = await runLocally({
      connections: [connection('insightly-prod', box)],
      input: { email: 'sam@example.com' },
    });
    expect(result.ok && result.summary.connections[0]).toMatchObject({
      outcome: 'failed',
      error: { name: 'User.Ambiguous' },
    });
    expect(writes(box)).toEqual([]);
  });

  it('matches exactly even when the server ignores the filter', async () => {
    const box = await sandbox({
      ignoreFilter: true,
      users: [
        { EMAIL_ADDRESS: 'admin@example.com', ADMINISTRATOR: true },
        { EMAIL_ADDRESS: 'xjane.doe@example.com' },
        { EMAIL_ADDRESS: 'jane.doe@example.com.evil.io' },
      ],
    });
    const result = await runLocally({
      connections: [connection('insightly-prod', box)],
      input: { email: JANE },
    });
    expect(result.ok && result.summary.connections[0]?.outcome).toBe('not-found');
    expect(writes(box)).toEqual([]);
  });
});
