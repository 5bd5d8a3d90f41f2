import middy from '@middy/core';
import { handlerMiddlewares, logger } from '../shared/logger';
import { type BulkSummary, summarizeBulk } from '../shared/summary';

/** Last state of offboard-bulk: totals by outcome, and the people who need a look. */
export const handler = middy<unknown, BulkSummary>()
  .use(handlerMiddlewares())
  .handler(async (event) => {
    const summary = summarizeBulk(event);
    logger.info('bulk run summarized', {
      status: summary.status,
      people: summary.people,
      outcomes: summary.outcomes,
    });
    return summary;
  });
