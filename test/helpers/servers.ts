import {
  createServer as createHttpServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer, request as httpsRequest, type RequestOptions } from 'node:https';
import { type AddressInfo, createServer as createNetServer } from 'node:net';
import { text as readText } from 'node:stream/consumers';
import { generate } from 'selfsigned';

/** A port on 127.0.0.1 that was just free and is closed again: connecting to it is refused. */
export async function closedPort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A request as a scripted server received it. */
export interface ReceivedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: IncomingHttpHeaders;
  body: string;
  /** When the request arrived in full (epoch milliseconds). */
  receivedAt: number;
}

/** What a scripted server answers; `body` is sent as is, after `delayMs` when given. */
export interface ScriptedAnswer {
  status: number;
  headers?: Record<string, string>;
  body?: string;
  delayMs?: number;
}

export interface ScriptedServer {
  baseUrl: string;
  requests: ReceivedRequest[];
  close(): Promise<void>;
}

/**
 * A local HTTP server (HTTPS when given a certificate) that answers every request with what
 * `answer` returns for it, and records what it received.
 */
export async function startScriptedServer(
  answer: (request: ReceivedRequest) => ScriptedAnswer,
  tls?: { key: string; cert: string },
): Promise<ScriptedServer> {
  const requests: ReceivedRequest[] = [];
  const handle = async (incoming: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of incoming) chunks.push(chunk as Buffer);
    const url = new URL(incoming.url ?? '/', 'http://localhost');
    const request: ReceivedRequest = {
      method: incoming.method ?? 'GET',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers: incoming.headers,
      body: Buffer.concat(chunks).toString('utf8'),
      receivedAt: Date.now(),
    };
    requests.push(request);
    let scripted: ScriptedAnswer;
    try {
      scripted = answer(request);
    } catch (error) {
      // A request the script does not expect: a 500 the test sees, not a hung socket.
      scripted = { status: 500, body: `unexpected request: ${(error as Error).message}` };
    }
    if (scripted.delayMs) await new Promise((resolve) => setTimeout(resolve, scripted.delayMs));
    // The client may have given up (a timeout test) and the server closed meanwhile.
    if (response.destroyed) return;
    response.writeHead(scripted.status, scripted.headers ?? {});
    response.end(scripted.body ?? '');
  };
  const server = tls ? createHttpsServer(tls, handle) : createHttpServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    requests,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * A fresh self-signed certificate for 127.0.0.1, as an on-premise server often has one:
 * `cert` is what a client is told to trust (`tls.caCert`).
 */
export async function selfSignedCertificate(): Promise<{ key: string; cert: string }> {
  // Node matches an IP address only against the subjectAltName, never the common name.
  const pems = await generate([{ name: 'commonName', value: '127.0.0.1' }], {
    keyType: 'ec',
    extensions: [{ name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] }],
  });
  return { key: pems.private, cert: pems.cert };
}

/** What {@link requestText} received: the status, the headers (fetch's `Headers`, for `get`) and the body. */
export interface TextResponse {
  status: number;
  headers: Headers;
  text: string;
}

/**
 * One request with Node's own client (`node:https`, or `node:http` for an http URL), trusting
 * `ca` when given: how a test talks to a sandbox that has a self-signed certificate. Without an
 * agent it goes through Node's global (keep-alive) agent, whose pools are kept apart per `ca`.
 */
export async function requestText(
  url: string | URL,
  options: { method?: string; headers?: Record<string, string>; body?: string; ca?: string } = {},
): Promise<TextResponse> {
  const target = new URL(url);
  const sent: RequestOptions = {
    method: options.method ?? 'GET',
    headers: options.headers ?? {},
    ...(options.ca === undefined ? {} : { ca: options.ca }),
  };
  const response = await new Promise<IncomingMessage>((resolve, reject) => {
    const request =
      target.protocol === 'https:' ? httpsRequest(target, sent, resolve) : httpRequest(target, sent, resolve);
    request.on('error', reject);
    request.end(options.body);
  });
  const text = await readText(response);
  const headers = new Headers();
  for (let index = 0; index + 1 < response.rawHeaders.length; index += 2) {
    headers.append(response.rawHeaders[index] as string, response.rawHeaders[index + 1] as string);
  }
  return { status: response.statusCode ?? 0, headers, text };
}
