/**
 * What a vendor answers can reach our output, our logs and the ledger: an error body that
 * echoes the request's Authorization header, a record with a field holding the API key. So
 * everything a connector step returns or throws passes through here first: the
 * connection's secrets, and the forms they travel in (base64 of them, of `user:password` as
 * HTTP Basic sends it, URL-encoded), become `[redacted]`; messages also lose control
 * characters, so a vendor cannot rewrite a terminal line or forge a log entry.
 */
import { stripControl } from './text';

export const REDACTED = '[redacted]';

/** Secrets shorter than this are not searched for: they would match ordinary words. */
const MIN_SECRET_LENGTH = 4;

/** Every string in a secret's JSON, at any depth. */
function leaves(value: unknown, into: string[] = []): string[] {
  if (typeof value === 'string') into.push(value);
  else if (Array.isArray(value)) for (const item of value) leaves(item, into);
  else if (value && typeof value === 'object') for (const item of Object.values(value)) leaves(item, into);
  return into;
}

const base64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');
const base64url = (text: string) => Buffer.from(text, 'utf8').toString('base64url');

/**
 * The texts to hide for a secret: each of its strings, its base64 and base64url forms, its
 * URL-encoded form, and the base64 of every `a:b` pair of them (Basic auth: a user and a
 * password, a key and an empty password, a client id and its secret). Longest first, so a
 * longer form is replaced before a shorter one inside it.
 */
export function secretForms(secret: unknown): string[] {
  const strings = [...new Set(leaves(secret).filter((s) => s.length >= MIN_SECRET_LENGTH))];
  const forms = new Set<string>();
  for (const s of strings) {
    forms.add(s);
    forms.add(base64(s));
    forms.add(base64url(s));
    forms.add(encodeURIComponent(s));
    forms.add(base64(`${s}:`));
    for (const other of strings) forms.add(base64(`${s}:${other}`));
  }
  // Base64 of a short text may be short too; keep only forms long enough to be specific.
  return [...forms].filter((f) => f.length >= MIN_SECRET_LENGTH).sort((a, b) => b.length - a.length);
}

/** A function that hides the secret's forms in a text. */
export type Redactor = (text: string) => string;

/** The redactor of one connection's secret JSON. */
export function redactorFor(secret: unknown): Redactor {
  const forms = secretForms(secret);
  if (forms.length === 0) return (text) => text;
  return (text) => {
    let result = text;
    for (const form of forms) if (result.includes(form)) result = result.replaceAll(form, REDACTED);
    return result;
  };
}

/** A message for people and logs: secrets hidden, control characters gone. */
export function cleanMessage(text: string, redact: Redactor): string {
  return stripControl(redact(text));
}

/**
 * Every string in a value with the secrets hidden (keys included). Control characters in
 * values are kept: a record's before-state must stay exactly what the vendor holds (a
 * multi-line field), and JSON escapes them wherever it is stored or printed.
 */
export function redactDeep<T>(value: T, redact: Redactor): T {
  if (typeof value === 'string') return redact(value) as T;
  if (Array.isArray(value)) return value.map((item) => redactDeep(item, redact)) as T;
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [redact(key), redactDeep(item, redact)]),
    ) as T;
  }
  return value;
}

/**
 * The same error, with its message (and the stack that repeats it) cleaned: Lambda sends
 * both to Step Functions, which shows them in the console and keeps them in the history.
 */
export function cleanError(error: unknown, redact: Redactor): unknown {
  if (!(error instanceof Error)) return error;
  const original = error.message;
  const cleaned = cleanMessage(original, redact);
  if (cleaned !== original) error.message = cleaned;
  if (error.stack) error.stack = redact(error.stack.replace(original, cleaned));
  return error;
}
