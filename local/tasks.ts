import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

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
}

/** How the person answered: done (then the API verifies it), or refused with a reason. */
export type PersonTaskResult = { ok: true } | { ok: false; reason: string };

/**
 * Local runs keep tasks as files, so `offboard task complete <token>` from another terminal
 * resumes a run that waits in this one. Deployed runs use Step Functions' task tokens.
 */
export class LocalTaskStore {
  constructor(
    readonly dir: string = process.env.OFFBOARD_TASKS_DIR ?? join(process.cwd(), '.offboard', 'tasks'),
  ) {}

  /** A token that cannot be guessed or collide, and is safe as a file name. */
  static newToken(): string {
    return `local-${randomBytes(18).toString('base64url')}`;
  }

  async publish(task: PersonTask): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    await writeFile(this.#taskFile(task.token), `${JSON.stringify(task, null, 2)}\n`);
  }

  /** True when a local run is waiting on this token. */
  async isPending(token: string): Promise<boolean> {
    if (!/^local-[A-Za-z0-9_-]+$/.test(token)) return false;
    return stat(this.#taskFile(token)).then(
      () => true,
      () => false,
    );
  }

  async answer(token: string, result: PersonTaskResult): Promise<void> {
    await writeFile(this.#resultFile(token), `${JSON.stringify(result)}\n`);
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
