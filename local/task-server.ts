import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { handleTaskPage, type TaskPageDeps } from '../lambdas/shared/task-page';

/** A running local task page. */
export interface TaskServer {
  /** The page's address, ending with `/`: `http://127.0.0.1:<port>/`. */
  url: string;
  close(): Promise<void>;
}

/** A form is a name and a reason: 64 KB is plenty, and caps what a stray client can send. */
const MAX_BODY = 64 * 1024;

async function readBody(request: IncomingMessage): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Serves the task page (the same handleTaskPage as the deployed function URL) on 127.0.0.1,
 * on a port the system picks, for the links a local run prints.
 */
export async function startTaskServer(deps: TaskPageDeps, port = 0): Promise<TaskServer> {
  const server = createServer(async (request, response) => {
    try {
      const body = request.method === 'POST' ? await readBody(request) : undefined;
      if (request.method === 'POST' && body === undefined) {
        response
          .writeHead(413, { 'content-type': 'text/plain; charset=utf-8' })
          .end('The form is too large.');
        return;
      }
      const answer = await handleTaskPage(
        { method: request.method ?? 'GET', url: request.url ?? '/', ...(body === undefined ? {} : { body }) },
        deps,
      );
      response
        .writeHead(answer.status, answer.headers)
        .end(request.method === 'HEAD' ? undefined : answer.body);
    } catch (error) {
      response
        .writeHead(500, { 'content-type': 'text/plain; charset=utf-8' })
        .end(`The task page failed: ${(error as Error).name}: ${(error as Error).message}`);
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const { port: bound } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${bound}/`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}
