/**
 * The safety brake on mass deactivation. Every real offboarding (not a dry run, not a
 * reactivation, not a resent HR event) counts one per person right before its first vendor
 * write; a bulk run counts its whole list up front. More than `limit` within `windowMinutes`
 * opens a pause: that run, and every offboarding after it while the pause is open, waits on one
 * `release-brake` task for a person. Released, they go on and the window counts afresh from
 * the release; refused (or not answered in time), they fail having written nothing, and the
 * next offboarding opens a new pause. As Entra's lifecycle workflows quarantine mass actions:
 * a buggy HR feed cannot switch off half the company before someone looks.
 *
 * The count lives in one item of the ledger, changed by optimistic version, so executions that
 * count at the same moment take turns and no more than `limit` get through.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import type { BrakeConfig } from './brake-config';
import { LedgerUnavailableError, OffboardError, type OffboardErrorOptions } from './errors';
import { type BlobStore, blobRefSchema } from './evidence';
import type { BrakeLedger, BrakeRecord } from './ledger';
import { newTaskId, TASK_REFUSED } from './tasks';

/** How long a pause waits for a person before it counts as refused (7 days, as a person task). */
export const PAUSE_SECONDS = 7 * 86_400;

export {
  type BrakeConfig,
  type BrakeConfigInput,
  brakeConfigSchema,
  brakeFromEnv,
  DEFAULT_BRAKE,
  resolveBrake,
} from './brake-config';

/** A pause a person must release: the task id of its `release-brake` task, and what it says. */
export interface OpenPause {
  id: string;
  openedAt: string;
  /** The execution that found the window full. */
  openedBy: string;
  /** Whom that execution offboards (a bulk run: absent, `people` says how many). */
  email?: string;
  /** How many deactivations the window would hold with the run that opened it. */
  count: number;
  limit: number;
  windowMinutes: number;
  /** Past it, the pause counts as refused (not answered in time) and a new one may open. */
  deadline: string;
  /** Executions waiting on it (the opener included). */
  waiting: number;
  /** People waiting on it (a bulk run adds its whole list). */
  people: number;
}

/** How a pause ended, and who said so. */
export type PauseOutcome = 'released' | 'refused' | 'timed-out';

/** A pause as the ledger keeps it (`pause#<openedAt>#<id>`): open, or how it ended. */
export interface PauseRecord extends OpenPause {
  outcome?: PauseOutcome;
  /** Who released or refused it (the task's answer), when known. */
  by?: string;
  /** When it was released or refused. */
  at?: string;
  reason?: string;
}

const windowEntrySchema = z.object({ at: z.string(), id: z.string(), n: z.number().int().positive() });
const openPauseSchema = z
  .object({
    id: z.string(),
    openedAt: z.string(),
    openedBy: z.string(),
    email: z.string().optional(),
    count: z.number(),
    limit: z.number(),
    windowMinutes: z.number(),
    deadline: z.string(),
    waiting: z.number(),
    people: z.number(),
  })
  .strict();
const stateSchema = z.object({
  /** Counted deactivations still in the window: at most `limit` entries, plus a released bulk run. */
  window: z.array(windowEntrySchema),
  /** The last release: nothing before it counts. */
  since: z.string().optional(),
  pause: openPauseSchema.optional(),
});
type BrakeState = z.infer<typeof stateSchema>;

/** What a count answers: go on (counted, or covered by a bulk run's count), or wait on `pause`. */
export type BrakeDecision =
  | { counted: boolean; coveredBy?: string; count?: number }
  | {
      counted: false;
      pause: Pick<OpenPause, 'id' | 'count' | 'limit' | 'windowMinutes' | 'people'> & {
        /** Until the pause's deadline: the wait's own timeout, so every waiting run ends together. */
        timeoutSeconds: number;
      };
    };

/** What the brake needs: the ledger's brake storage, its settings, a clock. */
export interface BrakeDeps {
  store: BrakeLedger;
  config: BrakeConfig;
  /** Reads a bulk run's checked list (a hand-off is let through only for someone on it). */
  blobs?: () => BlobStore;
  /**
   * The task store: a pause whose task is answered is closed by the next count, so a run that
   * starts after the answer (before any waiting run has noted it) is counted afresh rather than
   * let through by a release it was never part of.
   */
  answers?: PauseAnswers;
  now?: () => Date;
}

/** A bulk run's count, kept so its hand-offs to single runs are not counted again. */
export interface BulkGrant {
  executionId: string;
  at: string;
  people: number;
  peopleRef: z.infer<typeof blobRefSchema>;
}

/**
 * The person was reactivated after this offboarding started (while it waited for its
 * effectiveAt, or on the brake): HR said they stay, so it stops before any vendor write.
 */
export class ReactivatedSinceError extends OffboardError {
  readonly retryable = false;
  constructor(message: string, options?: OffboardErrorOptions) {
    super(message, options);
    this.name = 'User.Reactivated';
  }
}

/** The key of a pause's record: oldest first when listed. */
export const pauseKey = (pause: Pick<OpenPause, 'openedAt' | 'id'>) => `pause#${pause.openedAt}#${pause.id}`;
/** The key of a bulk run's grant. */
export const grantKey = (executionId: string) => `grant#${executionId}`;

/** A pause id: a task id like any other. */
export const newPauseId = (): string => newTaskId();

/** How often a count retries when other executions changed the state first. */
const MAX_ATTEMPTS = 60;

/**
 * Changes the brake's state, once, against concurrent executions: reads, decides, writes if
 * no one wrote since; otherwise reads again. Throws Ledger.Unavailable (retried by the state
 * machine) if it never gets a turn.
 */
async function update<T>(
  deps: BrakeDeps,
  decide: (state: BrakeState, now: Date) => { state?: BrakeState; records?: BrakeRecord[]; result: T },
): Promise<T> {
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const { state: raw, version } = await deps.store.brakeState();
    const now = deps.now?.() ?? new Date();
    const state = current(raw === undefined ? { window: [] } : stateSchema.parse(raw), deps.config, now);
    // A pause whose task is answered is over, whether or not a run waiting on it has noted it
    // yet: closed here, so no run joins a pause that is over (and is let through by a release
    // it was never part of). Unreadable: it stays open, and the waits decide.
    const open = state.state.pause;
    const task = open && deps.answers ? await deps.answers.get(open.id).catch(() => undefined) : undefined;
    if (task?.answer) {
      const closing = closePause(state.state, task.answer.ok ? 'released' : 'refused', task.answer, now);
      state.state = closing.state;
      state.records.push(closing.record);
    }
    const { state: next, records, result } = decide(state.state, now);
    const allRecords = [...state.records, ...(records ?? [])];
    if (!next && allRecords.length === 0) return result;
    if (await deps.store.saveBrakeState(next ?? state.state, version, allRecords)) return result;
    // Another execution counted first: a short random pause spreads the next attempts.
    await sleep(5 + Math.floor(Math.random() * 20 * Math.min(attempt + 1, 5)));
  }
  throw new LedgerUnavailableError(`brake: the count did not get a turn in ${MAX_ATTEMPTS} attempts`);
}

/** The state as of now: entries out of the window dropped, a pause past its deadline closed. */
function current(
  state: BrakeState,
  config: BrakeConfig,
  now: Date,
): { state: BrakeState; records: BrakeRecord[] } {
  const from = new Date(now.getTime() - config.windowMinutes * 60_000).toISOString();
  const since = state.since && state.since > from ? state.since : from;
  const window = state.window.filter((e) => e.at >= since);
  const records: BrakeRecord[] = [];
  let pause = state.pause;
  if (pause && pause.deadline <= now.toISOString()) {
    records.push(pauseRecord({ ...pause, outcome: 'timed-out', at: pause.deadline }));
    pause = undefined;
  }
  return { state: { ...state, window, ...(pause ? { pause } : { pause: undefined }) }, records };
}

function pauseRecord(record: PauseRecord): BrakeRecord {
  return { key: pauseKey(record), value: JSON.parse(JSON.stringify(record)) };
}

const counted = (state: BrakeState) => state.window.reduce((sum, e) => sum + e.n, 0);

function decision(pause: OpenPause, now: Date): BrakeDecision {
  const timeoutSeconds = Math.max(1, Math.ceil((Date.parse(pause.deadline) - now.getTime()) / 1000));
  return {
    counted: false,
    pause: {
      id: pause.id,
      count: pause.count,
      limit: pause.limit,
      windowMinutes: pause.windowMinutes,
      people: pause.people,
      timeoutSeconds,
    },
  };
}

/**
 * Counts `people` deactivations for one execution: within the limit, they go on; past it, or
 * while a pause is open, they join the pause. A retried count of the same execution counts once.
 */
async function countPeople(
  deps: BrakeDeps,
  who: { executionId: string; people: number; email?: string },
): Promise<BrakeDecision> {
  return update<BrakeDecision>(deps, (state, now) => {
    const mine = state.window.find((e) => e.id === who.executionId);
    if (mine) return { result: { counted: true, count: counted(state) } };
    if (state.pause) {
      const pause = {
        ...state.pause,
        waiting: state.pause.waiting + 1,
        people: state.pause.people + who.people,
      };
      return { state: { ...state, pause }, records: [pauseRecord(pause)], result: decision(pause, now) };
    }
    const total = counted(state) + who.people;
    if (total <= deps.config.limit) {
      const window = [...state.window, { at: now.toISOString(), id: who.executionId, n: who.people }];
      return { state: { ...state, window }, result: { counted: true, count: total } };
    }
    const pause: OpenPause = {
      id: newPauseId(),
      openedAt: now.toISOString(),
      openedBy: who.executionId,
      ...(who.email ? { email: who.email } : {}),
      count: total,
      limit: deps.config.limit,
      windowMinutes: deps.config.windowMinutes,
      deadline: new Date(now.getTime() + PAUSE_SECONDS * 1000).toISOString(),
      waiting: 1,
      people: who.people,
    };
    return { state: { ...state, pause }, records: [pauseRecord(pause)], result: decision(pause, now) };
  });
}

/**
 * Closes the state's open pause as it ended, with its record: released, the window counts
 * afresh from now; refused or not answered, the window stays as it was.
 */
function closePause(
  state: BrakeState,
  outcome: PauseOutcome,
  answer: { by?: string; reason?: string; at?: string },
  now: Date,
): { state: BrakeState; record: BrakeRecord } {
  const pause = state.pause as OpenPause;
  return {
    record: pauseRecord({
      ...pause,
      outcome,
      at: answer.at ?? now.toISOString(),
      ...(answer.by ? { by: answer.by } : {}),
      ...(answer.reason && outcome !== 'released' ? { reason: answer.reason } : {}),
    }),
    state: outcome === 'released' ? { window: [], since: now.toISOString() } : { ...state, pause: undefined },
  };
}

/**
 * One person's offboarding, right before its first vendor write. A hand-off from a bulk run
 * (`startedBy`, set by Step Functions when the bulk run starts it) is not counted again when
 * that bulk run's grant lists this person; anything else counts, so naming a bulk run in a
 * hand-written input gains nothing: it only lets through someone that run already counted.
 */
export async function countOffboarding(
  deps: BrakeDeps,
  request: { executionId: string; email: string; startedBy?: string },
): Promise<BrakeDecision> {
  if (request.startedBy && (await grantCovers(deps, request.startedBy, request.email))) {
    return { counted: false, coveredBy: request.startedBy };
  }
  return countPeople(deps, { executionId: request.executionId, people: 1, email: request.email });
}

/** A bulk run's whole list, up front: one count, and one pause at most. Within the limit, its grant is kept. */
export async function countBulk(
  deps: BrakeDeps,
  request: { executionId: string; people: number; peopleRef: BulkGrant['peopleRef'] },
): Promise<BrakeDecision> {
  const result = await countPeople(deps, { executionId: request.executionId, people: request.people });
  if (!('pause' in result)) await keepGrant(deps, request);
  return result;
}

async function keepGrant(
  deps: BrakeDeps,
  request: { executionId: string; people: number; peopleRef: BulkGrant['peopleRef'] },
): Promise<void> {
  const grant: BulkGrant = {
    executionId: request.executionId,
    at: (deps.now?.() ?? new Date()).toISOString(),
    people: request.people,
    peopleRef: request.peopleRef,
  };
  await update(deps, (state) => ({
    state,
    records: [{ key: grantKey(request.executionId), value: { ...grant } }],
    result: undefined,
  }));
}

async function grantCovers(deps: BrakeDeps, executionId: string, email: string): Promise<boolean> {
  const [record] = await deps.store.brakeRecords(grantKey(executionId));
  if (!record || record.key !== grantKey(executionId) || !deps.blobs) return false;
  const ref = blobRefSchema.safeParse(record.value.peopleRef);
  if (!ref.success) return false;
  const people = await deps.blobs().get(ref.data);
  const wanted = email.trim().toLowerCase();
  return (
    Array.isArray(people) && people.some((p) => typeof p === 'string' && p.trim().toLowerCase() === wanted)
  );
}

/** How a waiting run's task ended, as the state machine hands it over. */
export interface PauseAnswer {
  ok: boolean;
  timedOut?: boolean;
  /**
   * The wait itself failed (the notify function's error, not a person's refusal): this run
   * stops, and the pause stays open for the others and for the person's answer.
   */
  failed?: string;
  by?: string;
  at?: string;
  reason?: string;
}

/**
 * What the wait's result or error says: the task's answer `{ok, by, at, reason?}` (the task
 * output, or inside it), a refusal's cause (JSON `{reason, by, at}`, maybe inside Lambda's
 * `{errorMessage}`), or States.Timeout.
 */
export function pauseAnswer(result: unknown, error?: { Error?: string; Cause?: string }): PauseAnswer {
  if (error) {
    if (error.Error === 'States.Timeout')
      return { ok: false, timedOut: true, reason: 'not answered in time' };
    // Only SendTaskFailure (a person's "keep it stopped") says Task.Refused; any other error
    // is the wait's own fault, which must not be recorded as anyone's refusal.
    if (error.Error !== TASK_REFUSED)
      return { ok: false, failed: `${error.Error ?? 'Error'}: ${error.Cause ?? 'no cause given'}` };
    const found = findAnswer(error.Cause);
    return { ...found, ok: false, reason: found.reason ?? error.Cause ?? error.Error ?? 'refused' };
  }
  return { ...findAnswer(result), ok: true };
}

function findAnswer(value: unknown, depth = 0): Omit<PauseAnswer, 'ok'> {
  if (depth > 3 || value === undefined || value === null) return {};
  if (typeof value === 'string') {
    try {
      return findAnswer(JSON.parse(value), depth + 1);
    } catch {
      return { reason: value };
    }
  }
  if (typeof value !== 'object') return {};
  const v = value as Record<string, unknown>;
  const text = (x: unknown) => (typeof x === 'string' && x !== '' ? x : undefined);
  if (text(v.by)) {
    return {
      by: text(v.by),
      ...(text(v.at) ? { at: text(v.at) } : {}),
      ...(text(v.reason) ? { reason: text(v.reason) } : {}),
    };
  }
  return findAnswer(v.answer ?? v.errorMessage ?? v.Output, depth + 1);
}

/** The answer of a task, as a task store knows it (TaskStore.get of lambdas/shared/tasks.ts fits). */
export interface PauseAnswers {
  get(id: string): Promise<{ answer?: { ok: boolean; reason?: string; by: string; at: string } } | undefined>;
}

/**
 * A waiting run's task ended: the first to say so closes the pause and records how it ended
 * (released: the window counts afresh from now); the others find it closed. A released bulk
 * run then counts its whole list and keeps its grant. Returns the message a refused run fails with.
 */
export async function resolvePause(
  deps: BrakeDeps & { answers?: PauseAnswers },
  request: {
    pauseId: string;
    executionId: string;
    answer: PauseAnswer;
    bulk?: { people: number; peopleRef: BulkGrant['peopleRef'] };
  },
): Promise<{ outcome: PauseOutcome | 'stopped'; message: string }> {
  if (request.answer.failed) {
    // Nobody answered: the pause stays open (the others still wait on it, the person's answer
    // still counts, and the next count closes it once answered); only this run stops.
    return {
      outcome: 'stopped',
      message: `brake: waiting on pause ${request.pauseId} failed: ${request.answer.failed}: this offboarding stopped before any vendor write; the pause stays open`,
    };
  }
  let answer = request.answer;
  // The task store's answer is the authority on who answered and when.
  const task = await deps.answers?.get(request.pauseId).catch(() => undefined);
  if (task?.answer)
    answer = { ...answer, by: task.answer.by, at: task.answer.at, reason: task.answer.reason };
  const outcome: PauseOutcome = answer.ok ? 'released' : answer.timedOut ? 'timed-out' : 'refused';
  await update(deps, (state, now) => {
    const at = answer.at ?? now.toISOString();
    let next = state;
    const records: BrakeRecord[] = [];
    if (state.pause?.id === request.pauseId) {
      const closing = closePause(state, outcome, { ...answer, at }, now);
      records.push(closing.record);
      next = closing.state;
    }
    if (outcome === 'released' && request.bulk && !next.window.some((e) => e.id === request.executionId)) {
      next = {
        ...next,
        window: [...next.window, { at: now.toISOString(), id: request.executionId, n: request.bulk.people }],
      };
    }
    return { state: next, records, result: undefined };
  });
  if (outcome === 'released' && request.bulk)
    await keepGrant(deps, { executionId: request.executionId, ...request.bulk });
  const message =
    outcome === 'released'
      ? `brake: pause ${request.pauseId} released${answer.by ? ` by ${answer.by}` : ''}`
      : `brake: pause ${request.pauseId} ${outcome === 'timed-out' ? 'was not answered in time' : `was refused${answer.by ? ` by ${answer.by}` : ''}${answer.reason ? `: ${answer.reason}` : ''}`}: this offboarding stopped before any vendor write`;
  return { outcome, message };
}

/** Every pause, oldest first, with how it ended: what `offboard report --brake` prints. */
export async function brakeHistory(store: Pick<BrakeLedger, 'brakeRecords'>): Promise<PauseRecord[]> {
  const records = await store.brakeRecords('pause#');
  return records.map((r) => r.value as unknown as PauseRecord);
}
