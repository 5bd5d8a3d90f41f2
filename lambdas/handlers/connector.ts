import middy from '@middy/core';
import { handlerMiddlewares, logger } from '../shared/logger';
import { type SecretResolver, secretsManagerResolver } from '../shared/secrets';
import { type ConnectorFactory, runStep, type StepEvent, type StepResult } from '../shared/steps';

/**
 * The Lambda handler for one connection type: each invocation is one step (lookup,
 * getRecord, deactivate, verify) of one connection, chosen by the state machine.
 */
export function connectorHandler(
  factory: ConnectorFactory,
  resolveSecret: SecretResolver = secretsManagerResolver,
) {
  return middy<StepEvent, StepResult>()
    .use(handlerMiddlewares())
    .handler(async (event) => {
      logger.appendKeys({
        connection: event.connection?.name,
        step: event.step,
        executionId: event.executionId,
      });
      const result = await runStep(event, factory, resolveSecret);
      logger.info('step done', {
        userId: 'userId' in result ? result.userId : 'id' in result ? result.id : undefined,
      });
      return result;
    });
}
