import type { TaskRecord } from './tasks';
import { stripControl } from './text';

/** A task's email: SNS subject (one line, at most 100 characters) and plain text. */
export interface TaskEmail {
  subject: string;
  text: string;
}

const text = (value: unknown): string => stripControl(String(value ?? '?'));

/** A deadline as a person reads it: `2026-11-08 14:00 UTC`. */
export function formatDeadline(iso: string): string {
  return `${iso.slice(0, 16).replace('T', ' ')} UTC`;
}

/** SNS refuses subjects over 100 characters or with line breaks. */
function subjectLine(value: string): string {
  const line = stripControl(value);
  return line.length <= 100 ? line : `${line.slice(0, 99)}…`;
}

/** The lines that say what the task is, shared by the email and its reminder. */
export function taskLines(task: TaskRecord): string[] {
  const d = task.details;
  if (task.kind === 'release-brake') {
    const emails = Array.isArray(d.emails) ? d.emails.map(text) : [];
    return [
      'The safety brake stopped offboardings: more accounts were about to be switched off',
      'than the limit allows.',
      '',
      `  Offboardings in the window: ${text(d.count)} (limit ${text(d.limit)} in ${text(d.windowMinutes)} minutes)`,
      // Who waits: a single run names its person; a bulk run says how many its list holds.
      ...(typeof d.email === 'string' ? [`  First waiting: ${text(d.email)}`] : []),
      ...(typeof d.email !== 'string' && typeof d.people === 'number' && d.people > 1
        ? [`  Waiting: a bulk run of ${text(d.people)} people`]
        : []),
      ...(emails.length > 0
        ? [
            `  Waiting: ${emails.slice(0, 50).join(', ')}${emails.length > 50 ? ` and ${emails.length - 50} more` : ''}`,
          ]
        : []),
      `  Decide by: ${formatDeadline(task.deadline)} (after that the waiting runs fail)`,
      '',
      'If these leavers are expected (a planned reorganisation), release the brake. If not',
      '(a faulty HR feed, say), keep it stopped: the waiting runs fail with nothing written.',
    ];
  }
  return [
    "Please switch off this account in the vendor's own admin console: its API cannot.",
    '',
    `  Person:     ${text(d.email)}`,
    `  System:     ${text(d.type)} (connection ${text(d.connection)})`,
    `  User id:    ${text(d.userId)}`,
    `  Why by hand: ${text(d.why)}`,
    `  By:         ${formatDeadline(task.deadline)}`,
    '',
    "After you answer, the workflow reads the account again through the vendor's API: it",
    'counts as switched off only if the vendor shows it off.',
  ];
}

function answerLines(task: TaskRecord, links: { done: string; failed: string }): string[] {
  const [yes, no] = task.kind === 'release-brake' ? ['Release', 'Keep stopped'] : ['Done', 'I could not'];
  return [
    '',
    `${yes}:`,
    `  ${links.done}`,
    '',
    `${no}:`,
    `  ${links.failed}`,
    '',
    'Each link opens a page that asks you to confirm; opening it changes nothing.',
    `Task ${task.id}, opened by ${text(task.executionId)}.`,
  ];
}

function subjectOf(task: TaskRecord): string {
  const d = task.details;
  return task.kind === 'release-brake'
    ? `offboard: safety brake: offboardings paused (${text(d.count)} in ${text(d.windowMinutes)} minutes, limit ${text(d.limit)})`
    : `offboard: switch off ${text(d.email)} in ${text(d.connection)} by ${task.deadline.slice(0, 10)}`;
}

/** The email that asks a person to do the task, with the two links. */
export function taskEmail(task: TaskRecord, links: { done: string; failed: string }): TaskEmail {
  return {
    subject: subjectLine(subjectOf(task)),
    text: [...taskLines(task), ...answerLines(task, links)].join('\n'),
  };
}

/** The reminder, 24 h before the deadline: the same task, the same links. */
export function reminderEmail(task: TaskRecord, links: { done: string; failed: string }): TaskEmail {
  return {
    subject: subjectLine(`Reminder: ${subjectOf(task)}`),
    text: [
      `Reminder: this task is still open, and its deadline is ${formatDeadline(task.deadline)}.`,
      '',
      ...taskLines(task),
      ...answerLines(task, links),
    ].join('\n'),
  };
}

/** Sends a task email: SNS deployed (the topic's subscribers are the people who act). */
export type TaskMailer = (email: TaskEmail) => Promise<void>;

/** Publishes to the task topic (OFFBOARD_TASK_TOPIC_ARN). */
export function snsTaskMailer(topicArn: string): TaskMailer {
  let client: import('@aws-sdk/client-sns').SNSClient | undefined;
  return async ({ subject, text: message }) => {
    const { PublishCommand, SNSClient } = await import('@aws-sdk/client-sns');
    client ??= new SNSClient({});
    await client.send(new PublishCommand({ TopicArn: topicArn, Subject: subject, Message: message }));
  };
}
