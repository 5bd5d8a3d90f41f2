import { GetParameterError } from '@aws-lambda-powertools/parameters';
import { getSecret } from '@aws-lambda-powertools/parameters/secrets';
import type { ConnectionRef } from './connections';
import { ConfigError, UnavailableError } from './errors';

/** Gives a connection's secret JSON. Deployed: Secrets Manager. Locally: the config file. */
export type SecretResolver = (connection: ConnectionRef) => Promise<unknown>;

/** Secrets are cached in the warm Lambda for this long, so a run of four steps reads once. */
const SECRET_MAX_AGE_SECONDS = 300;

/**
 * Errors only an operator can fix. Anything else (throttling, 5xx, network trouble) is
 * reported as Vendor.Unavailable, which the state machine retries.
 */
const PERMANENT_SECRET_ERRORS = new Set([
  'ResourceNotFoundException',
  'AccessDeniedException',
  'DecryptionFailure',
  'InvalidRequestException',
  'InvalidParameterException',
  'ValidationException',
  'TransformParameterError',
  'UnrecognizedClientException',
  'ExpiredTokenException',
  // Powertools' own wrapper with no AWS error inside: the value is not usable (binary, say).
  'GetParameterError',
]);

/**
 * Reads the connection's secret from Secrets Manager (Powertools Parameters, cached).
 * Only the secret's id travels in the state payload; the value never leaves this function.
 */
export const secretsManagerResolver: SecretResolver = async (connection) => {
  if (!connection.secretId) {
    throw new ConfigError(`${connection.name}: no secretId is configured for this connection`);
  }
  try {
    return await getSecret(connection.secretId, { transform: 'json', maxAge: SECRET_MAX_AGE_SECONDS });
  } catch (error) {
    const cause = error instanceof GetParameterError ? (error.cause as Error | undefined) : undefined;
    const awsName = cause?.name ?? (error as Error).name;
    if (!PERMANENT_SECRET_ERRORS.has(awsName)) {
      throw new UnavailableError(`${connection.name}: reading secret ${connection.secretId}: ${awsName}`, {
        cause: error,
      });
    }
    // Not found, access denied, not JSON: an operator has to act; say which secret and why.
    throw new ConfigError(
      `${connection.name}: cannot use secret ${connection.secretId}: ${awsName === 'TransformParameterError' ? 'its value is not JSON' : awsName}`,
      { cause: error },
    );
  }
};
