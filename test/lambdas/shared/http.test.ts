import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { ERROR_NAMES, QuotaExhaustedError } from '../../../lambdas/shared/errors';
import {
  HttpClient,
  type HttpClientOptions,
  MAX_BODY_BYTES,
  MAX_RETRY_AFTER_MS,
  retryAfter,
} from '../../../lambdas/shared/http';
import { requestPacing } from '../../../lambdas/shared/pacing';
import { rejectionOf } from '../../helpers/errors';
import { sandboxStarter } from '../../helpers/sandboxes';
import {
  closedPort,
  type ReceivedRequest,
  type ScriptedAnswer,
  selfSignedCertificate,
  startScriptedServer,
} from '../../helpers/servers';

/**
 * The one HTTP client every connector uses, against local servers that answer what each
 * test scripts: what it sends, the single status → error mapping, and what a network or
 * certificate failure becomes.
 */

const LABEL = 'vendor-test';
const SECRET_HEADER = 'Bearer s3cret-token-8d1e';

const serve = sandboxStarter(startScriptedServer);

/**
 * A server whose handler writes the answer itself (in pieces, or never finishing), counting
 * the TCP connections it accepted.
 */
const serveRaw = sandboxStarter(
  async (handle: (request: IncomingMessage, response: ServerResponse) => void) => {
    const requests: Array<{ method: string }> = [];
    const server = createServer((request, response) => {
      requests.push({ method: request.method ?? 'GET' });
      handle(request, response);
    });
    let connections = 0;
    server.on('connection', () => connections++);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return {
      baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      requests,
      connections: () => connections,
      close: async () => {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      },
    };
  },
);

/** A server that answers every request the same way. */
const answering = (answer: ScriptedAnswer, tls?: { key: string; cert: string }) => serve(() => answer, tls);

function clientFor(server: { baseUrl: string }, options: Partial<HttpClientOptions> = {}): HttpClient {
  return new HttpClient({
    label: LABEL,
    baseUrl: `${server.baseUrl}/api`,
    headers: { authorization: SECRET_HEADER },
    ...options,
  });
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}): ScriptedAnswer => ({
  status,
  headers: { 'content-type': 'application/json', ...headers },
  body: JSON.stringify(body),
});

const only = (requests: ReceivedRequest[]): ReceivedRequest => {
  expect(requests).toHaveLength(1);
  return requests[0] as ReceivedRequest;
};

describe('HttpClient requests', () => {
  it('sends the path under the base URL, the query, the client headers and JSON accept', async () => {
    // Prepare
    const server = await answering(json(200, { id: 7 }));
    const client = clientFor(server, { headers: { authorization: SECRET_HEADER, 'x-tenant': 't1' } });

    // Act
    const response = await client.request('GET', '/users', { action: 'look up', query: { email: 'a@b.c' } });

    // Assess
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ id: 7 });
    const request = only(server.requests);
    expect(request).toMatchObject({ method: 'GET', path: '/api/users', query: { email: 'a@b.c' }, body: '' });
    expect(request.headers).toMatchObject({
      accept: 'application/json',
      authorization: SECRET_HEADER,
      'x-tenant': 't1',
    });
    expect(request.headers['content-type']).toBeUndefined();
    expect(client.requestCount).toBe(1);
  });

  it('sends a body as JSON, and a per-request header over the client one', async () => {
    // Prepare
    const server = await answering({ status: 204 });

    // Act
    const response = await clientFor(server).request('PUT', '/users/7', {
      action: 'deactivate user 7',
      body: { active: false },
      headers: { authorization: 'Bearer fresh' },
    });

    // Assess
    expect(response).toMatchObject({ status: 204, body: undefined });
    const request = only(server.requests);
    expect(request.headers).toMatchObject({
      'content-type': 'application/json',
      authorization: 'Bearer fresh',
    });
    expect(JSON.parse(request.body)).toEqual({ active: false });
  });

  it('sends a form as application/x-www-form-urlencoded, not JSON', async () => {
    // Prepare
    const server = await answering(json(200, { access_token: 't' }));

    // Act
    await clientFor(server).request('POST', '/token', {
      action: 'get a token',
      form: { grant_type: 'client_credentials', scope: 'users read' },
    });

    // Assess
    const request = only(server.requests);
    expect(request.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(request.body).toBe('grant_type=client_credentials&scope=users+read');
  });

  it('uses mediaType for the accept header and JSON request bodies', async () => {
    // Prepare
    const server = await answering(json(200, {}));

    // Act
    await clientFor(server, { mediaType: 'application/scim+json' }).request('PATCH', '/Users/1', {
      action: 'deactivate user 1',
      body: { Operations: [] },
    });

    // Assess
    expect(only(server.requests).headers).toMatchObject({
      accept: 'application/scim+json',
      'content-type': 'application/scim+json',
    });
  });

  it('returns an accepted status with its body instead of throwing, JSON parsed or as text', async () => {
    // Prepare
    const jsonServer = await answering(json(404, { message: 'no such user' }));
    const textServer = await answering({ status: 404, body: 'Not Found' });

    // Act
    const parsed = await clientFor(jsonServer).request('GET', '/users/9', {
      action: 'get user 9',
      accept: [404],
    });
    const text = await clientFor(textServer).request('GET', '/users/9', {
      action: 'get user 9',
      accept: [404],
    });

    // Assess
    expect(parsed).toMatchObject({ status: 404, body: { message: 'no such user' } });
    expect(text).toMatchObject({ status: 404, body: 'Not Found' });
  });
});

describe('HttpClient status → error mapping', () => {
  it.each([
    [401, ERROR_NAMES.authFailed, false],
    [403, ERROR_NAMES.authFailed, false],
    [429, ERROR_NAMES.rateLimited, true],
    [500, ERROR_NAMES.unavailable, true],
    [502, ERROR_NAMES.unavailable, true],
    [503, ERROR_NAMES.unavailable, true],
    [400, ERROR_NAMES.badRequest, false],
    [404, ERROR_NAMES.badRequest, false],
    [405, ERROR_NAMES.badRequest, false],
    [409, ERROR_NAMES.badRequest, false],
    [422, ERROR_NAMES.badRequest, false],
  ])(
    'answers HTTP %i with %s (retryable: %s), in the vendor words, never the credential',
    async (status, name, retryable) => {
      // Prepare
      const server = await answering(json(status, { message: `refused  with\n${status}` }));

      // Act
      const error = await rejectionOf(
        clientFor(server).request('GET', '/users', { action: 'look up a@b.c' }),
      );

      // Assess
      expect(error.name).toBe(name);
      expect(error.retryable).toBe(retryable);
      expect(error.message).toBe(`${LABEL}: look up a@b.c: HTTP ${status} (refused with ${status})`);
      expect(error.message).not.toContain('s3cret');
    },
  );

  it('lets classifyRateLimit refine a 429, and keeps Vendor.RateLimited when it answers undefined', async () => {
    // Prepare
    const quota = await answering(json(429, { message: 'quota' }, { 'x-ratelimit-remaining': '0' }));
    const burst = await answering(json(429, { message: 'slow down' }, { 'x-ratelimit-remaining': '5' }));
    const options: Partial<HttpClientOptions> = {
      classifyRateLimit: (response, message) =>
        response.headers.get('x-ratelimit-remaining') === '0'
          ? new QuotaExhaustedError(`${message}: come back tomorrow`)
          : undefined,
    };

    // Act
    const exhausted = await rejectionOf(
      clientFor(quota, options).request('GET', '/u', { action: 'look up' }),
    );
    const limited = await rejectionOf(clientFor(burst, options).request('GET', '/u', { action: 'look up' }));

    // Assess
    expect(exhausted.name).toBe(ERROR_NAMES.quotaExhausted);
    expect(exhausted.message).toBe(`${LABEL}: look up: HTTP 429 (quota): come back tomorrow`);
    expect(limited.name).toBe(ERROR_NAMES.rateLimited);
    expect(limited.message).toBe(`${LABEL}: look up: HTTP 429 (slow down)`);
  });

  it.each([
    ['Message', { Message: 'from Message' }, ' (from Message)'],
    ['detail', { detail: 'from detail' }, ' (from detail)'],
    ['error_description', { error: 'invalid_client', error_description: 'bad secret' }, ' (bad secret)'],
    ['error', { error: 'invalid_client' }, ' (invalid_client)'],
    ['a text body', 'Service down', ' (Service down)'],
    ['no words', { status: 500 }, ''],
  ])('reads the vendor words from %s', async (_case, body, words) => {
    // Prepare
    const server = await answering({
      status: 500,
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });

    // Act
    const error = await rejectionOf(clientFor(server).request('GET', '/u', { action: 'get user 1' }));

    // Assess
    expect(error.message).toBe(`${LABEL}: get user 1: HTTP 500${words}`);
  });

  it('cuts long vendor words at 200 characters', async () => {
    // Prepare
    const server = await answering(json(400, { message: 'x'.repeat(300) }));

    // Act
    const error = await rejectionOf(clientFor(server).request('GET', '/u', { action: 'get user 1' }));

    // Assess
    expect(error.message).toBe(`${LABEL}: get user 1: HTTP 400 (${'x'.repeat(200)}…)`);
  });

  it("reads the vendor's own error shape with errorDetail, falling back to the usual fields", async () => {
    // Prepare
    const scimType = await answering(
      json(400, { scimType: 'invalidValue', detail: 'active must be boolean' }),
    );
    const plain = await answering(json(400, { message: 'plain words' }));
    const options: Partial<HttpClientOptions> = {
      errorDetail: (body) => {
        const fields = body as { scimType?: string; detail?: string };
        return fields.scimType ? `${fields.scimType}: ${fields.detail}` : undefined;
      },
    };

    // Act
    const scimError = await rejectionOf(
      clientFor(scimType, options).request('PATCH', '/u', { action: 'patch' }),
    );
    const plainError = await rejectionOf(
      clientFor(plain, options).request('PATCH', '/u', { action: 'patch' }),
    );
    const accepted = clientFor(plain, options).vendorMessage({ scimType: 'noTarget', detail: 'gone' });

    // Assess
    expect(scimError.message).toBe(`${LABEL}: patch: HTTP 400 (invalidValue: active must be boolean)`);
    expect(plainError.message).toBe(`${LABEL}: patch: HTTP 400 (plain words)`);
    expect(accepted).toBe(' (noTarget: gone)');
  });

  it('answers Vendor.BadResponse to a 2xx whose body is not JSON', async () => {
    // Prepare
    const server = await answering({ status: 200, body: '<html>login page</html>' });

    // Act
    const error = await rejectionOf(clientFor(server).request('GET', '/users', { action: 'look up a@b.c' }));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.badResponse);
    expect(error.retryable).toBe(false);
    expect(error.message).toBe(
      `${LABEL}: look up a@b.c: HTTP 200: body is not valid JSON ("<html>login page</html>")`,
    );
  });
});

describe('HttpClient: what the vendor says back', () => {
  it('hides the credential it sent, even when the vendor echoes it at the edge of the 200 characters kept', async () => {
    // Prepare: the token starts at character 190 of the vendor's message.
    const message = `${'x'.repeat(190)} ${SECRET_HEADER}`;
    const server = await answering(json(400, { message }));
    // Act
    const error = await rejectionOf(clientFor(server).request('GET', '/users', { action: 'look up' }));
    // Assess: neither the token nor a piece of it.
    expect(error.message).not.toContain('s3cret-token');
    expect(error.message).not.toContain('s3cret');
  });

  it('hides a Bearer token it sent per request (an OAuth token the secret never held)', async () => {
    const server = await answering(json(401, { detail: 'token eyJhbGciOi.fresh-oauth-token rejected' }));
    const error = await rejectionOf(
      clientFor(server).request('GET', '/users', {
        action: 'look up',
        headers: { authorization: 'Bearer eyJhbGciOi.fresh-oauth-token' },
      }),
    );
    expect(error.message).not.toContain('fresh-oauth-token');
  });

  it('refuses an answer larger than it will read, instead of buffering it', async () => {
    const server = await answering({
      status: 200,
      headers: { 'content-type': 'application/json' },
      body: `"${'a'.repeat(MAX_BODY_BYTES)}"`,
    });
    const error = await rejectionOf(clientFor(server).request('GET', '/users', { action: 'look up' }));
    expect(error.name).toBe(ERROR_NAMES.badResponse);
    expect(error.message).toContain('larger than');
  });
});

describe('HttpClient connections', () => {
  it("keeps one connection to a vendor for every client of the process, as a warm Lambda's steps share it", async () => {
    // Prepare: two clients of the same vendor, as two steps of one warm function build them
    const server = await serveRaw((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end('{"ok":true}');
    });
    const [lookup, write] = [clientFor(server), clientFor(server)];

    // Act
    for (const client of [lookup, write, lookup, write]) {
      await client.request('GET', '/users', { action: 'look up' });
    }

    // Assess: four requests, one TCP connection
    expect(server.requests).toHaveLength(4);
    expect(server.connections()).toBe(1);
  });

  it("reads the answer's headers as fetch does: in any case, a repeated one joined, cookies apart", async () => {
    // Prepare
    const server = await serveRaw((_request, response) => {
      response.setHeader('X-Total-Count', ['40', '2']);
      response.setHeader('Set-Cookie', ['a=1', 'b=2']);
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end('{}');
    });

    // Act
    const { headers } = await clientFor(server).request('GET', '/users', { action: 'count users' });

    // Assess
    expect(headers.get('x-total-count')).toBe('40, 2');
    expect(headers.get('X-TOTAL-COUNT')).toBe('40, 2');
    expect(headers.get('retry-after')).toBeNull();
    expect(headers.getSetCookie()).toEqual(['a=1', 'b=2']);
    expect([...headers.keys()]).toEqual(
      expect.arrayContaining(['content-type', 'set-cookie', 'x-total-count']),
    );
    expect(() => headers.set('x-total-count', '0')).toThrow(TypeError);
  });

  it('refuses an answer sent without a length as soon as it passes the limit, without reading the rest', async () => {
    // Prepare: chunks of 1 MiB, twice the limit in all, with no content-length
    const chunk = 'a'.repeat(1024 * 1024);
    let sentAll = false;
    const server = await serveRaw(async (_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      for (let sent = 0; sent < 2 * MAX_BODY_BYTES && !response.destroyed; sent += chunk.length) {
        if (!response.write(chunk)) await new Promise((resolve) => response.once('drain', resolve));
      }
      sentAll = !response.destroyed;
      response.end();
    });

    // Act
    const error = await rejectionOf(clientFor(server).request('GET', '/users', { action: 'look up' }));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.badResponse);
    expect(error.message).toBe(
      `${LABEL}: look up: HTTP 200: the answer is larger than ${MAX_BODY_BYTES / 1024 / 1024} MiB; refused`,
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(sentAll).toBe(false);
  });

  it('times out an answer whose body stops coming after the headers', async () => {
    // Prepare: the status and the first byte, then nothing
    const server = await serveRaw((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.write('[');
    });

    // Act
    const error = await rejectionOf(
      clientFor(server, { timeoutMs: 200 }).request('GET', '/users', { action: 'look up' }),
    );

    // Assess
    expect(error.name).toBe(ERROR_NAMES.unavailable);
    expect(error.message).toBe(`${LABEL}: look up: timed out`);
  });
});

describe('HttpClient Retry-After', () => {
  it('holds the next request to the connection until the vendor said, then sends it', async () => {
    // Prepare: a 429 asking for one second, then success.
    requestPacing.reset();
    let calls = 0;
    const server = await serve(() =>
      ++calls === 1 ? json(429, { message: 'slow down' }, { 'retry-after': '1' }) : json(200, { ok: true }),
    );
    const client = clientFor(server);

    // Act
    const refused = await rejectionOf(client.request('GET', '/users', { action: 'look up' }));
    await client.request('GET', '/users', { action: 'look up' });
    // From the refused request's arrival: the 429 left the server after it, so this is a lower
    // bound a stalled test process cannot shrink.
    const sentAfterMs = (server.requests[1]?.receivedAt ?? 0) - (server.requests[0]?.receivedAt ?? 0);

    // Assess: the message says so, and the second request waited (the clock, not luck: the
    // hold is the vendor's second, with a little for the timer's granularity).
    expect(refused.name).toBe(ERROR_NAMES.rateLimited);
    expect(refused.message).toContain('Retry-After: 1 s');
    expect(sentAfterMs).toBeGreaterThanOrEqual(950);
    requestPacing.reset();
  });

  it('hands a long wait to the state machine: a minutes-long Retry-After is the hourly kind of retry', async () => {
    requestPacing.reset();
    const server = await answering(json(429, {}, { 'retry-after': '900' }));
    const client = clientFor(server);
    const first = await rejectionOf(client.request('GET', '/users', { action: 'look up' }));
    const second = await rejectionOf(client.request('GET', '/users', { action: 'look up' }));
    expect(first.name).toBe(ERROR_NAMES.rateLimitedHourly);
    // Not sent at all: the vendor asked for 15 minutes.
    expect(server.requests).toHaveLength(1);
    expect(second.name).toBe(ERROR_NAMES.rateLimitedHourly);
    requestPacing.reset();
  });

  it.each([
    ['seconds', '120', 120_000],
    ['an HTTP date', new Date(Date.parse('2026-11-30T10:00:30Z')).toUTCString(), 30_000],
    ['a date in the past', 'Mon, 30 Nov 2026 09:00:00 GMT', 0],
    ['a hostile number, capped', '999999999', MAX_RETRY_AFTER_MS],
    ['nonsense', 'soon', undefined],
    ['a negative number', '-5', undefined],
  ])('reads Retry-After given as %s', (_case, header, expected) => {
    expect(retryAfter(header, Date.parse('2026-11-30T10:00:00Z'))).toBe(expected);
  });
});

describe('HttpClient network failures', () => {
  it('answers Vendor.Unavailable when the connection is refused', async () => {
    // Prepare
    const port = await closedPort();

    // Act
    const error = await rejectionOf(
      clientFor({ baseUrl: `http://127.0.0.1:${port}` }).request('GET', '/u', { action: 'get user 1' }),
    );

    // Assess
    expect(error.name).toBe(ERROR_NAMES.unavailable);
    expect(error.retryable).toBe(true);
    expect(error.message).toMatch(new RegExp(`^${LABEL}: get user 1: ECONNREFUSED`));
  });

  it('answers Vendor.Unavailable when the answer takes longer than timeoutMs', async () => {
    // Prepare
    const server = await answering({ ...json(200, {}), delayMs: 2_000 });

    // Act
    const error = await rejectionOf(
      clientFor(server, { timeoutMs: 100 }).request('GET', '/u', { action: 'get user 1' }),
    );

    // Assess
    expect(error.name).toBe(ERROR_NAMES.unavailable);
    expect(error.message).toBe(`${LABEL}: get user 1: timed out`);
  });
});

describe('HttpClient TLS', () => {
  const HINT =
    'give the connection tls.caCert (the PEM of the server certificate or its CA), or, knowingly, ' +
    'tls.rejectUnauthorized=false';

  it('refuses a self-signed server by default: Config.Invalid, not retried, with what to configure', async () => {
    // Prepare
    const server = await answering(json(200, {}), await selfSignedCertificate());

    // Act
    const error = await rejectionOf(clientFor(server).request('GET', '/u', { action: 'get user 1' }));

    // Assess: waiting will not make the certificate trusted, so it is the connection's configuration.
    expect(error.name).toBe(ERROR_NAMES.config);
    expect(error.retryable).toBe(false);
    expect(error.message).toMatch(new RegExp(`^${LABEL}: get user 1: DEPTH_ZERO_SELF_SIGNED_CERT`));
    expect(error.message).toContain("the server's TLS certificate is not trusted");
    expect(error.message).toContain(HINT);
    expect(server.requests).toEqual([]);
  });

  it('refuses a certificate that tls.caCert does not vouch for', async () => {
    // Prepare
    const server = await answering(json(200, {}), await selfSignedCertificate());
    const other = await selfSignedCertificate();

    // Act
    const error = await rejectionOf(
      clientFor(server, { tls: { caCert: other.cert } }).request('GET', '/u', { action: 'get user 1' }),
    );

    // Assess
    expect(error.name).toBe(ERROR_NAMES.config);
    expect(error.message).toContain(HINT);
    expect(server.requests).toEqual([]);
  });

  it('trusts the certificate given as tls.caCert, and skips verification only when told to', async () => {
    // Prepare
    const certificate = await selfSignedCertificate();
    const server = await answering(json(200, { ok: true }), certificate);

    // Act
    const trusted = await clientFor(server, { tls: { caCert: certificate.cert } }).request('GET', '/u', {
      action: 'get user 1',
    });
    const unverified = await clientFor(server, { tls: { rejectUnauthorized: false } }).request('GET', '/u', {
      action: 'get user 1',
    });

    // Assess
    expect(trusted.body).toEqual({ ok: true });
    expect(unverified.body).toEqual({ ok: true });
    expect(server.requests).toHaveLength(2);
  });

  it('answers Vendor.Unavailable, not Config.Invalid, to a failure without a certificate code', async () => {
    // Prepare: a reset connection, as fetch reports it (the system's error as the cause).
    const reset = Object.assign(new TypeError('fetch failed'), {
      cause: Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }),
    });
    const client = new HttpClient({
      label: LABEL,
      baseUrl: 'https://vendor.example',
      headers: {},
      fetch: async () => {
        throw reset;
      },
    });

    // Act
    const error = await rejectionOf(client.request('GET', '/u', { action: 'get user 1' }));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.unavailable);
    expect(error.message).toBe(`${LABEL}: get user 1: ECONNRESET (socket hang up)`);
  });
});
