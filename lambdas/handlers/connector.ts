import middy from '@middy/core';
import { deployedConnections } from '../shared/deployed';
import { evidenceFromEnv } from '../shared/evidence';
import { ledgerFromEnv } from '../shared/ledger';
import { handlerMiddlewares, logger } from '../shared/logger';
import { secretsManagerResolver } from '../shared/secrets';
import {
  type ConnectorFactory,
  runStep,
  type StepEnvironment,
  type StepEvent,
  type StepResult,
} from '../shared/steps';

/** What a deployed connector function works with: its bundled connections, Secrets Manager, the ledger. */
export const DEPLOYED_STEP_ENVIRONMENT: StepEnvironment = {
  connections: deployedConnections,
  resolveSecret: secretsManagerResolver,
  ledger: ledgerFromEnv,
  blobs: evidenceFromEnv,
};

/**
 * The Lambda handler for one connection type: each invocation is one step (lookup,
 * getRecord, deactivate, verify, …) of one of its connections, chosen by the state machine.
 */
export function connectorHandler(
  factory: ConnectorFactory,
  environment: StepEnvironment = DEPLOYED_STEP_ENVIRONMENT,
) {
  return middy<StepEvent, StepResult>()
    .use(handlerMiddlewares())
    .handler(async (event) => {
      logger.appendKeys({
        connection: event.connection?.name,
        step: event.step,
        executionId: event.executionId,
      });
      const result = await runStep(event, factory, environment);
      logger.info('step done', {
        userId: 'userId' in result ? result.userId : 'id' in result ? result.id : undefined,
        // How the vendor took the write, when that is worth keeping (a SCIM PATCH form).
        ...('note' in result && result.note ? { note: result.note } : {}),
      });
      return result;
    });
}
