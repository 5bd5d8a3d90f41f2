import middy from '@middy/core';
import { handlerMiddlewares, logger } from '../shared/logger';
import { type OffboardSummary, summarize } from '../shared/summary';

/** Last state: the per-connection results become the summary the execution outputs. */
export const handler = middy<unknown, OffboardSummary>()
  .use(handlerMiddlewares())
  .handler(async (event) => {
    const summary = summarize(event);
    logger.info('offboarding summarized', {
      status: summary.status,
      outcomes: summary.connections.map((c) => `${c.name}:${c.outcome}`),
    });
    return summary;
  });
