import middy from '@middy/core';
import { z } from 'zod';
import { type ConnectionRef, connectionRefSchema } from '../shared/connections';
import { ConfigError } from '../shared/errors';
import { describeIssues } from '../shared/issues';
import { handlerMiddlewares, logger } from '../shared/logger';
import { type NormalizedRequest, normalizeInput } from '../shared/request';

/**
 * The connections this deployment knows, from `OFFBOARD_CONNECTIONS` (set by the stack from
 * the config file): names, types, base URLs, secret ids and function names; no secrets.
 */
export function connectionsFromEnv(value = process.env.OFFBOARD_CONNECTIONS): ConnectionRef[] {
  let json: unknown;
  try {
    json = JSON.parse(value ?? '[]');
  } catch {
    throw new ConfigError('OFFBOARD_CONNECTIONS is not JSON');
  }
  const parsed = z.array(connectionRefSchema).safeParse(json);
  if (!parsed.success) {
    throw new ConfigError(
      `OFFBOARD_CONNECTIONS is not a valid list of connections: ${describeIssues(parsed.error)}`,
    );
  }
  return parsed.data;
}

/** First state: one validated shape from the execution input, or `Input.Invalid`. */
export function normalizeHandler(available: () => ConnectionRef[]) {
  return middy<unknown, NormalizedRequest>()
    .use(handlerMiddlewares())
    .handler(async (event) => {
      const request = normalizeInput(event, available());
      logger.info('request accepted', {
        dryRun: request.dryRun,
        connections: request.connections.map((c) => c.name),
      });
      return request;
    });
}

let deployed: ConnectionRef[] | undefined;

/** `OFFBOARD_CONNECTIONS`, read once per warm Lambda: every handler that resolves connections uses it. */
export function deployedConnections(): ConnectionRef[] {
  deployed ??= connectionsFromEnv();
  return deployed;
}

export const handler = normalizeHandler(deployedConnections);
