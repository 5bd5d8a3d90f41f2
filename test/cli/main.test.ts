import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DEMO_CONFIG, EXIT } from '../../cli/main';
import { CONNECTION_TYPES, PERSON_DEACTIVATED_TYPES } from '../../lambdas/shared/connections';
import type { OffboardSummary } from '../../lambdas/shared/summary';
import { type InsightlySandbox, startInsightlySandbox } from '../../sandboxes/insightly';
import { run } from '../helpers/cli';

/** The command line as a user meets it: arguments in, text and an exit code out. */

const dir = mkdtempSync(join(tmpdir(), 'offboard-cli-'));
// Each story its own ledger: the safety brake counts every real offboarding in it, and
// this file's stories together switch off more people than its default limit of 25 an hour.
let ledgers = 0;
beforeEach(() => {
  process.env.OFFBOARD_LEDGER_DIR = join(dir, `ledger-${++ledgers}`);
});
const sandboxes: InsightlySandbox[] = [];

function configFile(name: string, content: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

/** A config with one Insightly connection to `box`, with the key the sandbox accepts. */
function insightlyConfig(file: string, box: InsightlySandbox): string {
  return configFile(file, {
    connections: [
      {
        name: 'insightly-prod',
        type: 'insightly',
        baseUrl: box.baseUrl,
        secret: { apiKey: 'key-good-0001' },
      },
    ],
  });
}

async function sandbox(): Promise<InsightlySandbox> {
  const box = await startInsightlySandbox({ apiKeys: { 'key-good-0001': 1001 } });
  sandboxes.push(box);
  return box;
}

afterEach(async () => {
  await Promise.all(sandboxes.splice(0).map((b) => b.close()));
});

const idOf = (box: InsightlySandbox, email: string) =>
  [...box.users.values()].find((u) => u.EMAIL_ADDRESS === email)?.USER_ID ?? 0;

describe('offboard run', () => {
  it('--json prints the summary alone on stdout and exits 0', async () => {
    // Prepare
    const box = await sandbox();
    const config = insightlyConfig('ok.json', box);
    // Act
    const { code, stdout } = await run([
      'run',
      '--config',
      config,
      '--email',
      'jane.doe@example.com',
      '--json',
    ]);
    // Assess
    expect(code).toBe(EXIT.ok);
    expect(JSON.parse(stdout)).toEqual({
      email: 'jane.doe@example.com',
      dryRun: false,
      status: 'succeeded',
      connections: [{ name: 'insightly-prod', type: 'insightly', outcome: 'deactivated', userId: '1002' }],
    });
    expect(box.users.get(1002)?.ACTIVE).toBe(false);
  });

  it('prints a table and progress without --json, and exits 1 when a connection failed', async () => {
    const box = await sandbox();
    const config = configFile('partial.json', {
      connections: [
        {
          name: 'insightly-prod',
          type: 'insightly',
          baseUrl: box.baseUrl,
          secret: { apiKey: 'key-good-0001' },
        },
        {
          name: 'insightly-old',
          type: 'insightly',
          baseUrl: box.baseUrl,
          secret: { apiKey: 'key-revoked-0002' },
        },
      ],
    });
    const { code, stdout, stderr } = await run([
      'run',
      '--config',
      config,
      '--email',
      'jane.doe@example.com',
    ]);
    expect(code).toBe(EXIT.failed);
    expect(stderr).toContain('insightly-prod: verifying');
    expect(stdout).toMatch(/insightly-prod\s+insightly\s+deactivated\s+1002/);
    expect(stdout).toMatch(/insightly-old\s+insightly\s+failed\s+-\s+Vendor\.AuthFailed/);
    expect(stdout).toContain('Status: partial (1 of 2 connections failed)');
    // Secret values never reach the output.
    expect(stdout + stderr).not.toMatch(/key-(good|revoked)-000/);
  });

  it('--dry-run writes nothing', async () => {
    const box = await sandbox();
    const config = insightlyConfig('dry.json', box);
    const { code, stdout } = await run([
      'run',
      '--config',
      config,
      '--email',
      'jane.doe@example.com',
      '--dry-run',
      '--json',
    ]);
    expect(code).toBe(EXIT.ok);
    expect(JSON.parse(stdout).connections[0].outcome).toBe('would-deactivate');
    expect(box.requests.filter((r) => r.method !== 'GET')).toEqual([]);
  });

  it('exits 2 on an invalid email, and sends no request', async () => {
    const box = await sandbox();
    const config = insightlyConfig('bad-email.json', box);
    const { code, stderr } = await run(['run', '--config', config, '--email', 'jane.doe at example.com']);
    expect(code).toBe(EXIT.usage);
    expect(stderr).toContain(
      "Input.Invalid: invalid input: 'jane.doe at example.com' is not a valid email address",
    );
    expect(box.requests).toEqual([]);
  });

  it('exits 2 naming the problem in a bad config, before any request', async () => {
    const box = await sandbox();
    const cases: Array<[unknown, string]> = [
      ['{ not json', 'not valid JSON'],
      [{ connections: [] }, 'connections: list at least one connection'],
      [{ connections: [{ name: 'x', type: 'zendesk', baseUrl: box.baseUrl }] }, 'connections.0.type'],
      [
        { connections: [{ name: 'x', type: 'insightly', baseUrl: 'http://api.example.com/v3.1' }] },
        'must use https',
      ],
      [
        { connections: [{ name: 'x', type: 'insightly', baseUrl: box.baseUrl, secretId: 'prod/x' }] },
        'a local run needs "secret" or "secretFile"',
      ],
    ];
    for (const [index, [content, expected]] of cases.entries()) {
      const { code, stderr } = await run([
        'run',
        '--config',
        configFile(`bad-${index}.json`, content),
        '--email',
        'a@b.io',
      ]);
      expect(code, String(expected)).toBe(EXIT.usage);
      expect(stderr).toContain(expected);
    }
    expect(box.requests).toEqual([]);
  });

  it('exits 2 on a missing flag or an unknown command', async () => {
    expect((await run(['run', '--email', 'a@b.io'])).stderr).toContain('--config <file> is required');
    expect((await run(['run', '--email', 'a@b.io'])).code).toBe(EXIT.usage);
    expect((await run(['offboard-everyone'])).code).toBe(EXIT.usage);
  });

  it('reads a secret from secretFile and starts a sandbox when baseUrl is absent', async () => {
    const secretPath = configFile('insightly.secret.json', { apiKey: 'sandbox-api-key' });
    const config = configFile('sandboxed.json', {
      connections: [{ name: 'insightly-sandbox', type: 'insightly', secretFile: secretPath }],
    });
    const { code, stdout } = await run([
      'run',
      '--config',
      config,
      '--email',
      'marcus.lee@example.com',
      '--json',
    ]);
    expect(code).toBe(EXIT.ok);
    expect(JSON.parse(stdout).connections[0]).toMatchObject({ outcome: 'deactivated' });
  });
});

describe('offboard run --emails', () => {
  it("prints each connection's totals and every failure, more than the summary names", async () => {
    // Prepare: 30 leavers and someone unknown; the second connection's key was revoked
    const people = Array.from({ length: 30 }, (_, i) => `leaver${String(i).padStart(2, '0')}@example.com`);
    const box = await startInsightlySandbox({
      apiKeys: { 'key-good-0001': 1001 },
      users: [
        { EMAIL_ADDRESS: 'admin@example.com', ADMINISTRATOR: true },
        ...people.map((email) => ({ EMAIL_ADDRESS: email })),
      ],
    });
    sandboxes.push(box);
    const config = configFile('bulk.json', {
      connections: [
        {
          name: 'insightly-prod',
          type: 'insightly',
          baseUrl: box.baseUrl,
          secret: { apiKey: 'key-good-0001' },
        },
        {
          name: 'insightly-old',
          type: 'insightly',
          baseUrl: box.baseUrl,
          secret: { apiKey: 'key-revoked-0002' },
        },
      ],
      // 31 people: past the default brake of 25 (test/cli/brake.test.ts tells that story).
      brake: { limit: 100, windowMinutes: 60 },
    });
    const list = configFile('leavers.txt', [...people, 'nobody@example.com'].join('\n'));
    // Act
    const { code, stdout, stderr } = await run(['run', '--config', config, '--emails', list]);
    // Assess
    expect(code).toBe(EXIT.failed);
    expect(stdout).toContain('Offboarded 31 people');
    expect(stdout).toMatch(/^ {2}insightly-prod: deactivated 30, not-found 1$/m);
    expect(stdout).toMatch(/^ {2}insightly-old: failed 31$/m);
    expect(stdout).toContain('Status: partial');
    const failures = stdout
      .split('\n')
      .filter((line) => /^ {2}failed: \S+@example\.com: insightly-old: Vendor\.AuthFailed: /.test(line));
    expect(failures).toHaveLength(31);
    expect(people.every((email) => box.users.get(idOf(box, email))?.ACTIVE === false)).toBe(true);
    expect(stdout + stderr).not.toMatch(/key-(good|revoked)-000/);
  });

  it('--json prints the bulk summary alone on stdout', async () => {
    const box = await sandbox();
    const config = insightlyConfig('bulk-json.json', box);
    const list = configFile(
      'two.csv',
      'name,email\n"Doe, Jane",jane.doe@example.com\nLee,marcus.lee@example.com\n',
    );
    const { code, stdout } = await run(['run', '--config', config, '--emails', list, '--json']);
    expect(code).toBe(EXIT.ok);
    expect(JSON.parse(stdout)).toMatchObject({
      dryRun: false,
      people: 2,
      status: 'succeeded',
      outcomes: { deactivated: 2 },
      connections: [{ name: 'insightly-prod', type: 'insightly', outcomes: { deactivated: 2 }, failed: 0 }],
      failed: [],
      failedCount: 0,
    });
  });
});

describe('offboard run against every connection type', () => {
  it('config/sandboxes.json: every connection deactivated, through the real ASL', async () => {
    // Act: no baseUrl anywhere, so each connection gets its built-in sandbox
    const { code, stdout } = await run([
      'run',
      '--config',
      'config/sandboxes.json',
      '--email',
      'jane.doe@example.com',
      '--json',
    ]);
    // Assess
    const summary = JSON.parse(stdout) as OffboardSummary;
    expect(new Set(summary.connections.map((c) => c.type))).toEqual(new Set(CONNECTION_TYPES));
    expect(summary.connections.map((c) => `${c.name}:${c.outcome}`)).toEqual(
      summary.connections.map((c) => `${c.name}:deactivated`),
    );
    expect(summary.status).toBe('succeeded');
    expect(code).toBe(EXIT.ok);
  });
});

describe('offboard demo', () => {
  it('shows a dry run, the real run and a harmless re-run, on every surface', async () => {
    // Act
    const { code, stdout } = await run(['demo', '--json']);
    // Assess: one summary a run, every connection of the demo in each
    expect(code).toBe(EXIT.ok);
    const [dry, real, again] = JSON.parse(stdout) as OffboardSummary[];
    const names = DEMO_CONFIG.connections.map((c) => c.name);
    expect(names.length).toBeGreaterThanOrEqual(3);
    const outcomes = (s: OffboardSummary | undefined) => s?.connections.map((c) => `${c.name}:${c.outcome}`);
    expect(outcomes(dry)).toEqual(names.map((n) => `${n}:would-deactivate`));
    expect(outcomes(real)).toEqual(names.map((n) => `${n}:deactivated`));
    expect(outcomes(again)).toEqual(names.map((n) => `${n}:already-inactive`));
  });

  it('as text, shows the record kept whole and counts one write a surface the API switches off', async () => {
    const { stdout } = await run(['demo']);
    expect(stdout).toContain('"ACTIVE":false');
    const byApi = DEMO_CONFIG.connections.filter((c) => !PERSON_DEACTIVATED_TYPES.has(c.type)).length;
    const writes = byApi === 1 ? '1 write' : `${byApi} writes`;
    expect(stdout).toMatch(new RegExp(`Requests to the sandboxes: \\d+ \\(${writes}, no DELETE\\)`));
  });
});

describe('the installed command', () => {
  it('`offboard run --json` from a shell: pure JSON on stdout, exit code 0, no log lines', async () => {
    // Prepare
    const box = await sandbox();
    const config = insightlyConfig('bin.json', box);
    const { POWERTOOLS_LOG_LEVEL: _ignored, ...env } = process.env;
    // Act
    const child = spawn(
      process.execPath,
      ['bin/offboard-cli.mjs', 'run', '--config', config, '--email', 'jane.doe@example.com', '--json'],
      {
        env,
      },
    );
    let stdout = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    const code = await new Promise((resolve) => child.on('close', resolve));
    // Assess
    expect(code).toBe(0);
    expect(JSON.parse(stdout).status).toBe('succeeded');
  });
});

describe('AWS out of reach', () => {
  it('is said in one line, exit 1, not a stack trace', async () => {
    // Prepare: an endpoint nothing listens on, and credentials that would otherwise do
    vi.stubEnv('AWS_ENDPOINT_URL', 'http://127.0.0.1:9');
    vi.stubEnv('AWS_REGION', 'eu-west-1');
    vi.stubEnv('AWS_ACCESS_KEY_ID', 'test');
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'test');
    vi.stubEnv('AWS_MAX_ATTEMPTS', '1');
    try {
      // Act
      const { code, stderr } = await run([
        'report',
        '--stack',
        'Offboard',
        '--email',
        'jane.doe@example.com',
      ]);
      // Assess
      expect(code).toBe(EXIT.failed);
      expect(stderr).toMatch(/^offboard: report: .*ECONNREFUSED.* \(OFFBOARD_DEBUG=1 shows where\)$/);
    } finally {
      vi.unstubAllEnvs();
    }
  });
});

describe('offboard <command> --help', () => {
  it('every command answers --help and -h with its own usage, exit 0, whatever else is on the line', async () => {
    for (const command of ['run', 'demo', 'reactivate', 'audit', 'report', 'status', 'task', 'retry']) {
      for (const flag of ['--help', '-h']) {
        // Act: help beside options the command would otherwise refuse
        const { code, stdout, stderr } = await run([command, '--no-such-option', flag]);
        // Assess
        expect({ command, flag, code, stderr }).toEqual({ command, flag, code: EXIT.ok, stderr: '' });
        expect(stdout).toContain(`offboard ${command} `);
        expect(stdout).toContain('-h, --help');
      }
    }
  });
});
