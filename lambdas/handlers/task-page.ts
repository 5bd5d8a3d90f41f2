import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { logger } from '../shared/logger';
import { taskKeyFromSecret } from '../shared/task-links';
import { handleTaskPage, type TaskPageDeps } from '../shared/task-page';
import { deployedTaskDeps } from '../shared/task-resumer';
import { taskEnv } from '../shared/task-store';

/**
 * The task page behind the function URL (payload format 2.0): the links in the task emails
 * lead here. GET shows the task; POST answers it and resumes the waiting runs.
 */
export function taskPageHandler(deps: () => TaskPageDeps) {
  return async (event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> => {
    const body =
      event.body === undefined
        ? undefined
        : event.isBase64Encoded
          ? Buffer.from(event.body, 'base64').toString('utf8')
          : event.body;
    try {
      const response = await handleTaskPage(
        {
          method: event.requestContext.http.method,
          url: `${event.rawPath || '/'}${event.rawQueryString ? `?${event.rawQueryString}` : ''}`,
          ...(body === undefined ? {} : { body }),
        },
        deps(),
      );
      logger.info('task page', { method: event.requestContext.http.method, status: response.status });
      return { statusCode: response.status, headers: response.headers, body: response.body };
    } catch (error) {
      // The person sees a page, never a stack trace; the log keeps the error.
      logger.error('task page failed', {
        errorName: (error as Error).name,
        errorMessage: (error as Error).message,
      });
      return {
        statusCode: 500,
        headers: { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' },
        body: 'The task page failed. Open the link again in a few minutes: it says whether your answer was recorded.',
      };
    }
  };
}

export const handler = taskPageHandler(() => ({
  ...deployedTaskDeps(),
  key: () => taskKeyFromSecret(taskEnv('OFFBOARD_TASK_KEY_SECRET_ARN')),
}));
