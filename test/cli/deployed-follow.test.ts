import { describe, expect, it } from 'vitest';
import { EXIT } from '../../cli/main';
import type { OffboardSummary } from '../../lambdas/shared/summary';
import { run } from '../helpers/cli';
import { createStandIn, createTestStack, useMotoPerStory } from '../helpers/moto';

/**
 * `offboard run --stack` following an execution to its end. moto's executing backend runs
 * Pass, Wait and Fail states (its Lambda needs Docker), so the stack's OffboardUser here is a
 * stand-in with the real state names: its history is a real one (states entered and exited,
 * in order), and its output is a summary as Summarize returns it.
 */

const SUMMARY: OffboardSummary = {
  email: 'jane.doe@example.com',
  dryRun: false,
  status: 'partial',
  connections: [
    { name: 'crm', type: 'insightly', outcome: 'deactivated', userId: '1002' },
    {
      name: 'vm',
      type: 'rapid7-insightvm',
      outcome: 'failed',
      error: { name: 'Vendor.AuthFailed', message: 'vm: look up jane.doe@example.com: HTTP 401' },
    },
  ],
};

/** A stand-in for OffboardUser: one connection's Lookup, a wait, then the summary (or a failure). */
function standIn(end: 'summary' | 'invalid', waitSeconds = 0) {
  const states: Record<string, unknown> = {
    'For crm': { Type: 'Pass', Result: { connection: { name: 'crm', type: 'insightly' } }, Next: 'Lookup' },
    Lookup: { Type: 'Pass', Next: 'Wait for the vendor' },
    'Wait for the vendor': { Type: 'Wait', Seconds: waitSeconds, Next: 'Summarize' },
    Summarize:
      end === 'summary'
        ? { Type: 'Pass', Result: SUMMARY, End: true }
        : { Type: 'Fail', Error: 'Input.Invalid', Cause: "invalid input: unknown connection 'erp'" },
  };
  return JSON.stringify({ StartAt: 'For crm', States: states });
}

/**
 * A moto server of its own for each story: moto 5.2.1's executing backend runs one execution
 * per server (the next StartExecution fails deep-copying the first one's lock: HTTP 500).
 * The stack `Offboard` has the stand-in as its OffboardUser.
 */
async function deployStandIn(end: 'summary' | 'invalid', waitSeconds = 0): Promise<void> {
  const moto = await ownMoto();
  const StateMachineArn = await createStandIn(moto, standIn(end, waitSeconds));
  await createTestStack(moto, 'Offboard', { StateMachineArn });
}

const ownMoto = useMotoPerStory();

describe('offboard run --stack follows the execution', () => {
  it('prints the progress lines and the summary table of a local run, and exits 1 when a connection failed', async () => {
    // Prepare
    await deployStandIn('summary');
    // Act
    const { code, stdout, stderr } = await run([
      'run',
      '--stack',
      'Offboard',
      '--email',
      'jane.doe@example.com',
    ]);
    // Assess
    expect(stderr).toContain('offboard: started arn:aws:states:eu-west-1:');
    expect(stderr).toContain('  crm: looking up…');
    expect(stdout).toContain('Offboarding jane.doe@example.com');
    expect(stdout).toMatch(/crm\s+insightly\s+deactivated\s+1002/);
    expect(stdout).toMatch(/vm\s+rapid7-insightvm\s+failed\s+-\s+Vendor\.AuthFailed: vm: look up/);
    expect(stdout).toContain('Status: partial (1 of 2 connections failed)');
    expect(code).toBe(EXIT.failed);
  });

  it('--json prints the execution output alone', async () => {
    await deployStandIn('summary');
    const { code, stdout } = await run([
      'run',
      '--stack',
      'Offboard',
      '--email',
      'jane.doe@example.com',
      '--json',
    ]);
    expect(JSON.parse(stdout)).toEqual(SUMMARY);
    expect(code).toBe(EXIT.failed);
  });

  it('an execution that refused its input (Input.Invalid) exits 2, naming why', async () => {
    await deployStandIn('invalid');
    const { code, stderr } = await run(['run', '--stack', 'Offboard', '--email', 'jane.doe@example.com']);
    expect(code).toBe(EXIT.usage);
    expect(stderr).toMatch(/FAILED: Input\.Invalid: invalid input: unknown connection 'erp'/);
  });

  it('status shows the state a running execution is in', async () => {
    // Prepare
    // A wait no busy machine outlasts between start and status (moto stops after the story).
    await deployStandIn('summary', 600);
    const started = await run(['run', '--stack', 'Offboard', '--email', 'jane.doe@example.com', '--no-wait']);
    // Act
    const { code, stdout } = await run(['status', started.stdout, '--stack', 'Offboard']);
    // Assess
    expect(code).toBe(EXIT.ok);
    expect(stdout).toContain('Status: RUNNING');
    expect(stdout).toContain('Now in: Wait for the vendor');
  });
});
