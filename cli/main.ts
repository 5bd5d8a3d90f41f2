import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { type ParseArgsOptionsConfig, parseArgs } from 'node:util';
import { z } from 'zod';
import type { BulkResult } from '../lambdas/shared/bulk';
import { InvalidInputError } from '../lambdas/shared/errors';
import type { Ledger } from '../lambdas/shared/ledger';
import { parsePeople } from '../lambdas/shared/people';
import { normalizeInput, offboardRequestSchema, TERMINATION_DETAIL_TYPE } from '../lambdas/shared/request';
import type { BulkSummary, OffboardSummary } from '../lambdas/shared/summary';
import { stripControl } from '../lambdas/shared/text';
import { type ConfigFile, ConfigFileError, loadConfigFile } from '../lib/config';
import { parseJson } from '../lib/json';
// What a command runs (the state machine interpreter, the connectors and their AWS SDK
// clients, the sandboxes, SQLite) is imported when it runs: `offboard help` loads none of it.
import type { PreparedConnections } from '../local/connections';
import type { LocalLedger } from '../local/ledger';
import type { LocalRunResult, ProgressEvent } from '../local/runner';
import { LocalTaskStore, type PersonTask, type PersonTaskResult } from '../local/tasks';

// cli/format.ts imports the ledger, and with it the AWS SDK: loaded with what a command runs
// (prepareRun, demo, report), before anything is printed.
let { formatLedger, formatLedgerCsv, formatProgress, formatSummary } = {} as typeof import('./format');
async function loadFormat(): Promise<void> {
  ({ formatLedger, formatLedgerCsv, formatProgress, formatSummary } = await import('./format'));
}

/** Exit codes: a script can tell "a vendor failed" from "you called me wrong". */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/** Each command's own help: what `offboard <command> --help` prints. */
const COMMAND_HELP = {
  run: `Usage:
  offboard run --config <file> --email <email> [--dry-run] [--connections a,b] [--json]
  offboard run --config <file> --emails <file> [--dry-run] [--connections a,b] [--json]
  offboard run --config <file> --event <employee-terminated.json> [--json]

Offboards one person (--email), or many (--emails), through the real state machine, executed
locally. Every connection keeps its vendor's rate limit across all runs. Connections without
"baseUrl" in the config use a built-in sandbox.

  --config <file>      the connections (name, type, baseUrl, secret or secretFile)
  --email <email>      the person to offboard
  --emails <file>      many people: one email a line, a CSV with an "email" column, or a JSON
                       array; every entry is checked before anyone is offboarded
  --event <file>       the HR system's EventBridge event (schemas/employee-terminated.schema.json):
                       a future effectiveAt waits, a resent event is a recorded duplicate;
                       dryRun and connections go in the event's detail
  --dry-run            look everything up and say what would happen; write nothing
  --connections a,b    only these configured connections
  --json               one JSON document on stdout, nothing else`,
  demo: `Usage:
  offboard demo [--email <email>] [--json]

Starts a built-in sandbox for every vendor surface and offboards one person on all of them:
a dry run, the real run, and a re-run that finds nothing left to do.

  --email <email>      who (default jane.doe@example.com, a sample user of every sandbox)
  --json               the three summaries as one JSON array on stdout`,
  reactivate: `Usage:
  offboard reactivate --config <file> --email <email> [--dry-run] [--connections a,b] [--json]

Undoes a mistaken termination: restores each account the ledger shows this workflow switched
off, exactly as it was before (left alone if already back on).

  --config <file>      the connections
  --email <email>      the person to reactivate
  --dry-run            say what would be restored; write nothing
  --connections a,b    only these configured connections
  --json               one JSON document on stdout, nothing else`,
  audit: `Usage:
  offboard audit --config <file> [--remediate] [--json]

Re-checks everyone the ledger shows offboarded, on every connection: drift (an account active
again) is reported and recorded. Deployed, the same state machine runs on a schedule.
Exit 1 when drift was found, or an account could not be checked.

  --config <file>      the connections
  --remediate          switch drifted accounts off again
  --json               the totals as JSON on stdout`,
  report: `Usage:
  offboard report --email <email> [--since <date>] [--json | --format csv]

Prints the evidence the ledger holds for a person: every connection's outcome, the account as
it was before, when, and which run (local runs: .offboard/ledger).

  --email <email>      whose evidence
  --since <date>       only entries from then on (2026-11-01, or ISO 8601 with an offset)
  --format <f>         table (default), json or csv (csv and json carry the before-state)
  --json               same as --format json`,
  task: `Usage:
  offboard task complete <token>
  offboard task fail <token> --reason <why>

Answers a task the workflow gave a person (a vendor whose API cannot switch an account off):
for a local run waiting in another terminal, or, with AWS credentials, for a deployed
execution (Step Functions task token).

  --reason <why>       with fail: why the account could not be switched off`,
} as const;
type CommandName = keyof typeof COMMAND_HELP;

const EXIT_CODES = 'Exit codes: 0 no connection failed, 1 a connection failed, 2 invalid input or config.';

const USAGE = `offboard: switch off a departing employee's SaaS accounts, provably.

Usage:
${Object.values(COMMAND_HELP)
  .flatMap((help) => help.split('\n\n', 1)[0]?.split('\n').slice(1) ?? [])
  .join('\n')}
  offboard help [<command>]

run         Offboards one person, many (--emails), or an HR system's event (--event).
demo        Offboards a sample person on a built-in sandbox of every vendor surface.
reactivate  Undoes a mistaken termination, restoring each account as the ledger kept it.
audit       Re-checks everyone offboarded: is every account still off?
report      Prints the evidence the ledger holds for a person.
task        Answers a task the workflow gave a person.

offboard <command> --help tells more about each.

${EXIT_CODES}`;

/** One command's help, as `offboard <command> --help` and `offboard help <command>` print it. */
function commandHelp(command: CommandName): string {
  return `${COMMAND_HELP[command]}\n  -h, --help           this help\n\n${EXIT_CODES}`;
}

function isCommand(name: string | undefined): name is CommandName {
  return name !== undefined && Object.hasOwn(COMMAND_HELP, name);
}

/** Where the command writes; tests pass their own. */
export interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
}

const processIo: Io = {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
};

const COMMANDS: Record<CommandName, (args: string[], io: Io) => Promise<number>> = {
  run: runCommand,
  demo: demoCommand,
  reactivate: reactivateCommand,
  audit: auditCommand,
  report: reportCommand,
  task: taskCommand,
};

/** Runs the command line and returns the exit code. */
export async function main(argv: string[], io: Io = processIo): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === 'help' || command === '--help' || command === '-h') {
      const [topic] = rest;
      if (topic === undefined) io.out(USAGE);
      else if (isCommand(topic)) io.out(commandHelp(topic));
      else throw new UsageError(`help: unknown command '${topic}'\n\n${USAGE}`);
      return EXIT.ok;
    }
    if (!isCommand(command)) {
      io.err(command ? `offboard: unknown command '${command}'\n\n${USAGE}` : USAGE);
      return EXIT.usage;
    }
    if (asksForHelp(rest)) {
      io.out(commandHelp(command));
      return EXIT.ok;
    }
    return await COMMANDS[command](rest, io);
  } catch (error) {
    if (error instanceof UsageError || error instanceof ConfigFileError) {
      // Line by line: a usage text keeps its lines, a quoted input loses its escape sequences.
      io.err(`offboard: ${error.message.split('\n').map(stripControl).join('\n')}`);
      return EXIT.usage;
    }
    throw error;
  }
}

class UsageError extends Error {}

/** `--help` or `-h` anywhere before a `--`: whatever else the line holds, the user wants help. */
function asksForHelp(args: readonly string[]): boolean {
  const end = args.indexOf('--');
  return (end === -1 ? args : args.slice(0, end)).some((arg) => arg === '--help' || arg === '-h');
}

/**
 * Parses a command's options. node:util's parseArgs keeps the last of a repeated option;
 * here a repeated value (`--email a --email b`) is an error naming it, since silently
 * taking one of the two could offboard the wrong person or read the wrong config.
 */
function parse<T extends ParseArgsOptionsConfig>(command: CommandName, args: string[], options: T) {
  const parsed = usageOnError(command, () =>
    parseArgs({ args, options, allowPositionals: false, strict: true, tokens: true }),
  );
  const given = new Set<string>();
  for (const token of parsed.tokens) {
    if (token.kind !== 'option') continue;
    const option = options[token.name];
    if (given.has(token.name) && option?.type === 'string' && !option.multiple) {
      const hint = token.name === 'email' ? ' (for many people, list them in a file: --emails <file>)' : '';
      throw new UsageError(`${command}: --${token.name} is given more than once; give it once${hint}`);
    }
    given.add(token.name);
  }
  return { values: parsed.values, given };
}

/** parseArgs' own errors (an unknown option, a missing value), with the command's help. */
function usageOnError<R>(command: CommandName, parse: () => R): R {
  try {
    return parse();
  } catch (error) {
    throw new UsageError(`${command}: ${(error as Error).message}\n\n${commandHelp(command)}`);
  }
}

/** A comma-separated list of connection names, with no empty name. */
function connectionList(command: CommandName, value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  const names = value.split(',').map((name) => name.trim());
  if (names.some((name) => name === ''))
    throw new UsageError(`${command}: --connections '${value}' has an empty name; give names like a,b`);
  return names;
}

/**
 * Checks the request as the state machine's Normalize state will, before anything is
 * started: a mistake is exit 2 with nothing sent, no sandbox started and no ledger opened.
 */
function checkRequest(input: unknown, config: ConfigFile, where: string): void {
  try {
    normalizeInput(input, config.connections);
  } catch (error) {
    if (error instanceof InvalidInputError) throw new UsageError(`${where}${error.name}: ${error.message}`);
    throw error;
  }
}

/** Reads the config, and warns of a connection whose TLS certificate is not verified. */
function loadConfig(path: string, io: Io): ConfigFile {
  const config = loadConfigFile(path);
  for (const connection of config.connections) {
    if (
      connection.tls &&
      'rejectUnauthorized' in connection.tls &&
      connection.tls.rejectUnauthorized === false
    ) {
      io.err(
        `offboard: warning: connection '${connection.name}': TLS certificate verification is OFF (tls.rejectUnauthorized=false); anyone on the network path can read its credentials`,
      );
    }
  }
  return config;
}

async function runCommand(args: string[], io: Io): Promise<number> {
  const { values, given } = parse('run', args, {
    config: { type: 'string' },
    email: { type: 'string' },
    emails: { type: 'string' },
    event: { type: 'string' },
    'dry-run': { type: 'boolean', default: false },
    connections: { type: 'string' },
    json: { type: 'boolean', default: false },
  });
  if (typeof values.config !== 'string') throw new UsageError('run: --config <file> is required');
  const sources = [values.email, values.emails, values.event].filter((v) => typeof v === 'string').length;
  if (sources !== 1)
    throw new UsageError('run: give one of --email <email>, --emails <file> or --event <file>');
  if (typeof values.event === 'string' && (given.has('dry-run') || given.has('connections'))) {
    // The event says what to do: a flag beside it would be a second, conflicting answer.
    throw new UsageError(
      'run: --dry-run and --connections do not apply to --event: put "dryRun": true or "connections": [...] in the event\'s detail',
    );
  }
  const connections = connectionList('run', values.connections);
  const dryRun = values['dry-run'] === true;
  const json = values.json === true;
  if (typeof values.event === 'string') {
    // The HR system's EventBridge event, exactly as the deployed rule hands it over.
    const event = readEvent(values.event);
    const config = loadConfig(values.config, io);
    checkRequest(event, config, `--event ${values.event}: `);
    return offboard(config, event, json, io);
  }
  if (typeof values.emails === 'string') {
    const people = readPeople(values.emails);
    const config = loadConfig(values.config, io);
    // The same checks as one person's run, once, before anyone is touched.
    checkRequest({ email: people[0], dryRun, ...(connections ? { connections } : {}) }, config, '');
    return offboardMany(config, people, { dryRun, connections }, json, io);
  }
  const input: Record<string, unknown> = { email: values.email, dryRun };
  if (connections) input.connections = connections;
  const config = loadConfig(values.config, io);
  checkRequest(input, config, '');
  return offboard(config, input, json, io);
}

/**
 * An --event file: one JSON object, the EventBridge event. Anything else is named and
 * refused here, never run as something it is not (an object without "detail-type" would
 * otherwise read as the console's input).
 */
function readEvent(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new UsageError(`--event ${path}: cannot read: ${(error as Error).message}`);
  }
  const json = parseJson(text);
  if (!json.ok) throw new UsageError(`--event ${path}: not valid JSON: ${json.problem}`);
  const event = json.value;
  const expected = `the HR system's EventBridge event, a JSON object with "detail-type": "${TERMINATION_DETAIL_TYPE}" (schemas/employee-terminated.schema.json)`;
  if (typeof event !== 'object' || event === null || Array.isArray(event)) {
    const kind = event === null ? 'null' : Array.isArray(event) ? 'an array' : `a ${typeof event}`;
    throw new UsageError(`--event ${path}: must hold ${expected}, not ${kind}`);
  }
  if (!('detail-type' in event)) {
    throw new UsageError(
      `--event ${path}: has no "detail-type": it must hold ${expected}; to offboard one person, give --email`,
    );
  }
  return event as Record<string, unknown>;
}

/** The people in a --emails file, all checked before anyone is offboarded. */
function readPeople(path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new UsageError(`--emails ${path}: cannot read: ${(error as Error).message}`);
  }
  try {
    return parsePeople(text, path);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

async function offboardMany(
  config: ConfigFile,
  emails: string[],
  options: { dryRun: boolean; connections: string[] | undefined },
  json: boolean,
  io: Io,
): Promise<number> {
  const { runBulkLocally } = await import('../local/bulk');
  const { prepared, local } = await prepareRun(config, io);
  try {
    const started = performance.now();
    const result = await runBulkLocally({
      ledger: local.ledger,
      connections: prepared.connections,
      emails,
      dryRun: options.dryRun,
      ...(options.connections ? { connectionNames: options.connections } : {}),
      askPerson: askPersonFor(prepared, io.err),
      ...(json ? {} : { onProgress: progressPrinter(io.err) }),
    });
    if (!result.ok) {
      io.err(shownError(result.error));
      return EXIT.failed;
    }
    const bulk = result.bulk;
    const seconds = (performance.now() - started) / 1000;
    if (json) {
      io.out(JSON.stringify(bulk, null, 2));
    } else {
      io.out(
        `\nOffboarded ${bulk.people} people in ${seconds.toFixed(1)} s${bulk.dryRun ? ' (dry run: nothing was changed)' : ''}`,
      );
      for (const [outcome, count] of Object.entries(bulk.outcomes).sort())
        io.out(`  ${outcome.padEnd(17)} ${count}`);
      for (const c of bulk.connections) {
        const counts = Object.entries(c.outcomes)
          .sort()
          .map(([outcome, count]) => `${outcome} ${count}`)
          .join(', ');
        io.out(
          stripControl(`  ${c.name}: ${c.error ? `failed: ${c.error.name}: ${c.error.message}` : counts}`),
        );
      }
      io.out(`Status: ${bulk.status}`);
      // The summary names the first failures of each connection; the full results are in the
      // evidence store: every failure is printed.
      for (const line of await failureLines(bulk, local.ledger)) io.out(`  failed: ${stripControl(line)}`);
    }
    return bulk.status === 'succeeded' ? EXIT.ok : EXIT.failed;
  } finally {
    await Promise.all([prepared.close(), local.close()]);
  }
}

/** Every failure of a bulk run, `email: connection: error`, from each connection's full results. */
async function failureLines(bulk: BulkSummary, ledger: Ledger): Promise<string[]> {
  const lines = new Map<string, string>();
  const add = (email: string, connection: string, error?: { name: string; message: string }) =>
    lines.set(
      `${email}\u0000${connection}`,
      `${email}: ${connection}: ${error ? `${error.name}: ${error.message}` : 'failed'}`,
    );
  for (const c of bulk.connections) {
    if (!c.resultsRef) continue;
    const results = (await ledger.blobs().get(c.resultsRef)) as BulkResult[];
    for (const r of results) if (r.outcome === 'failed') add(r.email, c.name, r.error);
  }
  for (const person of bulk.failed) {
    for (const c of person.connections) add(person.email, c.name, c.error);
    if (person.connections.length === 0) add(person.email, '(all)', person.error);
  }
  return [...lines.values()];
}

async function offboard(config: ConfigFile, input: unknown, json: boolean, io: Io): Promise<number> {
  const { runLocally } = await import('../local/runner');
  const { prepared, local } = await prepareRun(config, io);
  try {
    let published: OffboardSummary | undefined;
    const result = await runLocally({
      connections: prepared.connections,
      input,
      onProgress: json ? undefined : progressPrinter(io.err),
      askPerson: askPersonFor(prepared, io.err),
      ledger: local.ledger,
      onResultEvent: (event) => {
        published = event.detail as OffboardSummary;
      },
    });
    return report(result, json, io, published);
  } finally {
    await Promise.all([prepared.close(), local.close()]);
  }
}

/**
 * The ledger of a run: the real one for real vendors; for the built-in sandboxes one in
 * memory (they start afresh with every command, and their evidence must never mix with real
 * evidence), which the command says.
 */
async function ledgerFor(prepared: PreparedConnections, io: Io): Promise<LocalLedger> {
  const { openLedgerFor } = await import('../local/ledger');
  const local = await openLedgerFor(prepared);
  if (local.where === 'memory' && prepared.sandboxes.size > 0) {
    io.err(
      'offboard: built-in sandboxes: this run is recorded in memory only, never in the ledger of real runs',
    );
  }
  return local;
}

/** The connections of a run (sandboxes started) and its ledger; nothing left open when either fails. */
async function prepareRun(
  config: ConfigFile,
  io: Io,
): Promise<{ prepared: PreparedConnections; local: LocalLedger }> {
  const [{ prepareConnections }] = await Promise.all([import('../local/connections'), loadFormat()]);
  const prepared = await prepareConnections(config);
  try {
    return { prepared, local: await ledgerFor(prepared, io) };
  } catch (error) {
    await prepared.close();
    throw error;
  }
}

function progressPrinter(write: (text: string) => void) {
  return (event: ProgressEvent) => {
    const line = formatProgress(event);
    if (line) write(line);
  };
}

/**
 * Who does a person's part. For a built-in sandbox, we act as that person in the sandbox
 * (and say so); for a real vendor, the run prints the task and waits for
 * `offboard task complete <token>` from another terminal.
 */
function askPersonFor(prepared: PreparedConnections, write: (text: string) => void) {
  const store = new LocalTaskStore();
  return async (task: PersonTask): Promise<PersonTaskResult> => {
    const sandbox = prepared.sandboxes.get(task.connection);
    // The instructions carry the vendor's user id: shown without control characters.
    const [connection, instructions] = [stripControl(task.connection), stripControl(task.instructions)];
    if (sandbox?.actAsPerson) {
      write(`  ${connection}: task for a person: ${instructions}`);
      write(`  ${connection}: (built-in sandbox: acting as that person, in the sandbox's admin view)`);
      return sandbox.actAsPerson(task.email)
        ? { ok: true }
        : { ok: false, reason: 'no such user in the sandbox' };
    }
    await store.publish(task);
    write(`\n  ${connection}: A PERSON MUST ACT\n  ${instructions}\n  Waiting for that command…`);
    return store.waitForAnswer(task.token);
  };
}

function report(result: LocalRunResult, json: boolean, io: Io, published?: OffboardSummary): number {
  if (!result.ok && published) {
    // The offboarding ran, and its summary went out, but its evidence is not in the ledger:
    // say both, and fail loudly.
    if (json) io.out(JSON.stringify({ ...published, error: result.error }, null, 2));
    else {
      io.out(`\n${formatSummary(published)}`);
      io.err(
        `offboard: ${shownError(result.error)}: the accounts are as shown above, ` +
          'but the ledger does not hold this run; keep this output as its evidence',
      );
    }
    return EXIT.failed;
  }
  if (!result.ok) {
    // The state machine refused the input (Input.Invalid) before any vendor call.
    if (json) io.out(JSON.stringify({ error: result.error }, null, 2));
    else io.err(`offboard: ${shownError(result.error)}`);
    return result.error.name === 'Input.Invalid' ? EXIT.usage : EXIT.failed;
  }
  io.out(json ? JSON.stringify(result.summary, null, 2) : `\n${formatSummary(result.summary)}`);
  return result.summary.connections.some((c) => c.outcome === 'failed') ? EXIT.failed : EXIT.ok;
}

/** One connection a surface, each on its built-in sandbox. */
export const DEMO_CONFIG: ConfigFile = {
  connections: (
    [
      ['insightly', 'insightly'],
      ['insightly-scim', 'insightly-scim'],
      ['rapid7-console', 'rapid7-insightvm'],
      ['rapid7-cloud', 'rapid7-platform'],
      ['gainsight', 'gainsight'],
      ['gainsight-scim', 'gainsight-scim'],
    ] as const
  ).map(([name, type]) => ({ name, type })),
};

async function demoCommand(args: string[], io: Io): Promise<number> {
  const { values } = parse('demo', args, {
    email: { type: 'string', default: 'jane.doe@example.com' },
    json: { type: 'boolean', default: false },
  });
  const email = checkEmail('demo', String(values.email));
  const json = values.json === true;
  const [{ prepareConnections }, { openLocalLedger }, { runLocally }] = await Promise.all([
    import('../local/connections'),
    import('../local/ledger'),
    import('../local/runner'),
    loadFormat(),
  ]);
  const prepared = await prepareConnections(DEMO_CONFIG);
  // The demo's evidence stays in memory: it would only clutter the real ledger.
  const local = await openLocalLedger(null);
  try {
    if (!json) {
      io.out(`Started ${prepared.sandboxes.size} built-in vendor sandboxes on 127.0.0.1:`);
      for (const [name, sandbox] of prepared.sandboxes) io.out(`  ${name.padEnd(16)} ${sandbox.baseUrl}`);
      io.out('Each run below executes statemachines/offboard-user.asl.json with the real Lambda handlers.\n');
    }
    const runs: Array<{ title: string; dryRun: boolean }> = [
      { title: '1. Dry run: what would happen', dryRun: true },
      { title: '2. The real run', dryRun: false },
      { title: '3. Run again: nothing left to do, nothing written', dryRun: false },
    ];
    let code: number = EXIT.ok;
    const summaries: unknown[] = [];
    for (const run of runs) {
      if (!json) io.out(`── ${run.title} ──`);
      const result = await runLocally({
        connections: prepared.connections,
        input: { email, dryRun: run.dryRun },
        onProgress: json ? undefined : progressPrinter(io.out),
        askPerson: askPersonFor(prepared, json ? io.err : io.out),
        ledger: local.ledger,
      });
      if (json) {
        summaries.push(result.ok ? result.summary : { error: result.error });
        code = Math.max(code, result.ok ? (result.summary.status === 'succeeded' ? 0 : 1) : 2);
      } else {
        code = Math.max(code, report(result, false, io));
        io.out('');
      }
    }
    if (json) {
      io.out(JSON.stringify(summaries, null, 2));
      return code;
    }
    const [first, sandbox] = [...prepared.sandboxes][0] ?? [];
    const user = sandbox?.describeUser?.(email);
    if (user) {
      io.out(`The ${first} sandbox now holds ${email} as:`);
      io.out(`  ${JSON.stringify(user)}`);
      io.out('The account is off; every other field is as it was (the write sent the whole record back).');
    }
    const requests = [...prepared.sandboxes.values()].flatMap((s) => s.requests);
    // Writes to users. POSTs are reads here (OAuth tokens, Gainsight's list of users).
    const writes = requests.filter((r) => r.method === 'PUT' || r.method === 'PATCH').length;
    const deletes = requests.filter((r) => r.method === 'DELETE').length;
    io.out(
      `Requests to the sandboxes: ${requests.length} (${writes} write${writes === 1 ? '' : 's'}, ${deletes === 0 ? 'no' : deletes} DELETE).`,
    );
    io.out(
      `\nThe evidence the ledger now holds (\`offboard report --email <email>\` prints it for your own runs):\n`,
    );
    io.out(formatLedger(email, await local.ledger.history(email)));
    return code;
  } finally {
    await Promise.all([prepared.close(), local.close()]);
  }
}

async function taskCommand(args: string[], io: Io): Promise<number> {
  const [action, token, ...rest] = args;
  if ((action !== 'complete' && action !== 'fail') || !token || token.startsWith('-')) {
    throw new UsageError(
      `task: give complete <token> or fail <token> --reason <why>\n\n${commandHelp('task')}`,
    );
  }
  const { values } = parse('task', rest, { reason: { type: 'string' } });
  if (action === 'fail' && typeof values.reason !== 'string')
    throw new UsageError('task fail: --reason <why> is required');
  if (action === 'complete' && typeof values.reason === 'string')
    throw new UsageError('task complete: --reason is for task fail');
  const answer: PersonTaskResult =
    action === 'complete' ? { ok: true } : { ok: false, reason: String(values.reason) };

  const store = new LocalTaskStore();
  if (await store.isPending(token)) {
    await store.answer(token, answer);
    io.out(
      `Task ${action === 'complete' ? 'completed' : 'failed'}; the local run resumes and verifies through the API.`,
    );
    return EXIT.ok;
  }
  // Not a local task: a Step Functions task token from a deployed run.
  const { SendTaskFailureCommand, SendTaskSuccessCommand, SFNClient } = await import('@aws-sdk/client-sfn');
  const sfn = new SFNClient({});
  try {
    if (answer.ok) {
      const output = JSON.stringify({
        completedBy: userInfo().username,
        completedAt: new Date().toISOString(),
      });
      await sfn.send(new SendTaskSuccessCommand({ taskToken: token, output }));
    } else {
      await sfn.send(
        new SendTaskFailureCommand({ taskToken: token, error: 'Task.Refused', cause: answer.reason }),
      );
    }
  } catch (error) {
    io.err(`offboard: task ${action}: ${shownError(error as Error)}`);
    return EXIT.failed;
  }
  io.out(
    `Task ${action === 'complete' ? 'completed' : 'failed'}; the execution resumes and verifies through the API.`,
  );
  return EXIT.ok;
}

async function reportCommand(args: string[], io: Io): Promise<number> {
  const { values } = parse('report', args, {
    email: { type: 'string' },
    since: { type: 'string' },
    json: { type: 'boolean', default: false },
    format: { type: 'string' },
  });
  if (typeof values.email !== 'string') throw new UsageError('report: --email <email> is required');
  const email = checkEmail('report', values.email);
  if (values.json === true && values.format !== undefined && values.format !== 'json')
    throw new UsageError(`report: --json and --format ${values.format} ask for two formats; give one`);
  const format = values.json === true ? 'json' : (values.format ?? 'table');
  if (!['table', 'json', 'csv'].includes(format))
    throw new UsageError(`report: --format must be table, json or csv, not '${format}'`);
  let since: Date | undefined;
  if (typeof values.since === 'string') {
    // Strict: Date would read "5" as the year 2005.
    const date = sinceSchema.safeParse(values.since.trim());
    if (!date.success)
      throw new UsageError(
        `report: --since ${values.since} is not a date (use 2026-11-01 or ISO 8601 with an offset, 2026-11-01T09:00:00Z)`,
      );
    since = new Date(date.data);
  }
  const [{ openLocalLedger }] = await Promise.all([import('../local/ledger'), loadFormat()]);
  const local = await openLocalLedger();
  try {
    const entries = await local.ledger.history(email, since);
    if (format === 'json') io.out(JSON.stringify({ email, entries }, null, 2));
    else if (format === 'csv') io.out(formatLedgerCsv(entries));
    else io.out(formatLedger(email, entries));
    return EXIT.ok;
  } finally {
    await local.close();
  }
}

async function reactivateCommand(args: string[], io: Io): Promise<number> {
  const { values } = parse('reactivate', args, {
    config: { type: 'string' },
    email: { type: 'string' },
    'dry-run': { type: 'boolean', default: false },
    connections: { type: 'string' },
    json: { type: 'boolean', default: false },
  });
  if (typeof values.config !== 'string') throw new UsageError('reactivate: --config <file> is required');
  if (typeof values.email !== 'string') throw new UsageError('reactivate: --email <email> is required');
  const input: Record<string, unknown> = {
    email: values.email,
    dryRun: values['dry-run'] === true,
    reactivate: true,
  };
  const connections = connectionList('reactivate', values.connections);
  if (connections) input.connections = connections;
  const config = loadConfig(values.config, io);
  checkRequest(input, config, '');
  return offboard(config, input, values.json === true, io);
}

async function auditCommand(args: string[], io: Io): Promise<number> {
  const { values } = parse('audit', args, {
    config: { type: 'string' },
    remediate: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  });
  if (typeof values.config !== 'string') throw new UsageError('audit: --config <file> is required');
  const config = loadConfig(values.config, io);
  const { runAuditLocally } = await import('../local/audit');
  const { prepared, local } = await prepareRun(config, io);
  try {
    const result = await runAuditLocally({
      connections: prepared.connections,
      ledger: local.ledger,
      remediate: values.remediate === true,
      askPerson: askPersonFor(prepared, io.err),
    });
    if (!result.ok) {
      io.err(`offboard: audit: ${shownError(result.error)}`);
      return EXIT.failed;
    }
    const { totals } = result;
    if (values.json === true) io.out(JSON.stringify(totals, null, 2));
    else {
      io.out(
        `Audit: ${totals.checked} accounts checked, ${totals.stillOff} still off, ${totals.drift} active again` +
          `${totals.remediated ? ` (${totals.remediated} switched off again)` : ''}, ${totals.unchecked} not checked.`,
      );
      for (const d of totals.driftFound) {
        io.out(
          `  drift: ${stripControl(`${d.email} on ${d.connection} (user ${d.userId})`)}${d.remediated ? ': switched off again' : ''}`,
        );
      }
    }
    return totals.drift > totals.remediated || totals.unchecked > 0 ? EXIT.failed : EXIT.ok;
  } finally {
    await Promise.all([prepared.close(), local.close()]);
  }
}

/** An error as one line for the terminal: its name and message, without control characters. */
function shownError(error: { name: string; message: string }): string {
  return stripControl(`${error.name}: ${error.message}`);
}

/** `--since`: a calendar date, or a date-time with its offset. */
const sinceSchema = z.union([z.iso.date(), z.iso.datetime({ offset: true })]);

/** An email given on the command line, checked as the state machine checks it. */
function checkEmail(command: CommandName, value: string): string {
  const parsed = offboardRequestSchema.shape.email.safeParse(value);
  if (!parsed.success) throw new UsageError(`${command}: --email: ${parsed.error.issues[0]?.message}`);
  return parsed.data;
}
