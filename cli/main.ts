import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { type ParseArgsOptionsConfig, parseArgs } from 'node:util';
import { SendTaskFailureCommand, SendTaskSuccessCommand, SFNClient } from '@aws-sdk/client-sfn';
import { parsePeople } from '../lambdas/shared/people';
import { normalizeRequest } from '../lambdas/shared/request';
import { type ConfigFile, ConfigFileError, loadConfigFile } from '../lib/config';
import { runAuditLocally } from '../local/audit';
import { runBulkLocally } from '../local/bulk';
import { type PreparedConnections, prepareConnections, SANDBOX_STARTERS } from '../local/connections';
import { openLocalLedger } from '../local/ledger';
import { type LocalRunResult, type ProgressEvent, runLocally } from '../local/runner';
import { LocalTaskStore, type PersonTask, type PersonTaskResult } from '../local/tasks';
import { formatLedger, formatLedgerCsv, formatProgress, formatSummary } from './format';

/** Exit codes: a script can tell "a vendor failed" from "you called me wrong". */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

const USAGE = `offboard: switch off a departing employee's SaaS accounts, provably.

Usage:
  offboard run --config <file> --email <email> [--dry-run] [--connections a,b] [--json]
  offboard run --config <file> --emails <file> [--concurrency 10] [--dry-run] [--connections a,b] [--json]
  offboard run --config <file> --event <employee-terminated.json> [--json]
  offboard demo [--email <email>] [--json]
  offboard reactivate --config <file> --email <email> [--dry-run] [--connections a,b] [--json]
  offboard audit --config <file> [--remediate] [--json]
  offboard report --email <email> [--since <date>] [--json | --format csv]
  offboard task complete <token>
  offboard task fail <token> --reason <why>
  offboard help

run     Offboards one person (--email), or many (--emails: a file with one email a line, a
        CSV with an "email" column, or a JSON array), through the real state machine,
        executed locally. Every connection keeps its vendor's rate limit across all runs.
        --event takes the HR system's EventBridge event (schemas/employee-terminated.schema.json):
        a future effectiveAt waits, a resent event is a recorded duplicate.
        Connections without "baseUrl" in the config use a built-in sandbox.
demo    Starts a built-in sandbox for every vendor surface and offboards one person on
        all of them: a dry run, the real run, and a re-run that finds nothing left to do.
reactivate  Undoes a mistaken termination: restores each account the ledger shows this
        workflow switched off, exactly as it was before (left alone if already back on).
audit   Re-checks everyone the ledger shows offboarded, on every connection: drift (an
        account active again) is reported and recorded; --remediate switches it off again.
        Deployed, the same state machine runs on a schedule. Exit 1 when drift was found.
report  Prints the evidence the ledger holds for a person: every connection's outcome, the
        account as it was before, when, and which run (local runs: .offboard/ledger).
task    Answers a task the workflow gave a person (a vendor whose API cannot switch an
        account off): for a local run waiting in another terminal, or, with AWS
        credentials, for a deployed execution (Step Functions task token).

Exit codes: 0 no connection failed, 1 a connection failed, 2 invalid input or config.`;

/** Where the command writes; tests pass their own. */
export interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
}

const processIo: Io = {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
};

/** Runs the command line and returns the exit code. */
export async function main(argv: string[], io: Io = processIo): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'run':
        return await runCommand(rest, io);
      case 'demo':
        return await demoCommand(rest, io);
      case 'task':
        return await taskCommand(rest, io);
      case 'report':
        return await reportCommand(rest, io);
      case 'reactivate':
        return await reactivateCommand(rest, io);
      case 'audit':
        return await auditCommand(rest, io);
      case 'help':
      case '--help':
      case '-h':
        io.out(USAGE);
        return EXIT.ok;
      default:
        io.err(command ? `offboard: unknown command '${command}'\n\n${USAGE}` : USAGE);
        return EXIT.usage;
    }
  } catch (error) {
    if (error instanceof UsageError || error instanceof ConfigFileError) {
      io.err(`offboard: ${error.message}`);
      return EXIT.usage;
    }
    throw error;
  }
}

class UsageError extends Error {}

function parse<T extends ParseArgsOptionsConfig>(args: string[], options: T) {
  try {
    return parseArgs({ args, options, allowPositionals: false, strict: true }).values;
  } catch (error) {
    throw new UsageError(`${(error as Error).message}\n\n${USAGE}`);
  }
}

async function runCommand(args: string[], io: Io): Promise<number> {
  const values = parse(args, {
    config: { type: 'string' },
    email: { type: 'string' },
    emails: { type: 'string' },
    event: { type: 'string' },
    'dry-run': { type: 'boolean', default: false },
    connections: { type: 'string' },
    concurrency: { type: 'string', default: '10' },
    json: { type: 'boolean', default: false },
  });
  if (typeof values.config !== 'string') throw new UsageError('run: --config <file> is required');
  const given = [values.email, values.emails, values.event].filter((v) => typeof v === 'string').length;
  if (given !== 1)
    throw new UsageError('run: give one of --email <email>, --emails <file> or --event <file>');
  const config = loadConfigFile(values.config);
  if (typeof values.event === 'string') {
    // The HR system's EventBridge event, exactly as the deployed rule hands it over.
    return offboard(config, readJson(values.event), values.json === true, io);
  }
  const connections =
    typeof values.connections === 'string'
      ? values.connections.split(',').map((name: string) => name.trim())
      : undefined;
  const dryRun = values['dry-run'] === true;
  if (typeof values.emails === 'string') {
    const concurrency = Number(values.concurrency);
    if (!Number.isInteger(concurrency) || concurrency < 1)
      throw new UsageError('run: --concurrency must be a whole number ≥ 1');
    return offboardMany(
      config,
      readPeople(values.emails),
      { dryRun, connections, concurrency },
      values.json === true,
      io,
    );
  }
  const input: Record<string, unknown> = { email: values.email, dryRun };
  if (connections) input.connections = connections;
  return offboard(config, input, values.json === true, io);
}

function readJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new UsageError(`--event ${path}: ${(error as Error).message}`);
  }
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
  options: { dryRun: boolean; connections: string[] | undefined; concurrency: number },
  json: boolean,
  io: Io,
): Promise<number> {
  const prepared = await prepareConnections(config);
  const local = await openLocalLedger();
  try {
    // The same checks as one person's run, once, before anyone is touched.
    const probe = normalizeRequestSafely({ email: emails[0], connections: options.connections }, prepared);
    if (probe) throw new UsageError(probe);
    const started = performance.now();
    const bulk = await runBulkLocally({
      ledger: local.ledger,
      connections: prepared.connections,
      emails,
      dryRun: options.dryRun,
      ...(options.connections ? { connectionNames: options.connections } : {}),
      concurrency: options.concurrency,
      askPerson: askPersonFor(prepared, io.err),
      onPersonDone: json
        ? undefined
        : (summary, done) => {
            const failed = summary.connections.filter((c) => c.outcome === 'failed').length;
            io.err(
              `  [${done}/${emails.length}] ${summary.email}: ${summary.status}${failed ? ` (${failed} failed)` : ''}`,
            );
          },
    });
    const seconds = (performance.now() - started) / 1000;
    if (json) {
      io.out(JSON.stringify(bulk, null, 2));
    } else {
      io.out(
        `\nOffboarded ${bulk.people} people in ${seconds.toFixed(1)} s${bulk.dryRun ? ' (dry run: nothing was changed)' : ''}`,
      );
      for (const [outcome, count] of Object.entries(bulk.outcomes).sort())
        io.out(`  ${outcome.padEnd(17)} ${count}`);
      io.out(`Status: ${bulk.status}`);
      for (const person of bulk.failed) {
        const why =
          person.error ?? person.connections.map((c) => `${c.name}: ${c.error?.name ?? 'failed'}`).join(', ');
        io.out(`  failed: ${person.email}: ${typeof why === 'string' ? why : `${why.name}: ${why.message}`}`);
      }
    }
    return bulk.failed.length > 0 ? EXIT.failed : EXIT.ok;
  } finally {
    await Promise.all([prepared.close(), local.close()]);
  }
}

function normalizeRequestSafely(raw: unknown, prepared: PreparedConnections): string | undefined {
  try {
    normalizeRequest(
      raw,
      prepared.connections.map((c) => c.ref),
    );
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

async function offboard(config: ConfigFile, input: unknown, json: boolean, io: Io): Promise<number> {
  const prepared = await prepareConnections(config);
  const local = await openLocalLedger();
  try {
    const result = await runLocally({
      connections: prepared.connections,
      input,
      onProgress: json ? undefined : progressPrinter(io.err),
      askPerson: askPersonFor(prepared, io.err),
      ledger: local.ledger,
    });
    return report(result, json, io);
  } finally {
    await Promise.all([prepared.close(), local.close()]);
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
    if (sandbox?.actAsPerson) {
      write(`  ${task.connection}: task for a person: ${task.instructions}`);
      write(`  ${task.connection}: (built-in sandbox: acting as that person, in the sandbox's admin view)`);
      return sandbox.actAsPerson(task.email)
        ? { ok: true }
        : { ok: false, reason: 'no such user in the sandbox' };
    }
    await store.publish(task);
    write(`\n  ${task.connection}: A PERSON MUST ACT\n  ${task.instructions}\n  Waiting for that command…`);
    return store.waitForAnswer(task.token);
  };
}

function report(result: LocalRunResult, json: boolean, io: Io): number {
  if (!result.ok) {
    // The state machine refused the input (Input.Invalid) before any vendor call.
    if (json) io.out(JSON.stringify({ error: result.error }, null, 2));
    else io.err(`offboard: ${result.error.name}: ${result.error.message}`);
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
  )
    .filter(([, type]) => SANDBOX_STARTERS[type])
    .map(([name, type]) => ({ name, type })),
};

async function demoCommand(args: string[], io: Io): Promise<number> {
  const values = parse(args, {
    email: { type: 'string', default: 'jane.doe@example.com' },
    json: { type: 'boolean', default: false },
  });
  const email = String(values.email);
  const json = values.json === true;
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
    // Writes to users; the POSTs here are OAuth token requests.
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
  if ((action !== 'complete' && action !== 'fail') || !token) {
    throw new UsageError('usage: offboard task complete <token> | offboard task fail <token> --reason <why>');
  }
  const values = parse(rest, { reason: { type: 'string' } });
  if (action === 'fail' && typeof values.reason !== 'string')
    throw new UsageError('task fail: --reason <why> is required');
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
    io.err(`offboard: task ${action}: ${(error as Error).name}: ${(error as Error).message}`);
    return EXIT.failed;
  }
  io.out(
    `Task ${action === 'complete' ? 'completed' : 'failed'}; the execution resumes and verifies through the API.`,
  );
  return EXIT.ok;
}

async function reportCommand(args: string[], io: Io): Promise<number> {
  const values = parse(args, {
    email: { type: 'string' },
    since: { type: 'string' },
    json: { type: 'boolean', default: false },
    format: { type: 'string', default: 'table' },
  });
  if (typeof values.email !== 'string') throw new UsageError('report: --email <email> is required');
  const format = values.json === true ? 'json' : String(values.format);
  if (!['table', 'json', 'csv'].includes(format))
    throw new UsageError('report: --format must be table, json or csv');
  let since: Date | undefined;
  if (typeof values.since === 'string') {
    since = new Date(values.since);
    if (Number.isNaN(since.getTime()))
      throw new UsageError(`report: --since ${values.since} is not a date (use 2026-11-01 or ISO 8601)`);
  }
  const local = await openLocalLedger();
  try {
    const entries = await local.ledger.history(values.email, since);
    if (format === 'json') io.out(JSON.stringify({ email: values.email, entries }, null, 2));
    else if (format === 'csv') io.out(formatLedgerCsv(entries));
    else io.out(formatLedger(values.email, entries));
    return EXIT.ok;
  } finally {
    await local.close();
  }
}

async function reactivateCommand(args: string[], io: Io): Promise<number> {
  const values = parse(args, {
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
  if (typeof values.connections === 'string')
    input.connections = values.connections.split(',').map((name: string) => name.trim());
  return offboard(loadConfigFile(values.config), input, values.json === true, io);
}

async function auditCommand(args: string[], io: Io): Promise<number> {
  const values = parse(args, {
    config: { type: 'string' },
    remediate: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  });
  if (typeof values.config !== 'string') throw new UsageError('audit: --config <file> is required');
  const config = loadConfigFile(values.config);
  const prepared = await prepareConnections(config);
  const local = await openLocalLedger();
  try {
    const result = await runAuditLocally({
      connections: prepared.connections,
      ledger: local.ledger,
      remediate: values.remediate === true,
      askPerson: askPersonFor(prepared, io.err),
    });
    if (!result.ok) {
      io.err(`offboard: audit: ${result.error.name}: ${result.error.message}`);
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
          `  drift: ${d.email} on ${d.connection} (user ${d.userId})${d.remediated ? ': switched off again' : ''}`,
        );
      }
    }
    return totals.drift > totals.remediated || totals.unchecked > 0 ? EXIT.failed : EXIT.ok;
  } finally {
    await Promise.all([prepared.close(), local.close()]);
  }
}
