import { createHash, randomBytes } from 'node:crypto';

/** What a person is asked to do: switch an account off by hand, or release the safety brake. */
export type TaskKind = 'deactivate-account' | 'release-brake';

/** A person's answer: done (`ok`), or could not (`ok: false`, with the reason). */
export interface TaskAnswer {
  ok: boolean;
  reason?: string;
  /** Who answered: the name typed on the page, or the CLI caller. */
  by: string;
  at: string;
}

/** A task as the store keeps it: one a question, however many runs wait on it. */
export interface TaskRecord {
  /** Random: 32 hex digits (older tasks: 22 characters of base64url). */
  id: string;
  kind: TaskKind;
  createdAt: string;
  deadline: string;
  remindAt: string;
  reminded?: boolean;
  /** True once the first email went out (a retried notify emails only if it did not). */
  notified?: boolean;
  /** The execution that opened it. */
  executionId: string;
  /**
   * deactivate-account: `{email, connection, type, userId, why}`;
   * release-brake: `{count, limit, windowMinutes, emails?}`.
   */
  details: Record<string, unknown>;
  /** Step Functions task tokens (or local tokens) waiting on the answer. */
  tokens: string[];
  answer?: TaskAnswer;
}

/** Where tasks live: the ledger table deployed, files under .offboard/ locally. */
export interface TaskStore {
  /** Creates the task, or joins an open one with the same id (adds the token). */
  openOrJoin(
    task: Omit<TaskRecord, 'tokens' | 'answer'>,
    token: string,
  ): Promise<{ record: TaskRecord; created: boolean }>;
  get(id: string): Promise<TaskRecord | undefined>;
  /** Records the answer once (conditional); a second answer returns first=false and changes nothing. */
  answer(id: string, answer: TaskAnswer): Promise<{ record: TaskRecord; first: boolean }>;
  /** Open tasks past their reminder time that were not reminded yet. */
  dueReminders(now: Date): Promise<TaskRecord[]>;
  /** Marks the reminder sent; false when it already was (so it goes out once). */
  markReminded(id: string): Promise<boolean>;
  /** Marks the task's first email sent. */
  markNotified(id: string): Promise<void>;
}

/** Resumes a run waiting on a token: Step Functions deployed, answer files locally. */
export interface TaskResumer {
  succeed(token: string, output: unknown): Promise<void>;
  fail(token: string, error: string, cause: string): Promise<void>;
}

/** The error a refused task fails its waiting runs with (the ASL's Catch sends it to Settle). */
export const TASK_REFUSED = 'Task.Refused';

/** An answer for a task the store does not hold (a mistyped id, or another stack's). */
export class TaskNotFoundError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'Task.NotFound';
  }
}

/** One or more waiting runs could not be resumed (the answer is recorded; those runs time out). */
export class TaskResumeError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'Task.ResumeFailed';
  }
}

/** What a task id may be (older ones are base64url): safe in a file name, a key and a link. */
export const TASK_ID = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * A new task id: 128 random bits in hex. Not base64url: one id in 64 would begin with `-`, and
 * `offboard task complete -Xy…`, the very command the run prints, reads as an option.
 */
export function newTaskId(): string {
  return randomBytes(16).toString('hex');
}

/**
 * The id of the task a token opens: derived from the token, so a notify that Step Functions
 * retries joins the task it already opened instead of emailing a second one.
 */
export function taskIdForToken(token: string): string {
  return createHash('sha256').update(token).digest().subarray(0, 16).toString('hex');
}

const HOUR_MS = 3_600_000;

/**
 * When a task's deadline and reminder fall: the reminder 24 h before the deadline, or half
 * way for tasks shorter than two days.
 */
export function taskTimes(now: Date, timeoutSeconds: number): { deadline: string; remindAt: string } {
  const deadline = now.getTime() + timeoutSeconds * 1000;
  const before = timeoutSeconds * 1000 >= 48 * HOUR_MS ? 24 * HOUR_MS : (timeoutSeconds * 1000) / 2;
  return { deadline: new Date(deadline).toISOString(), remindAt: new Date(deadline - before).toISOString() };
}

/** What a waiting run fails with when the person could not do the task. */
export function refusalCause(record: TaskRecord, answer: TaskAnswer): string {
  const reason = answer.reason ?? 'no reason given';
  if (record.kind === 'release-brake')
    return `safety brake: ${answer.by} kept the offboardings stopped: ${reason}`;
  const connection = String(record.details.connection ?? 'connection');
  return `${connection}: ${answer.by} could not switch the account off: ${reason}`;
}

/**
 * Answers a task: records the answer, then resumes every waiting token (success, or
 * `Task.Refused` with the reason). A second answer changes nothing and resumes nothing.
 */
export async function answerTask(
  deps: { store: TaskStore; resumer: TaskResumer },
  id: string,
  answer: TaskAnswer,
): Promise<{ record: TaskRecord; first: boolean }> {
  const result = await deps.store.answer(id, answer);
  if (!result.first) return result;
  const output = { taskId: id, ok: answer.ok, by: answer.by, at: answer.at };
  const outcomes = await Promise.allSettled(
    result.record.tokens.map((token) =>
      answer.ok
        ? deps.resumer.succeed(token, output)
        : deps.resumer.fail(token, TASK_REFUSED, refusalCause(result.record, answer)),
    ),
  );
  const failures = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
  if (failures.length > 0) {
    const first = failures[0]?.reason as Error;
    throw new TaskResumeError(
      `task ${id}: answer recorded, but ${failures.length} of ${result.record.tokens.length} waiting runs could not be resumed: ${first.name}: ${first.message}`,
      { cause: first },
    );
  }
  return result;
}
