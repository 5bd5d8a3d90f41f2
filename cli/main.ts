import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { relative } from 'node:path';
import { type ParseArgsOptionsConfig, parseArgs } from 'node:util';
import { z } from 'zod';
import { InvalidInputError } from '../lambdas/shared/errors';
import type { Ledger, LedgerEntry } from '../lambdas/shared/ledger';
import { MAX_INLINE_PEOPLE, parsePeople } from '../lambdas/shared/people';
import { normalizeInput, offboardRequestSchema, TERMINATION_DETAIL_TYPE } from '../lambdas/shared/request';
import type { BulkSummary, OffboardSummary } from '../lambdas/shared/summary';
import type { TaskRecord } from '../lambdas/shared/tasks';
import { stripControl } from '../lambdas/shared/text';
import { type ConfigFile, ConfigFileError, loadConfigFile } from '../lib/config';
import { parseJson } from '../lib/json';
// What a command runs (the state machine interpreter, the connectors and their AWS SDK
// clients, the sandboxes, SQLite) is imported when it runs: `offboard help` loads none of it.
import type { PreparedConnections } from '../local/connections';
import type { LocalLedger } from '../local/ledger';
import type { LocalBrake, LocalRunResult, ProgressEvent } from '../local/runner';
import type { PersonTask, PersonTaskResult } from '../local/tasks';
import type { DeployedStack, ExecutionEnd, MachineKey, StackRef } from './deployed';

// cli/format.ts imports the ledger, and with it the AWS SDK: loaded with what a command runs
// (prepareRun, demo, report), before anything is printed.
let { formatAudit, formatBulk, formatLedger, formatLedgerCsv, formatProgress, formatSummary } =
  {} as typeof import('./format');
async function loadFormat(): Promise<void> {
  ({ formatAudit, formatBulk, formatLedger, formatLedgerCsv, formatProgress, formatSummary } = await import(
    './format'
  ));
}

/** Exit codes: a script can tell "a vendor failed" from "you called me wrong". */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/** One person's run, local or deployed: failed when any connection failed. */
export const summaryExit = (summary: Pick<OffboardSummary, 'connections'>): number =>
  summary.connections.some((c) => c.outcome === 'failed') ? EXIT.failed : EXIT.ok;
/** A bulk run: failed unless it succeeded for everyone. */
const bulkExit = (bulk: Pick<BulkSummary, 'status'>): number =>
  bulk.status === 'succeeded' ? EXIT.ok : EXIT.failed;
/** An audit: failed while drift is left unremediated or accounts went unchecked. */
const auditExit = (totals: { drift: number; remediated: number; unchecked: number }): number =>
  totals.drift > totals.remediated || totals.unchecked > 0 ? EXIT.failed : EXIT.ok;

/** Each command's own help: what `offboard <command> --help` prints. */
const COMMAND_HELP = {
  run: `Usage:
  offboard run --config <file> --email <email> [--dry-run] [--connections a,b] [--json]
  offboard run --config <file> --emails <file> [--dry-run] [--connections a,b] [--json]
  offboard run --config <file> --event <employee-terminated.json> [--json]
  offboard run --stack <name> [--region <r>] --email <email> | --emails <file> | --event <file> [--no-wait]

Offboards one person (--email), or many (--emails), through the real state machine, executed
locally. Every connection keeps its vendor's rate limit across all runs. Connections without
"baseUrl" in the config use a built-in sandbox. With --stack (or "stack" in the config), the
deployed stack's state machine runs it instead, and the command follows the execution.

  --config <file>      the connections (name, type, baseUrl, secret or secretFile)
  --email <email>      the person to offboard
  --emails <file>      many people: one email a line, a CSV with an "email" column, or a JSON
                       array; every entry is checked before anyone is offboarded
  --event <file>       the HR system's EventBridge event (schemas/employee-terminated.schema.json):
                       a future effectiveAt waits, a resent event is a recorded duplicate;
                       dryRun and connections go in the event's detail
  --dry-run            look everything up and say what would happen; write nothing
  --connections a,b    only these configured connections
  --json               one JSON document on stdout, nothing else
  --stack <name>       the deployed stack (CloudFormation name) to run it in: AWS credentials
                       from the standard chain (AWS_PROFILE, SSO, environment, role)
  --region <r>         the stack's region (default: the AWS configuration's; or "region" in the config)
  --no-wait            with --stack: print the execution's ARN and return (offboard status <arn>)`,
  demo: `Usage:
  offboard demo [--email <email>] [--json]

Starts a built-in sandbox for every vendor surface and offboards one person on all of them:
a dry run, the real run, and a re-run that finds nothing left to do.

  --email <email>      who (default jane.doe@example.com, a sample user of every sandbox)
  --json               the three summaries as one JSON array on stdout`,
  reactivate: `Usage:
  offboard reactivate --config <file> --email <email> [--dry-run] [--connections a,b] [--json]
  offboard reactivate --stack <name> [--region <r>] --email <email> [--dry-run] [--connections a,b] [--no-wait]

Undoes a mistaken termination: restores each account the ledger shows this workflow switched
off, exactly as it was before (left alone if already back on).

  --config <file>      the connections
  --email <email>      the person to reactivate
  --dry-run            say what would be restored; write nothing
  --connections a,b    only these configured connections
  --json               one JSON document on stdout, nothing else
  --stack <name>       the deployed stack: start its state machine and follow the execution
  --region <r>         the stack's region (default: the AWS configuration's)
  --no-wait            with --stack: print the execution's ARN and return`,
  audit: `Usage:
  offboard audit --config <file> [--remediate] [--json]
  offboard audit --stack <name> [--region <r>] [--remediate] [--json] [--no-wait]

Re-checks everyone the ledger shows offboarded, on every connection: drift (an account active
again) is reported and recorded. Deployed, the same state machine runs on a schedule.
Exit 1 when drift was found, or an account could not be checked.

  --config <file>      the connections
  --remediate          switch drifted accounts off again
  --json               the totals as JSON on stdout
  --stack <name>       the deployed stack: start its state machine and follow the execution
  --region <r>         the stack's region (default: the AWS configuration's)
  --no-wait            with --stack: print the execution's ARN and return`,
  report: `Usage:
  offboard report --email <email> [--since <date>] [--json | --format csv] [--stack <name> [--region <r>]]
  offboard report --brake [--json] [--stack <name> [--region <r>]]

Prints the evidence the ledger holds for a person: every connection's outcome, the account as
it was before, when, and which run (local runs: .offboard/ledger.db; with --stack, the deployed
stack's ledger table).

  --email <email>      whose evidence
  --since <date>       only entries from then on (2026-11-01, or ISO 8601 with an offset)
  --format <f>         table (default), json or csv (csv and json carry the before-state)
  --json               same as --format json
  --brake              the safety brake's pauses instead: when each opened, for how many
                       offboardings, and who released or refused it, when
  --stack <name>       the deployed stack whose ledger to read (AWS credentials: the standard chain)
  --region <r>         the stack's region (default: the AWS configuration's)
  --config <file>      a config whose "stack" and "region" say which stack`,
  status: `Usage:
  offboard status <execution-arn | email> --stack <name> [--region <r>] [--json]

Shows where a deployed offboarding stands: for an execution, its status, the states it is in
now and the outcomes recorded so far; for an email, that person's latest executions (found
through the ledger) and each one's outcomes.

  --stack <name>       the deployed stack (or "stack" in --config's file)
  --region <r>         the stack's region (default: the AWS configuration's)
  --config <file>      a config whose "stack" and "region" say which stack
  --json               one JSON document on stdout`,
  task: `Usage:
  offboard task complete <id> [--waiting <n>] [--stack <name> [--region <r>]]
  offboard task fail <id> --reason <why> [--stack <name> [--region <r>]]

Answers a task the workflow gave a person (a vendor whose API cannot switch an account off),
as the "Done" and "I could not" links of its email do: for a local run waiting in another
terminal, or, with --stack and AWS credentials, for a deployed one. The id is in the task's
text; a Step Functions task token or a local run's token is taken too. The answer is
recorded once, as given by you (your OS user name).

  --reason <why>       with fail: why the account could not be switched off
  --waiting <n>        with complete, to release the safety brake: how many runs you let
                       through (the command says how many wait now, as the page does)
  --stack <name>       the deployed stack whose task it is
  --region <r>         the stack's region (default: the AWS configuration's)`,
  retry: `Usage:
  offboard retry <email | execution-arn> --config <file> [--json]
  offboard retry <email | execution-arn> --stack <name> [--region <r>] [--no-wait] [--json]

Runs again only what failed: the connections whose latest outcome for that person is still
failed (a later success removes one), from the person's latest run or the run named; for a
bulk run, only its failed people on their failed connections. The new run's ledger entries
carry retryOf, the run it retries. A dry run's retry is a dry run, a reactivation's a
reactivation. Deployed (--stack), a new execution; an execution that itself FAILED or timed
out is redriven instead (RedriveExecution), except one stopped on purpose, one the safety
brake stopped, or an offboarding whose person was reactivated since: those start nothing.
Exit 0 also when nothing is left to retry; 2 when the ledger holds no such run.

  --config <file>      the connections (local runs: the ledger in .offboard/)
  --stack <name>       the deployed stack: its ledger and its OffboardUser state machine
  --region <r>         the stack's region
  --no-wait            deployed: print the execution's ARN and return
  --json               one JSON document on stdout, nothing else`,
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
status      Shows where a deployed offboarding stands.
task        Answers a task the workflow gave a person.
retry       Runs again only the connections that failed, linked to the run it retries.

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
  status: statusCommand,
  task: taskCommand,
  retry: async (args, io) => (await import('./retry')).retryCommand(args, io),
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
    if (error instanceof UsageError || error instanceof ConfigFileError || isStackError(error)) {
      // Line by line: a usage text keeps its lines, a quoted input loses its escape sequences.
      io.err(`offboard: ${error.message.split('\n').map(stripControl).join('\n')}`);
      return EXIT.usage;
    }
    // Anything else (AWS unreachable, a region that does not exist, access denied): said in a
    // line, exit 1, not a stack trace; OFFBOARD_DEBUG=1 keeps the trace for a bug report.
    if (process.env.OFFBOARD_DEBUG === '1') throw error;
    const said = error instanceof Error ? shownError(error) : stripControl(String(error));
    io.err(`offboard: ${command}: ${said} (OFFBOARD_DEBUG=1 shows where)`);
    return EXIT.failed;
  }
}

class UsageError extends Error {}

/** cli/deployed.ts's StackError (loaded on demand): the stack cannot be used as asked, exit 2. */
function isStackError(error: unknown): error is Error {
  return error instanceof Error && error.name === 'StackError';
}

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
export function loadConfig(path: string, io: Io): ConfigFile {
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
    ...STACK_OPTIONS,
  });
  if (typeof values.config !== 'string' && typeof values.stack !== 'string')
    throw new UsageError('run: --config <file> is required (or --stack <name> for the deployed stack)');
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
  const { ref, config } = deployedTarget('run', values, io);
  if (ref) {
    const follow = { json, wait: values['no-wait'] !== true };
    if (typeof values.event === 'string') {
      const event = readEvent(values.event);
      if (config) checkRequest(event, config, `--event ${values.event}: `);
      return runDeployed(ref, 'StateMachineArn', event, follow, io);
    }
    if (typeof values.emails === 'string') {
      const people = readPeople(values.emails);
      const request = { email: people[0], dryRun, ...(connections ? { connections } : {}) };
      if (config) checkRequest(request, config, '');
      const options = { dryRun, ...(connections ? { connections } : {}) };
      // As the bulk state machine takes it: up to 200 people inline, more as a list in its bucket.
      return runDeployed(
        ref,
        'BulkStateMachineArn',
        async (stack: DeployedStack) =>
          people.length <= MAX_INLINE_PEOPLE
            ? { emails: people, ...options }
            : { source: await stack.uploadList(people), ...options },
        follow,
        io,
      );
    }
    const email = checkEmail('run', String(values.email));
    const input = { email, dryRun, ...(connections ? { connections } : {}) };
    if (config) checkRequest(input, config, '');
    return runDeployed(ref, 'StateMachineArn', input, follow, io);
  }
  if (values['no-wait'] === true) throw new UsageError('run: --no-wait goes with --stack <name>');
  if (!config) throw new UsageError('run: --config <file> is required');
  if (typeof values.event === 'string') {
    // The HR system's EventBridge event, exactly as the deployed rule hands it over.
    const event = readEvent(values.event);
    checkRequest(event, config, `--event ${values.event}: `);
    return offboard(config, event, json, io);
  }
  if (typeof values.emails === 'string') {
    const people = readPeople(values.emails);
    // The same checks as one person's run, once, before anyone is touched.
    checkRequest({ email: people[0], dryRun, ...(connections ? { connections } : {}) }, config, '');
    return offboardMany(config, people, { dryRun, connections }, json, io);
  }
  const input: Record<string, unknown> = { email: values.email, dryRun };
  if (connections) input.connections = connections;
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

/** Offboards many people locally, as `offboard run --emails` does (`offboard retry` of a bulk run too). */
export async function offboardMany(
  config: ConfigFile,
  emails: string[],
  options: { dryRun: boolean; connections: string[] | undefined; retryOf?: string },
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
      ...(options.retryOf ? { retryOf: options.retryOf } : {}),
      askPerson: askPersonFor(prepared, io.err),
      brake: await localBrake(config, io.err),
      ...(json ? {} : { onProgress: progressPrinter(io.err) }),
    });
    if (!result.ok) {
      io.err(shownError(result.error));
      return EXIT.failed;
    }
    const bulk = result.bulk;
    const seconds = (performance.now() - started) / 1000;
    if (json) io.out(JSON.stringify(bulk, null, 2));
    else io.out(`\n${await formatBulk(bulk, seconds, local.ledger)}`);
    return bulkExit(bulk);
  } finally {
    await Promise.all([prepared.close(), local.close()]);
  }
}

/** Runs one person's offboarding locally, as `offboard run` does (`offboard retry` runs through it too). */
export async function offboard(config: ConfigFile, input: unknown, json: boolean, io: Io): Promise<number> {
  const { runLocally } = await import('../local/runner');
  const { prepared, local } = await prepareRun(config, io);
  try {
    let published: OffboardSummary | undefined;
    const result = await runLocally({
      connections: prepared.connections,
      input,
      onProgress: json ? undefined : progressPrinter(io.err),
      askPerson: askPersonFor(prepared, io.err),
      brake: await localBrake(config, io.err),
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
  const deployedOnly = config.connections.filter((c) => c.baseUrl && c.secretId && !c.secret);
  if (deployedOnly.length > 0) {
    throw new UsageError(
      `connection(s) ${deployedOnly.map((c) => `'${c.name}'`).join(', ')}: "secretId" names a Secrets Manager secret, ` +
        'which only the deployed stack reads: give --stack <name> (or "stack" in the config) to run there; ' +
        'a local run needs "secret" or "secretFile"',
    );
  }
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
 * (and say so); for a real vendor, the run opens the task in the local store, serves the
 * task page on 127.0.0.1, prints the task as its email would read with its two links, and
 * waits for the page or `offboard task complete|fail <id>` from another terminal.
 */
function askPersonFor(prepared: PreparedConnections, write: (text: string) => void) {
  return async (task: PersonTask): Promise<PersonTaskResult> => {
    const sandbox = prepared.sandboxes.get(task.connection);
    // The instructions carry the vendor's user id: shown without control characters.
    const [connection, instructions] = [stripControl(task.connection), stripControl(task.instructions)];
    if (sandbox?.actAsPerson) {
      write(`  ${connection}: task for a person: ${instructions}`);
      write(`  ${connection}: (built-in sandbox: acting as that person, in the sandbox's admin view)`);
      // Named as what it is, so the evidence never reads as if someone did it.
      return sandbox.actAsPerson(task.email)
        ? { ok: true, by: 'the built-in sandbox' }
        : { ok: false, reason: 'no such user in the sandbox' };
    }
    const local = await import('../local/tasks');
    const tokens = new local.LocalTaskStore();
    const store = new local.FileTaskStore();
    const record = await local.openLocalTask(store, task);
    // The token too, so `offboard task complete <token>` (the older form) still answers.
    await tokens.publish(task);
    // Every answer, by the task id or the token, is the task's (answerTask), and resumes this.
    const answer = await showAndWait(store, record, task.token, write, `${connection}: A PERSON MUST ACT`);
    // Which task, for the ledger entry (deployed, answerTask's output carries it too).
    return answer.ok ? { ...answer, taskId: record.id } : answer;
  };
}

/**
 * Prints a local task as its email reads, with its two links served on 127.0.0.1 while the
 * run waits, and waits for the answer (the page, or `offboard task complete|fail` elsewhere).
 */
async function showAndWait(
  store: import('../local/tasks').FileTaskStore,
  record: import('../lambdas/shared/tasks').TaskRecord,
  token: string,
  write: (text: string) => void,
  heading: string,
): Promise<PersonTaskResult> {
  const [local, { startTaskServer }, { taskEmail }, { taskLinks }] = await Promise.all([
    import('../local/tasks'),
    import('../local/task-server'),
    import('../lambdas/shared/task-email'),
    import('../lambdas/shared/task-links'),
  ]);
  const key = await local.localTaskKey();
  const server = await startTaskServer({
    store,
    resumer: new local.LocalTaskResumer(),
    key: async () => key,
  });
  try {
    const email = taskEmail(record, taskLinks(server.url, record, key));
    const indented = email.text
      .split('\n')
      .map((line) => (line ? `    ${line}` : ''))
      .join('\n');
    write(
      `\n  ${heading}. The task, as its email reads (Subject: ${email.subject}):\n\n${indented}\n\n` +
        `  The links are served on ${server.url} while this run waits. Or, in another terminal:\n` +
        `    offboard task complete ${record.id}\n    offboard task fail ${record.id} --reason <why>\n  Waiting for an answer…`,
    );
    return await new local.LocalTaskStore().waitForAnswer(token);
  } finally {
    await server.close();
  }
}

/**
 * The safety brake of local runs (the config's, defaults filled in): a paused run opens or
 * joins the pause's release-brake task in the local store and waits on it, as a person task.
 */
async function localBrake(config: ConfigFile, write: (text: string) => void): Promise<LocalBrake> {
  const [{ resolveBrake }, local, { taskTimes }] = await Promise.all([
    import('../lambdas/shared/brake-config'),
    import('../local/tasks'),
    import('../lambdas/shared/tasks'),
  ]);
  const store = new local.FileTaskStore();
  return {
    config: resolveBrake(config.brake),
    answers: store,
    release: async (request) => {
      const token = local.LocalTaskStore.newToken();
      const now = new Date();
      const { record } = await store.openOrJoin(
        {
          id: request.taskId,
          kind: 'release-brake',
          createdAt: now.toISOString(),
          ...taskTimes(now, request.timeoutSeconds),
          executionId: request.executionId,
          details: request.details,
        },
        token,
      );
      if (!record.answer) await showAndWait(store, record, token, write, 'THE SAFETY BRAKE PAUSED THIS RUN');
      // Who answered, and how, as the task recorded it (the page and `offboard task` both do).
      const answer = (await store.get(request.taskId))?.answer ?? record.answer;
      if (answer?.ok) return { ok: true, by: answer.by };
      return { ok: false, reason: answer?.reason ?? 'no answer', ...(answer ? { by: answer.by } : {}) };
    },
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
  return summaryExit(result.summary);
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

/** What answering a task sets going, as `offboard task` says it. */
function resumed(record: { kind: string; answer?: { ok: boolean } }, what: string): string {
  if (record.kind !== 'release-brake') return `the ${what} resumes and verifies through the API.`;
  return record.answer?.ok
    ? 'the brake is released: the paused runs go on, and the window counts afresh.'
    : 'the brake stays on: the paused runs stop, with nothing sent to any vendor.';
}

async function taskCommand(args: string[], io: Io): Promise<number> {
  const [action, id, ...rest] = args;
  // An id begins with `-` only if an older release made it (base64url); it is still answered.
  const option = id?.startsWith('-') && !/^-[A-Za-z0-9_-]{21}$/.test(id);
  if ((action !== 'complete' && action !== 'fail') || !id || option) {
    throw new UsageError(`task: give complete <id> or fail <id> --reason <why>\n\n${commandHelp('task')}`);
  }
  const { values } = parse('task', rest, {
    reason: { type: 'string' },
    waiting: { type: 'string' },
    stack: { type: 'string' },
    region: { type: 'string' },
  });
  if (action === 'fail' && typeof values.reason !== 'string')
    throw new UsageError('task fail: --reason <why> is required');
  if (action === 'complete' && typeof values.reason === 'string')
    throw new UsageError('task complete: --reason is for task fail');
  if (action === 'fail' && typeof values.waiting === 'string')
    throw new UsageError('task fail: --waiting is for task complete (releasing the safety brake)');
  if (typeof values.region === 'string' && typeof values.stack !== 'string')
    throw new UsageError('task: --region goes with --stack <name>');
  const reason = typeof values.reason === 'string' ? values.reason.trim() : undefined;
  if (action === 'fail' && !reason) throw new UsageError('task fail: --reason <why> must say why');
  const answer: PersonTaskResult =
    action === 'complete' ? { ok: true } : { ok: false, reason: String(reason) };
  const done = action === 'complete' ? 'completed' : 'failed';
  const [
    { answerTask, TASK_ID, TaskNotFoundError, taskIdForToken },
    { DynamoDbTaskStore },
    { SfnTaskResumer },
  ] = await Promise.all([
    import('../lambdas/shared/tasks'),
    import('../lambdas/shared/task-store'),
    import('../lambdas/shared/task-resumer'),
  ]);
  // Who answered: the OS user, locally and deployed (the AWS caller is in CloudTrail's
  // SendTaskSuccess/Failure events).
  const taskAnswer = {
    ok: answer.ok,
    ...(reason ? { reason } : {}),
    by: userInfo().username,
    at: new Date().toISOString(),
  };
  const answered = (record: { answer?: { ok: boolean; by: string; at: string; reason?: string } }) => {
    const a = record.answer;
    io.err(
      stripControl(
        `offboard: task ${id}: already answered by ${a?.by} at ${a?.at} (${a?.ok ? 'done' : `could not: ${a?.reason}`}); nothing changed`,
      ),
    );
    return EXIT.failed;
  };

  // Checked before anything is read or sent: a task id, or (local runs, no --stack) a local
  // token or a Step Functions task token, as long as one is.
  const shown = stripControl(id.slice(0, 80)) + (id.length > 80 ? '…' : '');
  if (!TASK_ID.test(id) && (typeof values.stack === 'string' || !/^[A-Za-z0-9+/=_-]{100,2048}$/.test(id)))
    throw new UsageError(`task: '${shown}' is not a task id (the id is in the task's email)`);
  // What stops an answer before it is recorded (printed; its exit code): a task past its
  // deadline (the runs no longer wait: the page's link has expired too); --waiting on a task
  // that releases nothing; a release of the brake not confirmed on the number of runs waiting
  // now, as the page confirms it.
  const refused = (record: TaskRecord, shownId: string): number | undefined => {
    const refuse = (text: string, code: number) => {
      io.err(stripControl(`offboard: task ${shown}: ${text}`));
      return code;
    };
    if (record.answer) return undefined; // answered(), after answerTask, says by whom
    if (record.deadline <= new Date().toISOString())
      return refuse(
        `its deadline, ${record.deadline}, has passed: the offboarding no longer waits for it; nothing was answered`,
        EXIT.failed,
      );
    if (record.kind !== 'release-brake' || action !== 'complete')
      return typeof values.waiting === 'string'
        ? refuse('--waiting is for releasing the safety brake; this answer releases nothing', EXIT.usage)
        : undefined;
    const waiting = record.tokens.length;
    if (values.waiting === String(waiting)) return undefined;
    const where = [
      typeof values.stack === 'string' ? ` --stack ${values.stack}` : '',
      typeof values.region === 'string' ? ` --region ${values.region}` : '',
    ].join('');
    const runs = waiting === 1 ? '1 run' : `${waiting} runs`;
    const now =
      typeof values.waiting === 'string'
        ? `${runs} wait${waiting === 1 ? 's' : ''} on this release now, not ${JSON.stringify(values.waiting.slice(0, 20))}`
        : `releasing the safety brake lets through the ${runs} waiting on it now`;
    return refuse(
      `${now}; to release them, confirm that number: offboard task complete ${shownId} --waiting ${waiting}${where}`,
      EXIT.usage,
    );
  };
  if (typeof values.stack === 'string' && id.startsWith('local-'))
    throw new UsageError("task: a local run's token is answered without --stack");
  if (typeof values.stack === 'string') {
    const stack = await openStack({
      stack: values.stack,
      ...(typeof values.region === 'string' ? { region: values.region } : {}),
    });
    try {
      const deps = {
        store: new DynamoDbTaskStore(stack.output('LedgerTableName'), stack.dynamodb),
        resumer: new SfnTaskResumer(stack.sfn),
      };
      const record = await deps.store.get(id);
      const stop = record && refused(record, id);
      if (stop !== undefined) return stop;
      const result = await answerTask(deps, id, taskAnswer);
      if (!result.first) return answered(result.record);
      io.out(`Task ${id} ${done}; ${resumed(result.record, 'execution')}`);
      return EXIT.ok;
    } catch (error) {
      if (error instanceof UsageError || isStackError(error)) throw error;
      if (error instanceof TaskNotFoundError)
        throw new UsageError(`task: no task ${id} in stack ${values.stack} (the id is in the task's email)`);
      io.err(`offboard: task ${action}: ${shownError(error as Error)}`);
      return EXIT.failed;
    } finally {
      stack.close();
    }
  }

  const { FileTaskStore, LocalTaskResumer, LocalTaskStore } = await import('../local/tasks');
  const tokens = new LocalTaskStore();
  const store = new FileTaskStore();
  // A local run's token, as its instructions print it, is answered through its task: the
  // token and the task id are one task, answered once whichever is given.
  const pending = await tokens.isPending(id);
  const taskId = pending ? taskIdForToken(id) : id;
  let record: TaskRecord | undefined;
  try {
    record = await store.get(taskId);
  } catch (error) {
    // A task file cut short or not a task (an interrupted write): named, with what to do.
    io.err(`offboard: task ${action}: ${shownError(error as Error)}`);
    return EXIT.failed;
  }
  if (record) {
    const stop = refused(record, taskId);
    if (stop !== undefined) return stop;
    try {
      const result = await answerTask({ store, resumer: new LocalTaskResumer() }, taskId, taskAnswer);
      if (!result.first) return answered(result.record);
      io.out(`Task ${taskId} ${done}; ${resumed(result.record, 'local run')}`);
      return EXIT.ok;
    } catch (error) {
      // Recorded, but a waiting run could not be resumed (answerTask resumed all the others).
      io.err(`offboard: task ${action}: ${shownError(error as Error)}`);
      return EXIT.failed;
    }
  }
  if (pending) {
    // A run of an older release: it waits on its token alone.
    if (!(await tokens.answer(id, answer))) {
      io.err(`offboard: task ${id}: already answered; nothing changed`);
      return EXIT.failed;
    }
    io.out(`Task ${done}; the local run resumes and verifies through the API.`);
    return EXIT.ok;
  }
  // Neither a local task nor a local token: a Step Functions task token from a deployed run.
  // Those are hundreds of characters long; anything short is a task id that is not here.
  if (id.length < 100)
    throw new UsageError(
      `task: no local task ${stripControl(id)} in ${relative(process.cwd(), store.dir) || '.'}; a deployed task needs --stack <name>`,
    );
  if (typeof values.waiting === 'string')
    throw new UsageError('task: --waiting is for releasing the safety brake by its task id, not a token');
  const { SendTaskFailureCommand, SendTaskSuccessCommand, SFNClient } = await import('@aws-sdk/client-sfn');
  const sfn = new SFNClient({});
  try {
    if (answer.ok) {
      const output = JSON.stringify({ completedBy: taskAnswer.by, completedAt: taskAnswer.at });
      await sfn.send(new SendTaskSuccessCommand({ taskToken: id, output }));
    } else {
      await sfn.send(
        new SendTaskFailureCommand({ taskToken: id, error: 'Task.Refused', cause: answer.reason }),
      );
    }
  } catch (error) {
    io.err(`offboard: task ${action}: ${shownError(error as Error)}`);
    return EXIT.failed;
  }
  io.out(`Task ${done}; the execution resumes and verifies through the API.`);
  return EXIT.ok;
}

async function reportCommand(args: string[], io: Io): Promise<number> {
  const { values } = parse('report', args, {
    email: { type: 'string' },
    since: { type: 'string' },
    json: { type: 'boolean', default: false },
    format: { type: 'string' },
    stack: STACK_OPTIONS.stack,
    region: STACK_OPTIONS.region,
    config: { type: 'string' },
    brake: { type: 'boolean', default: false },
  });
  if (values.brake === true) return brakeReport(values, io);
  if (typeof values.email !== 'string')
    throw new UsageError("report: --email <email> is required (or --brake for the safety brake's pauses)");
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
  const print = (entries: LedgerEntry[]) => {
    if (format === 'json') io.out(JSON.stringify({ email, entries }, null, 2));
    else if (format === 'csv') io.out(formatLedgerCsv(entries));
    else io.out(formatLedger(email, entries));
    return EXIT.ok;
  };
  return withReportLedger(values, io, async (ledger) => print(await ledger.history(email, since)));
}

/**
 * Runs `use` on the ledger `report` reads: the deployed stack's (--stack, or "stack" in
 * --config), else the local one; either is closed after.
 */
async function withReportLedger(
  values: { stack?: unknown; region?: unknown; config?: unknown },
  io: Io,
  use: (ledger: Ledger) => Promise<number>,
): Promise<number> {
  const { ref } = deployedTarget('report', values, io);
  if (ref) {
    const stack = await openStack(ref);
    try {
      return await use(await stack.ledger());
    } finally {
      stack.close();
    }
  }
  if (typeof values.config === 'string')
    throw new UsageError(
      'report: --config only says which stack ("stack" in it); the local ledger needs none',
    );
  const [{ openLocalLedger }] = await Promise.all([import('../local/ledger'), loadFormat()]);
  const local = await openLocalLedger();
  try {
    return await use(local.ledger);
  } finally {
    await local.close();
  }
}

/** `report --brake`: every pause of the safety brake, and who released or refused it, when. */
async function brakeReport(
  values: {
    email?: unknown;
    since?: unknown;
    format?: unknown;
    json?: unknown;
    stack?: unknown;
    region?: unknown;
    config?: unknown;
  },
  io: Io,
): Promise<number> {
  if (values.email !== undefined || values.since !== undefined || values.format !== undefined)
    throw new UsageError(
      'report: --brake lists the pauses of every run: give it without --email, --since or --format',
    );
  const [{ brakeHistory }, { formatBrakeHistory }] = await Promise.all([
    import('../lambdas/shared/brake'),
    import('./format'),
  ]);
  return withReportLedger(values, io, async (ledger) => {
    // Both ledgers keep the brake's records (DynamoDbLedger, SqliteLedger).
    const pauses = await brakeHistory(ledger as unknown as Parameters<typeof brakeHistory>[0]);
    io.out(values.json === true ? JSON.stringify({ pauses }, null, 2) : formatBrakeHistory(pauses).trimEnd());
    return EXIT.ok;
  });
}

async function reactivateCommand(args: string[], io: Io): Promise<number> {
  const { values } = parse('reactivate', args, {
    config: { type: 'string' },
    email: { type: 'string' },
    'dry-run': { type: 'boolean', default: false },
    connections: { type: 'string' },
    json: { type: 'boolean', default: false },
    ...STACK_OPTIONS,
  });
  if (typeof values.config !== 'string' && typeof values.stack !== 'string')
    throw new UsageError(
      'reactivate: --config <file> is required (or --stack <name> for the deployed stack)',
    );
  if (typeof values.email !== 'string') throw new UsageError('reactivate: --email <email> is required');
  const input: Record<string, unknown> = {
    email: values.email,
    dryRun: values['dry-run'] === true,
    reactivate: true,
  };
  const connections = connectionList('reactivate', values.connections);
  if (connections) input.connections = connections;
  const { ref, config } = deployedTarget('reactivate', values, io);
  if (ref) {
    input.email = checkEmail('reactivate', values.email);
    if (config) checkRequest(input, config, '');
    const follow = { json: values.json === true, wait: values['no-wait'] !== true };
    return runDeployed(ref, 'StateMachineArn', input, follow, io);
  }
  if (values['no-wait'] === true) throw new UsageError('reactivate: --no-wait goes with --stack <name>');
  if (!config) throw new UsageError('reactivate: --config <file> is required');
  checkRequest(input, config, '');
  return offboard(config, input, values.json === true, io);
}

async function auditCommand(args: string[], io: Io): Promise<number> {
  const { values } = parse('audit', args, {
    config: { type: 'string' },
    remediate: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    ...STACK_OPTIONS,
  });
  const { ref, config } = deployedTarget('audit', values, io);
  if (ref) {
    // The audit state machine's input (statemachines/offboard-audit.asl.json, "Options").
    const input = { remediate: values.remediate === true };
    const follow = { json: values.json === true, wait: values['no-wait'] !== true };
    return runDeployed(ref, 'AuditStateMachineArn', input, follow, io);
  }
  if (values['no-wait'] === true) throw new UsageError('audit: --no-wait goes with --stack <name>');
  if (!config)
    throw new UsageError('audit: --config <file> is required (or --stack <name> for the deployed stack)');
  const { runAuditLocally } = await import('../local/audit');
  const { prepared, local } = await prepareRun(config, io);
  try {
    const result = await runAuditLocally({
      connections: prepared.connections,
      ledger: local.ledger,
      remediate: values.remediate === true,
      askPerson: askPersonFor(prepared, io.err),
      // Each remediation is a real offboarding: it counts toward the brake, as deployed.
      brake: await localBrake(config, io.err),
    });
    if (!result.ok) {
      io.err(`offboard: audit: ${shownError(result.error)}`);
      return EXIT.failed;
    }
    const { totals } = result;
    await loadFormat();
    io.out(values.json === true ? JSON.stringify(totals, null, 2) : formatAudit(totals));
    return auditExit(totals);
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

// ── The deployed stack (--stack) ─────────────────────────────────────────────────────────

/** The options every command that can work on a deployed stack takes. */
const STACK_OPTIONS = {
  stack: { type: 'string' },
  region: { type: 'string' },
  'no-wait': { type: 'boolean', default: false },
} as const;

/**
 * What a command works with: the deployed stack (`ref`; undefined for a local run) from
 * `--stack` and `--region`, else `"stack"` and `"region"` in the `--config` file; and that
 * file, read once here (its warnings printed once), so the request can be checked against its
 * connections before anything is started, and a local run uses it.
 */
function deployedTarget(
  command: CommandName,
  values: { stack?: unknown; region?: unknown; config?: unknown },
  io: Io,
): { ref?: StackRef; config?: ConfigFile } {
  const config = typeof values.config === 'string' ? loadConfig(values.config, io) : undefined;
  const stack = typeof values.stack === 'string' ? values.stack : config?.stack;
  const region = typeof values.region === 'string' ? values.region : config?.region;
  if (stack === undefined) {
    if (typeof values.region === 'string')
      throw new UsageError(`${command}: --region goes with --stack <name>`);
    return config ? { config } : {};
  }
  return { ref: { stack, ...(region ? { region } : {}) }, ...(config ? { config } : {}) };
}

/** Opens a deployed stack (its outputs read; a bad name or region is a StackError, exit 2). */
async function openStack(ref: StackRef): Promise<DeployedStack> {
  // (DeployedStack.open checks the name and region before any call: a StackError, exit 2)
  const [{ DeployedStack }] = await Promise.all([import('./deployed'), loadFormat()]);
  return DeployedStack.open(ref);
}

/**
 * Starts one of the deployed stack's state machines and, unless `wait` is false (then only
 * the execution's ARN is printed), follows it to its end: progress lines from its history on
 * stderr, then the same table or JSON as a local run, and the same exit codes. `input` may be
 * computed once the stack is open (a bulk list uploaded to its bucket). `offboard retry`
 * starts its deployed runs here too.
 */
export async function runDeployed(
  ref: StackRef,
  machine: MachineKey,
  input: unknown | ((stack: DeployedStack) => Promise<unknown>),
  options: { json: boolean; wait: boolean },
  io: Io,
): Promise<number> {
  const stack = await openStack(ref);
  try {
    const given = typeof input === 'function' ? await input(stack) : input;
    const executionArn = await stack.start(machine, given);
    if (!options.wait) {
      io.out(executionArn);
      return EXIT.ok;
    }
    if (!options.json)
      io.err(`offboard: started ${executionArn} (stack ${stripControl(ref.stack)}); following it`);
    const started = performance.now();
    const onProgress = options.json ? undefined : progressPrinter(io.err);
    let end = await stack.follow(executionArn, { onProgress });
    // A long audit goes on in a new execution of itself: follow that one.
    for (let next = continuedIn(end); next; next = continuedIn(end)) {
      if (!options.json) io.err(`offboard: continued in ${next}`);
      end = await stack.follow(next, { onProgress });
    }
    return await reportDeployed(end, machine, options.json, io, stack, (performance.now() - started) / 1000);
  } finally {
    stack.close();
  }
}

function continuedIn(end: ExecutionEnd): string | undefined {
  const output = end.output as { continuedIn?: unknown } | undefined;
  return end.status === 'SUCCEEDED' && typeof output?.continuedIn === 'string'
    ? output.continuedIn
    : undefined;
}

/** How a deployed execution ended, printed as a local run prints it; returns the exit code. */
async function reportDeployed(
  end: ExecutionEnd,
  machine: MachineKey,
  json: boolean,
  io: Io,
  stack: DeployedStack,
  seconds: number,
): Promise<number> {
  if (end.status !== 'SUCCEEDED') {
    const error = end.error ?? {
      name: `Execution.${end.status}`,
      message: `the execution ended ${end.status}`,
    };
    if (json) io.out(JSON.stringify({ executionArn: end.executionArn, status: end.status, error }, null, 2));
    else io.err(`offboard: ${end.executionArn}: ${end.status}: ${shownError(error)}`);
    // The state machine refused the input (Input.Invalid) before any vendor call.
    return error.name === 'Input.Invalid' ? EXIT.usage : EXIT.failed;
  }
  if (machine === 'BulkStateMachineArn') {
    const bulk = end.output as BulkSummary;
    io.out(
      json ? JSON.stringify(bulk, null, 2) : `\n${await formatBulk(bulk, seconds, await stack.ledger())}`,
    );
    return bulkExit(bulk);
  }
  if (machine === 'AuditStateMachineArn') {
    const totals = (end.output as { totals: Parameters<typeof formatAudit>[0] }).totals;
    io.out(json ? JSON.stringify(totals, null, 2) : formatAudit(totals));
    return auditExit(totals);
  }
  const summary = end.output as OffboardSummary;
  io.out(json ? JSON.stringify(summary, null, 2) : `\n${formatSummary(summary)}`);
  return summaryExit(summary);
}

/** `offboard status <execution-arn | email>`: where a deployed offboarding stands. */
async function statusCommand(args: string[], io: Io): Promise<number> {
  const [subject, ...rest] = args;
  if (!subject || subject.startsWith('-'))
    throw new UsageError(`status: give an execution ARN or an email\n\n${commandHelp('status')}`);
  const { values } = parse('status', rest, {
    stack: STACK_OPTIONS.stack,
    region: STACK_OPTIONS.region,
    config: { type: 'string' },
    json: { type: 'boolean', default: false },
  });
  const { ref } = deployedTarget('status', values, io);
  if (!ref)
    throw new UsageError(
      'status: give --stack <name> (or a --config with "stack"): status is for deployed runs',
    );
  const isArn = subject.startsWith('arn:');
  const email = isArn ? undefined : checkEmail('status', subject);
  const stack = await openStack(ref);
  try {
    const ledger = await stack.ledger();
    // By email: the person's history, read once, says which executions (the latest five).
    const history = email ? await ledger.history(email) : undefined;
    const arns = history
      ? [...(await import('./retry')).runsOf(history)]
          .sort((a, b) => b.at.localeCompare(a.at))
          .slice(0, 5)
          .map((run) => run.executionId)
      : [subject];
    if (email && arns.length === 0) {
      if (values.json === true) io.out(JSON.stringify({ email, executions: [] }, null, 2));
      else io.out(`No executions recorded for ${email} in stack ${stripControl(ref.stack)}.`);
      return EXIT.ok;
    }
    const shown = [];
    for (const arn of arns) {
      const now = await stack.describe(arn);
      const input = now.input as { email?: unknown; detail?: { email?: unknown } } | undefined;
      const who = email ?? (typeof input?.email === 'string' ? input.email : input?.detail?.email);
      const entries = (history ?? (typeof who === 'string' ? await ledger.history(who) : [])).filter(
        (e) => e.executionId === arn,
      );
      const states = now.status === 'RUNNING' ? await stack.currentStates(arn) : [];
      shown.push({ ...now, states, entries, email: who });
    }
    if (values.json === true) {
      io.out(JSON.stringify(email ? { email, executions: shown } : shown[0], null, 2));
      return EXIT.ok;
    }
    const blocks = shown.map((run) => {
      const lines = [
        `Execution ${stripControl(run.executionArn)}`,
        `Status: ${run.status}${run.startDate ? `, started ${run.startDate.toISOString()}` : ''}${run.stopDate ? `, ended ${run.stopDate.toISOString()}` : ''}`,
      ];
      if (run.states.length > 0) lines.push(`Now in: ${run.states.map(stripControl).join(', ')}`);
      if (run.error) lines.push(`Error: ${shownError(run.error)}`);
      const summary = run.output as OffboardSummary | undefined;
      if (summary && Array.isArray(summary.connections)) lines.push('', formatSummary(summary));
      else if (typeof run.email === 'string') lines.push('', formatLedger(run.email, run.entries));
      return lines.join('\n');
    });
    io.out(blocks.join('\n\n'));
    return EXIT.ok;
  } finally {
    stack.close();
  }
}
