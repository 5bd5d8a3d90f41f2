import { type ParseArgsOptionsConfig, parseArgs } from 'node:util';
import { type ConfigFile, ConfigFileError, loadConfigFile } from '../lib/config';
import { prepareConnections } from '../local/connections';
import { type LocalRunResult, runLocally } from '../local/runner';
import { formatProgress, formatSummary } from './format';

/** Exit codes: a script can tell "a vendor failed" from "you called me wrong". */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

const USAGE = `offboard: switch off a departing employee's SaaS accounts, provably.

Usage:
  offboard run --config <file> --email <email> [--dry-run] [--connections a,b] [--json]
  offboard demo [--email <email>] [--json]
  offboard help

run     Offboards one person through the real state machine, executed locally.
        Connections without "baseUrl" in the config use a built-in sandbox.
demo    Starts a built-in Insightly sandbox with sample users and offboards one of them:
        a dry run, the real run, and a re-run that finds nothing left to do.

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
    'dry-run': { type: 'boolean', default: false },
    connections: { type: 'string' },
    json: { type: 'boolean', default: false },
  });
  if (typeof values.config !== 'string') throw new UsageError('run: --config <file> is required');
  if (typeof values.email !== 'string') throw new UsageError('run: --email <email> is required');
  const config = loadConfigFile(values.config);
  const input: Record<string, unknown> = { email: values.email, dryRun: values['dry-run'] === true };
  if (typeof values.connections === 'string')
    input.connections = values.connections.split(',').map((name: string) => name.trim());
  return offboard(config, input, values.json === true, io);
}

async function offboard(config: ConfigFile, input: unknown, json: boolean, io: Io): Promise<number> {
  const prepared = await prepareConnections(config);
  try {
    const result = await runLocally({
      connections: prepared.connections,
      input,
      onProgress: json
        ? undefined
        : (event) => {
            const line = formatProgress(event);
            if (line) io.err(line);
          },
    });
    return report(result, json, io);
  } finally {
    await prepared.close();
  }
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

async function demoCommand(args: string[], io: Io): Promise<number> {
  const values = parse(args, {
    email: { type: 'string', default: 'jane.doe@example.com' },
    json: { type: 'boolean', default: false },
  });
  const email = String(values.email);
  const json = values.json === true;
  const config: ConfigFile = { connections: [{ name: 'insightly-demo', type: 'insightly' }] };
  const prepared = await prepareConnections(config);
  const sandbox = prepared.sandboxes[0];
  try {
    if (!json && sandbox) {
      io.out(
        `Started a built-in Insightly sandbox at ${sandbox.baseUrl} with ${sandbox.sandbox.users.size} sample users.`,
      );
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
        onProgress: json
          ? undefined
          : (event) => {
              const line = formatProgress(event);
              if (line) io.out(line);
            },
      });
      if (json) {
        summaries.push(result.ok ? result.summary : { error: result.error });
        code = Math.max(code, result.ok ? (result.summary.status === 'succeeded' ? 0 : 1) : 2);
      } else {
        code = Math.max(code, report(result, false, io));
        io.out('');
      }
    }
    if (json) io.out(JSON.stringify(summaries, null, 2));
    else if (sandbox) {
      const user = [...sandbox.sandbox.users.values()].find(
        (u) => u.EMAIL_ADDRESS.toLowerCase() === email.toLowerCase(),
      );
      if (user) {
        io.out(`The sandbox now holds ${email} as:`);
        io.out(`  ${JSON.stringify(user)}`);
        io.out('ACTIVE is false; every other field is as it was (the PUT sent the whole record back).');
      }
      const writes = sandbox.sandbox.requests.filter((r) => r.method !== 'GET').length;
      io.out(
        `Requests to the sandbox: ${sandbox.sandbox.requests.length} (${writes} write${writes === 1 ? '' : 's'}).`,
      );
    }
    return code;
  } finally {
    await prepared.close();
  }
}
