import { once } from 'node:events';
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
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
  /**
   * Injected for tests and benchmarks. Without it, requests go out through node:http(s) with
   * one keep-alive agent per origin and TLS settings, shared by every client of the process.
   */
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

/** Codes Node gives a TLS handshake refused for an untrusted or wrong certificate. */
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
  /** The secret header values this client has sent, and the redactor that hides them. */
  readonly #sent = new Set<string>();
  #redact: Redactor = (text) => text;
  /** Requests sent, for the benchmark's calls-per-offboarding figure. */
  requestCount = 0;

  constructor(options: HttpClientOptions) {
    this.#options = options;
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
    let answer: Answer;
    // Under the connection's rate limit, shared with every other execution (label = connection name).
    await requestPacing.before(this.#options.label);
    this.requestCount++;
    try {
      const timeoutMs = this.#options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
      answer = this.#options.fetch
        ? await viaFetch(this.#options.fetch, url, { method, headers, body }, timeoutMs, where)
        : await exchange(url, { method, headers, body }, this.#options.tls, timeoutMs, where);
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

    const { status, headers: responseHeaders, text } = answer;
    if (status >= 200 && status < 300) {
      return {
        status,
        headers: responseHeaders,
        body: parseJson(text, `${where}: HTTP ${status}`, this.#redact),
      };
    }
    if (options.accept?.includes(status)) {
      return { status, headers: responseHeaders, body: tryParseJson(text) };
    }
    const message = `${where}: HTTP ${status}${this.vendorMessage(tryParseJson(text))}`;
    if (status === 429) {
      // Retry-After (seconds or an HTTP date) holds every later request to this connection,
      // capped: a hostile or broken value cannot stall the workflow for days.
      const retryAfterMs = retryAfter(responseHeaders.get('retry-after'), Date.now());
      if (retryAfterMs !== undefined) requestPacing.hold(this.#options.label, Date.now() + retryAfterMs);
      const said = retryAfterMs === undefined ? '' : ` (Retry-After: ${Math.ceil(retryAfterMs / 1000)} s)`;
      const response = answer.response ?? new Response(null, { status, headers: [...responseHeaders] });
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

/** A request as the transports take it. */
interface Outgoing {
  method: string;
  headers: Record<string, string>;
  body: string | undefined;
}

/** What came back: status, headers and the whole body (the fetch Response too, when fetch was used). */
interface Answer {
  status: number;
  headers: Headers;
  text: string;
  response?: Response;
}

const tooLarge = (where: string, status: number) =>
  new BadResponseError(
    `${where}: HTTP ${status}: the answer is larger than ${MAX_BODY_BYTES / 1024 / 1024} MiB; refused`,
  );

/** The error a request that outlived its time ends with (`timed out` in the message). */
function timeoutError(ms: number): Error {
  return Object.assign(new Error(`no answer within ${ms} ms`), { name: 'TimeoutError' });
}

/**
 * Keep-alive agents by origin and TLS settings, for the life of the process: the steps of a
 * warm Lambda (and every run of a local process) reuse a vendor's connection instead of
 * opening a TCP and TLS session per request.
 */
const agents = new Map<string, HttpAgent>();

/**
 * The agent for a URL: one that trusts the given CA (and nothing else: a private console's CA
 * is all it needs), or that skips verification when the config says so explicitly.
 */
function agentFor(url: URL, tls: TlsOptions | undefined): HttpAgent {
  const key = `${url.origin} ${JSON.stringify(tls ?? {})}`;
  let agent = agents.get(key);
  if (!agent) {
    if (url.protocol === 'https:') {
      const verify =
        tls === undefined ? {} : 'caCert' in tls ? { ca: tls.caCert } : { rejectUnauthorized: false };
      agent = new HttpsAgent({ keepAlive: true, ...verify });
    } else {
      agent = new HttpAgent({ keepAlive: true });
    }
    agents.set(key, agent);
  }
  return agent;
}

/**
 * One request over node:http(s), the body read as it comes and refused beyond MAX_BODY_BYTES
 * (a declared length over it is refused before reading): an answer that large is not a
 * vendor's list of users. The timeout covers the whole exchange, body included.
 */
async function exchange(
  url: URL,
  outgoing: Outgoing,
  tls: TlsOptions | undefined,
  timeoutMs: number,
  where: string,
): Promise<Answer> {
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  const headers: Record<string, string | number> = { 'user-agent': 'offboard', ...outgoing.headers };
  if (outgoing.body !== undefined) headers['content-length'] = Buffer.byteLength(outgoing.body);
  const request = send(url, { method: outgoing.method, headers, agent: agentFor(url, tls) });
  // Errors after the answer was read (a reset of the kept-alive socket) concern no request.
  request.on('error', () => {});
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    request.destroy(timeoutError(timeoutMs));
  }, timeoutMs);
  try {
    request.end(outgoing.body);
    const [response] = (await once(request, 'response')) as [IncomingMessage];
    const status = response.statusCode ?? 0;
    if (Number(response.headers['content-length'] ?? '0') > MAX_BODY_BYTES) {
      request.destroy();
      throw tooLarge(where, status);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of response as AsyncIterable<Buffer>) {
      size += chunk.byteLength;
      if (size > MAX_BODY_BYTES) {
        request.destroy();
        throw tooLarge(where, status);
      }
      chunks.push(chunk);
    }
    return {
      status,
      headers: new AnswerHeaders(response.rawHeaders),
      text: Buffer.concat(chunks).toString('utf8'),
    };
  } catch (error) {
    // The timer destroys the socket: whatever that made fail, the cause is the time.
    if (timedOut) throw timeoutError(timeoutMs);
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * An answer's headers as the Fetch API's Headers reads them: names in any case, a repeated
 * header's values joined with ', ', in name order when iterated, and read-only, as a
 * Response's are. The global Headers would load Node's internal fetch (undici) for a few
 * get() calls: tens of milliseconds of a cold start.
 */
class AnswerHeaders implements Headers {
  readonly #values = new Map<string, string>();
  readonly #cookies: string[] = [];

  /** `rawHeaders` of node:http: names and values, alternating, as they came. */
  constructor(raw: readonly string[]) {
    for (let i = 0; i + 1 < raw.length; i += 2) {
      const name = (raw[i] as string).toLowerCase();
      const value = raw[i + 1] as string;
      if (name === 'set-cookie') this.#cookies.push(value);
      const earlier = this.#values.get(name);
      this.#values.set(name, earlier === undefined ? value : `${earlier}, ${value}`);
    }
  }

  get(name: string): string | null {
    return this.#values.get(name.toLowerCase()) ?? null;
  }

  has(name: string): boolean {
    return this.#values.has(name.toLowerCase());
  }

  getSetCookie(): string[] {
    return [...this.#cookies];
  }

  forEach(callback: (value: string, key: string, iterable: Headers) => void, thisArg?: unknown): void {
    for (const [key, value] of this) callback.call(thisArg, value, key, this);
  }

  *entries(): Generator<[string, string], undefined> {
    for (const name of [...this.#values.keys()].sort()) {
      if (name === 'set-cookie') for (const cookie of this.#cookies) yield [name, cookie];
      else yield [name, this.#values.get(name) as string];
    }
  }

  *keys(): Generator<string, undefined> {
    for (const [key] of this.entries()) yield key;
  }

  *values(): Generator<string, undefined> {
    for (const [, value] of this.entries()) yield value;
  }

  [Symbol.iterator](): Generator<[string, string], undefined> {
    return this.entries();
  }

  append(): void {
    throw new TypeError('the headers of an answer cannot be changed');
  }

  set(): void {
    throw new TypeError('the headers of an answer cannot be changed');
  }

  delete(): void {
    throw new TypeError('the headers of an answer cannot be changed');
  }
}

/** One request through an injected fetch, read with the same limit and timeout. */
async function viaFetch(
  fetchImpl: typeof fetch,
  url: URL,
  outgoing: Outgoing,
  timeoutMs: number,
  where: string,
): Promise<Answer> {
  const response = await fetchImpl(url, { ...outgoing, signal: AbortSignal.timeout(timeoutMs) });
  const answer = { status: response.status, headers: response.headers, response };
  if (Number(response.headers.get('content-length') ?? '0') > MAX_BODY_BYTES) {
    await response.body?.cancel();
    throw tooLarge(where, response.status);
  }
  if (!response.body) return { ...answer, text: '' };
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_BODY_BYTES) {
      await reader.cancel();
      throw tooLarge(where, response.status);
    }
    chunks.push(value);
  }
  return { ...answer, text: Buffer.concat(chunks).toString('utf8') };
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

/**
 * A network failure in a few words: `timed out`, or the system's code and words
 * (`ECONNREFUSED (connect ECONNREFUSED 10.0.0.5:443)`), Node's own or the cause a fetch wraps.
 */
function describeNetworkError(error: unknown): string {
  if (error instanceof Error) {
    if (error.name === 'TimeoutError') return 'timed out';
    const coded = (error: unknown) => {
      const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
      return typeof code === 'string' ? `${code}${message ? ` (${message})` : ''}` : undefined;
    };
    return coded(error) ?? coded(error.cause) ?? error.message;
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
