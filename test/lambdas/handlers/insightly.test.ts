import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { handler } from '../../../lambdas/handlers/insightly';
import { type InsightlySandbox, startInsightlySandbox } from '../../../sandboxes/insightly';
import { type ScriptedServer, startScriptedServer } from '../../helpers/servers';

/**
 * The deployed path: the bundled handler as Lambda calls it, its connections from its own
 * configuration (OFFBOARD_CONNECTIONS, which the stack bundles), its secret read from Secrets
 * Manager (faked with aws-sdk-client-mock), the vendor a sandbox.
 */

process.env.AWS_REGION ??= 'us-east-1';
const secrets = mockClient(SecretsManagerClient);
let box: InsightlySandbox;
/** Where a crafted payload would like the secret to go. */
let attacker: ScriptedServer;

const context = {
  functionName: 'OffboardInsightly',
  awsRequestId: 'req-1',
  invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:OffboardInsightly',
  memoryLimitInMB: '256',
  getRemainingTimeInMillis: () => 30_000,
} as unknown as Context;

beforeAll(async () => {
  box = await startInsightlySandbox();
  attacker = await startScriptedServer(() => ({ status: 200, body: '[]' }));
  // What the stack bundles into this function: its own type's connections, nothing else.
  process.env.OFFBOARD_CONNECTIONS = JSON.stringify([
    {
      name: 'insightly-prod',
      type: 'insightly',
      baseUrl: box.baseUrl,
      secretId: 'offboard/insightly-handler-a',
    },
    {
      name: 'insightly-old',
      type: 'insightly',
      baseUrl: box.baseUrl,
      secretId: 'offboard/insightly-missing',
    },
  ]);
});
afterAll(async () => {
  delete process.env.OFFBOARD_CONNECTIONS;
  await Promise.all([box.close(), attacker.close()]);
});
beforeEach(() => {
  secrets.reset();
});

describe('insightly connector function', () => {
  it('reads its own connection secret and looks the person up', async () => {
    // Prepare
    secrets.on(GetSecretValueCommand, { SecretId: 'offboard/insightly-handler-a' }).resolves({
      SecretString: JSON.stringify({ apiKey: 'sandbox-api-key' }),
    });
    // Act
    const result = await handler(
      { step: 'lookup', connection: { name: 'insightly-prod' }, email: 'jane.doe@example.com' } as never,
      context,
    );
    // Assess
    expect(result).toEqual({ found: true, userId: '1002' });
    expect(secrets.commandCalls(GetSecretValueCommand)).toHaveLength(1);
  });

  it('sends a real secret nowhere a crafted payload points: base URL and secret id come from its own configuration', async () => {
    // Prepare
    secrets.on(GetSecretValueCommand, { SecretId: 'offboard/insightly-handler-a' }).resolves({
      SecretString: JSON.stringify({ apiKey: 'sandbox-api-key' }),
    });
    const crafted = {
      name: 'insightly-prod',
      type: 'insightly',
      baseUrl: attacker.baseUrl,
      secretId: 'offboard/some-other-secret',
    };
    // Act
    const result = await handler(
      { step: 'lookup', connection: crafted, email: 'jane.doe@example.com' } as never,
      context,
    );
    // Assess
    expect(result).toEqual({ found: true, userId: '1002' });
    expect(attacker.requests).toEqual([]);
    // (The secret may come from the warm cache: what matters is that no other one is read.)
    const read = secrets.commandCalls(GetSecretValueCommand).map((c) => c.args[0].input.SecretId);
    expect(read.filter((id) => id !== 'offboard/insightly-handler-a')).toEqual([]);
  });

  it('refuses a connection it does not serve, reading no secret and sending nothing', async () => {
    await expect(
      handler(
        {
          step: 'lookup',
          connection: {
            name: 'gainsight-prod',
            baseUrl: attacker.baseUrl,
            secretId: 'offboard/insightly-handler-a',
          },
          email: 'jane.doe@example.com',
        } as never,
        context,
      ),
    ).rejects.toMatchObject({ name: 'Config.Invalid', message: expect.stringContaining('gainsight-prod') });
    expect(secrets.commandCalls(GetSecretValueCommand)).toEqual([]);
    expect(attacker.requests).toEqual([]);
  });

  it('fails with Config.Invalid, naming the secret, when the secret is missing', async () => {
    const notFound = Object.assign(new Error('Secrets Manager cannot find the specified secret.'), {
      name: 'ResourceNotFoundException',
    });
    secrets.on(GetSecretValueCommand).rejects(notFound);
    await expect(
      handler(
        { step: 'lookup', connection: { name: 'insightly-old' }, email: 'jane.doe@example.com' } as never,
        context,
      ),
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
