import { describe, expect, it } from 'vitest';
import type { ConnectionRef } from '../../../lambdas/shared/connections';
import { endpointOf } from '../../../lambdas/shared/deployed';
import { ERROR_NAMES } from '../../../lambdas/shared/errors';
import { normalizeRequest } from '../../../lambdas/shared/request';
import { summarize } from '../../../lambdas/shared/summary';

/** The execution input as a person types it, and the summary a person reads at the end. */

const connection = (name: string): ConnectionRef => ({
  name,
  type: 'insightly',
  baseUrl: `https://${name}.insightly.com/v3.1`,
});
const CONFIGURED = [connection('insightly-eu'), connection('insightly-us'), connection('insightly-apac')];

/** The error normalizeRequest throws; fails the test when it returns. */
function refusal(raw: unknown, available: readonly ConnectionRef[] = CONFIGURED): Error {
  try {
    normalizeRequest(raw, available);
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the request to be refused, but it was accepted');
}

describe('normalizeRequest', () => {
  it('trims the email, defaults dryRun to false and runs every configured connection', () => {
    // Act
    const request = normalizeRequest({ email: '  Jane.Doe@Example.com \n' }, CONFIGURED);

    // Assess
    expect(request).toEqual({
      email: 'Jane.Doe@Example.com',
      dryRun: false,
      reactivate: false,
      connections: CONFIGURED.map((c) => ({
        name: c.name,
        type: c.type,
        deactivation: 'api',
        endpoint: endpointOf(c),
      })),
    });
  });

  it('keeps dryRun: true', () => {
    // Act
    const request = normalizeRequest({ email: 'jane.doe@example.com', dryRun: true }, CONFIGURED);

    // Assess
    expect(request.dryRun).toBe(true);
  });

  it.each(['jane.doe', 'jane doe@example.com', '@example.com', 'jane@'])(
    'refuses the invalid email %j, naming it',
    (email) => {
      // Act
      const error = refusal({ email });

      // Assess
      expect(error.name).toBe(ERROR_NAMES.invalidInput);
      expect(error.message).toContain(`'${email}' is not a valid email address`);
    },
  );

  it('refuses a request without an email', () => {
    // Act
    const error = refusal({ dryRun: true });

    // Assess
    expect(error.name).toBe(ERROR_NAMES.invalidInput);
    expect(error.message).toContain('email is required');
  });

  it('says an email that is not a string must be one', () => {
    expect(refusal({ email: 5 }).message).toContain('email must be a string');
  });

  it('refuses an unknown field rather than ignoring it, so a typo cannot cause a real run', () => {
    // Act
    const error = refusal({ email: 'jane.doe@example.com', dryrun: true });

    // Assess
    expect(error.name).toBe(ERROR_NAMES.invalidInput);
    expect(error.message).toContain("'dryrun'");
  });

  it.each(['true', 1, null])('refuses dryRun: %j, which is not a boolean', (dryRun) => {
    // Act
    const error = refusal({ email: 'jane.doe@example.com', dryRun });

    // Assess
    expect(error.name).toBe(ERROR_NAMES.invalidInput);
    expect(error.message).toContain('dryRun must be true or false');
  });

  it('runs only the connections asked for, in the order of the configuration', () => {
    // Act
    const request = normalizeRequest(
      { email: 'jane.doe@example.com', connections: ['insightly-apac', 'insightly-eu'] },
      CONFIGURED,
    );

    // Assess
    expect(request.connections.map((c) => c.name)).toEqual(['insightly-eu', 'insightly-apac']);
    expect(request.connections[0]).toEqual({
      name: 'insightly-eu',
      type: 'insightly',
      deactivation: 'api',
      endpoint: endpointOf({ type: 'insightly', baseUrl: 'https://insightly-eu.insightly.com/v3.1' }),
    });
  });

  it('marks connections whose API cannot deactivate for a person to switch off', () => {
    // Prepare
    const platform: ConnectionRef = {
      name: 'rapid7-cloud',
      type: 'rapid7-platform',
      baseUrl: 'https://us.api.insight.rapid7.com',
    };

    // Act
    const request = normalizeRequest({ email: 'jane.doe@example.com' }, [...CONFIGURED, platform]);

    // Assess
    expect(request.connections.map((c) => c.deactivation)).toEqual(['api', 'api', 'api', 'person']);
  });

  it('passes on only what the state machine needs: never a base URL, secret id, TLS setting or pace', () => {
    // Prepare: a connection as a deployed function knows it
    const deployed: ConnectionRef = {
      name: 'console',
      type: 'rapid7-insightvm',
      baseUrl: 'https://vm-console.corp.example:3780',
      tls: { rejectUnauthorized: false },
      secretId: 'offboard/console',
      functionName: 'OffboardRapid7Insightvm',
      rateLimit: { requests: 5, perSeconds: 1 },
    };

    // Act
    const request = normalizeRequest({ email: 'jane.doe@example.com' }, [deployed]);

    // Assess: the execution's input and history hold no more than this
    expect(request.connections).toEqual([
      {
        name: 'console',
        type: 'rapid7-insightvm',
        functionName: 'OffboardRapid7Insightvm',
        deactivation: 'api',
        // Which tenant, as a digest for the ledger: not where it is.
        endpoint: endpointOf(deployed),
      },
    ]);
  });

  it('refuses an unknown connection name, listing the configured ones', () => {
    // Act
    const error = refusal({ email: 'jane.doe@example.com', connections: ['insightly-eu', 'salesforce'] });

    // Assess
    expect(error.name).toBe(ERROR_NAMES.invalidInput);
    expect(error.message).toContain("'salesforce'");
    expect(error.message).toContain('insightly-eu, insightly-us, insightly-apac');
  });

  it('refuses an empty connections list', () => {
    // Act
    const error = refusal({ email: 'jane.doe@example.com', connections: [] });

    // Assess
    expect(error.name).toBe(ERROR_NAMES.invalidInput);
    expect(error.message).toContain('at least one connection');
  });

  it('refuses to run when no connection is configured', () => {
    // Act
    const error = refusal({ email: 'jane.doe@example.com' }, []);

    // Assess
    expect(error.name).toBe(ERROR_NAMES.invalidInput);
    expect(error.message).toContain('no connections are configured');
  });
});

describe('summarize', () => {
  const base = { email: 'jane.doe@example.com', dryRun: false };
  const ok = (name: string) => ({ name, type: 'insightly', outcome: 'deactivated', userId: '1002' });
  const failed = (name: string, Cause?: string) => ({
    name,
    type: 'insightly',
    outcome: 'failed',
    error: { Error: 'Vendor.Unavailable', ...(Cause === undefined ? {} : { Cause }) },
  });

  it('is succeeded when no connection failed', () => {
    // Act
    const summary = summarize({
      ...base,
      results: [ok('insightly-eu'), { name: 'insightly-us', type: 'insightly', outcome: 'not-found' }],
    });

    // Assess
    expect(summary).toEqual({
      ...base,
      status: 'succeeded',
      connections: [
        { name: 'insightly-eu', type: 'insightly', outcome: 'deactivated', userId: '1002' },
        { name: 'insightly-us', type: 'insightly', outcome: 'not-found' },
      ],
    });
  });

  it('is partial when some connections failed', () => {
    // Act
    const summary = summarize({ ...base, results: [ok('insightly-eu'), failed('insightly-us', 'boom')] });

    // Assess
    expect(summary.status).toBe('partial');
  });

  it('is failed when every connection failed', () => {
    // Act
    const summary = summarize({
      ...base,
      results: [failed('insightly-eu', 'a'), failed('insightly-us', 'b')],
    });

    // Assess
    expect(summary.status).toBe('failed');
  });

  it("takes a Lambda error's errorMessage from its JSON Cause, without the trace", () => {
    // Prepare
    const cause = JSON.stringify({
      errorType: 'Vendor.Unavailable',
      errorMessage: 'insightly-eu: look up jane.doe@example.com: HTTP 503',
      trace: ['Vendor.Unavailable: insightly-eu: ...', '    at HttpClient.request (/var/task/index.mjs:1:2)'],
    });

    // Act
    const summary = summarize({ ...base, results: [failed('insightly-eu', cause)] });

    // Assess
    expect(summary.connections[0]?.error).toEqual({
      name: 'Vendor.Unavailable',
      message: 'insightly-eu: look up jane.doe@example.com: HTTP 503',
    });
  });

  it('keeps a plain-text Cause as it is', () => {
    // Prepare
    const cause = 'Task timed out after 30.00 seconds';

    // Act
    const summary = summarize({ ...base, results: [failed('insightly-eu', cause)] });

    // Assess
    expect(summary.connections[0]?.error).toEqual({ name: 'Vendor.Unavailable', message: cause });
  });

  it('gives an empty message when the failure has no Cause', () => {
    // Act
    const summary = summarize({ ...base, results: [failed('insightly-eu')] });

    // Assess
    expect(summary.connections[0]?.error).toEqual({ name: 'Vendor.Unavailable', message: '' });
  });

  it("takes the userId of a failed iteration from its state's lookup", () => {
    // Prepare
    const result = {
      ...failed('insightly-eu', 'boom'),
      state: { lookup: { value: { found: true, userId: '1002' } }, record: { value: {} } },
    };

    // Act
    const summary = summarize({ ...base, results: [result] });

    // Assess
    expect(summary.connections[0]).toMatchObject({ outcome: 'failed', userId: '1002' });
  });

  it('leaves userId out when the failed iteration found nobody yet', () => {
    // Act
    const summary = summarize({ ...base, results: [{ ...failed('insightly-eu', 'boom'), state: {} }] });

    // Assess
    expect(summary.connections[0]).not.toHaveProperty('userId');
  });
});
