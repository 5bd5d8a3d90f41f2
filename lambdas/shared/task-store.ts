import {
  ConditionalCheckFailedException,
  DynamoDBClient,
  GetItemCommand,
  ScanCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { SendTaskFailureCommand, SendTaskSuccessCommand, SFNClient } from '@aws-sdk/client-sfn';
import { ConfigError } from './errors';
import {
  type TaskAnswer,
  TaskNotFoundError,
  type TaskRecord,
  type TaskResumer,
  type TaskStore,
} from './tasks';

// The deployed side of tasks (DynamoDB, Step Functions), apart from tasks.ts so that local
// runs and the command line's start load no AWS SDK for them.

const taskKey = (id: string) => ({ pk: { S: `task#${id}` }, sk: { S: 'task' } });

type Item = Record<string, { S?: string; SS?: string[]; BOOL?: boolean }>;

function fromItem(item: Item): TaskRecord {
  const base = JSON.parse(item.task?.S ?? '{}') as Omit<TaskRecord, 'tokens' | 'answer'>;
  const record: TaskRecord = { ...base, tokens: [...(item.tokens?.SS ?? [])].sort() };
  if (item.answer?.S) record.answer = JSON.parse(item.answer.S) as TaskAnswer;
  if (item.reminded?.BOOL) record.reminded = true;
  if (item.notified?.BOOL) record.notified = true;
  return record;
}

/**
 * Tasks in the ledger table: one item each (pk `task#<id>`, sk `task`). The task's fixed part
 * is JSON; the tokens a string set (a retried join adds nothing); the answer is written only
 * where none is, so a task is answered once however many clicks race.
 */
export class DynamoDbTaskStore implements TaskStore {
  constructor(
    readonly tableName: string,
    readonly client: DynamoDBClient = new DynamoDBClient({}),
  ) {}

  async openOrJoin(task: Omit<TaskRecord, 'tokens' | 'answer'>, token: string) {
    const { reminded: _r, notified: _n, ...fixed } = task;
    const out = await this.client.send(
      new UpdateItemCommand({
        TableName: this.tableName,
        Key: taskKey(task.id),
        UpdateExpression:
          'SET #task = if_not_exists(#task, :task), remindAt = if_not_exists(remindAt, :remindAt), openedBy = if_not_exists(openedBy, :token) ADD tokens :tokens',
        ExpressionAttributeNames: { '#task': 'task' },
        ExpressionAttributeValues: {
          ':task': { S: JSON.stringify(fixed) },
          ':remindAt': { S: task.remindAt },
          ':token': { S: token },
          ':tokens': { SS: [token] },
        },
        ReturnValues: 'ALL_NEW',
      }),
    );
    const item = out.Attributes as Item;
    return { record: fromItem(item), created: item.openedBy?.S === token };
  }

  async get(id: string) {
    const out = await this.client.send(
      new GetItemCommand({ TableName: this.tableName, Key: taskKey(id), ConsistentRead: true }),
    );
    return out.Item ? fromItem(out.Item as Item) : undefined;
  }

  async answer(id: string, answer: TaskAnswer) {
    try {
      const out = await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: taskKey(id),
          UpdateExpression: 'SET answer = :answer',
          ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(answer)',
          ExpressionAttributeValues: { ':answer': { S: JSON.stringify(answer) } },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return { record: fromItem(out.Attributes as Item), first: true };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      const record = await this.get(id);
      if (!record) throw new TaskNotFoundError(`task ${id}: no such task`);
      return { record, first: false };
    }
  }

  async dueReminders(now: Date) {
    // An hourly scan of the ledger table, filtered to open tasks: tasks are few, and the
    // table has no index to spare for them.
    const due: TaskRecord[] = [];
    let ExclusiveStartKey: Record<string, never> | undefined;
    do {
      const out = await this.client.send(
        new ScanCommand({
          TableName: this.tableName,
          FilterExpression:
            'begins_with(pk, :prefix) AND sk = :sk AND remindAt <= :now AND attribute_not_exists(reminded) AND attribute_not_exists(answer)',
          ExpressionAttributeValues: {
            ':prefix': { S: 'task#' },
            ':sk': { S: 'task' },
            ':now': { S: now.toISOString() },
          },
          ...(ExclusiveStartKey ? { ExclusiveStartKey } : {}),
        }),
      );
      for (const item of out.Items ?? []) due.push(fromItem(item as Item));
      ExclusiveStartKey = out.LastEvaluatedKey as Record<string, never> | undefined;
    } while (ExclusiveStartKey);
    return due.filter((t) => t.deadline > now.toISOString());
  }

  async markReminded(id: string) {
    try {
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: taskKey(id),
          UpdateExpression: 'SET reminded = :yes',
          ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(reminded)',
          ExpressionAttributeValues: { ':yes': { BOOL: true } },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  async markNotified(id: string) {
    await this.client.send(
      new UpdateItemCommand({
        TableName: this.tableName,
        Key: taskKey(id),
        UpdateExpression: 'SET notified = :yes',
        ExpressionAttributeValues: { ':yes': { BOOL: true } },
      }),
    );
  }
}

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

/** Reads a required environment variable of the task functions, or says which is missing. */
export function taskEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new ConfigError(`${name} is not set: the stack sets it on the task functions`);
  return value;
}

let deployedStore: DynamoDbTaskStore | undefined;
let deployedResumer: SfnTaskResumer | undefined;

/** The deployed store (OFFBOARD_LEDGER_TABLE) and resumer, made once a warm Lambda. */
export function deployedTaskDeps(): { store: TaskStore; resumer: TaskResumer } {
  deployedStore ??= new DynamoDbTaskStore(taskEnv('OFFBOARD_LEDGER_TABLE'));
  deployedResumer ??= new SfnTaskResumer();
  return { store: deployedStore, resumer: deployedResumer };
}
