import {
  type AttributeValue,
  ConditionalCheckFailedException,
  DeleteItemCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { ConfigError } from './errors';
import { type TaskAnswer, TaskNotFoundError, type TaskRecord, type TaskStore } from './tasks';

// The deployed side of tasks (DynamoDB, Step Functions), apart from tasks.ts so that local
// runs and the command line's start load no AWS SDK for them.

const taskKey = (id: string) => ({ pk: { S: `task#${id}` }, sk: { S: 'task' } });

/**
 * The partition of the tasks waiting for their reminder: one item per task, sorted by when
 * it falls due, so the hourly reminder reads only these (a Query), never the people's entries.
 */
export const TASK_DUE_PK = 'task-due';
const dueKey = (remindAt: string, id: string) => ({ pk: { S: TASK_DUE_PK }, sk: { S: `${remindAt}#${id}` } });

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
 * where none is, so a task is answered once however many clicks race. An open task also has an
 * item in the `task-due` partition (sk `<remindAt>#<id>`) until it is reminded or answered:
 * the reminder's index, so that it never reads the people's entries.
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
    const record = fromItem(item);
    const created = item.openedBy?.S === token;
    // The task's reminder index item, written until the task's first email is marked sent:
    // task-notify puts it here, then emails, then marks the task notified. Not one transaction
    // with the update above (dynalite, the tests' DynamoDB, has none), and need not be: a
    // notify that stops between the two leaves the task un-notified, and whichever call comes
    // next for it (a retry, or the next run joining it) puts the item again, then sends the
    // email that did not go out. (No call comes only when the run that opened it failed with
    // nobody else waiting: nobody to remind.) The put is idempotent (keyed by the stored
    // remindAt); one that lands after an answer is dropped by dueReminders, which checks every
    // item's task.
    if (!record.notified && !record.answer && !record.reminded) {
      await this.client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: { ...dueKey(record.remindAt, task.id), taskId: { S: task.id } },
        }),
      );
    }
    return { record, created };
  }

  async get(id: string) {
    const out = await this.client.send(
      new GetItemCommand({ TableName: this.tableName, Key: taskKey(id), ConsistentRead: true }),
    );
    return out.Item ? fromItem(out.Item as Item) : undefined;
  }

  async answer(id: string, answer: TaskAnswer) {
    const record = await this.#setOnce(id, 'answer', { S: JSON.stringify(answer) });
    if (!record) {
      const kept = await this.get(id);
      if (!kept) throw new TaskNotFoundError(`task ${id}: no such task`);
      return { record: kept, first: false };
    }
    try {
      await this.#dropDue(record.remindAt, id);
    } catch {
      // The answer is recorded: a throw now would leave the waiting runs unresumed (a second
      // click records nothing, so resumes nothing). The item left behind is deleted by the
      // next dueReminders that reaches it.
    }
    return { record, first: true };
  }

  /**
   * The tasks of the `task-due` partition whose reminder time has come (a Query, paginated),
   * each read to check it is still open: unanswered, not reminded, before its deadline. An
   * index item whose task is no longer open (answered or reminded by a call that failed before
   * dropping it, timed out, or gone) is deleted, so the partition holds open tasks only.
   */
  async dueReminders(now: Date) {
    const at = now.toISOString();
    const due: TaskRecord[] = [];
    let ExclusiveStartKey: Record<string, AttributeValue> | undefined;
    do {
      const out = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          // `<remindAt>#<id>` up to `<now>~`: '~' sorts after '#', so a task due this very
          // millisecond is in.
          KeyConditionExpression: 'pk = :pk AND sk <= :upTo',
          ExpressionAttributeValues: { ':pk': { S: TASK_DUE_PK }, ':upTo': { S: `${at}~` } },
          ConsistentRead: true,
          ...(ExclusiveStartKey ? { ExclusiveStartKey } : {}),
        }),
      );
      for (const entry of out.Items ?? []) {
        const sk = entry.sk?.S ?? '';
        const id = entry.taskId?.S ?? sk.slice(sk.indexOf('#') + 1);
        const remindAt = sk.slice(0, sk.indexOf('#'));
        const record = await this.get(id);
        if (record && !record.answer && !record.reminded && record.deadline > at) due.push(record);
        else await this.#dropDue(remindAt, id);
      }
      ExclusiveStartKey = out.LastEvaluatedKey;
    } while (ExclusiveStartKey);
    return due;
  }

  async markReminded(id: string) {
    const record = await this.#setOnce(id, 'reminded', { BOOL: true });
    if (!record) return false;
    await this.#dropDue(record.remindAt, id);
    return true;
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

  /**
   * Sets an attribute of an existing task only where it is not set yet (a conditional write,
   * so two racing callers set it once): the task as it now is, or undefined when the task is
   * gone or the attribute was already set.
   */
  async #setOnce(
    id: string,
    name: 'answer' | 'reminded',
    value: { S: string } | { BOOL: boolean },
  ): Promise<TaskRecord | undefined> {
    try {
      const out = await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: taskKey(id),
          UpdateExpression: 'SET #name = :value',
          ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(#name)',
          ExpressionAttributeNames: { '#name': name },
          ExpressionAttributeValues: { ':value': value },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return fromItem(out.Attributes as Item);
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return undefined;
      throw error;
    }
  }

  /** Deletes a task's `task-due` item: the task needs no reminder (any more). */
  async #dropDue(remindAt: string, id: string) {
    await this.client.send(new DeleteItemCommand({ TableName: this.tableName, Key: dueKey(remindAt, id) }));
  }
}

/** Reads a required environment variable of the task functions, or says which is missing. */
export function taskEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new ConfigError(`${name} is not set: the stack sets it on the task functions`);
  return value;
}

let deployedStore: DynamoDbTaskStore | undefined;

/** The deployed task store (OFFBOARD_LEDGER_TABLE), made once a warm Lambda. */
export function deployedTaskStore(): DynamoDbTaskStore {
  deployedStore ??= new DynamoDbTaskStore(taskEnv('OFFBOARD_LEDGER_TABLE'));
  return deployedStore;
}
