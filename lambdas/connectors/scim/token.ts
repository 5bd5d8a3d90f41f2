import { z } from 'zod';
import { AuthFailedError, BadRequestError, BadResponseError, type OffboardError } from '../../shared/errors';
import { basicAuth, HttpClient, type HttpClientOptions } from '../../shared/http';

/**
 * Where a SCIM connection's bearer token comes from: a static token from the vendor's admin
 * UI (Insightly, most SCIM apps), or an OAuth 2.0 client-credentials grant (Gainsight's
 * `POST /v1/users/m2m/oauth/token`).
 */
export interface BearerSource {
  /** The token to send. `cached` is true when it was not fetched for this very call. */
  token(): Promise<{ value: string; cached: boolean }>;
  /** The API refused `value`: forget it, so the next `token()` fetches a new one. */
  invalidate(value: string): void;
  /** Requests this source has sent (token requests), for the benchmark's count. */
  readonly requestCount: number;
}

/** A token pasted from the vendor's admin UI: nothing to fetch, nothing to renew. */
export class StaticBearer implements BearerSource {
  readonly requestCount = 0;
  readonly #token: string;

  constructor(token: string) {
    this.#token = token;
  }

  async token(): Promise<{ value: string; cached: boolean }> {
    // Never "cached": a static token that is refused stays refused, so there is no retry.
    return { value: this.#token, cached: false };
  }

  invalidate(): void {}
}

/** RFC 6749 §5.1. `expires_in` is only RECOMMENDED; some servers send it as a string. */
const tokenResponseSchema = z.looseObject({
  access_token: z.string().min(1),
  token_type: z.string().optional(),
  expires_in: z.union([z.number(), z.string().regex(/^\d+$/)]).optional(),
});

/** RFC 6749 §5.2: the error codes that mean "these client credentials are refused". */
const CLIENT_REFUSED = new Set(['invalid_client', 'unauthorized_client', 'invalid_grant']);

/** Renew this long before the server's expiry, so a token never lapses mid-step. */
const EXPIRY_MARGIN_S = 60;
/** When the server does not say how long a token lives; a 401 still renews it earlier. */
const DEFAULT_LIFETIME_S = 300;

interface CachedToken {
  value: string;
  /** Epoch milliseconds after which the token is fetched again. */
  renewAt: number;
}

/**
 * Tokens live in module scope: every Lambda step builds a new connector, and a warm
 * container (or the local runner, which runs every step in one process) should not ask the
 * token endpoint again for each of them. Keyed by token URL and client id; the secret is
 * never part of a key or a message.
 */
const tokenCache = new Map<string, CachedToken>();
/** Concurrent steps of one process share one token request instead of racing. */
const pending = new Map<string, Promise<CachedToken>>();

/** OAuth 2.0 client credentials (RFC 6749 §4.4), client authenticated with HTTP Basic. */
export interface ClientCredentials {
  clientId: string;
  clientSecret: string;
  tokenUrl: string;
}

/**
 * Fetches an access token with the client-credentials grant and keeps it until `expires_in`
 * minus a margin. A 401 from the API drops it (`invalidate`) so the next call fetches anew.
 */
export class ClientCredentialsBearer implements BearerSource {
  readonly #http: HttpClient;
  readonly #label: string;
  readonly #key: string;

  constructor(options: {
    label: string;
    credentials: ClientCredentials;
    classifyRateLimit?: HttpClientOptions['classifyRateLimit'];
    fetch?: typeof fetch;
  }) {
    const { clientId, clientSecret, tokenUrl } = options.credentials;
    this.#label = options.label;
    this.#key = `${tokenUrl}\u0000${clientId}`;
    this.#http = new HttpClient({
      label: options.label,
      baseUrl: tokenUrl,
      headers: { authorization: basicAuth(clientId, clientSecret) },
      classifyRateLimit: options.classifyRateLimit,
      fetch: options.fetch,
    });
  }

  get requestCount(): number {
    return this.#http.requestCount;
  }

  async token(): Promise<{ value: string; cached: boolean }> {
    const cached = tokenCache.get(this.#key);
    if (cached && cached.renewAt > Date.now()) return { value: cached.value, cached: true };
    let request = pending.get(this.#key);
    if (!request) {
      request = this.#fetchToken().finally(() => pending.delete(this.#key));
      pending.set(this.#key, request);
    }
    const fresh = await request;
    return { value: fresh.value, cached: false };
  }

  invalidate(value: string): void {
    // Only if it is still the cached one: a concurrent step may have renewed it already.
    if (tokenCache.get(this.#key)?.value === value) tokenCache.delete(this.#key);
  }

  async #fetchToken(): Promise<CachedToken> {
    const action = 'get an OAuth access token';
    const { status, body } = await this.#http.request('POST', '', {
      action,
      // RFC 6749 §4.4.2: a form body, not JSON.
      form: { grant_type: 'client_credentials' },
      accept: [400],
    });
    if (status === 400) throw this.#refused(body, action);
    const parsed = tokenResponseSchema.safeParse(body);
    if (!parsed.success) {
      const keys = body && typeof body === 'object' ? Object.keys(body).join(', ') || 'none' : typeof body;
      throw new BadResponseError(
        `${this.#label}: ${action}: the answer has no access_token (keys: ${keys}); is tokenUrl the OAuth token endpoint?`,
      );
    }
    const lifetime = Number(parsed.data.expires_in ?? DEFAULT_LIFETIME_S);
    // Short-lived tokens (tests, some servers) keep half their life rather than none.
    const keep = lifetime > 2 * EXPIRY_MARGIN_S ? lifetime - EXPIRY_MARGIN_S : lifetime / 2;
    const token = { value: parsed.data.access_token, renewAt: Date.now() + keep * 1000 };
    tokenCache.set(this.#key, token);
    return token;
  }

  /** RFC 6749 §5.2: a token endpoint answers 400 (or 401) with `error` and `error_description`. */
  #refused(body: unknown, action: string): OffboardError {
    const fields = (body && typeof body === 'object' ? body : {}) as Record<string, unknown>;
    const code = typeof fields.error === 'string' ? fields.error : undefined;
    const description = typeof fields.error_description === 'string' ? fields.error_description : undefined;
    const detail = [code, description].filter(Boolean).join(': ');
    const message = `${this.#label}: ${action}: HTTP 400${detail ? ` (${detail})` : ''}`;
    return code !== undefined && CLIENT_REFUSED.has(code)
      ? new AuthFailedError(`${message}: check clientId and clientSecret`)
      : new BadRequestError(message);
  }
}
