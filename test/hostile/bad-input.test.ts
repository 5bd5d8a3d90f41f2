import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EXIT } from '../../cli/main';
import { type InsightlySandbox, startInsightlySandbox } from '../../sandboxes/insightly';
import { run } from '../helpers/cli';
import { countCases } from './tally';

/**
 * Bad input is refused, all of it, before anything is sent: each story below calls the
 * command as a person would, with a config whose connection is a live sandbox, and checks
 * the exit code, what stderr says, and that the sandbox saw no request at all.
 */

const dir = mkdtempSync(join(tmpdir(), 'offboard-refusals-'));
// This file's own ledger and tasks.
process.env.OFFBOARD_LEDGER_DIR = join(dir, 'ledger');
process.env.OFFBOARD_TASKS_DIR = join(dir, 'tasks');
const sandboxes: InsightlySandbox[] = [];

function file(name: string, content: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

/** A sandbox with jane.doe active, and a config whose one connection ('crm') points at it. */
async function crm(): Promise<{ box: InsightlySandbox; config: string }> {
  const box = await startInsightlySandbox({ apiKeys: { 'key-good-0001': 1001 } });
  sandboxes.push(box);
  const config = file(`config-${sandboxes.length}.json`, {
    connections: [
      { name: 'crm', type: 'insightly', baseUrl: box.baseUrl, secret: { apiKey: 'key-good-0001' } },
    ],
  });
  return { box, config };
}

const event = (fields: Record<string, unknown>, detail: Record<string, unknown> = {}) => ({
  id: 'evt-1',
  source: 'com.example.hr',
  'detail-type': 'Employee Terminated',
  detail: { email: 'jane.doe@example.com', employeeId: 'E-1002', ...detail },
  ...fields,
});

afterEach(async () => {
  await Promise.all(sandboxes.splice(0).map((b) => b.close()));
});

countCases('bad inputs (command line, events, files)');

describe('a single-value option given twice', () => {
  // Each line would run today, with the last value silently winning.
  const cases: Array<[string, (config: string) => string[]]> = [
    ['email', (c) => ['run', '--config', c, '--email', 'a@example.com', '--email', 'jane.doe@example.com']],
    ['config', (c) => ['run', '--config', c, '--config', c, '--email', 'jane.doe@example.com']],
    [
      'event',
      (c) => [
        'run',
        '--config',
        c,
        '--event',
        file('e1.json', event({})),
        '--event',
        file('e2.json', event({})),
      ],
    ],
    [
      'emails',
      (c) => [
        'run',
        '--config',
        c,
        '--emails',
        file('p1.txt', 'a@example.com'),
        '--emails',
        file('p2.txt', 'jane.doe@example.com'),
      ],
    ],
    [
      'connections',
      (c) => [
        'run',
        '--config',
        c,
        '--email',
        'jane.doe@example.com',
        '--connections',
        'x',
        '--connections',
        'crm',
      ],
    ],
    ['email', () => ['demo', '--email', 'a@example.com', '--email', 'jane.doe@example.com', '--json']],
    [
      'email',
      (c) => ['reactivate', '--config', c, '--email', 'a@example.com', '--email', 'jane.doe@example.com'],
    ],
    ['config', (c) => ['audit', '--config', c, '--config', c]],
    ['email', () => ['report', '--email', 'a@example.com', '--email', 'jane.doe@example.com']],
    [
      'since',
      () => ['report', '--email', 'jane.doe@example.com', '--since', '2026-01-01', '--since', '2026-02-01'],
    ],
    ['format', () => ['report', '--email', 'jane.doe@example.com', '--format', 'csv', '--format', 'table']],
  ];

  it.each(cases)('--%s twice is refused, naming it, with nothing sent (%#)', async (flag, args) => {
    // Prepare
    const { box, config } = await crm();
    // Act
    const { code, stdout, stderr } = await run(args(config));
    // Assess
    expect(code).toBe(EXIT.usage);
    expect(stderr).toContain(`--${flag} is given more than once`);
    expect(stdout).toBe('');
    expect(box.requests).toEqual([]);
  });

  it('a repeated switch (--json twice) is harmless and accepted', async () => {
    const { config } = await crm();
    const { code } = await run([
      'run',
      '--config',
      config,
      '--email',
      'nobody@example.com',
      '--json',
      '--json',
    ]);
    expect(code).toBe(EXIT.ok);
  });
});

describe('--help', () => {
  const commands = ['run', 'demo', 'reactivate', 'audit', 'report', 'task'] as const;

  it.each(commands)(
    'offboard %s --help and -h print that command’s usage on stdout, exit 0',
    async (command) => {
      for (const flag of ['--help', '-h']) {
        // Act
        const { code, stdout, stderr } = await run([command, flag]);
        // Assess
        expect(code, flag).toBe(EXIT.ok);
        expect(stdout).toMatch(new RegExp(`^Usage:\\n  offboard ${command} `));
        expect(stderr).toBe('');
      }
    },
  );

  it('offboard help report is the same text; help for an unknown command is an error', async () => {
    expect(await run(['help', 'report'])).toEqual(await run(['report', '--help']));
    const unknown = await run(['help', 'offboard-everyone']);
    expect(unknown.code).toBe(EXIT.usage);
    expect(unknown.stderr).toContain("unknown command 'offboard-everyone'");
  });

  it('--help wins over the rest of the line: nothing runs', async () => {
    const { box, config } = await crm();
    const { code, stdout } = await run([
      'run',
      '--config',
      config,
      '--email',
      'jane.doe@example.com',
      '--help',
    ]);
    expect(code).toBe(EXIT.ok);
    expect(stdout).toContain('--emails <file>');
    expect(box.requests).toEqual([]);
  });
});

describe('an --event file that is not an HR event', () => {
  const cases: Array<[string, string, string]> = [
    ['null', 'null', 'not null'],
    ['a number', '42', 'not a number'],
    ['a string', '"jane.doe@example.com"', 'not a string'],
    ['an array', JSON.stringify([event({})]), 'not an array'],
    [
      'not JSON',
      '{ "detail-type": "Employee Terminated",\n  detail: {} }',
      'not valid JSON: line 2, column 3',
    ],
    ['empty', '', 'not valid JSON: line 1, column 1: empty'],
    ['the console input', JSON.stringify({ email: 'jane.doe@example.com' }), 'has no "detail-type"'],
  ];

  it.each(cases)(
    'holding %s is refused, naming the file and what is wrong',
    async (_what, content, problem) => {
      // Prepare
      const { box, config } = await crm();
      const path = file('event.json', content);
      // Act
      const { code, stderr } = await run(['run', '--config', config, '--event', path]);
      // Assess
      expect(code).toBe(EXIT.usage);
      expect(stderr).toContain(`--event ${path}: `);
      expect(stderr).toContain(problem);
      expect(box.requests).toEqual([]);
    },
  );

  it('that is a directory is refused, naming it', async () => {
    const { box, config } = await crm();
    const path = join(dir, 'event-dir');
    mkdirSync(path, { recursive: true });
    const { code, stderr } = await run(['run', '--config', config, '--event', path]);
    expect(code).toBe(EXIT.usage);
    expect(stderr).toContain(`--event ${path}: cannot read`);
    expect(box.requests).toEqual([]);
  });

  it('with an invalid email in its detail is refused before any sandbox or ledger is touched', async () => {
    const { box, config } = await crm();
    const path = file('bad-email-event.json', event({}, { email: 'jane.doe at example.com' }));
    const { code, stderr } = await run(['run', '--config', config, '--event', path]);
    expect(code).toBe(EXIT.usage);
    expect(stderr).toContain(`--event ${path}: Input.Invalid: invalid HR event: detail.email:`);
    expect(box.requests).toEqual([]);
  });
});

describe('an HR event that asks for a dry run', () => {
  it('with --dry-run beside --event is refused: the event says what to do', async () => {
    // Prepare
    const { box, config } = await crm();
    const path = file('plain-event.json', event({}));
    // Act
    const { code, stderr } = await run(['run', '--config', config, '--event', path, '--dry-run']);
    // Assess: today this ran for real
    expect(code).toBe(EXIT.usage);
    expect(stderr).toContain('put "dryRun": true or "connections": [...] in the event\'s detail');
    expect(box.requests).toEqual([]);
  });

  it('on the envelope (not in detail) is refused, telling where it goes', async () => {
    const { box, config } = await crm();
    const path = file('envelope-dry-run.json', event({ dryRun: true }));
    const { code, stderr } = await run(['run', '--config', config, '--event', path]);
    expect(code).toBe(EXIT.usage);
    expect(stderr).toContain('dryRun: not read on the envelope: put it in detail (detail.dryRun)');
    expect(box.requests).toEqual([]);
  });

  it.each([
    ['dry_run', { dry_run: true }],
    ['effectiveDate', { effectiveDate: '2099-01-01T00:00:00Z' }],
  ])('misspelt in detail (%s) is refused, not ignored into a real run today', async (field, extra) => {
    // Prepare
    const { box, config } = await crm();
    const path = file(`near-miss-${field}.json`, event({}, extra));
    // Act
    const { code, stderr } = await run(['run', '--config', config, '--event', path]);
    // Assess
    expect(code).toBe(EXIT.usage);
    expect(stderr).toContain(`detail.${field}: not a field offboard reads: did you mean`);
    expect(box.requests).toEqual([]);
    expect(box.users.get(1002)?.ACTIVE).toBe(true);
  });

  it('in detail writes nothing, and does not make the real event a duplicate', async () => {
    // Prepare
    const { box, config } = await crm();
    const dry = file('dry-event.json', event({ id: 'evt-dry' }, { dryRun: true }));
    const real = file('real-event.json', event({ id: 'evt-real' }));
    // Act
    const tried = await run(['run', '--config', config, '--event', dry, '--json']);
    // Assess: a dry run, nothing written
    expect(tried.code).toBe(EXIT.ok);
    expect(JSON.parse(tried.stdout)).toMatchObject({
      dryRun: true,
      connections: [{ name: 'crm', outcome: 'would-deactivate' }],
    });
    expect(box.requests.filter((r) => r.method !== 'GET')).toEqual([]);
    expect(box.users.get(1002)?.ACTIVE).toBe(true);
    // Act: the real event, same person and date, runs for real
    const done = await run(['run', '--config', config, '--event', real, '--json']);
    // Assess
    expect(JSON.parse(done.stdout)).toMatchObject({
      dryRun: false,
      connections: [{ name: 'crm', outcome: 'deactivated' }],
    });
    expect(box.users.get(1002)?.ACTIVE).toBe(false);
  });
});

describe('invalid input ends in exit 2 and a sentence, never a stack trace or exit 1', () => {
  it.each([
    // Bulk runs go connection by connection now: the option they once took is refused, not ignored.
    ['--concurrency, which bulk runs no longer take', ['--concurrency', '10'], '--concurrency'],
    [
      'an unknown --connections name',
      ['--connections', 'crm,salesforce'],
      "unknown connection(s) 'salesforce'",
    ],
    ['an empty --connections name', ['--connections', 'crm,,'], "--connections 'crm,,' has an empty name"],
  ])('run --emails with %s', async (_what, extra, message) => {
    // Prepare
    const { box, config } = await crm();
    const people = file('people.txt', 'jane.doe@example.com\n');
    // Act
    const { code, stderr } = await run(['run', '--config', config, '--emails', people, ...extra]);
    // Assess
    expect(code).toBe(EXIT.usage);
    expect(stderr).toContain(message);
    expect(box.requests).toEqual([]);
  });

  it('run --emails with a JSON entry marked for a dry run: refused, not run for real', async () => {
    // Prepare
    const { box, config } = await crm();
    const people = file('marked.json', [{ email: 'jane.doe@example.com', dryRun: true }]);
    // Act
    const { code, stderr } = await run(['run', '--config', config, '--emails', people]);
    // Assess
    expect(code).toBe(EXIT.usage);
    expect(stderr).toContain('item 1: "dryRun" is not read per person');
    expect(box.requests).toEqual([]);
  });

  it.each([
    ['run', ['--email', 'jane.doe@example.com']],
    ['reactivate', ['--email', 'jane.doe@example.com']],
  ])('%s with an unknown --connections name', async (command, extra) => {
    const { box, config } = await crm();
    const { code, stderr } = await run([
      command,
      '--config',
      config,
      ...extra,
      '--connections',
      'salesforce',
    ]);
    expect(code).toBe(EXIT.usage);
    expect(stderr).toContain(
      "Input.Invalid: invalid input: unknown connection(s) 'salesforce'; configured: crm",
    );
    expect(box.requests).toEqual([]);
  });

  it('an --emails file or a --config that is a directory', async () => {
    const { box, config } = await crm();
    const folder = join(dir, 'a-folder');
    mkdirSync(folder, { recursive: true });
    const emails = await run(['run', '--config', config, '--emails', folder]);
    expect(emails.code).toBe(EXIT.usage);
    expect(emails.stderr).toContain(`--emails ${folder}: cannot read`);
    const configDir = await run(['run', '--config', folder, '--email', 'jane.doe@example.com']);
    expect(configDir.code).toBe(EXIT.usage);
    expect(configDir.stderr).toContain(`config ${folder}: cannot read`);
    expect(box.requests).toEqual([]);
  });

  it.each(['5', 'last tuesday', '2026-13-45', '2026-11-01T09:00'])('report --since %j', async (since) => {
    const { code, stderr } = await run(['report', '--email', 'jane.doe@example.com', '--since', since]);
    expect(code).toBe(EXIT.usage);
    expect(stderr).toContain(`--since ${since} is not a date`);
  });

  it('report --email that is not an address, and --json with --format csv', async () => {
    const bad = await run(['report', '--email', 'jane.doe at example.com']);
    expect(bad.code).toBe(EXIT.usage);
    expect(bad.stderr).toContain("report: --email: 'jane.doe at example.com' is not a valid email address");
    const both = await run(['report', '--email', 'jane.doe@example.com', '--json', '--format', 'csv']);
    expect(both.code).toBe(EXIT.usage);
    expect(both.stderr).toContain('ask for two formats');
  });

  it('demo --email that is not an address', async () => {
    const { code, stdout, stderr } = await run(['demo', '--email', 'nobody', '--json']);
    expect(code).toBe(EXIT.usage);
    expect(stderr).toContain("demo: --email: 'nobody' is not a valid email address");
    expect(stdout).toBe('');
  });

  it('a stray argument, or an unknown option, names it and prints that command’s usage', async () => {
    const stray = await run(['audit', 'now']);
    expect(stray.code).toBe(EXIT.usage);
    expect(stray.stderr).toContain("audit: Unexpected argument 'now'");
    expect(stray.stderr).toContain('offboard audit --config <file>');
    const unknown = await run(['report', '--emial', 'jane.doe@example.com']);
    expect(unknown.code).toBe(EXIT.usage);
    expect(unknown.stderr).toContain("Unknown option '--emial'");
  });
});
