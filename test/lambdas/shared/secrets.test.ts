import {
  GetSecretValueCommand,
  ResourceNotFoundException,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ConnectionRef } from '../../../lambdas/shared/connections';
import { ERROR_NAMES } from '../../../lambdas/shared/errors';
import { secretsManagerResolver } from '../../../lambdas/shared/secrets';
import { rejectionOf } from '../../helpers/errors';

/**
 * The deployed secret resolver: Powertools Parameters in front of Secrets Manager. The
 * Powertools cache lives for the whole module, so every test reads its own secret id.
 */

const secretsManager = mockClient(SecretsManagerClient);

beforeAll(() => {
  // Powertools builds its SecretsManagerClient on first use; the SDK wants a region.
  vi.stubEnv('AWS_REGION', 'us-east-1');
});

afterAll(() => {
  vi.unstubAllEnvs();
});

beforeEach(() => {
  secretsManager.reset();
});

const connection = (secretId?: string): ConnectionRef => ({
  name: 'insightly-test',
  type: 'insightly',
  baseUrl: 'https://api.insightly.com/v3.1',
  ...(secretId === undefined ? {} : { secretId }),
});

const reads = () => secretsManager.commandCalls(GetSecretValueCommand);

describe('secretsManagerResolver', () => {
  it("returns the secret's JSON, parsed", async () => {
    // Prepare
    const secretId = 'offboard/insightly/parsed';
    secretsManager.on(GetSecretValueCommand, { SecretId: secretId }).resolves({
      Name: secretId,
      SecretString: '{"apiKey":"key-from-secrets-manager"}',
    });

    // Act
    const secret = await secretsManagerResolver(connection(secretId));

    // Assess
    expect(secret).toEqual({ apiKey: 'key-from-secrets-manager' });
    expect(reads()).toHaveLength(1);
    expect(reads()[0]?.args[0].input).toEqual({ SecretId: secretId });
  });

  it('reads a secret once while it is fresh, so the steps of a run share one read', async () => {
    // Prepare
    const secretId = 'offboard/insightly/cached';
    secretsManager.on(GetSecretValueCommand).resolves({ SecretString: '{"apiKey":"k"}' });

    // Act
    const first = await secretsManagerResolver(connection(secretId));
    const second = await secretsManagerResolver(connection(secretId));

    // Assess
    expect(second).toEqual(first);
    expect(reads()).toHaveLength(1);
  });

  it('reads each secret on its own', async () => {
    // Prepare
    secretsManager
      .on(GetSecretValueCommand, { SecretId: 'offboard/insightly/eu' })
      .resolves({ SecretString: '{"apiKey":"eu"}' })
      .on(GetSecretValueCommand, { SecretId: 'offboard/insightly/us' })
      .resolves({ SecretString: '{"apiKey":"us"}' });

    // Act
    const eu = await secretsManagerResolver(connection('offboard/insightly/eu'));
    const us = await secretsManagerResolver(connection('offboard/insightly/us'));

    // Assess
    expect(eu).toEqual({ apiKey: 'eu' });
    expect(us).toEqual({ apiKey: 'us' });
    expect(reads()).toHaveLength(2);
  });

  it('answers Config.Invalid naming the secret when it does not exist', async () => {
    // Prepare
    const secretId = 'offboard/insightly/missing';
    secretsManager.on(GetSecretValueCommand).rejects(
      new ResourceNotFoundException({
        message: "Secrets Manager can't find the specified secret.",
        $metadata: { httpStatusCode: 400 },
      }),
    );

    // Act
    const error = await rejectionOf(secretsManagerResolver(connection(secretId)));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.config);
    expect(error.message).toMatch(/^insightly-test: /);
    expect(error.message).toContain(secretId);
    expect(error.message).toContain('ResourceNotFoundException');
  });

  it('answers Config.Invalid saying the value is not JSON', async () => {
    // Prepare
    const secretId = 'offboard/insightly/plain-text';
    secretsManager.on(GetSecretValueCommand).resolves({ SecretString: 'just-the-api-key' });

    // Act
    const error = await rejectionOf(secretsManagerResolver(connection(secretId)));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.config);
    expect(error.message).toContain(secretId);
    expect(error.message).toContain('is not JSON');
    expect(error.message).not.toContain('just-the-api-key');
  });

  it('answers Vendor.Unavailable to throttling, so the state machine retries', async () => {
    // Prepare
    const secretId = 'offboard/insightly/throttled';
    const throttled = Object.assign(new Error('Rate exceeded'), {
      name: 'ThrottlingException',
      $metadata: { httpStatusCode: 400 },
    });
    secretsManager.on(GetSecretValueCommand).rejects(throttled);

    // Act
    const error = await rejectionOf(secretsManagerResolver(connection(secretId)));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.unavailable);
    expect(error.retryable).toBe(true);
    expect(error.message).toMatch(/^insightly-test: /);
    expect(error.message).toContain(secretId);
  });

  it('answers Vendor.Unavailable to a network failure, so the state machine retries it', async () => {
    // Prepare: the SDK's own socket error, with no AWS error name.
    const secretId = 'offboard/insightly/network';
    secretsManager
      .on(GetSecretValueCommand)
      .rejects(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));

    // Act
    const error = await rejectionOf(secretsManagerResolver(connection(secretId)));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.unavailable);
  });

  it('reads again after a failure: errors are not cached', async () => {
    // Prepare
    const secretId = 'offboard/insightly/flaky';
    secretsManager
      .on(GetSecretValueCommand)
      .rejectsOnce(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }))
      .resolves({ SecretString: '{"apiKey":"k"}' });
    await rejectionOf(secretsManagerResolver(connection(secretId)));

    // Act
    const secret = await secretsManagerResolver(connection(secretId));

    // Assess
    expect(secret).toEqual({ apiKey: 'k' });
    expect(reads()).toHaveLength(2);
  });

  it('answers Config.Invalid to a connection without secretId, without calling AWS', async () => {
    // Act
    const error = await rejectionOf(secretsManagerResolver(connection()));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.config);
    expect(error.message).toBe('insightly-test: no secretId is configured for this connection');
    expect(reads()).toHaveLength(0);
  });
});
