import middy from '@middy/core';
import { handlerMiddlewares, logger } from '../shared/logger';
import { reminderEmail, snsTaskMailer, type TaskMailer } from '../shared/task-email';
import { taskKeyFromSecret, taskLinks } from '../shared/task-links';
import { deployedTaskStore, taskEnv } from '../shared/task-store';
import type { TaskStore } from '../shared/tasks';

export interface TaskRemindDeps {
  store: () => TaskStore;
  key: () => Promise<Uint8Array>;
  mail: () => TaskMailer;
  pageUrl: () => string;
  now?: () => Date;
}

/**
 * Hourly: emails a reminder for every open task past its reminder time (24 h before its
 * deadline), once a task. A reminder that fails to send is tried again next hour.
 */
export function taskRemindHandler(deps: TaskRemindDeps) {
  return middy<unknown, { reminded: number }>()
    .use(handlerMiddlewares())
    .handler(async () => {
      const now = (deps.now ?? (() => new Date()))();
      const store = deps.store();
      const due = await store.dueReminders(now);
      const key = due.length > 0 ? await deps.key() : undefined;
      let reminded = 0;
      for (const task of due) {
        if (!key) break;
        await deps.mail()(reminderEmail(task, taskLinks(deps.pageUrl(), task, key)));
        // Sent, then marked: a failure in between sends one reminder twice, never none.
        if (await store.markReminded(task.id)) reminded++;
      }
      logger.info('task reminders', { due: due.length, reminded });
      return { reminded };
    });
}

let mailer: TaskMailer | undefined;

export const handler = taskRemindHandler({
  store: deployedTaskStore,
  key: () => taskKeyFromSecret(taskEnv('OFFBOARD_TASK_KEY_SECRET_ARN')),
  mail: () => {
    mailer ??= snsTaskMailer(taskEnv('OFFBOARD_TASK_TOPIC_ARN'));
    return mailer;
  },
  pageUrl: () => taskEnv('OFFBOARD_TASK_PAGE_URL'),
});
