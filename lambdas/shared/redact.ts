/**
 * What a vendor answers can reach our output, our logs and the ledger: an error body that
 * echoes the request's Authorization header, a record with a field holding the API key. So
 * everything a connector step returns or throws passes through here first: the
 * connection's secrets, and the forms they travel in (base64 of them, of `user:password` as
 * HTTP Basic sends it, URL-encoded, JSON-escaped), become `[redacted]`; messages also lose
 * control characters, so a vendor cannot rewrite a terminal line or forge a log entry.
 *
 * Only the secret parts of a secret are searched for: a user name, a client id or a token
 * URL is not secret, and hiding a user name such as `admin` would corrupt records that merely
 * contain the word (`site-admin`), the very records a reactivation writes back.
 */
import { stripControl } from './text';

export const REDACTED = '[redacted]';

/** Secrets shorter than this are not searched for: they would match ordinary words. */
const MIN_SECRET_LENGTH = 4;

/** Keys of a secret's JSON whose values are identifiers, not secrets. */
const PUBLIC_KEYS = /^(user(name)?|login|client_?id|token_?url|url|base_?url)$/i;

/** Every string in a secret's JSON, at any depth, sorted into public and secret ones. */
function leaves(
  value: unknown,
  into: { secret: string[]; public: string[] } = { secret: [], public: [] },
  key = '',
): { secret: string[]; public: string[] } {
  if (typeof value === 'string') (PUBLIC_KEYS.test(key) ? into.public : into.secret).push(value);
  else if (Array.isArray(value)) for (const item of value) leaves(item, into, key);
  else if (value && typeof value === 'object') {
    for (const [name, item] of Object.entries(value)) leaves(item, into, name);
  }
  return into;
}

const base64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');
const base64url = (text: string) => Buffer.from(text, 'utf8').toString('base64url');

/**
 * The base64 of `secret` as it reads inside a longer base64 text, whatever came before it:
 * base64 works in groups of three bytes, so the secret's own characters start at one of
 * three alignments. The groups touching the text around it are left out.
 */
function base64Cores(secret: string): string[] {
  const cores: string[] = [];
  for (let shift = 1; shift <= 2; shift++) {
    const encoded = base64(`${'\0'.repeat(shift)}${secret}`).replace(/=+$/, '');
    cores.push(encoded.slice(4, -4));
  }
  return cores;
}

/**
 * The texts to hide for a secret: each of its secret strings, in base64 (at any alignment)
 * and base64url, URL-encoded (either case of hex), JSON-escaped; and the base64 of every
 * `a:b` pair HTTP Basic would send (a user and a password, a key and an empty password, a
 * client id and its secret). Longest first, so a longer form is replaced before a shorter
 * one inside it.
 */
export function secretForms(secret: unknown): string[] {
  const { secret: secrets, public: ids } = leaves(secret);
  const strings = [...new Set(secrets.filter((s) => s.length >= MIN_SECRET_LENGTH))];
  const forms = new Set<string>();
  for (const s of strings) {
    const escaped = JSON.stringify(s).slice(1, -1);
    for (const form of [
      s,
      base64(s),
      base64(s).replace(/=+$/, ''),
      base64url(s),
      ...base64Cores(s),
      encodeURIComponent(s),
      encodeURIComponent(s).replace(/%[0-9A-F]{2}/g, (hex) => hex.toLowerCase()),
      escaped,
      escaped.replaceAll('/', '\\/'),
    ]) {
      forms.add(form);
    }
    for (const other of ['', ...ids, ...strings]) {
      forms.add(base64(`${other}:${s}`));
      forms.add(base64(`${s}:${other}`));
    }
  }
  // Base64 cores of a short secret may be short too; keep only forms long enough to be specific.
  return [...forms].filter((f) => f.length >= MIN_SECRET_LENGTH).sort((a, b) => b.length - a.length);
}

/** A function that hides secrets in a text. */
export type Redactor = (text: string) => string;

/** A redactor for these forms (see {@link secretForms}). */
export function redactorOf(forms: readonly string[]): Redactor {
  if (forms.length === 0) return (text) => text;
  return (text) => {
    let result = text;
    for (const form of forms) if (result.includes(form)) result = result.replaceAll(form, REDACTED);
    return result;
  };
}

/** Redactors already made, by the secret's JSON: a warm function makes each once. */
const made = new Map<string, Redactor>();

/** The redactor of one connection's secret JSON. */
export function redactorFor(secret: unknown): Redactor {
  const key = JSON.stringify(secret) ?? '';
  let redactor = made.get(key);
  if (!redactor) {
    redactor = redactorOf(secretForms(secret));
    // A handful of connections a function: a bound only against a secret that keeps changing.
    if (made.size > 100) made.clear();
    made.set(key, redactor);
  }
  return redactor;
}

/**
 * A message for people and logs: control characters gone first (a secret with an escape
 * sequence spliced into it must not slip past), then the secrets hidden.
 */
export function cleanMessage(text: string, redact: Redactor): string {
  return redact(stripControl(text));
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
 * Where a value holds a hidden part (`role.id`, `emails.0.value`): the fields of a
 * before-state that redaction changed, because they contained text of the connection's
 * secret. Empty when nothing was hidden.
 */
export function hiddenFields(value: unknown, path = ''): string[] {
  if (typeof value === 'string') return value.includes(REDACTED) ? [path || '(value)'] : [];
  if (!value || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([key, item]) => {
    const at = path ? `${path}.${key}` : key;
    return key.includes(REDACTED) ? [at] : hiddenFields(item, at);
  });
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
  if (error.stack) error.stack = cleanMessage(error.stack, redact);
  return error;
}

/**
 * The secret parts of the headers a request carried, for redacting what the vendor answers
 * to it: an Authorization value and what it encodes (the token of a Bearer header; the
 * `user:password` and the password of a Basic one), and API-key headers.
 */
export function headerSecrets(headers: Record<string, string>): Record<string, string> {
  const found: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase();
    if (lower === 'authorization' || lower === 'proxy-authorization') {
      const [scheme, credential = ''] = value.split(/\s+/, 2);
      if (/^bearer$/i.test(scheme ?? '')) found.token = credential;
      if (/^basic$/i.test(scheme ?? '')) {
        const decoded = Buffer.from(credential, 'base64').toString('utf8');
        const colon = decoded.indexOf(':');
        found.credentials = decoded;
        if (colon >= 0) found.password = decoded.slice(colon + 1);
        if (colon > 0) found.apiKey = decoded.slice(0, colon);
      }
    } else if (/(^|-)(access-?key|api-?key|token|secret)$/.test(lower) || lower === 'cookie') {
      found[lower] = value;
    }
  }
  return found;
}
