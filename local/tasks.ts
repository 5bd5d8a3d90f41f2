import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  TASK_ID,
  type TaskAnswer,
  TaskNotFoundError,
  type TaskRecord,
  type TaskResumer,
  type TaskStore,
  taskIdForToken,
  taskTimes,
} from '../lambdas/shared/tasks';
import { writeWhole } from './files';

/** A local run's token, as `LocalTaskStore.newToken` makes it: safe as a file name. */
const LOCAL_TOKEN = /^local-[A-Za-z0-9_-]{1,64}$/;

/** Where local tasks live: OFFBOARD_TASKS_DIR, else .offboard/tasks in the working directory. */
export const localTasksDir = (): string =>
  process.env.OFFBOARD_TASKS_DIR ?? join(process.cwd(), '.offboard', 'tasks');

/**
 * A step only a person can do (the vendor's API cannot switch the account off), as the
 * state machine publishes it: what to do, for whom, and the token that resumes the run.
 */
export interface PersonTask {
  token: string;
  connection: string;
  type: string;
  email: string;
  userId: string;
  instructions: string;
  /** Why the API cannot do it (the connector's words). */
  why?: string;
  executionId?: string;
  /** How long the state machine waits (its TimeoutSeconds). */
  timeoutSeconds?: number;
}

/** The task-notify payload the "Ask a person" state sends (lambda:invoke.waitForTaskToken). */
export interface PersonTaskPayload {
  kind: 'deactivate-account';
  taskToken: string;
  executionId: string;
  timeoutSeconds: number;
  details: { email: string; connection: string; type: string; userId: string; why: string };
}

/**
 * How the person answered: done (then the API verifies it), or refused with a reason.
 * `by` says who, `cause` is the whole failure text when a task answer wrote it.
 */
export type PersonTaskResult =
  | { ok: true; by?: string; taskId?: string }
  | { ok: false; reason: string; cause?: string };

/**
 * Local runs keep tasks as files, so `offboard task complete <token>` from another terminal
 * resumes a run that waits in this one. Deployed runs use Step Functions' task tokens.
 */
export class LocalTaskStore {
  constructor(readonly dir: string = localTasksDir()) {}

  /** A token that cannot be guessed or collide, and is safe as a file name. */
  static newToken(): string {
    return `local-${randomBytes(18).toString('base64url')}`;
  }

  async publish(task: PersonTask): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    await writeWhole(this.#taskFile(task.token), `${JSON.stringify(task, null, 2)}\n`);
  }

  /** True when a local run is waiting on this token. */
  async isPending(token: string): Promise<boolean> {
    if (!LOCAL_TOKEN.test(token)) return false;
    return stat(this.#taskFile(token)).then(
      () => true,
      () => false,
    );
  }

  /** Answers a waiting run once: false when it was answered already (nothing changed). */
  async answer(token: string, result: PersonTaskResult): Promise<boolean> {
    if (!LOCAL_TOKEN.test(token))
      throw new TaskNotFoundError(`not a local run's token: ${token.slice(0, 80)}`);
    try {
      await writeWhole(this.#resultFile(token), `${JSON.stringify(result)}\n`, { exclusive: true });
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw error;
    }
  }

  /** Waits for the answer, checking twice a second, and cleans up after itself. */
  async waitForAnswer(token: string, signal?: AbortSignal): Promise<PersonTaskResult> {
    for (;;) {
      signal?.throwIfAborted();
      const text = await readFile(this.#resultFile(token), 'utf8').catch(() => undefined);
      if (text !== undefined) {
        await Promise.all([
          rm(this.#taskFile(token), { force: true }),
          rm(this.#resultFile(token), { force: true }),
        ]);
        return JSON.parse(text) as PersonTaskResult;
      }
      await sleep(500);
    }
  }

  #taskFile(token: string): string {
    return join(this.dir, `${token}.json`);
  }

  #resultFile(token: string): string {
    return join(this.dir, `${token}.answer.json`);
  }
}

/**
 * Tasks of local runs as files (`task-<id>.json`), answered once: the answer is a file
 * created exclusively, so two answers racing (the page and `offboard task`) record one.
 * Local runs in several terminals share the directory, so nothing is read, changed and
 * written back: the task file is created exclusively, each waiting token is a file of its
 * own (`task-<id>.tokens/`), a join writes its token before it reads the answer, and an
 * answer is written before the tokens are read; a run joining while the answer is recorded
 * either sees the answer or is resumed by it.
 */
export class FileTaskStore implements TaskStore {
  constructor(readonly dir: string = localTasksDir()) {}

  async openOrJoin(task: Omit<TaskRecord, 'tokens' | 'answer'>, token: string) {
    if (!TASK_ID.test(task.id)) throw new TaskNotFoundError(`task ${task.id}: not a task id`);
    await mkdir(this.#tokensDir(task.id), { recursive: true });
    let created = true;
    try {
      await writeWhole(this.#file(task.id), `${JSON.stringify({ ...task, tokens: [] }, null, 2)}\n`, {
        exclusive: true,
      });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      created = false;
    }
    await writeWhole(this.#tokenFile(task.id, token), token);
    const record = await this.get(task.id);
    if (!record) throw new TaskNotFoundError(`task ${task.id}: its file went away in ${this.dir}`);
    return { record, created };
  }

  async get(id: string) {
    if (!TASK_ID.test(id)) return undefined;
    const record = await readWhole<TaskRecord>(this.#file(id), 'retry');
    if (record === undefined) return undefined;
    // An answer is whole, or not yet there: an empty or cut one is one being written in place
    // (a file system without hard links), and its writer resumes every token it then reads.
    const answer = await readWhole<TaskAnswer>(this.#answerFile(id), 'absent');
    if (answer !== undefined) record.answer = answer;
    const names = (await readdir(this.#tokensDir(id)).catch(() => [] as string[])).filter(
      (n) => !n.startsWith('.'),
    );
    const joined = await Promise.all(
      names.map((n) => readFile(join(this.#tokensDir(id), n), 'utf8').catch(() => '')),
    );
    record.tokens = [...new Set([...(record.tokens ?? []), ...joined.filter(Boolean)])].sort();
    return record;
  }

  async answer(id: string, answer: TaskAnswer) {
    if ((await this.get(id)) === undefined)
      throw new TaskNotFoundError(`task ${id}: no such task in ${this.dir}`);
    try {
      await writeWhole(this.#answerFile(id), `${JSON.stringify(answer)}\n`, { exclusive: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      // Answered first elsewhere. Its answer is whole within moments, or it never will be (a
      // write interrupted where there are no hard links): then say so, not "answered by undefined".
      const record = (await this.get(id)) as TaskRecord;
      record.answer ??= await readWhole<TaskAnswer>(this.#answerFile(id), 'retry');
      return { record, first: false };
    }
    // Read after the answer is written: every token that joined before it is here.
    return { record: { ...((await this.get(id)) as TaskRecord), answer }, first: true };
  }

  async dueReminders(now: Date) {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    const tasks = await Promise.all(
      names.filter((n) => /^task-[A-Za-z0-9_-]+\.json$/.test(n)).map((n) => this.get(n.slice(5, -5))),
    );
    return tasks.filter(
      (t): t is TaskRecord =>
        t !== undefined &&
        !t.answer &&
        !t.reminded &&
        t.remindAt <= now.toISOString() &&
        t.deadline > now.toISOString(),
    );
  }

  async markReminded(id: string) {
    return this.#mark(id, 'reminded');
  }

  async markNotified(id: string) {
    await this.#mark(id, 'notified');
  }

  async #mark(id: string, flag: 'reminded' | 'notified') {
    const record = await this.get(id);
    if (!record || record[flag]) return false;
    // The tokens stay in their own files (a join now may add one).
    const { answer: _answer, tokens: _tokens, ...kept } = record;
    await writeWhole(this.#file(id), `${JSON.stringify({ ...kept, tokens: [], [flag]: true }, null, 2)}\n`);
    return true;
  }

  #file(id: string) {
    return join(this.dir, `task-${id}.json`);
  }

  #tokensDir(id: string) {
    return join(this.dir, `task-${id}.tokens`);
  }

  /** One file per waiting token, named by its hash (tokens need not be safe as file names). */
  #tokenFile(id: string, token: string) {
    return join(this.#tokensDir(id), createHash('sha256').update(token).digest('base64url'));
  }

  #answerFile(id: string) {
    return join(this.dir, `task-${id}.answer.json`);
  }
}

/**
 * Resumes local runs: writes the answer file the run's wait reads (LocalTaskStore), as
 * SendTaskSuccess / SendTaskFailure would resume a deployed one.
 */
export class LocalTaskResumer implements TaskResumer {
  readonly #tokens: LocalTaskStore;
  constructor(dir: string = localTasksDir()) {
    this.#tokens = new LocalTaskStore(dir);
  }

  async succeed(token: string, output: unknown) {
    const by = (output as { by?: unknown } | undefined)?.by;
    await this.#tokens.answer(token, typeof by === 'string' ? { ok: true, by } : { ok: true });
  }

  async fail(token: string, _error: string, cause: string) {
    await this.#tokens.answer(token, { ok: false, reason: cause, cause });
  }
}

/**
 * The HMAC key of local task links: random, made once, kept beside the tasks (readable by
 * this user only).
 */
export async function localTaskKey(dir: string = localTasksDir()): Promise<Uint8Array> {
  const file = join(dir, 'link-key');
  const existing = await readFile(file).catch(() => undefined);
  if (existing && existing.length >= KEY_BYTES) return existing;
  await mkdir(dir, { recursive: true });
  if (!existing) {
    try {
      await writeWhole(file, randomBytes(KEY_BYTES), { exclusive: true, mode: 0o600 });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
  // Made by another run at the same moment, or made here: read what is there. A key cut short
  // (an interrupted write of an older release) would sign links anyone can forge: replace it.
  for (let attempt = 0; attempt < 5; attempt++) {
    const key = await readFile(file);
    if (key.length >= KEY_BYTES) return key;
    if (attempt === 2) await writeWhole(file, randomBytes(KEY_BYTES), { mode: 0o600 });
    else await sleep(20);
  }
  throw new Error(
    `${file}: the task link key is shorter than ${KEY_BYTES} bytes; delete it to make a new one`,
  );
}

const KEY_BYTES = 32;

/**
 * A JSON file, or undefined when it is not there. One that does not parse is being written in
 * place (only where there are no hard links): `absent` counts it as not there yet; `retry`
 * reads it again a few times, then fails naming the file.
 */
async function readWhole<T>(file: string, partial: 'absent' | 'retry'): Promise<T | undefined> {
  for (let attempt = 1; ; attempt++) {
    const text = await readFile(file, 'utf8').catch(() => undefined);
    if (text === undefined) return undefined;
    try {
      const value: unknown = JSON.parse(text);
      if (value === null || typeof value !== 'object' || Array.isArray(value))
        throw new SyntaxError(
          `it holds ${value === null ? 'null' : Array.isArray(value) ? 'a list' : `a ${typeof value}`}`,
        );
      return value as T;
    } catch (error) {
      if (partial === 'absent') return undefined;
      if (attempt > 5)
        throw new Error(
          `${file} is cut short or is not a JSON object (${(error as Error).message}): a write to it was interrupted; if no offboard command is running, delete it`,
        );
      await sleep(20);
    }
  }
}

/** Opens the task a local run's person step waits on, in the local store. */
export async function openLocalTask(
  store: TaskStore,
  task: PersonTask,
  now: Date = new Date(),
): Promise<TaskRecord> {
  const { record } = await store.openOrJoin(
    {
      // Derived from the token, so `offboard task complete <token>` answers this task.
      id: taskIdForToken(task.token),
      kind: 'deactivate-account',
      createdAt: now.toISOString(),
      ...taskTimes(now, task.timeoutSeconds ?? 604_800),
      executionId: task.executionId ?? 'local',
      details: {
        email: task.email,
        connection: task.connection,
        type: task.type,
        userId: task.userId,
        why: task.why ?? task.instructions,
      },
    },
    task.token,
  );
  return record;
}
