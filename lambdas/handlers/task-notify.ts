import middy from '@middy/core';
import { z } from 'zod';
import { InvalidInputError } from '../shared/errors';
import { handlerMiddlewares, logger } from '../shared/logger';
import { snsTaskMailer, type TaskMailer, taskEmail } from '../shared/task-email';
import { taskKeyFromSecret, taskLinks } from '../shared/task-links';
import { deployedTaskDeps } from '../shared/task-resumer';
import { taskEnv } from '../shared/task-store';
import {
  refusalCause,
  TASK_ID,
  TASK_REFUSED,
  type TaskResumer,
  type TaskStore,
  taskIdForToken,
  taskTimes,
} from '../shared/tasks';

/** What the state machine sends (`lambda:invoke.waitForTaskToken`). */
export const taskNotifySchema = z.object({
  kind: z.enum(['deactivate-account', 'release-brake']),
  /** A release-brake task names its pause, so every waiting run joins one task. */
  taskId: z.string().regex(TASK_ID).optional(),
  taskToken: z.string().min(1),
  executionId: z.string().min(1),
  timeoutSeconds: z.number().int().positive(),
  details: z.record(z.string(), z.unknown()),
});

export interface TaskNotifyDeps {
  store: () => TaskStore;
  resumer: () => TaskResumer;
  key: () => Promise<Uint8Array>;
  mail: () => TaskMailer;
  /** The task page's address (the function URL, ends with `/`). */
  pageUrl: () => string;
  now?: () => Date;
}

/**
 * Opens a task (or joins the open one with the same id), emails it once with its two links,
 * and, when the task was already answered, resumes this run's token at once.
 */
export function taskNotifyHandler(deps: TaskNotifyDeps) {
  return middy<unknown, { taskId: string; created: boolean; answered: boolean }>()
    .use(handlerMiddlewares())
    .handler(async (event) => {
      const parsed = taskNotifySchema.safeParse(event);
      if (!parsed.success)
        throw new InvalidInputError(
          `task-notify: the payload is not a task: ${parsed.error.issues[0]?.message}`,
        );
      const input = parsed.data;
      const now = (deps.now ?? (() => new Date()))();
      const id = input.taskId ?? taskIdForToken(input.taskToken);
      const store = deps.store();
      const { record, created } = await store.openOrJoin(
        {
          id,
          kind: input.kind,
          createdAt: now.toISOString(),
          ...taskTimes(now, input.timeoutSeconds),
          executionId: input.executionId,
          details: input.details,
        },
        input.taskToken,
      );
      if (record.answer) {
        // Answered before this run got here (a released brake others waited on): go on at once.
        const resumer = deps.resumer();
        if (record.answer.ok)
          await resumer.succeed(input.taskToken, {
            taskId: id,
            ok: true,
            by: record.answer.by,
            at: record.answer.at,
          });
        else await resumer.fail(input.taskToken, TASK_REFUSED, refusalCause(record, record.answer));
        logger.info('task already answered: resumed', { taskId: id, ok: record.answer.ok });
        return { taskId: id, created, answered: true };
      }
      if (!record.notified) {
        await deps.mail()(taskEmail(record, taskLinks(deps.pageUrl(), record, await deps.key())));
        await store.markNotified(id);
        logger.info('task emailed', { taskId: id, kind: record.kind });
      } else logger.info('task joined', { taskId: id, waiting: record.tokens.length });
      return { taskId: id, created, answered: false };
    });
}

let mailer: TaskMailer | undefined;

export const handler = taskNotifyHandler({
  store: () => deployedTaskDeps().store,
  resumer: () => deployedTaskDeps().resumer,
  key: () => taskKeyFromSecret(taskEnv('OFFBOARD_TASK_KEY_SECRET_ARN')),
  mail: () => {
    mailer ??= snsTaskMailer(taskEnv('OFFBOARD_TASK_TOPIC_ARN'));
    return mailer;
  },
  pageUrl: () => taskEnv('OFFBOARD_TASK_PAGE_URL'),
});
