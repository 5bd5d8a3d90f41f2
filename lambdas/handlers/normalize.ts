import middy from '@middy/core';
import { type DeployedConnection, deployedConnections } from '../shared/deployed';
import { handlerMiddlewares, logger } from '../shared/logger';
import { type NormalizedRequest, normalizeInput } from '../shared/request';

/** First state: one validated shape from the execution input, or `Input.Invalid`. */
export function normalizeHandler(available: () => readonly DeployedConnection[]) {
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

export const handler = normalizeHandler(deployedConnections);
