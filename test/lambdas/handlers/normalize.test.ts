import type { Context } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { normalizeHandler } from '../../../lambdas/handlers/normalize';
import { connectionsFromEnv } from '../../../lambdas/shared/deployed';

const context = { functionName: 'OffboardNormalize', awsRequestId: 'req-1' } as unknown as Context;
/** What the stack compiles into the normalize function: routes, and a digest of each tenant. */
const deployed = JSON.stringify([
  {
    name: 'insightly-prod',
    type: 'insightly',
    functionName: 'OffboardInsightly',
    endpoint: '5f1c0e2a9b7d4e31',
  },
]);

describe('normalize function', () => {
  it('resolves the connections the stack put in OFFBOARD_CONNECTIONS, passing on only what the state machine needs', async () => {
    // Prepare
    const handler = normalizeHandler(() => connectionsFromEnv(deployed));
    // Act
    const result = await handler({ email: ' Jane.Doe@example.com ' }, context);
    // Assess: no base URL or secret id in the execution's state; the connector function has its own
    expect(result).toEqual({
      email: 'Jane.Doe@example.com',
      dryRun: false,
      reactivate: false,
      connections: [
        {
          name: 'insightly-prod',
          type: 'insightly',
          functionName: 'OffboardInsightly',
          deactivation: 'api',
          endpoint: '5f1c0e2a9b7d4e31',
        },
      ],
    });
  });

  it('says what is wrong with a broken OFFBOARD_CONNECTIONS', () => {
    expect(() => connectionsFromEnv('{')).toThrow(expect.objectContaining({ name: 'Config.Invalid' }));
    expect(() => connectionsFromEnv('[{"name":"x","type":"insightly","baseUrl":"ftp://x"}]')).toThrow(
      /0\.baseUrl: must be an absolute URL|0\.baseUrl: must use https/,
    );
  });

  it('refuses a base URL that carries credentials, without repeating them', () => {
    // Prepare
    const withPassword = JSON.stringify([
      { name: 'x', type: 'insightly', baseUrl: 'https://svc:p4ssw0rd@api.na1.insightly.com/v3.1' },
    ]);
    // Act
    const error = (() => {
      try {
        connectionsFromEnv(withPassword);
      } catch (thrown) {
        return thrown as Error;
      }
      throw new Error('expected OFFBOARD_CONNECTIONS to be refused');
    })();
    // Assess
    expect(error.name).toBe('Config.Invalid');
    expect(error.message).toContain('0.baseUrl: must not hold a user name or password');
    expect(error.message).not.toContain('p4ssw0rd');
  });
});
