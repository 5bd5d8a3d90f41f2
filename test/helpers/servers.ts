import {
  createServer as createHttpServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { type AddressInfo, createServer as createNetServer } from 'node:net';
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
