import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createInsightlyConnector } from '../../lambdas/connectors/insightly/connector';
import type { ConnectionRef } from '../../lambdas/shared/connections';
import { basicAuth } from '../../lambdas/shared/http';
import { runStep, type StateRecord, type StepEvent } from '../../lambdas/shared/steps';
import { type InsightlySandboxOptions, startInsightlySandbox } from '../../sandboxes/insightly';
import { sandboxStarter } from '../helpers/sandboxes';
import { stepEnvironment } from '../helpers/steps';

/**
 * The Insightly connector against Insightly's own document (vendor-contracts/insightly), not
 * against our sandbox: every request a whole offboarding sends (lookup, read, the read right
 * before the write, the PUT, the verification, a reactivation) is checked against the
 * contract written as data in contract.json: method and path, the query parameters of that
 * route and version, Basic auth with the API key and an empty password, and a PUT body made
 * of the vendor's user fields only. The sandbox only answers; the judge is the document.
 */

interface Quote {
  file: 'README.md' | 'SOURCE.md';
  text: string;
}
interface Route {
  method: string;
  path: string;
  versions: string[];
  query: string[];
  together?: string[][];
  atMostOneOf?: string[];
  body?: 'user';
  quote: Quote;
}
interface Contract {
  auth: { scheme: 'Basic'; password: string; quote: Quote };
  queryValues: Record<string, 'integer' | 'boolean' | 'string' | 'userField'>;
  routes: Route[];
  userFields: Record<string, 'integer' | 'string' | 'boolean'>;
  userFieldsQuote: Quote;
  errorBody: { quote: Quote };
}

const folder = new URL('../../vendor-contracts/insightly/', import.meta.url);
const read = (name: string) => readFileSync(new URL(name, folder), 'utf8');
const contract = JSON.parse(read('contract.json')) as Contract;
const documents: Record<Quote['file'], string> = {
  'README.md': read('README.md'),
  'SOURCE.md': read('SOURCE.md'),
};
const API_KEY = 'contract-api-key';

/** One request as the connector sent it, before any server saw it. */
interface Sent {
  method: string;
  url: URL;
  headers: Headers;
  body?: unknown;
}

/** The global fetch, with every request written down first. */
function recordingFetch(sent: Sent[]): typeof fetch {
  return (async (input: Parameters<typeof fetch>[0], init?: RequestInit) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const body = typeof init?.body === 'string' ? (JSON.parse(init.body) as unknown) : undefined;
    sent.push({
      method: (init?.method ?? 'GET').toUpperCase(),
      url,
      headers: new Headers(init?.headers),
      ...(body === undefined ? {} : { body }),
    });
    return fetch(input, init);
  }) as typeof fetch;
}

/** The API version a base URL names (`v3.1`), as the contract's routes list them. */
const versionOf = (baseUrl: string) => /\/(v\d+(?:\.\d+)?)\/?$/i.exec(baseUrl)?.[1]?.toLowerCase() ?? '';

function valueProblem(kind: string, name: string, value: string): string | undefined {
  if (kind === 'integer' && !/^\d+$/.test(value)) return `${name}=${value} is not an integer`;
  if (kind === 'boolean' && !/^(true|false)$/.test(value)) return `${name}=${value} is not a boolean`;
  if (kind === 'userField' && !(value in contract.userFields)) return `${name}=${value} is not a user field`;
  return undefined;
}

function typeMatches(kind: string, value: unknown): boolean {
  // The v3.1 introduction: "To remove the value of a field that's already set, use NULL."
  if (value === null) return true;
  if (kind === 'integer') return Number.isInteger(value);
  return typeof value === kind;
}

/**
 * What in one request the document does not define; empty when all of it is defined.
 * `baseUrl` is the connection's, so the route is the path after it.
 */
function contractProblems(request: Sent, baseUrl: string): string[] {
  const base = new URL(baseUrl);
  const version = versionOf(baseUrl);
  const path = request.url.pathname.slice(base.pathname.replace(/\/+$/, '').length);
  const shown = `${request.method} ${path}`;
  const route = contract.routes.find(
    (candidate) =>
      candidate.method === request.method &&
      candidate.versions.includes(version) &&
      new RegExp(`^${candidate.path.replace('{id}', '\\d+')}$`).test(path) &&
      // On a route both versions have, the query decides which version's definition applies.
      [...request.url.searchParams.keys()].every((name) => candidate.query.includes(name)),
  );
  const problems: string[] = [];
  if (!route) {
    const paths = contract.routes.filter(
      (candidate) =>
        candidate.method === request.method &&
        candidate.versions.includes(version) &&
        new RegExp(`^${candidate.path.replace('{id}', '\\d+')}$`).test(path),
    );
    if (paths.length === 0) return [`${shown}: no such route in the ${version} document`];
    const known = new Set(paths.flatMap((candidate) => candidate.query));
    for (const name of request.url.searchParams.keys()) {
      if (!known.has(name)) problems.push(`${shown}: query parameter ${name} is not defined`);
    }
    return problems.length > 0 ? problems : [`${shown}: these parameters together are not defined`];
  }
  const query = request.url.searchParams;
  for (const [name, value] of query) {
    const problem = valueProblem(contract.queryValues[name] ?? 'string', name, value);
    if (problem) problems.push(`${shown}: ${problem}`);
  }
  for (const group of route.together ?? []) {
    const given = group.filter((name) => query.has(name));
    if (given.length > 0 && given.length < group.length)
      problems.push(`${shown}: ${group.join(' and ')} go together`);
  }
  const filters = (route.atMostOneOf ?? []).filter((name) => query.has(name));
  if (filters.length > 1) problems.push(`${shown}: only one of ${filters.join(', ')} may be given`);
  const expected = basicAuth(API_KEY, contract.auth.password);
  if (request.headers.get('authorization') !== expected) {
    problems.push(`${shown}: not Basic auth with the API key and an empty password`);
  }
  if (route.body !== 'user') {
    if (request.body !== undefined) problems.push(`${shown}: the document defines no body`);
    return problems;
  }
  if (typeof request.body !== 'object' || request.body === null || Array.isArray(request.body)) {
    return [...problems, `${shown}: the body is not a User object`];
  }
  for (const [name, value] of Object.entries(request.body)) {
    const kind = contract.userFields[name];
    if (kind === undefined) problems.push(`${shown}: ${name} is not a user field`);
    else if (!typeMatches(kind, value))
      problems.push(`${shown}: ${name} is not ${kind === 'integer' ? 'an' : 'a'} ${kind}`);
  }
  return problems;
}

const open = sandboxStarter(startInsightlySandbox, (request) => request.method === 'DELETE');

/** A step's input without the connection, which `setUp` names (distributed over the union of steps). */
type WithoutConnection<T> = T extends unknown ? Omit<T, 'connection'> : never;

/** A sandbox whose key is ours, a connection to it, and what the connector sends. */
async function setUp(options: InsightlySandboxOptions = {}) {
  const box = await open({ apiKeys: { [API_KEY]: 1001 }, ...options });
  const connection: ConnectionRef = { name: 'insightly-contract', type: 'insightly', baseUrl: box.baseUrl };
  const sent: Sent[] = [];
  const env = stepEnvironment(connection, { apiKey: API_KEY });
  const step = (event: WithoutConnection<StepEvent>) =>
    runStep(
      { ...event, connection: { name: connection.name } },
      (ref, secret) => createInsightlyConnector(ref, secret, recordingFetch(sent)),
      env,
    );
  const problems = () => sent.flatMap((request) => contractProblems(request, box.baseUrl));
  const routes = () =>
    sent.map((request) => `${request.method} ${request.url.pathname.replace(/\/\d+$/, '/{id}')}`);
  return { box, step, sent, problems, routes };
}

const JANE = 'jane.doe@example.com';
/** The whitespace of a document does not matter to a quote from it. */
const flat = (text: string) => text.replace(/\s+/g, ' ');

describe('The contract is the document (vendor-contracts/insightly)', () => {
  it("quotes Insightly's document word for word for every route, the auth, the fields and the error body", () => {
    // Prepare
    const quotes = [
      contract.auth.quote,
      contract.userFieldsQuote,
      contract.errorBody.quote,
      ...contract.routes.map((route) => route.quote),
    ];

    // Act
    const missing = quotes.filter((quote) => !flat(documents[quote.file]).includes(flat(quote.text)));

    // Assess
    expect(missing).toEqual([]);
  });

  it('names no field or parameter the document does not', () => {
    // Prepare
    const names = [
      ...Object.keys(contract.userFields),
      ...contract.routes.flatMap((route) => route.query),
      ...Object.keys(contract.queryValues),
    ];

    // Act
    const unknown = names.filter((name) => !documents['README.md'].includes(name));

    // Assess
    expect(unknown).toEqual([]);
    expect(Object.keys(contract.userFields)).toHaveLength(20);
  });

  it.each([
    ['a seed guide OData filter', 'GET', '/Users?$filter=ACTIVE+eq+true', 'query parameter $filter'],
    ['OData paging', 'GET', '/Users?$top=500&$skip=0', 'query parameter $top'],
    ['an email search on v3.1', 'GET', '/Users/Search?email=a@b.c', 'query parameter email'],
    ['field_name without field_value', 'GET', '/Users/Search?field_name=EMAIL_ADDRESS', 'go together'],
    [
      'a search on a field users do not have',
      'GET',
      '/Users/Search?field_name=EMAIL&field_value=x',
      'not a user field',
    ],
    ['a word for top', 'GET', '/Users?top=ten', 'top=ten is not an integer'],
    ['yes for count_total', 'GET', '/Users?count_total=yes', 'not a boolean'],
    ['a DELETE, which deletes for good', 'DELETE', '/Users/1002', 'no such route'],
    ['a POST', 'POST', '/Users', 'no such route'],
    ['a query on a read', 'GET', '/Users/1002?brief=true', 'query parameter brief'],
  ])('the judge refuses %s', (_case, method, target, problem) => {
    // Prepare
    const baseUrl = 'https://api.na1.insightly.com/v3.1';
    const request: Sent = {
      method,
      url: new URL(`${baseUrl}${target}`),
      headers: new Headers({ authorization: basicAuth(API_KEY, '') }),
    };

    // Act
    const problems = contractProblems(request, baseUrl);

    // Assess
    expect(problems.join('\n')).toContain(problem);
  });

  it.each([
    [
      'two filters at once on v2.2',
      '/Users/Search?email=a@b.c&last_name=Doe',
      'only one of email, last_name',
    ],
    ['a v3.1 field search on v2.2', '/Users/Search?field_name=EMAIL_ADDRESS&field_value=a@b.c', 'field_name'],
  ])('the judge refuses %s', (_case, target, problem) => {
    // Prepare
    const baseUrl = 'https://api.insight.ly/v2.2';
    const request: Sent = {
      method: 'GET',
      url: new URL(`${baseUrl}${target}`),
      headers: new Headers({ authorization: basicAuth(API_KEY, '') }),
    };

    // Act
    const problems = contractProblems(request, baseUrl);

    // Assess
    expect(problems.join('\n')).toContain(problem);
  });

  it.each([
    ['a Bearer token', { authorization: `Bearer ${API_KEY}` }, undefined, 'not Basic auth'],
    ['a password', { authorization: basicAuth(API_KEY, 'x') }, undefined, 'not Basic auth'],
    ['no credential', {}, undefined, 'not Basic auth'],
    [
      'a seed guide field',
      undefined,
      { USER_ID: 1002, CURRENCY_CODE: 'EUR' },
      'CURRENCY_CODE is not a user field',
    ],
    ['a string USER_ID', undefined, { USER_ID: '1002', ACTIVE: false }, 'USER_ID is not an integer'],
    ['a list', undefined, [{ USER_ID: 1002 }], 'not a User object'],
  ])('the judge refuses a PUT with %s', (_case, headers, body, problem) => {
    // Prepare
    const baseUrl = 'https://api.na1.insightly.com/v3.1';
    const request: Sent = {
      method: 'PUT',
      url: new URL(`${baseUrl}/Users`),
      headers: new Headers(headers ?? { authorization: basicAuth(API_KEY, '') }),
      body: body ?? { USER_ID: 1002, ACTIVE: false },
    };

    // Act
    const problems = contractProblems(request, baseUrl);

    // Assess
    expect(problems.join('\n')).toContain(problem);
  });
});

describe('A whole offboarding against the document', () => {
  it('finds, reads, reads again, writes, verifies and restores Jane, sending only what Insightly defines', async () => {
    // Prepare
    const { box, step, problems, routes, sent } = await setUp();

    // Act
    const lookup = (await step({ step: 'lookup', email: JANE })) as { found: true; userId: string };
    const record = (await step({ step: 'getRecord', email: JANE, userId: lookup.userId })) as StateRecord;
    const write = await step({ step: 'deactivate', email: JANE, record, dryRun: false });
    await step({ step: 'verify', email: JANE, userId: record.id });
    const offAfterwards = box.users.get(1002)?.ACTIVE;
    const restore = { userId: record.id, before: record.fields };
    await step({ step: 'reactivate', email: JANE, restore, dryRun: false });
    await step({ step: 'verifyReactivated', email: JANE, userId: record.id });

    // Assess
    expect(lookup).toEqual({ found: true, userId: '1002' });
    expect(write).toMatchObject({ written: true, person: false });
    expect([offAfterwards, box.users.get(1002)?.ACTIVE]).toEqual([false, true]);
    expect(routes()).toEqual([
      'GET /v3.1/Users/Search',
      'GET /v3.1/Users/{id}',
      'GET /v3.1/Users/Me',
      // The read right before the write.
      'GET /v3.1/Users/{id}',
      'PUT /v3.1/Users',
      'GET /v3.1/Users/{id}',
      // Reactivation: the step's read, the connector's email check, the PUT, the verification.
      'GET /v3.1/Users/{id}',
      'GET /v3.1/Users/{id}',
      'PUT /v3.1/Users',
      'GET /v3.1/Users/{id}',
    ]);
    expect(problems()).toEqual([]);
    expect(sent.filter((request) => request.method === 'PUT').map((request) => request.body)).toEqual([
      { ...record.fields, ACTIVE: false },
      record.fields,
    ]);
  });

  it('keeps to the document when the server pages 100 rows whatever top says and ignores the filter', async () => {
    // Prepare: 250 users, the leaver the 180th, no total sent back.
    const users = [
      { EMAIL_ADDRESS: 'admin@example.com', ADMINISTRATOR: true },
      ...Array.from({ length: 249 }, (_, i) => ({
        EMAIL_ADDRESS: i === 178 ? 'leaver@example.com' : `user${i}@example.com`,
      })),
    ];
    const { step, problems, sent } = await setUp({
      users,
      ignoreFilter: true,
      maxPageSize: 100,
      omitCountTotal: true,
    });

    // Act
    const lookup = await step({ step: 'lookup', email: 'leaver@example.com' });

    // Assess
    expect(lookup).toEqual({ found: true, userId: '1180' });
    expect(sent).toHaveLength(4);
    expect(problems()).toEqual([]);
  });

  it('keeps to the document when the search is refused and users are listed instead', async () => {
    // Prepare
    const { step, problems, routes } = await setUp({ searchRefusedWith: 404 });

    // Act
    const lookup = await step({ step: 'lookup', email: JANE });

    // Assess
    expect(lookup).toEqual({ found: true, userId: '1002' });
    expect(routes()).toEqual(['GET /v3.1/Users/Search', 'GET /v3.1/Users']);
    expect(problems()).toEqual([]);
  });

  it.each(['/v2.2', '/v3.0'])('searches as the %s swagger defines it', async (pathPrefix) => {
    // Prepare
    const { step, problems, sent } = await setUp({ pathPrefix });

    // Act
    const lookup = await step({ step: 'lookup', email: JANE });

    // Assess
    expect(lookup).toEqual({ found: true, userId: '1002' });
    expect(sent.map((request) => request.url.searchParams.get('email'))).toEqual([JANE]);
    expect(problems()).toEqual([]);
  });
});
