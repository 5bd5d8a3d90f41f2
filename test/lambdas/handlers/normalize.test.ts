import type { Context } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { connectionsFromEnv, normalizeHandler } from '../../../lambdas/handlers/normalize';

const context = { functionName: 'OffboardNormalize', awsRequestId: 'req-1' } as unknown as Context;
const deployed = JSON.stringify([
  {
    name: 'insightly-prod',
    type: 'insightly',
    baseUrl: 'https://api.na1.insightly.com/v3.1',
    secretId: 'offboard/insightly-prod',
    functionName: 'OffboardInsightly',
  },
]);

describe('normalize function', () => {
  it('resolves the connections the stack put in OFFBOARD_CONNECTIONS', async () => {
    const handler = normalizeHandler(() => connectionsFromEnv(deployed));
    const result = await handler({ email: ' Jane.Doe@example.com ' }, context);
    expect(result).toEqual({
      email: 'Jane.Doe@example.com',
      dryRun: false,
      reactivate: false,
      connections: [expect.objectContaining({ name: 'insightly-prod', secretId: 'offboard/insightly-prod' })],
    });
  });

  it('says what is wrong with a broken OFFBOARD_CONNECTIONS', () => {
    expect(() => connectionsFromEnv('{')).toThrow(expect.objectContaining({ name: 'Config.Invalid' }));
    expect(() => connectionsFromEnv('[{"name":"x","type":"insightly","baseUrl":"ftp://x"}]')).toThrow(
      /0\.baseUrl: must be an absolute URL|0\.baseUrl: must use https/,
    );
  });
});
