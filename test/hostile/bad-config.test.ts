import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EXIT } from '../../cli/main';
import { type InsightlySandbox, startInsightlySandbox } from '../../sandboxes/insightly';
import { run } from '../helpers/cli';
import { countCases } from './tally';

/**
 * The config file as an operator writes it, mistakes included: every mistake is exit 2
 * before anything is sent, and no message ever shows what a secret (or the config that
 * holds one) contains.
 */

const dir = mkdtempSync(join(tmpdir(), 'offboard-config-'));
process.env.OFFBOARD_LEDGER_DIR = join(dir, 'ledger');
const sandboxes: InsightlySandbox[] = [];

function file(name: string, content: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  return path;
}

async function sandbox(): Promise<InsightlySandbox> {
  const box = await startInsightlySandbox({ apiKeys: { 'key-good-0001': 1001 } });
  sandboxes.push(box);
  return box;
}

const offboardJane = (config: string) => run(['run', '--config', config, '--email', 'jane.doe@example.com']);

afterEach(async () => {
  await Promise.all(sandboxes.splice(0).map((b) => b.close()));
});

countCases('bad configs and secrets');

describe('a secret file that is not the JSON its type needs', () => {
  it('not JSON at all: named by line and column, its text never shown', async () => {
    // Prepare: an operator pasted an .env line instead of JSON
    const box = await sandbox();
    const secret = file('crm.secret', 'apiKey=supersecret123\n');
    const config = file('env-line.json', {
      connections: [{ name: 'crm', type: 'insightly', baseUrl: box.baseUrl, secretFile: secret }],
    });
    // Act
    const { code, stdout, stderr } = await offboardJane(config);
    // Assess
    expect(code).toBe(EXIT.usage);
    expect(stderr).toContain(`connection 'crm': secretFile ${secret}: not valid JSON: line 1, column 1:`);
    expect(stdout + stderr).not.toMatch(/=sup|supersecret|secret123/);
    expect(box.requests).toEqual([]);
  });

  it.each([
    ['a string', '"abc-secret-value"', 'not a string'],
    ['an array', '["abc-secret-value"]', 'not an array'],
    ['null', 'null', 'not null'],
  ])('JSON but %s: refused, without echoing it', async (_what, content, kind) => {
    const box = await sandbox();
    const secret = file('odd.secret.json', content);
    const config = file('odd-secret.json', {
      connections: [{ name: 'crm', type: 'insightly', baseUrl: box.baseUrl, secretFile: secret }],
    });
    const { code, stderr } = await offboardJane(config);
    expect(code).toBe(EXIT.usage);
    expect(stderr).toContain(
      `secretFile ${secret}: must hold a JSON object such as {"apiKey":"<Insightly API key>"}, ${kind}`,
    );
    expect(stderr).not.toContain('abc-secret-value');
    expect(box.requests).toEqual([]);
  });

  it('an object with the wrong fields: the fields are named, the values never', async () => {
    // Prepare: Rapid7's console login with the password left out, and a typo in its name
    const box = await sandbox();
    const secret = file('console.secret.json', { username: 'svc-offboard', pasword: 'hunter2-console' });
    const config = file('console.json', {
      connections: [
        { name: 'crm', type: 'insightly', baseUrl: box.baseUrl, secret: { apiKey: 'key-good-0001' } },
        { name: 'console', type: 'rapid7-insightvm', baseUrl: box.baseUrl, secretFile: secret },
      ],
    });
    // Act
    const { code, stderr } = await offboardJane(config);
    // Assess: today the connection failed inside the run (exit 1), after crm was offboarded
    expect(code).toBe(EXIT.usage);
    expect(stderr).toContain(
      `connection 'console': secretFile ${secret} is not what type rapid7-insightvm needs`,
    );
    expect(stderr).toContain('missing password');
    expect(stderr).not.toMatch(/hunter2|svc-offboard/);
    expect(box.requests).toEqual([]);
    expect(box.users.get(1002)?.ACTIVE).toBe(true);
  });
});

describe('an inline secret of the wrong shape', () => {
  it('is refused at load, naming the connection and the fields', async () => {
    const box = await sandbox();
    const config = file('typo.json', {
      connections: [
        { name: 'crm', type: 'insightly', baseUrl: box.baseUrl, secret: { apikey: 'supersecret-typo' } },
      ],
    });
    const { code, stderr } = await offboardJane(config);
    expect(code).toBe(EXIT.usage);
    expect(stderr).toContain(
      `connection 'crm': secret is not what type insightly needs: missing apiKey (expected {"apiKey":"<Insightly API key>"})`,
    );
    expect(stderr).not.toContain('supersecret-typo');
    expect(box.requests).toEqual([]);
  });

  it('a SCIM secret that is neither a token nor client credentials says both ways', async () => {
    const box = await sandbox();
    const config = file('scim.json', {
      connections: [
        { name: 'wiki', type: 'scim', baseUrl: box.baseUrl, secret: { clientId: 'wiki-client' } },
      ],
    });
    const { code, stderr } = await offboardJane(config);
    expect(code).toBe(EXIT.usage);
    expect(stderr).toContain('either (missing token) or (missing clientSecret, missing tokenUrl)');
    expect(stderr).not.toContain('wiki-client');
  });
});

describe('a config file that is not JSON', () => {
  it('says where, never what: an unquoted inline secret stays out of the message', async () => {
    // Prepare: the key pasted without its quotes, on line 7
    const box = await sandbox();
    const config = file(
      'unquoted.json',
      [
        '{',
        '  "connections": [',
        '    {',
        '      "name": "crm",',
        '      "type": "insightly",',
        `      "baseUrl": "${box.baseUrl}",`,
        '      "secret": { "apiKey": hunter2-inline-secret }',
        '    }',
        '  ]',
        '}',
      ].join('\n'),
    );
    // Act
    const { code, stderr } = await offboardJane(config);
    // Assess
    expect(code).toBe(EXIT.usage);
    expect(stderr).toContain(`config ${config}: not valid JSON: line 7, column 29: an unexpected character`);
    expect(stderr).not.toMatch(/hunter2|inline-secret/);
    expect(box.requests).toEqual([]);
  });

  it.each([
    [
      'a trailing comma',
      '{"connections": [],}',
      'line 1, column 20: expected a property name in double quotes (a trailing comma?)',
    ],
    [
      'a missing comma',
      '{"connections": []\n "taskEmails": []}',
      "line 2, column 2: expected ',' between two values",
    ],
    ['an unclosed brace', '{"connections": [', 'line 1, column 18: unexpected end of the text'],
    [
      'a line break inside a string',
      '{"a": "one\ntwo"}',
      'line 1, column 7: a string not closed on its line',
    ],
  ])('%s is located', async (_what, content, where) => {
    const { code, stderr } = await offboardJane(file('syntax.json', content));
    expect(code).toBe(EXIT.usage);
    expect(stderr).toContain(`not valid JSON: ${where}`);
  });
});

describe('a baseUrl (or OAuth tokenUrl) that would carry credentials or lose its path', () => {
  // Each URL is the sandbox's own, so a run that let one through would show in its requests.
  it.each([
    [
      'user:password@',
      (url: string) => url.replace('//', '//svc:p4ssw0rd-in-url@'),
      'must not hold a user name or password',
    ],
    [
      'a user name alone',
      (url: string) => url.replace('//', '//svc-user@'),
      'must not hold a user name or password',
    ],
    ['a query string', (url: string) => `${url}?key=abc`, 'must not have a query string'],
    ['a fragment', (url: string) => `${url}#users`, 'must not have a fragment'],
  ])('baseUrl with %s is refused', async (_what, baseUrl, message) => {
    const box = await sandbox();
    const config = file('url.json', {
      connections: [
        {
          name: 'crm',
          type: 'insightly',
          baseUrl: baseUrl(box.baseUrl),
          secret: { apiKey: 'key-good-0001' },
        },
      ],
    });
    const { code, stderr } = await offboardJane(config);
    expect(code).toBe(EXIT.usage);
    expect(stderr).toContain(`connections.0.baseUrl: ${message}`);
    expect(stderr).not.toMatch(/p4ssw0rd/);
    expect(box.requests).toEqual([]);
  });

  it('an OAuth tokenUrl with user:password@ is refused the same way', async () => {
    const box = await sandbox();
    const config = file('token-url.json', {
      connections: [
        {
          name: 'wiki',
          type: 'scim',
          baseUrl: box.baseUrl,
          secret: {
            clientId: 'c',
            clientSecret: 's',
            tokenUrl: `${box.baseUrl.replace('//', '//c:p4ssw0rd-in-url@')}/oauth/token`,
          },
        },
      ],
    });
    const { code, stderr } = await offboardJane(config);
    expect(code).toBe(EXIT.usage);
    expect(stderr).toContain('tokenUrl must not hold a user name or password');
    expect(stderr).not.toMatch(/p4ssw0rd/);
    expect(box.requests).toEqual([]);
  });
});

describe('TLS verification switched off', () => {
  const warning =
    "offboard: warning: connection 'crm': TLS certificate verification is OFF (tls.rejectUnauthorized=false); anyone on the network path can read its credentials";

  it.each([
    ['run', ['--email', 'nobody@example.com', '--dry-run']],
    ['reactivate', ['--email', 'nobody@example.com', '--dry-run']],
    ['audit', []],
  ])('offboard %s warns on stderr, naming the connection', async (command, extra) => {
    // Prepare
    const box = await sandbox();
    const config = file('insecure.json', {
      connections: [
        {
          name: 'crm',
          type: 'insightly',
          baseUrl: box.baseUrl,
          tls: { rejectUnauthorized: false },
          secret: { apiKey: 'key-good-0001' },
        },
      ],
    });
    // Act
    const { stderr } = await run([command, '--config', config, ...extra]);
    // Assess: said once (the config is read once, whether or not it names a stack)
    expect(stderr.split('\n')).toContain(warning);
    expect(stderr.split('\n').filter((line) => line === warning)).toHaveLength(1);
  });

  it('no warning for a connection that keeps verification on', async () => {
    const box = await sandbox();
    const config = file('secure.json', {
      connections: [
        { name: 'crm', type: 'insightly', baseUrl: box.baseUrl, secret: { apiKey: 'key-good-0001' } },
      ],
    });
    const { stderr } = await run(['run', '--config', config, '--email', 'nobody@example.com', '--json']);
    expect(stderr).not.toContain('warning');
  });
});
