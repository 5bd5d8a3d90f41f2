import { Agent, fetch as undiciFetch } from 'undici';
import type { TlsOptions } from './connections';
import {
  AuthFailedError,
  BadRequestError,
  BadResponseError,
  ConfigError,
  HourlyRateLimitedError,
  type OffboardError,
  RateLimitedError,
  UnavailableError,
} from './errors';
import { requestPacing } from './pacing';
import { headerSecrets, type Redactor, redactorOf, secretForms } from './redact';
import { stripControl } from './text';

/** How one vendor API is reached. Credentials go in `headers` and never into an error message. */
export interface HttpClientOptions {
  /** Connection name, first word of every error message: `insightly-prod: get user 12: HTTP 500`. */
  label: string;
  baseUrl: string;
  headers: Record<string, string>;
  /** Per-request timeout. A Lambda step has 30 s; leave room for one retry inside the state machine. */
  timeoutMs?: number;
  /**
   * Lets a vendor refine how a 429 is read (for example a daily quota that retrying in
   * seconds cannot help). Returning undefined keeps the default `Vendor.RateLimited`.
   */
  classifyRateLimit?: (response: Response, message: string) => OffboardError | undefined;
  /** Custom CA or, explicitly, no verification (on-prem consoles). Absent: the system's trust store. */
  tls?: TlsOptions;
  /** Media type of JSON request bodies and of `accept`; SCIM wants `application/scim+json`. Default `application/json`. */
  mediaType?: string;
  /**
   * The vendor's words in an error body, when they are not in `Message`/`message`/`detail`
   * (SCIM: `scimType: detail`). Returning undefined falls back to those.
   */
  errorDetail?: (body: unknown) => string | undefined;
  /** Injected for tests and benchmarks; defaults to the global fetch. */
  fetch?: typeof fetch;
}

export interface RequestOptions {
  /** What we were doing, for the error message: `look up jane@example.com`. */
  action: string;
  query?: Record<string, string>;
  /** Sent as JSON. */
  body?: unknown;
  /** Sent as `application/x-www-form-urlencoded` instead of a JSON body (OAuth token requests). */
  form?: Record<string, string>;
  /** Headers for this request only, over the client's (a bearer token that changes, say). */
  headers?: Record<string, string>;
  /** Statuses the caller handles itself (for example 404 on a read); others map to errors. */
  accept?: number[];
}

export interface HttpResponse {
  status: number;
  headers: Headers;
  /** Parsed JSON, or undefined for an empty body. */
  body: unknown;
}

const DEFAULT_TIMEOUT_MS = 10_000;
/** The largest answer read: a vendor (or something in its place) answering more is refused, not buffered. */
export const MAX_BODY_BYTES = 32 * 1024 * 1024;

/** Codes Node and undici give a TLS handshake refused for an untrusted or wrong certificate. */
const CERTIFICATE_CODE = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER/;
const CERTIFICATE_HINT =
  'give the connection tls.caCert (the PEM of the server certificate or its CA), or, knowingly, ' +
  'tls.rejectUnauthorized=false';

/**
 * The one HTTP client every connector uses: auth headers, timeouts, JSON, TLS, and the single
 * mapping from HTTP status (or network failure) to the error names the state machine retries
 * or catches. A server certificate that is not trusted is `Config.Invalid`, with what to set.
 */
export class HttpClient {
  readonly #options: HttpClientOptions;
  readonly #fetch: typeof fetch;
  /** The secret header values this client has sent, and the redactor that hides them. */
  readonly #sent = new Set<string>();
  #redact: Redactor = (text) => text;
  /** Requests sent, for the benchmark's calls-per-offboarding figure. */
  requestCount = 0;

  constructor(options: HttpClientOptions) {
    this.#options = options;
    this.#fetch = options.fetch ?? (options.tls ? tlsFetch(options.tls) : globalThis.fetch);
  }

  /** Sends one request and returns the parsed answer, or throws a named error. */
  async request(method: string, path: string, options: RequestOptions): Promise<HttpResponse> {
    const url = new URL(this.#options.baseUrl + path);
    for (const [key, value] of Object.entries(options.query ?? {})) url.searchParams.set(key, value);
    const where = `${this.#options.label}: ${options.action}`;
    const mediaType = this.#options.mediaType ?? 'application/json';
    const headers: Record<string, string> = {
      accept: mediaType,
      ...this.#options.headers,
      ...options.headers,
    };
    let body: string | undefined;
    if (options.form !== undefined) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(options.form).toString();
    } else if (options.body !== undefined) {
      headers['content-type'] = mediaType;
      body = JSON.stringify(options.body);
    }

    this.#remember(headers);
    let response: Response;
    let text: string;
    // Under the connection's rate limit, shared with every other execution (label = connection name).
    await requestPacing.before(this.#options.label);
    this.requestCount++;
    try {
      response = await this.#fetch(url, {
        method,
        headers,
        body,
        signal: AbortSignal.timeout(this.#options.timeoutMs ?? DEFAULT_TIMEOUT_MS),
      });
      text = await readBody(response, where);
    } catch (error) {
      if (error instanceof BadResponseError) throw error;
      const reason = describeNetworkError(error);
      const code = certificateCode(error);
      if (code) {
        // On-premise servers often use a self-signed certificate. Waiting will not make it
        // trusted, so this is the connection's configuration, not an outage to retry.
        throw new ConfigError(
          `${where}: ${reason}: the server's TLS certificate is not trusted` +
            `${reason.includes(code) ? '' : ` (${code})`}; ${CERTIFICATE_HINT}`,
          { cause: error },
        );
      }
      // Timeouts, resets and refused connections: the vendor may be back in a moment.
      throw new UnavailableError(`${where}: ${reason}`, { cause: error });
    }

    const status = response.status;
    if (status >= 200 && status < 300) {
      return {
        status,
        headers: response.headers,
        body: parseJson(text, `${where}: HTTP ${status}`, this.#redact),
      };
    }
    if (options.accept?.includes(status)) {
      return { status, headers: response.headers, body: tryParseJson(text) };
    }
    const message = `${where}: HTTP ${status}${this.vendorMessage(tryParseJson(text))}`;
    if (status === 429) {
      // Retry-After (seconds or an HTTP date) holds every later request to this connection,
      // capped: a hostile or broken value cannot stall the workflow for days.
      const retryAfterMs = retryAfter(response.headers.get('retry-after'), Date.now());
      if (retryAfterMs !== undefined) requestPacing.hold(this.#options.label, Date.now() + retryAfterMs);
      const said = retryAfterMs === undefined ? '' : ` (Retry-After: ${Math.ceil(retryAfterMs / 1000)} s)`;
      const custom = this.#options.classifyRateLimit?.(response, `${message}${said}`);
      if (custom) throw custom;
      throw retryAfterMs !== undefined && retryAfterMs > 60_000
        ? new HourlyRateLimitedError(`${message}${said}`)
        : new RateLimitedError(`${message}${said}`);
    }
    if (status === 401 || status === 403) throw new AuthFailedError(message);
    if (status >= 500) throw new UnavailableError(message);
    throw new BadRequestError(message);
  }

  /**
   * The vendor's own words from an error body, as ` (…)` on one line and kept short, or ''
   * when it holds none. Every error mapped here carries them; a caller that accepts a status
   * and words its own message (a 404 on a read) adds them the same way.
   */
  vendorMessage(body: unknown): string {
    let message: unknown = this.#options.errorDetail?.(body) ?? body;
    if (message === body && body && typeof body === 'object') {
      const record = body as Record<string, unknown>;
      message = record.Message ?? record.message ?? record.detail ?? record.error_description ?? record.error;
    }
    if (typeof message !== 'string' || message.trim() === '') return '';
    // Cleaned before it is cut short: a secret cut in half would no longer be recognised.
    const oneLine = this.#redact(stripControl(message)).replace(/\s+/g, ' ').trim();
    return ` (${oneLine.length > 200 ? `${oneLine.slice(0, 200)}…` : oneLine})`;
  }

  /** Keeps the secret parts of the headers sent, so that an answer echoing them is redacted. */
  #remember(headers: Record<string, string>): void {
    const size = this.#sent.size;
    for (const value of Object.values(headerSecrets(headers))) this.#sent.add(value);
    if (this.#sent.size !== size) this.#redact = redactorOf(secretForms([...this.#sent]));
  }
}

/**
 * The body as text, refused beyond MAX_BODY_BYTES (a declared length over it is refused
 * before reading): an answer that large is not a vendor's list of users.
 */
async function readBody(response: Response, where: string): Promise<string> {
  const declared = Number(response.headers.get('content-length') ?? '0');
  const tooLarge = () =>
    new BadResponseError(
      `${where}: HTTP ${response.status}: the answer is larger than ${MAX_BODY_BYTES / 1024 / 1024} MiB; refused`,
    );
  if (declared > MAX_BODY_BYTES) {
    await response.body?.cancel();
    throw tooLarge();
  }
  // A declared length within the limit is read in one go; an undeclared one is counted as it comes.
  if (response.headers.has('content-length')) return response.text();
  if (!response.body) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_BODY_BYTES) {
      await reader.cancel();
      throw tooLarge();
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The longest `Retry-After` honoured: beyond it, the state machine's own backoff decides. */
export const MAX_RETRY_AFTER_MS = 3_600_000;

/**
 * A `Retry-After` header (RFC 9110 §10.2.3: delay-seconds or an HTTP-date) as milliseconds
 * from `now`, capped at {@link MAX_RETRY_AFTER_MS}; undefined when absent or unreadable.
 */
export function retryAfter(header: string | null, now: number): number | undefined {
  if (header === null) return undefined;
  const value = header.trim();
  let ms: number;
  if (/^\d+$/.test(value)) ms = Number(value) * 1000;
  else {
    const date = Date.parse(value);
    if (Number.isNaN(date) || !/[a-z]/i.test(value)) return undefined;
    ms = date - now;
  }
  return Math.min(Math.max(ms, 0), MAX_RETRY_AFTER_MS);
}

function parseJson(text: string, where: string, redact: Redactor): unknown {
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    // The start of what came, cleaned before it is cut short, as the error body is.
    const start = redact(stripControl(text)).slice(0, 80);
    throw new BadResponseError(`${where}: body is not valid JSON (${JSON.stringify(start)})`);
  }
}

function tryParseJson(text: string): unknown {
  try {
    return text.trim() === '' ? undefined : JSON.parse(text);
  } catch {
    return text;
  }
}

function describeNetworkError(error: unknown): string {
  if (error instanceof Error) {
    if (error.name === 'TimeoutError') return 'timed out';
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    if (cause?.code) return `${cause.code}${cause.message ? ` (${cause.message})` : ''}`;
    return error.message;
  }
  return String(error);
}

/** The TLS error code somewhere in an error's cause chain, when it is about the certificate. */
function certificateCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current && typeof current === 'object'; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && CERTIFICATE_CODE.test(code)) return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * A fetch that trusts the given CA (in addition to nothing else: a private console's CA is
 * all it needs), or that skips verification when the config says so explicitly.
 */
function tlsFetch(tls: TlsOptions): typeof fetch {
  const dispatcher = new Agent({
    connect: 'caCert' in tls ? { ca: tls.caCert } : { rejectUnauthorized: false },
  });
  return ((input: Parameters<typeof fetch>[0], init?: Parameters<typeof fetch>[1]) =>
    undiciFetch(input as never, { ...(init as object), dispatcher } as never)) as unknown as typeof fetch;
}

/** `Authorization` value for HTTP Basic. */
export function basicAuth(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

/**
 * An address as it is compared: ASCII spaces around it dropped, ASCII letters in lower case,
 * nothing else touched. Full Unicode case folding and trimming would make look-alikes equal:
 * the Kelvin sign (U+212A) lower-cases to `k`, and `trim()` strips a byte-order mark or a
 * no-break space that a vendor may hold in a different account's address.
 */
export function comparableEmail(address: string): string {
  return address.replace(/^[ \t\r\n]+|[ \t\r\n]+$/g, '').replace(/[A-Z]/g, (c) => c.toLowerCase());
}

/** True when two emails are the same address for matching purposes (exact, ignoring ASCII case). */
export function sameEmail(a: unknown, b: string): boolean {
  return typeof a === 'string' && comparableEmail(a) === comparableEmail(b);
}
