import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createGainsightConnector } from '../../lambdas/connectors/gainsight/connector';
import type { ConnectionRef } from '../../lambdas/shared/connections';
import { runStep } from '../../lambdas/shared/steps';
import {
  GAINSIGHT_SANDBOX_ACCESS_KEY,
  type GainsightSandboxOptions,
  gsidOf,
  JANE_GSID,
  startGainsightSandbox,
} from '../../sandboxes/gainsight';
import { sandboxStarter } from '../helpers/sandboxes';
import { stepEnvironment } from '../helpers/steps';

/**
 * Every request the Gainsight connector sends, held to what Gainsight's own document defines
 * (vendor-contracts/gainsight/contract.json, quoting README.md), not to what our sandbox
 * happens to accept: the route and method, the query parameters, the `accesskey` and JSON
 * content-type headers, and the body (JSON Schema). The requests are caught as the connector
 * hands them to fetch.
 */

const CONTRACT_DIR = new URL('../../vendor-contracts/gainsight/', import.meta.url);
const readContractFile = (name: string) => readFileSync(new URL(name, CONTRACT_DIR), 'utf8');

interface Quote {
  file: string;
  text: string;
}
interface Operation {
  name: string;
  method: string;
  path: string;
  query: Record<string, { required?: boolean; enum?: string[] }>;
  body?: Record<string, unknown>;
  quote: Quote;
}
interface Contract {
  basePath: { path: string; quote: Quote };
  headers: { required: string[]; withBody: Record<string, string>; quotes: Quote[] };
  userFields: { names: string[]; quotes: Quote[] };
  operators: { names: string[]; quote: Quote };
  maxRecordsPerCall: { value: number; quote: Quote };
  operations: Operation[];
}

const contract = JSON.parse(readContractFile('contract.json')) as Contract;

/** An operation's body schema, with the document's field and operator lists as `$defs`. */
function bodySchema(operation: Operation): z.ZodType | undefined {
  if (!operation.body) return undefined;
  return z.fromJSONSchema({
    ...operation.body,
    $defs: { userField: { enum: contract.userFields.names }, operator: { enum: contract.operators.names } },
  } as Parameters<typeof z.fromJSONSchema>[0]);
}
const schemas = new Map(contract.operations.map((operation) => [operation, bodySchema(operation)]));

/** A request as the connector handed it to fetch. */
interface SentRequest {
  method: string;
  url: URL;
  headers: Headers;
  body?: string;
}

/** What is wrong with a request as the document defines it; empty when nothing is. */
function problems(request: SentRequest): string[] {
  const where = `${request.method} ${request.url.pathname}`;
  const operation = contract.operations.find(
    (candidate) => candidate.path === request.url.pathname && candidate.method === request.method,
  );
  if (!operation) return [`${where}: the document defines no such operation`];
  const found: string[] = [];
  const query = request.url.searchParams;
  for (const name of new Set(query.keys())) {
    const parameter = operation.query[name];
    if (!parameter) found.push(`${where}: query parameter ${name} is not defined`);
    else if (query.getAll(name).length > 1) found.push(`${where}: query parameter ${name} is repeated`);
    else if (parameter.enum && !parameter.enum.includes(query.get(name) ?? '')) {
      found.push(`${where}: ${name}=${query.get(name)} is none of ${parameter.enum.join(', ')}`);
    }
  }
  for (const [name, parameter] of Object.entries(operation.query)) {
    if (parameter.required && !query.has(name)) found.push(`${where}: query parameter ${name} is required`);
  }
  for (const name of contract.headers.required) {
    if (!request.headers.get(name)?.trim()) found.push(`${where}: header ${name} is required`);
  }
  const schema = schemas.get(operation);
  if (request.body === undefined) {
    if (schema) found.push(`${where}: the operation takes a body; none was sent`);
    return found;
  }
  for (const [name, value] of Object.entries(contract.headers.withBody)) {
    const sent = request.headers.get(name) ?? '';
    if (sent.split(';')[0]?.trim().toLowerCase() !== value) {
      found.push(`${where}: header ${name} must be ${value} with a body, not ${sent || 'absent'}`);
    }
  }
  if (!schema) return [...found, `${where}: the operation takes no body`];
  let body: unknown;
  try {
    body = JSON.parse(request.body);
  } catch {
    return [...found, `${where}: the body is not JSON`];
  }
  const parsed = schema.safeParse(body);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      found.push(`${where}: $${issue.path.map((part) => `.${String(part)}`).join('')}: ${issue.message}`);
    }
  }
  return found;
}

/** A fetch that keeps what the connector sent, and what came back, then lets it through. */
function recordingFetch() {
  const sent: SentRequest[] = [];
  const answers: unknown[] = [];
  const wrapped = (async (input: Parameters<typeof fetch>[0], init?: RequestInit) => {
    sent.push({
      method: (init?.method ?? 'GET').toUpperCase(),
      url: new URL(String(input)),
      headers: new Headers(init?.headers),
      ...(typeof init?.body === 'string' ? { body: init.body } : {}),
    });
    const response = await fetch(input, init);
    answers.push(await response.clone().json());
    return response;
  }) as typeof fetch;
  return { fetch: wrapped, sent, answers };
}

const sandbox = sandboxStarter((options: GainsightSandboxOptions = {}) => startGainsightSandbox(options));
const NAME = 'gainsight-contract';
const SECRET = { accessKey: GAINSIGHT_SANDBOX_ACCESS_KEY };

describe('the Gainsight contract (vendor-contracts/gainsight)', () => {
  it('quotes README.md, the vendor document, word for word', () => {
    // Prepare
    const quotes: Quote[] = [
      contract.basePath.quote,
      ...contract.headers.quotes,
      ...contract.userFields.quotes,
      contract.operators.quote,
      contract.maxRecordsPerCall.quote,
      ...contract.operations.map((operation) => operation.quote),
    ];

    // Act
    const missing = quotes.filter((quote) => !readContractFile(quote.file).includes(quote.text));

    // Assess
    expect(quotes.length).toBeGreaterThan(8);
    expect(missing).toEqual([]);
    for (const operation of contract.operations)
      expect(operation.path.startsWith(contract.basePath.path)).toBe(true);
    const status = contract.operations.find((operation) => operation.path.endsWith('/status'));
    expect(status?.body).toMatchObject({ type: 'array', maxItems: contract.maxRecordsPerCall.value });
  });

  const base = 'https://acme.gainsightcloud.com';
  const headers = (extra: Record<string, string> = {}) =>
    new Headers({ accesskey: 'k', 'content-type': 'application/json', ...extra });
  const listBody = {
    select: ['Gsid', 'Email'],
    where: {
      conditions: [{ name: 'Email', alias: 'A', operator: 'EQ', value: ['jane@acme.com'] }],
      expression: 'A',
    },
    limit: 50,
    page: 0,
    includeTotal: true,
  };
  const list = (body: unknown, extra: Partial<SentRequest> = {}): SentRequest => ({
    method: 'POST',
    url: new URL(`${base}/v1/users/services/list`),
    headers: headers(),
    body: JSON.stringify(body),
    ...extra,
  });
  const status = (value: string | null, body: unknown, extra: Partial<SentRequest> = {}): SentRequest => ({
    method: 'PUT',
    url: new URL(`${base}/v1/users/services/status${value === null ? '' : `?status=${value}`}`),
    headers: headers(),
    body: JSON.stringify(body),
    ...extra,
  });

  it('takes the documented requests', () => {
    // Act
    const found = [
      ...problems(list(listBody)),
      ...problems(list({ ...listBody, orderBy: { ModifiedDate: 'desc' } })),
      ...problems(status('false', [JANE_GSID])),
      ...problems(
        status(
          'true',
          Array.from({ length: 50 }, (_, i) => gsidOf(i)),
        ),
      ),
    ];

    // Assess
    expect(found).toEqual([]);
  });

  it.each([
    [
      "the seed guide's GET /v1/users/{userId}",
      { method: 'GET', url: new URL(`${base}/v1/users/u123`), headers: headers() },
      'defines no such operation',
    ],
    [
      "the seed guide's PUT /v1/users/{userId}",
      {
        method: 'PUT',
        url: new URL(`${base}/v1/users/u123`),
        headers: headers(),
        body: '{"isActive":false}',
      },
      'defines no such operation',
    ],
    [
      'a DELETE',
      { method: 'DELETE', url: new URL(`${base}/v1/users/services/status`), headers: headers() },
      'no such',
    ],
    [
      'the list by GET',
      { method: 'GET', url: new URL(`${base}/v1/users/services/list`), headers: headers() },
      'no such',
    ],
    [
      'no accesskey',
      list(listBody, { headers: new Headers({ 'content-type': 'application/json' }) }),
      'accesskey is required',
    ],
    [
      'the key as Accesskey: (empty)',
      list(listBody, { headers: headers({ accesskey: ' ' }) }),
      'accesskey is required',
    ],
    [
      'a form body',
      list(listBody, { headers: headers({ 'content-type': 'text/plain' }) }),
      'content-type must be',
    ],
    [
      'a query parameter on the list',
      list(listBody, { url: new URL(`${base}/v1/users/services/list?page=2`) }),
      'page is not defined',
    ],
    ['a camelCase field (seed guide)', list({ ...listBody, select: ['userId', 'email'] }), '$.select.0'],
    ['an undocumented field', list({ ...listBody, select: ['Gsid', 'Department'] }), '$.select.1'],
    ['an undocumented key', list({ ...listBody, filter: 'email eq "x"' }), 'filter'],
    ['pageSize (seed guide)', list({ ...listBody, pageSize: 100 }), 'pageSize'],
    [
      'an undocumented operator',
      list({
        ...listBody,
        where: { conditions: [{ name: 'Email', alias: 'A', operator: 'LIKE', value: ['x'] }] },
      }),
      'operator',
    ],
    [
      'a condition without alias',
      list({ ...listBody, where: { conditions: [{ name: 'Email', operator: 'EQ', value: ['x'] }] } }),
      'alias',
    ],
    [
      'a condition value that is not a list',
      list({
        ...listBody,
        where: { conditions: [{ name: 'Email', alias: 'A', operator: 'EQ', value: 'x' }] },
      }),
      'value',
    ],
    ['a negative page', list({ ...listBody, page: -1 }), '$.page'],
    ['a limit of 2.5', list({ ...listBody, limit: 2.5 }), '$.limit'],
    ['no status', status(null, [JANE_GSID]), 'status is required'],
    ['status=off', status('off', [JANE_GSID]), 'status=off is none of'],
    [
      'status twice',
      status('false', [JANE_GSID], {
        url: new URL(`${base}/v1/users/services/status?status=false&status=true`),
      }),
      'repeated',
    ],
    ['a status body that is an object', status('false', { gsids: [JANE_GSID] }), '$: Invalid input'],
    [
      '51 Gsids',
      status(
        'false',
        Array.from({ length: 51 }, (_, i) => gsidOf(i)),
      ),
      '$: Too big',
    ],
    ['no Gsid', status('false', []), '$: Too small'],
    ['a number among the Gsids', status('false', [JANE_GSID, 123]), '$.1'],
    ['an empty Gsid', status('false', ['']), '$.0'],
    ['a status call without a body', status('false', undefined, { body: undefined }), 'none was sent'],
  ])('refuses %s', (_case, request, says) => {
    // Act
    const found = problems(request as SentRequest);

    // Assess
    expect(found.join('\n')).toContain(says);
  });

  it('holds every request of a whole offboarding and its undoing, step by step, to the document', async () => {
    // Prepare: the real steps (runStep) with the real connector; fetch records what it is handed.
    const box = await sandbox();
    const recorder = recordingFetch();
    const ref: ConnectionRef = { name: NAME, type: 'gainsight', baseUrl: box.baseUrl };
    const env = stepEnvironment(ref, SECRET);
    const factory = (connection: ConnectionRef, secret: unknown) =>
      createGainsightConnector(connection, secret, recorder.fetch);
    const step = (event: Record<string, unknown>) =>
      runStep(
        {
          connection: { name: NAME },
          email: 'jane.doe@example.com',
          executionId: 'arn:aws:states:local:000000000000:execution:offboard-user:c-1',
          ...event,
        },
        factory,
        env,
      );

    // Act: look up, read, switch off (the step reads again first), verify; then undo it.
    const found = (await step({ step: 'lookup' })) as { userId: string };
    const record = await step({ step: 'getRecord', userId: found.userId });
    const written = await step({ step: 'deactivate', record });
    await step({ step: 'verify', userId: found.userId });
    const [intent] = await env.ledger().history('jane.doe@example.com');
    const restored = await step({
      step: 'reactivate',
      restore: { userId: found.userId, before: intent?.before },
    });
    await step({ step: 'verifyReactivated', userId: found.userId });

    // Assess
    expect(found.userId).toBe(JANE_GSID);
    expect(written).toMatchObject({ written: true });
    expect(restored).toMatchObject({ written: true });
    expect(box.users.get(JANE_GSID)?.IsActiveUser).toBe(true);
    expect(recorder.sent.flatMap(problems)).toEqual([]);
    expect(
      recorder.sent.map((request) => `${request.method} ${request.url.pathname}${request.url.search}`),
    ).toEqual([
      'POST /v1/users/services/list', // lookup
      'POST /v1/users/services/list', // getRecord
      'POST /v1/users/services/list', // the read right before the write
      'PUT /v1/users/services/status?status=false',
      'POST /v1/users/services/list', // verify
      'POST /v1/users/services/list', // reactivate: is it still off?
      'POST /v1/users/services/list', // reactivate: still Jane's?
      'PUT /v1/users/services/status?status=true',
      'POST /v1/users/services/list', // verifyReactivated
    ]);
    for (const answer of recorder.answers) {
      expect(Object.keys(answer as object).sort()).toEqual(
        ['data', 'errorCode', 'errorDesc', 'message', 'requestId', 'result'].sort(),
      );
    }
  });

  it('holds a lookup that pages through a server ignoring the filter, and a batch of 50, to the document', async () => {
    // Prepare
    const users = Array.from({ length: 2100 }, (_, i) => ({ Email: `user${i}@example.com` }));
    const box = await sandbox({ users, ignoreWhere: true, maxLimit: 700 });
    const recorder = recordingFetch();
    const connector = createGainsightConnector(
      { name: NAME, type: 'gainsight', baseUrl: `${box.baseUrl}/v1` },
      SECRET,
      recorder.fetch,
    );

    // Act
    const found = await connector.lookupUser('user2099@example.com');
    const outcome = await connector.setStatus([...box.users.keys()].slice(0, 50), false);

    // Assess
    expect(found).toEqual({ found: true, userId: gsidOf(3100) });
    expect(outcome.failed).toEqual([]);
    expect(recorder.sent).toHaveLength(4);
    expect(recorder.sent.flatMap(problems)).toEqual([]);
  });
});
