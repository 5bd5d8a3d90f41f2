import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { MiddlewareObj } from '@middy/core';

/**
 * Structured JSON logs (Powertools). Log the connection, the step and the outcome; never a
 * secret, and never a vendor record (it holds personal data).
 */
export const logger = new Logger({ serviceName: 'offboard' });

/** Middy middlewares every handler uses: Lambda context in each line, and failures logged once. */
export function handlerMiddlewares(): MiddlewareObj[] {
  return [
    injectLambdaContext(logger, { resetKeys: true }),
    {
      onError: async (request) => {
        const error = request.error as Error | undefined;
        // Logged, then rethrown by middy: Step Functions must see the error to Retry or Catch it.
        logger.warn('step failed', { errorName: error?.name, errorMessage: error?.message });
      },
    },
  ];
}
