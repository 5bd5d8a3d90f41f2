import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { handler } from '../../../lambdas/handlers/insightly';
import { type InsightlySandbox, startInsightlySandbox } from '../../../sandboxes/insightly';

/**
 * The deployed path: the bundled handler as Lambda calls it, its secret read from Secrets
 * Manager (faked with aws-sdk-client-mock), the vendor a sandbox.
 */

process.env.AWS_REGION ??= 'us-east-1';
const secrets = mockClient(SecretsManagerClient);
let box: InsightlySandbox;

const context = {
  functionName: 'OffboardInsightly',
  awsRequestId: 'req-1',
  invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:OffboardInsightly',
  memoryLimitInMB: '256',
  getRemainingTimeInMillis: () => 30_000,
} as unknown as Context;

beforeAll(async () => {
  box = await startInsightlySandbox();
});
afterAll(async () => {
  await box.close();
});
beforeEach(() => {
  secrets.reset();
});

describe('insightly connector function', () => {
  it('reads the secret named in the payload and looks the person up', async () => {
    // Prepare
    secrets.on(GetSecretValueCommand, { SecretId: 'offboard/insightly-handler-a' }).resolves({
      SecretString: JSON.stringify({ apiKey: 'sandbox-api-key' }),
    });
    const connection = {
      name: 'insightly-prod',
      type: 'insightly',
      baseUrl: box.baseUrl,
      secretId: 'offboard/insightly-handler-a',
    };
    // Act
    const result = await handler(
      { step: 'lookup', connection, email: 'jane.doe@example.com' } as never,
      context,
    );
    // Assess
    expect(result).toEqual({ found: true, userId: '1002' });
    expect(secrets.commandCalls(GetSecretValueCommand)).toHaveLength(1);
  });

  it('fails with Config.Invalid, naming the secret, when the secret is missing', async () => {
    const notFound = Object.assign(new Error('Secrets Manager cannot find the specified secret.'), {
      name: 'ResourceNotFoundException',
    });
    secrets.on(GetSecretValueCommand).rejects(notFound);
    const connection = {
      name: 'insightly-prod',
      type: 'insightly',
      baseUrl: box.baseUrl,
      secretId: 'offboard/insightly-missing',
    };
    await expect(
      handler({ step: 'lookup', connection, email: 'jane.doe@example.com' } as never, context),
    ).rejects.toMatchObject({
      name: 'Config.Invalid',
      message: expect.stringContaining('offboard/insightly-missing'),
    });
  });

  it('rejects a payload that is not a step with Input.Invalid', async () => {
    await expect(handler({ step: 'delete', email: 'x@y.io' } as never, context)).rejects.toMatchObject({
      name: 'Input.Invalid',
    });
  });
});
