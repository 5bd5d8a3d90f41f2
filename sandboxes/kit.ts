/**
 * What every vendor sandbox is built from: a local HTTP(S) server that records each request,
 * counts throttled answers, delays answers on demand and closes cleanly; injected faults;
 * token-bucket and fixed-window rate limits; reads that lag behind writes; seeded stores.
 *
 * The pieces are separate on purpose. A sandbox's request handler decides in which order it
 * applies limits, credentials and faults, because vendors differ there (a gateway that
 * limits before it authenticates, a token endpoint that is never limited), and those
 * differences are what the connectors are tested against.
 */
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';

/** What a sandbox answers to one request. */
export interface SandboxAnswer {
  status: number;
  /** Sent as JSON; no body (and no Content-Type) when absent. */
  body?: unknown;
  /** Sent as is instead of `body`, so that a fault can serve malformed JSON. */
  raw?: string;
  headers?: Record<string, string>;
  /** Content-Type of this answer, where it is not the sandbox's usual one. */
  type?: string;
}

/** An injected answer: the next `times` requests that match get it instead of the real one. */
export interface SandboxFault {
  /** HTTP method to match (any when absent). */
  method?: string;
  /** Tested against the request path, any prefix included, query excluded (any when absent). */
  path?: RegExp;
  status: number;
  times: number;
  /** Raw response text, so malformed JSON can be served. Default: the vendor's error body. */
  body?: string;
  headers?: Record<string, string>;
}

/** One request as the sandbox saw it, with the status it answered. */
export interface SandboxRequestRecord {
  method: string;
  path: string;
  query: Record<string, string>;
  /** Parsed JSON, or the raw text when it did not parse; absent when the body was empty. */
  body?: unknown;
  status: number;
}

/**
 * An answer lost after the vendor acted: the request is handled in full (a write is
 * applied), then its answer never arrives. `drop` closes the connection (the client sees a
 * reset); `hang` keeps it open without a word until the sandbox closes (the client times
 * out, or is killed waiting). For "did the write happen?" stories.
 */
export interface LostAnswer {
  method?: string;
  path?: RegExp;
  mode: 'drop' | 'hang';
  times: number;
}

/**
 * Something that happens at the vendor right after it answered a request: a colleague editing
 * the account between two requests of a step, say. The first `skip` matching requests are let
 * by; `act` runs after each of the next `times`.
 */
export interface AfterAnswer {
  method?: string;
  path?: RegExp;
  skip?: number;
  times: number;
  act(): void;
}

/** What every running sandbox offers a test, besides its URL and its data. */
export interface SandboxControls<F extends SandboxFault, R extends SandboxRequestRecord> {
  /** Every request, in arrival order. */
  requests: R[];
  addFault(fault: F): void;
  /** Handles the next matching requests in full, then loses their answers (see {@link LostAnswer}). */
  loseAnswers(lost: LostAnswer): void;
  /** Runs something at the vendor right after it answered matching requests (see {@link AfterAnswer}). */
  afterAnswer(rule: AfterAnswer): void;
  /** Requests seen, and how many of them were answered 429. */
  counts(): { total: number; throttled: number };
  /** Stops the server, idle keep-alive sockets included. */
  close(): Promise<void>;
}

/** One request, read in full, as a sandbox's handler gets it. */
export interface SandboxRequest<R extends SandboxRequestRecord> {
  req: IncomingMessage;
  /** Upper case. */
  method: string;
  url: URL;
  /** The body as UTF-8 text; empty when there was none. */
  text: string;
  /** Already in `requests`; the server fills in `status` from the answer. */
  record: R;
}

/** How {@link startSandboxServer} serves. */
export interface SandboxServerOptions<R extends SandboxRequestRecord> {
  /** The vendor's part: limits, credentials, faults and routes, in the vendor's order. */
  handle(request: SandboxRequest<R>): SandboxAnswer;
  /** Content-Type of every answer with a body, unless the answer names its own. */
  contentType: string;
  /** Indents JSON bodies by this many spaces, for a server that pretty-prints. Default none. */
  indent?: number;
  /** Fixed delay before every answer, in milliseconds. Default 0. */
  latencyMs?: number;
  /** Serve HTTPS with this key and certificate (PEM). Default plain HTTP. */
  tls?: { key: string; cert: string };
}

/** A listening sandbox server. */
export interface SandboxServer<R extends SandboxRequestRecord> {
  /** `http://127.0.0.1:PORT` (`https` with TLS), without a trailing slash. */
  origin: string;
  requests: R[];
  loseAnswers(lost: LostAnswer): void;
  afterAnswer(rule: AfterAnswer): void;
  counts(): { total: number; throttled: number };
  close(): Promise<void>;
}

/** `{ ok: true, value }` for valid JSON, `{ ok: false }` otherwise. */
export function parseJson(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false };
  }
}

/** A JSON object: not null, not an array. */
export const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * The user and password of an HTTP Basic header, split at the first colon; undefined when
 * the header is not Basic or has no colon. Vendors differ on empty parts, so they check those.
 */
export function basicCredentials(header: string | undefined): { user: string; password: string } | undefined {
  const match = /^Basic\s+(\S+)$/i.exec(header ?? '');
  if (!match?.[1]) return undefined;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? undefined : { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/**
 * Builds a sandbox's live store from seeds. Ids a seed gives are kept; the others get the
 * first free one of `newId(first)`, `newId(first + 1)`, …, so seeds need not name one.
 *
 * @throws Error `<label> <id>` when two seeds end up with the same id.
 */
export function seedStore<Seed, Item, Id extends string | number>(
  seeds: readonly Seed[],
  options: {
    idOf: (seed: Seed) => Id | undefined;
    newId: (n: number) => Id;
    /** The first `n` tried. Default 1. */
    first?: number;
    complete: (seed: Seed, id: Id) => Item;
    /** Starts the duplicate-id message, e.g. `insightly sandbox: duplicate USER_ID`. */
    label: string;
  },
): Map<Id, Item> {
  const given = seeds.map((seed) => options.idOf(seed));
  const taken = new Set<Id>(given.filter((id) => id !== undefined));
  const store = new Map<Id, Item>();
  let n = options.first ?? 1;
  for (const [i, seed] of seeds.entries()) {
    let id = given[i];
    if (id === undefined) {
      do {
        id = options.newId(n++);
      } while (taken.has(id));
      taken.add(id);
    }
    if (store.has(id)) throw new Error(`${options.label} ${id}`);
    store.set(id, options.complete(seed, id));
  }
  return store;
}

/** A fault that may also name query parameters, which must all be present with those values. */
type QueryFault = SandboxFault & { query?: Record<string, string> };

/** True when `path` is absent or matches the request path (a /g or /y pattern starts afresh). */
function pathMatches(path: RegExp | undefined, url: URL): boolean {
  if (path === undefined) return true;
  path.lastIndex = 0;
  return path.test(url.pathname);
}

function faultMatches(fault: QueryFault, method: string, url: URL): boolean {
  if (fault.times <= 0) return false;
  if (fault.method !== undefined && fault.method.toUpperCase() !== method) return false;
  for (const [name, value] of Object.entries(fault.query ?? {})) {
    if (url.searchParams.get(name) !== value) return false;
  }
  return pathMatches(fault.path, url);
}

/**
 * The faults a sandbox has been told to inject. A fault may also name query parameters
 * (`query`) that must all be present with those values.
 */
export class Faults<F extends QueryFault> {
  readonly #faults: F[];
  readonly #errorBody: (status: number, message: string) => unknown;

  /**
   * @param initial The caller's own objects are kept (the array is copied), so a test can
   *   watch `times` count down.
   * @param errorBody The vendor's error body, served when a fault gives no `body`.
   */
  constructor(initial: readonly F[] | undefined, errorBody: (status: number, message: string) => unknown) {
    this.#faults = [...(initial ?? [])];
    this.#errorBody = errorBody;
  }

  /** Queues a fault behind the others. */
  add(fault: F): void {
    this.#faults.push(fault);
  }

  /** The answer of the first fault that matches, which uses up one of its `times`; else undefined. */
  answer(method: string, url: URL): SandboxAnswer | undefined {
    const fault = this.#faults.find((candidate) => faultMatches(candidate, method, url));
    if (!fault) return undefined;
    fault.times--;
    const raw =
      fault.body ?? JSON.stringify(this.#errorBody(fault.status, `Sandbox fault: HTTP ${fault.status}`));
    return { status: fault.status, raw, ...(fault.headers ? { headers: fault.headers } : {}) };
  }
}

/**
 * A token bucket holding `ratePerSecond` tokens (so the burst equals the rate), refilled
 * continuously. Without a rate every request gets through.
 */
export class TokenBucket {
  readonly #rate: number | undefined;
  #tokens: number;
  #refilledAt = performance.now();

  constructor(ratePerSecond: number | undefined) {
    this.#rate = ratePerSecond;
    this.#tokens = ratePerSecond ?? 0;
  }

  /** Takes a token; false when none is left. */
  take(): boolean {
    if (this.#rate === undefined) return true;
    const now = performance.now();
    this.#tokens = Math.min(this.#rate, this.#tokens + ((now - this.#refilledAt) / 1000) * this.#rate);
    this.#refilledAt = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}

/** At most `limit` admitted requests per `windowMs`. */
export interface RateWindow {
  limit: number;
  windowMs: number;
}

/** How {@link FixedWindows} keeps time. */
export interface FixedWindowsOptions {
  /** Milliseconds since some origin. Default `performance.now`. */
  now?: () => number;
  /**
   * When a new window starts. `aligned` (default): back to back from the moment the limiter
   * was made, as a quota on the clock. `on-request`: with the first request after the
   * current window has run out.
   */
  restart?: 'aligned' | 'on-request';
}

/**
 * Fixed windows, not a bucket: once a window's budget is spent nothing gets through until the
 * next window starts, and then the whole budget is back at once. With several windows (an
 * hourly and a daily limit) a request must fit in all of them; a refused one counts in none.
 */
export class FixedWindows {
  readonly #now: () => number;
  readonly #origin: number;
  readonly #restart: 'aligned' | 'on-request';
  readonly #windows: Array<RateWindow & { start: number; count: number }>;

  constructor(windows: readonly RateWindow[], options: FixedWindowsOptions = {}) {
    this.#now = options.now ?? (() => performance.now());
    this.#origin = this.#now();
    this.#restart = options.restart ?? 'aligned';
    this.#windows = windows.map((window) => ({ ...window, start: this.#origin, count: 0 }));
  }

  /** Counts the request in every window; false (and counted nowhere) when one is full. */
  admit(): boolean {
    if (this.#windows.length === 0) return true;
    const now = this.#now();
    for (const window of this.#windows) {
      const start = this.#startAt(window, now);
      if (start !== window.start) {
        window.start = start;
        window.count = 0;
      }
    }
    if (this.#windows.some((window) => window.count >= window.limit)) return false;
    for (const window of this.#windows) window.count++;
    return true;
  }

  /** When the window that `now` falls in started. */
  #startAt(window: RateWindow & { start: number }, now: number): number {
    if (this.#restart === 'aligned') {
      return this.#origin + Math.floor((now - this.#origin) / window.windowMs) * window.windowMs;
    }
    return now - window.start >= window.windowMs ? now : window.start;
  }
}

/**
 * Reads that lag behind writes, as an eventually consistent API's do: after `remember`, the
 * next `lag` reads of that key get the old value. With no lag, nothing is remembered.
 */
export class StaleReads<K, V> {
  readonly #lag: number | undefined;
  readonly #old = new Map<K, { value: V; reads: number }>();

  constructor(lag: number | undefined) {
    this.#lag = lag;
  }

  /** Keeps `value` (the record before a write) for the next reads of `key`. */
  remember(key: K, value: V): void {
    if (this.#lag) this.#old.set(key, { value, reads: this.#lag });
  }

  /** The old value while it still has reads left (using one up); else undefined. */
  take(key: K): V | undefined {
    const old = this.#old.get(key);
    if (!old || old.reads <= 0) return undefined;
    old.reads--;
    return old.value;
  }

  /** Drops what is kept for `key`, so a deleted record does not come back. */
  forget(key: K): void {
    this.#old.delete(key);
  }
}

function send(res: ServerResponse, answer: SandboxAnswer, contentType: string, indent?: number): void {
  const payload = answer.raw ?? (answer.body === undefined ? '' : JSON.stringify(answer.body, null, indent));
  if (payload !== '') res.setHeader('Content-Type', answer.type ?? contentType);
  for (const [name, value] of Object.entries(answer.headers ?? {})) res.setHeader(name, value);
  res.writeHead(answer.status).end(payload);
}

/**
 * Starts a server on a random port of 127.0.0.1 that reads each request in full, records it,
 * asks `handle` for the answer and sends it (after `latencyMs`, when set). An answer of 429
 * counts as throttled, whoever produced it: a limit or an injected fault.
 */
export async function startSandboxServer<R extends SandboxRequestRecord = SandboxRequestRecord>(
  options: SandboxServerOptions<R>,
): Promise<SandboxServer<R>> {
  const scheme = options.tls ? 'https' : 'http';
  const requests: R[] = [];
  // Answers waiting out the latency: close() drops them rather than wait.
  const timers = new Set<NodeJS.Timeout>();
  const lost: LostAnswer[] = [];
  const afters: AfterAnswer[] = [];
  let throttled = 0;

  /** Runs what is due after answering this request. */
  function actAfter(method: string, url: URL): void {
    for (const rule of afters) {
      if (rule.times <= 0) continue;
      if (rule.method !== undefined && rule.method.toUpperCase() !== method) continue;
      if (!pathMatches(rule.path, url)) continue;
      if ((rule.skip ?? 0) > 0) {
        rule.skip = (rule.skip ?? 0) - 1;
        continue;
      }
      rule.times--;
      rule.act();
    }
  }

  /** The lost-answer rule the request falls under (using up one of its times), if any. */
  function loses(method: string, url: URL): LostAnswer | undefined {
    const rule = lost.find(
      (l) =>
        l.times > 0 &&
        (l.method === undefined || l.method.toUpperCase() === method) &&
        pathMatches(l.path, url),
    );
    if (rule) rule.times--;
    return rule;
  }

  function respond(req: IncomingMessage, res: ServerResponse, text: string): void {
    const url = new URL(req.url ?? '/', `${scheme}://127.0.0.1`);
    const method = (req.method ?? 'GET').toUpperCase();
    // A vendor's record only adds optional fields, which its handler fills in.
    const record = {
      method,
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      status: 0,
    } as R;
    if (text !== '') {
      const parsed = parseJson(text);
      record.body = parsed.ok ? parsed.value : text;
    }
    requests.push(record);
    const answer = options.handle({ req, method, url, text, record });
    record.status = answer.status;
    if (answer.status === 429) throttled++;
    const rule = loses(method, url);
    if (rule?.mode === 'drop') {
      req.socket.destroy();
      return;
    }
    if (rule?.mode === 'hang') return;
    if (!options.latencyMs) {
      send(res, answer, options.contentType, options.indent);
      actAfter(method, url);
      return;
    }
    const timer = setTimeout(() => {
      timers.delete(timer);
      send(res, answer, options.contentType, options.indent);
      actAfter(method, url);
    }, options.latencyMs);
    timers.add(timer);
  }

  const listener = (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => respond(req, res, Buffer.concat(chunks).toString('utf8')));
  };
  const server = options.tls
    ? createHttpsServer({ key: options.tls.key, cert: options.tls.cert }, listener)
    : createHttpServer(listener);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    origin: `${scheme}://127.0.0.1:${port}`,
    requests,
    loseAnswers: (rule) => lost.push({ ...rule }),
    afterAnswer: (rule) => afters.push({ ...rule }),
    counts: () => ({ total: requests.length, throttled }),
    close: () =>
      new Promise<void>((resolve, reject) => {
        for (const timer of timers) clearTimeout(timer);
        timers.clear();
        server.close((error) => (error ? reject(error) : resolve()));
        // Keep-alive sockets would hold close() open until they time out.
        server.closeAllConnections();
      }),
  };
}

/** The {@link SandboxControls} of a server and the faults its handler injects. */
export function sandboxControls<F extends SandboxFault, R extends SandboxRequestRecord>(
  server: SandboxServer<R>,
  faults: Faults<F>,
): SandboxControls<F, R> {
  return {
    requests: server.requests,
    addFault: (fault) => faults.add(fault),
    loseAnswers: server.loseAnswers,
    afterAnswer: server.afterAnswer,
    counts: server.counts,
    close: server.close,
  };
}
