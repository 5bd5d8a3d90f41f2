import { createHmac, timingSafeEqual } from 'node:crypto';
import { TASK_ID } from './tasks';

/** What a link answers: "Done" or "I could not". */
export type LinkAnswer = 'done' | 'failed';

/** What a task link carries: which task, which answer, until when (the task's deadline). */
export interface TaskLink {
  id: string;
  answer: LinkAnswer;
  /** Milliseconds since the epoch. */
  expires: number;
}

export type LinkCheck =
  | { ok: true; link: TaskLink }
  | { ok: false; problem: 'malformed' | 'tampered' }
  | { ok: false; problem: 'expired'; link: TaskLink };

const ANSWER_CODES: Record<LinkAnswer, string> = { done: 'd', failed: 'f' };

function mac(key: Uint8Array, text: string): Buffer {
  return createHmac('sha256', key).update(`offboard-task-link:${text}`).digest();
}

/**
 * The signed reference a link carries: `<id>.<d|f>.<expires>.<HMAC-SHA256, base64url>`.
 * Never the task token: a leaked link answers one task, once, until its deadline.
 */
export function signTaskLink(link: TaskLink, key: Uint8Array): string {
  const text = `${link.id}.${ANSWER_CODES[link.answer]}.${Math.floor(link.expires).toString(36)}`;
  return `${text}.${mac(key, text).toString('base64url')}`;
}

/** Checks a link's signature first, then its expiry (a forged expiry is tampering, not expiry). */
export function verifyTaskLink(
  value: string | null | undefined,
  key: Uint8Array,
  now = Date.now(),
): LinkCheck {
  const parts = (value ?? '').split('.');
  if (parts.length !== 4) return { ok: false, problem: 'malformed' };
  const [id = '', code = '', expiresText = '', signature = ''] = parts;
  if (!TASK_ID.test(id) || !/^[a-z0-9]{1,12}$/.test(expiresText)) return { ok: false, problem: 'malformed' };
  const expected = mac(key, `${id}.${code}.${expiresText}`);
  const given = Buffer.from(signature, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected))
    return { ok: false, problem: 'tampered' };
  const answer = code === 'd' ? 'done' : code === 'f' ? 'failed' : undefined;
  if (!answer) return { ok: false, problem: 'tampered' };
  const link: TaskLink = { id, answer, expires: Number.parseInt(expiresText, 36) };
  if (now >= link.expires) return { ok: false, problem: 'expired', link };
  return { ok: true, link };
}

/** The page's address for one answer of a task: `<pageUrl>?link=<signed reference>`. */
export function taskLinkUrl(pageUrl: string, link: TaskLink, key: Uint8Array): string {
  const url = new URL(pageUrl);
  url.searchParams.set('link', signTaskLink(link, key));
  return url.toString();
}

/** Both links of a task, expiring at its deadline. */
export function taskLinks(
  pageUrl: string,
  task: { id: string; deadline: string },
  key: Uint8Array,
): { done: string; failed: string } {
  const expires = Date.parse(task.deadline);
  return {
    done: taskLinkUrl(pageUrl, { id: task.id, answer: 'done', expires }, key),
    failed: taskLinkUrl(pageUrl, { id: task.id, answer: 'failed', expires }, key),
  };
}

/** Seconds the key is cached in a warm Lambda. */
const KEY_MAX_AGE_SECONDS = 300;

/**
 * The link key from Secrets Manager (Powertools Parameters, cached): the secret's string as
 * it is (CDK generates it), its UTF-8 bytes the HMAC key.
 */
export async function taskKeyFromSecret(secretId: string): Promise<Uint8Array> {
  const { getSecret } = await import('@aws-lambda-powertools/parameters/secrets');
  const value = await getSecret(secretId, { maxAge: KEY_MAX_AGE_SECONDS });
  if (typeof value !== 'string' || value.length < 16)
    throw new Error(`task link key ${secretId}: the secret must be a string of at least 16 characters`);
  return Buffer.from(value, 'utf8');
}
