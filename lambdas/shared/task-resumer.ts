import { SendTaskFailureCommand, SendTaskSuccessCommand, SFNClient } from '@aws-sdk/client-sfn';
import { deployedTaskStore } from './task-store';
import type { TaskResumer, TaskStore } from './tasks';

// Apart from task-store.ts: the brake and the reminder read tasks and never resume a run, so
// they load no Step Functions client (deployedTaskStore).

/** Errors that say the waiting execution is gone (timed out, stopped): nothing left to resume. */
const GONE = new Set(['TaskTimedOut', 'TaskDoesNotExist', 'InvalidToken']);

/** Resumes deployed executions: SendTaskSuccess / SendTaskFailure. */
export class SfnTaskResumer implements TaskResumer {
  constructor(
    readonly client: SFNClient = new SFNClient({}),
    /** Told about a token whose execution no longer waits (it timed out or was stopped). */
    readonly onGone: (token: string, error: Error) => void = () => undefined,
  ) {}

  async succeed(token: string, output: unknown) {
    await this.#send(token, () =>
      this.client.send(new SendTaskSuccessCommand({ taskToken: token, output: JSON.stringify(output) })),
    );
  }

  async fail(token: string, error: string, cause: string) {
    // Step Functions caps the cause at 32768 characters.
    await this.#send(token, () =>
      this.client.send(
        new SendTaskFailureCommand({ taskToken: token, error, cause: cause.slice(0, 32_000) }),
      ),
    );
  }

  async #send(token: string, send: () => Promise<unknown>) {
    try {
      await send();
    } catch (error) {
      if (GONE.has((error as Error).name)) this.onGone(token, error as Error);
      else throw error;
    }
  }
}

let deployedResumer: SfnTaskResumer | undefined;

/** The deployed store (OFFBOARD_LEDGER_TABLE) and resumer, made once a warm Lambda. */
export function deployedTaskDeps(): { store: TaskStore; resumer: TaskResumer } {
  deployedResumer ??= new SfnTaskResumer();
  return { store: deployedTaskStore(), resumer: deployedResumer };
}
