import { afterEach, describe, expect, it } from 'vitest';
import { createGainsightConnector } from '../../lambdas/connectors/gainsight/connector';
import { type LocalConnection, runLocally } from '../../local/runner';
import type { PersonTask } from '../../local/tasks';
import { GAINSIGHT_SANDBOX_ACCESS_KEY, JANE_GSID, startGainsightSandbox } from '../../sandboxes/gainsight';
import { RAPID7_PLATFORM_SANDBOX_KEY, startRapid7PlatformSandbox } from '../../sandboxes/rapid7-platform';

/**
 * Each connection type's own path through the real ASL: a person's task where the API
 * cannot switch an account off, an hour-long rate limit where the vendor counts by the hour.
 */

const JANE = 'jane.doe@example.com';
const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

async function platform() {
  const sandbox = await startRapid7PlatformSandbox();
  closers.push(() => sandbox.close());
  const connection: LocalConnection = {
    ref: { name: 'rapid7-cloud', type: 'rapid7-platform', baseUrl: sandbox.baseUrl },
    secret: { apiKey: RAPID7_PLATFORM_SANDBOX_KEY },
  };
  return { sandbox, connection };
}

describe('rapid7-platform: switched off by a person, verified through the API', () => {
  it('hands the step to a person with a task, then verifies their work', async () => {
    // Prepare: the "person" disables the account in the vendor's UI, then answers the task
    const { sandbox, connection } = await platform();
    const tasks: PersonTask[] = [];
    // Act
    const result = await runLocally({
      connections: [connection],
      input: { email: JANE },
      askPerson: async (task) => {
        tasks.push(task);
        sandbox.disableUser(task.email);
        return { ok: true };
      },
    });
    // Assess
    expect(result.ok && result.summary.connections[0]).toMatchObject({ outcome: 'deactivated' });
    expect(tasks).toHaveLength(1);
    expect(tasks[0]).toMatchObject({ connection: 'rapid7-cloud', email: JANE, type: 'rapid7-platform' });
    expect(tasks[0]?.instructions).toContain(`offboard task complete ${tasks[0]?.token}`);
    expect(sandbox.requests.every((r) => r.method === 'GET')).toBe(true);
  });

  it('fails the connection when the person says done but the account is still active', async () => {
    const { connection } = await platform();
    const result = await runLocally({
      connections: [connection],
      input: { email: JANE },
      retryPauseMs: 1,
      askPerson: async () => ({ ok: true }),
    });
    expect(result.ok && result.summary.connections[0]).toMatchObject({
      outcome: 'failed',
      error: { name: 'Vendor.NotYetApplied' },
    });
  });

  it('fails the connection with Task.Refused and the reason when the person cannot do it', async () => {
    const { connection } = await platform();
    const result = await runLocally({
      connections: [connection],
      input: { email: JANE },
      askPerson: async () => ({ ok: false, reason: 'the account is managed by SSO' }),
    });
    expect(result.ok && result.summary.connections[0]).toMatchObject({
      outcome: 'failed',
      error: { name: 'Task.Refused', message: expect.stringContaining('managed by SSO') },
    });
  });

  it('asks nobody on a dry run', async () => {
    const { connection } = await platform();
    let asked = 0;
    const result = await runLocally({
      connections: [connection],
      input: { email: JANE, dryRun: true },
      askPerson: async () => {
        asked++;
        return { ok: true };
      },
    });
    expect(result.ok && result.summary.connections[0]?.outcome).toBe('would-deactivate');
    expect(asked).toBe(0);
  });
});

describe('gainsight: 100 user-management requests an hour', () => {
  it('waits for the next window instead of failing (hourly retrier, pauses shortened)', async () => {
    // Prepare: 3 requests a window stand in for 100 an hour. The sandbox's clock moves
    // 100 ms a request, not with the wall clock, so the windows fill the same way on a
    // loaded machine: the 4th request of a window is refused, a later one gets through.
    let clock = 0;
    const sandbox = await startGainsightSandbox({
      rateLimit: { limit: 3, windowMs: 450 },
      now: () => {
        clock += 100;
        return clock;
      },
    });
    closers.push(() => sandbox.close());
    const connection: LocalConnection = {
      ref: { name: 'gainsight', type: 'gainsight', baseUrl: sandbox.baseUrl },
      secret: { accessKey: GAINSIGHT_SANDBOX_ACCESS_KEY },
    };
    // Act
    const result = await runLocally({ connections: [connection], input: { email: JANE }, retryPauseMs: 120 });
    // Assess
    expect(result.ok && result.summary.connections[0]?.outcome).toBe('deactivated');
    expect(sandbox.counts().throttled).toBeGreaterThan(0);
    expect(sandbox.users.get(JANE_GSID)?.IsActiveUser).toBe(false);
  });

  it('names its 429 Vendor.RateLimitedHourly, the error the hour-long retrier matches', async () => {
    const sandbox = await startGainsightSandbox({ rateLimit: { limit: 0, windowMs: 3_600_000 } });
    closers.push(() => sandbox.close());
    const connector = createGainsightConnector(
      { name: 'gainsight', type: 'gainsight', baseUrl: sandbox.baseUrl },
      { accessKey: GAINSIGHT_SANDBOX_ACCESS_KEY },
    );
    await expect(connector.lookupUser(JANE)).rejects.toMatchObject({ name: 'Vendor.RateLimitedHourly' });
  });
});
