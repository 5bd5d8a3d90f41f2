/**
 * Cold start of every Lambda bundle and of the command line, each figure taken in a fresh
 * Node process spawned for it (never one that another section warmed), median of RUNS.
 *
 * - Lambda bundles: every handler in lambdas/handlers/ (connector.ts is a library, not a
 *   function), bundled with esbuild's API and the options the CDK construct gives
 *   NodejsFunction (build/esbuild.ts), the AWS SDK left to the runtime as NodejsFunction
 *   leaves it. Size, and how long a fresh process takes to import the bundle. Floor: the
 *   same process importing only the AWS SDK clients the bundle leaves to the runtime.
 * - The command line, as `npx offboard` runs it (build/cli.ts bundles it into dist/): what it
 *   loads before any command, its import, `offboard help`, and `offboard run --dry-run` for
 *   one person on every built-in sandbox, from spawn to exit. Floor: `node -e ''`.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { buildCli } from '../build/cli';
import { LAMBDA_ESBUILD } from '../build/esbuild';
import type { SectionResult } from './section';
import { LEAVER, median } from './support';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const HANDLERS_DIR = join(ROOT, 'lambdas', 'handlers');
const CLI = join(ROOT, 'bin', 'offboard-cli.mjs');
/** One connection of every type, on its built-in sandbox: README's "every connection type yourself". */
const SANDBOX_CONFIG = join(ROOT, 'config', 'sandboxes.json');
const RUNS = 5;

/** The issue's aims (#10). */
const AIM = { bundleKiB: 300, importMs: 100, dryRunS: 0.7 } as const;

/**
 * The connection list the stack compiles into a function (esbuild `define`), as one
 * connection of each kind would be: a few hundred bytes of the bundle, and read at init.
 */
const DEFINE = {
  'process.env.OFFBOARD_CONNECTIONS': JSON.stringify(
    JSON.stringify([
      {
        name: 'insightly-prod',
        type: 'insightly',
        baseUrl: 'https://api.na1.insightly.com/v3.1',
        secretId: 'offboard/insightly-prod',
        functionName: 'Offboard-insightly',
        rateLimit: { requests: 10, perSeconds: 1 },
      },
    ]),
  ),
};
/** The environment the stack gives every function (NODE_OPTIONS matters: source maps on). */
const LAMBDA_ENV = {
  POWERTOOLS_SERVICE_NAME: 'offboard',
  NODE_OPTIONS: '--enable-source-maps',
  AWS_REGION: 'us-east-1',
};

interface Bundle {
  handler: string;
  functions: number;
  bytes: number;
  gzipBytes: number;
  /** AWS SDK packages it imports from the runtime. */
  externalImports: string[];
  /** Bytes in the output by package ('project' for our own code), largest first. */
  topInputs: Array<[string, number]>;
  importMs: number[];
  /** A fresh process importing only `externalImports`. */
  floorMs: number[];
}

export async function run(): Promise<SectionResult> {
  const sdkExternals = await cdkDefaultExternals();
  const handlers = (await readdir(HANDLERS_DIR))
    .filter((f) => f.endsWith('.ts') && f !== 'connector.ts')
    .map((f) => basename(f, '.ts'))
    .sort();
  const deployedCount = await functionsPerHandler(handlers);

  const dir = await mkdtemp(join(tmpdir(), 'offboard-bench-bundles-'));
  try {
    // External packages resolve the way Lambda resolves its runtime's SDK: from a node_modules
    // on the path. Here that is the project's (a symlink), so the SDK loads from disk, unbundled.
    await symlink(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
    const bundles: Bundle[] = [];
    for (const handler of handlers) {
      bundles.push(
        await lambdaBundle(handler, sdkExternals, join(dir, handler), deployedCount[handler] ?? 0),
      );
    }
    const cli = await commandLine();
    return report(bundles, cli, sdkExternals);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function lambdaBundle(
  handler: string,
  external: string[],
  outDir: string,
  functions: number,
): Promise<Bundle> {
  const outfile = join(outDir, 'index.mjs');
  const result = await build({
    ...LAMBDA_ESBUILD,
    absWorkingDir: ROOT,
    entryPoints: [join(HANDLERS_DIR, `${handler}.ts`)],
    outfile,
    define: DEFINE,
    external,
    metafile: true,
    logLevel: 'silent',
  });
  const code = await readFile(outfile);
  const bySource = new Map<string, number>();
  for (const output of Object.values(result.metafile.outputs)) {
    for (const [path, input] of Object.entries(output.inputs)) {
      const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path)?.[1] ?? 'project';
      bySource.set(pkg, (bySource.get(pkg) ?? 0) + input.bytesInOutput);
    }
  }
  const externalImports = [
    ...new Set(
      Object.values(result.metafile.outputs).flatMap((o) =>
        o.imports.filter((i) => i.external && !isBuiltin(i.path)).map((i) => i.path),
      ),
    ),
  ].sort();
  const importMs: number[] = [];
  const floorMs: number[] = [];
  // Alternated, so that a change in the machine's load weighs on both alike.
  for (let i = 0; i < RUNS; i++) {
    importMs.push(await coldImport([pathToFileURL(outfile).href], outDir, LAMBDA_ENV));
    floorMs.push(await coldImport(externalImports, outDir, LAMBDA_ENV));
  }
  return {
    handler,
    functions,
    bytes: code.length,
    gzipBytes: gzipSync(code).length,
    externalImports,
    topInputs: [...bySource].sort((a, b) => b[1] - a[1]),
    importMs,
    floorMs,
  };
}

interface CommandLine {
  entry: string;
  startBytes: number;
  importMs: number[];
  helpMs: number[];
  dryRunMs: number[];
  /** `node -e ''`, spawn to exit. */
  nodeMs: number[];
  /** A fresh process importing an empty module. */
  emptyImportMs: number[];
}

/** The CLI bundle, built afresh from the sources, then started RUNS times for each figure. */
async function commandLine(): Promise<CommandLine> {
  const manifest = await buildCli();
  const entry = join(ROOT, 'dist', manifest.entry);
  const env = { ...process.env, POWERTOOLS_LOG_LEVEL: 'SILENT' };
  const figures: CommandLine = {
    entry: `dist/${manifest.entry}`,
    startBytes: manifest.startBytes,
    importMs: [],
    helpMs: [],
    dryRunMs: [],
    nodeMs: [],
    emptyImportMs: [],
  };
  // A source edited meanwhile makes the CLI build itself again inside a timed run: that run
  // is taken again, once the build is done.
  const builtAt = async () =>
    (JSON.parse(await readFile(join(ROOT, 'dist', 'cli.json'), 'utf8')) as { builtAtMs: number }).builtAtMs;
  const startCli = async (args: string[]) => {
    for (let attempt = 1; ; attempt++) {
      const before = await builtAt();
      const result = await timed([CLI, ...args], env);
      if ((await builtAt()) === before || attempt === 3) return result;
    }
  };
  for (let i = 0; i < RUNS; i++) {
    figures.nodeMs.push((await timed(['-e', ''], env)).ms);
    figures.emptyImportMs.push(await coldImport([], ROOT, env));
    figures.importMs.push(await coldImport([pathToFileURL(entry).href], ROOT, env));
    figures.helpMs.push((await startCli(['help'])).ms);
    const dryRun = await startCli([
      'run',
      '--config',
      SANDBOX_CONFIG,
      '--email',
      LEAVER,
      '--dry-run',
      '--json',
    ]);
    const status = (JSON.parse(dryRun.stdout) as { status?: string }).status;
    if (dryRun.code !== 0 || status !== 'succeeded') {
      throw new Error(`bundles: offboard run --dry-run ended with exit ${dryRun.code}, status ${status}`);
    }
    figures.dryRunMs.push(dryRun.ms);
  }
  return figures;
}

function report(bundles: Bundle[], cli: CommandLine, sdkExternals: string[]): SectionResult {
  const kib = (bytes: number) => (bytes / 1024).toFixed(1);
  const ms = (values: number[]) => median(values).toFixed(0);
  const range = (values: number[]) => `${Math.min(...values).toFixed(0)}–${Math.max(...values).toFixed(0)}`;
  const aim = (value: number, limit: number, unit: string) =>
    `< ${limit}${unit}: ${value < limit ? 'met' : 'missed'}`;
  const madeOf = (b: Bundle) =>
    b.topInputs
      .slice(0, 4)
      .map(([pkg, bytes]) => `${pkg.replace('@aws-lambda-powertools/', 'powertools/')} ${kib(bytes)}`)
      .join(', ');

  const rows: (string | number)[][] = bundles.map((b) => [
    b.handler,
    b.functions,
    kib(b.bytes),
    kib(b.gzipBytes),
    aim(b.bytes / 1024, AIM.bundleKiB, ' KiB'),
    'import',
    `${ms(b.importMs)} ms`,
    range(b.importMs),
    aim(median(b.importMs), AIM.importMs, ' ms'),
    b.externalImports.length
      ? `${ms(b.floorMs)} ms (SDK: ${b.externalImports.map((i) => i.replace('@aws-sdk/client-', '')).join(', ')})`
      : `${ms(b.floorMs)} ms (nothing)`,
    madeOf(b),
  ]);
  const nodeFloor = `${ms(cli.nodeMs)} ms (node -e '')`;
  rows.push(
    [
      'cli: start',
      '',
      kib(cli.startBytes),
      '',
      '',
      'import',
      `${ms(cli.importMs)} ms`,
      range(cli.importMs),
      aim(median(cli.importMs), AIM.importMs, ' ms'),
      `${ms(cli.emptyImportMs)} ms (an empty module)`,
      `${cli.entry} and its static chunks`,
    ],
    [
      'cli: offboard help',
      '',
      '',
      '',
      '',
      'wall',
      `${ms(cli.helpMs)} ms`,
      range(cli.helpMs),
      '',
      nodeFloor,
      'node bin/offboard-cli.mjs help',
    ],
    [
      'cli: run --dry-run',
      '',
      '',
      '',
      '',
      'wall',
      `${(median(cli.dryRunMs) / 1000).toFixed(2)} s`,
      range(cli.dryRunMs),
      aim(median(cli.dryRunMs) / 1000, AIM.dryRunS, ' s'),
      nodeFloor,
      'one person, 7 sandboxes (config/sandboxes.json)',
    ],
  );

  const largest = bundles.reduce((a, b) => (a.bytes >= b.bytes ? a : b));
  const slowest = bundles.reduce((a, b) => (median(a.importMs) >= median(b.importMs) ? a : b));
  const overSize = bundles.filter((b) => b.bytes / 1024 >= AIM.bundleKiB).map((b) => b.handler);
  const overTime = bundles.filter((b) => median(b.importMs) >= AIM.importMs).map((b) => b.handler);
  const ownCode = (b: Bundle) => median(b.importMs) - median(b.floorMs);
  const round = (values: number[]) => values.map((x) => Math.round(x * 10) / 10);

  return {
    title: `Cold start: Lambda bundles and the command line (a fresh process each, median of ${RUNS})`,
    columns: [
      'bundle',
      'functions',
      'KiB',
      'gzip KiB',
      'size aim',
      'figure',
      'median',
      'min–max ms',
      'aim',
      'floor',
      'made of (KiB)',
    ],
    rows,
    json: {
      aims: AIM,
      runs: RUNS,
      esbuild: { ...LAMBDA_ESBUILD, external: sdkExternals },
      method: {
        import: `fresh ${process.execPath} per run: performance.now() around await import(bundle); env ${JSON.stringify(LAMBDA_ENV)} for the Lambda bundles`,
        floor:
          'Lambda bundles: the same, importing only the AWS SDK packages the bundle leaves to the runtime; CLI: node -e ""',
        wall: 'spawn to exit, measured by the parent',
      },
      bundles: bundles.map((b) => ({
        ...b,
        topInputs: b.topInputs.slice(0, 8),
        importMs: round(b.importMs),
        floorMs: round(b.floorMs),
        importMedianMs: Math.round(median(b.importMs) * 10) / 10,
        floorMedianMs: Math.round(median(b.floorMs) * 10) / 10,
      })),
      cli: {
        ...cli,
        importMs: round(cli.importMs),
        helpMs: round(cli.helpMs),
        dryRunMs: round(cli.dryRunMs),
        nodeMs: round(cli.nodeMs),
        emptyImportMs: round(cli.emptyImportMs),
      },
    },
    notes: [
      `Lambda bundles: esbuild's API with build/esbuild.ts, the options the construct gives NodejsFunction: ESM, ` +
        'node22, minify, keepNames, source map, the createRequire banner, and zod aliased to build/zod (no locales, ' +
        `no compiler). External as NodejsFunction leaves them for Node 22: ${sdkExternals.join(', ')} (cdk.json ` +
        "enables @aws-cdk/aws-lambda-nodejs:sdkV3ExcludeSmithyPackages). The SDK is the runtime's: here it loads " +
        "unbundled from the project's node_modules, which stands in for it.",
      `Floor of a bundle's import: a fresh process importing only the SDK clients that bundle imports, which it ` +
        'cannot start without. Our own code adds the rest: ' +
        bundles.map((b) => `${b.handler} ${ownCode(b).toFixed(0)} ms`).join(', ') +
        '.',
      `Cold import is module load, parse and top-level code, not Lambda's runtime bootstrap; files are in the OS ` +
        "cache after the first run. Lambda's 256 MB arm64 share of a CPU is slower than this machine's core.",
      'Command line: dist/ built afresh by build/cli.ts first (what `npm ci` and a changed source do). "start" is ' +
        'what every command loads before it runs; each command imports what it runs when it runs.',
    ],
    summary: [
      `largest ${largest.handler} ${kib(largest.bytes)} KiB (aim < ${AIM.bundleKiB}: ${overSize.length ? `missed by ${overSize.join(', ')}` : 'met'}); ` +
        `slowest cold import ${slowest.handler} ${ms(slowest.importMs)} ms, floor ${ms(slowest.floorMs)} ms of SDK ` +
        `(aim < ${AIM.importMs}: ${overTime.length ? `missed by ${overTime.length} of ${bundles.length}` : 'met'})`,
      `cli: import ${ms(cli.importMs)} ms (aim < ${AIM.importMs}: ${median(cli.importMs) < AIM.importMs ? 'met' : 'missed'}), ` +
        `help ${ms(cli.helpMs)} ms, run --dry-run ${(median(cli.dryRunMs) / 1000).toFixed(2)} s (aim < ${AIM.dryRunS} s: ` +
        `${median(cli.dryRunMs) / 1000 < AIM.dryRunS ? 'met' : 'missed'}); node -e '' ${ms(cli.nodeMs)} ms`,
    ],
  };
}

const BUILTINS = new Set(['module', 'fs', 'path', 'os', 'crypto', 'url', 'util', 'stream', 'http', 'https']);
function isBuiltin(path: string): boolean {
  return path.startsWith('node:') || BUILTINS.has(path.split('/')[0] ?? '');
}

/** A fresh Node process imports the modules, in order, and reports how long that took (ms). */
async function coldImport(specifiers: string[], cwd: string, env: Record<string, string | undefined>) {
  const script =
    'const t = performance.now(); for (const m of JSON.parse(process.argv[1])) await import(m); ' +
    'process.stdout.write(String(performance.now() - t));';
  const { code, stdout, stderr } = await timed(
    ['--input-type=module', '-e', script, JSON.stringify(specifiers)],
    env,
    cwd,
  );
  const ms = Number(stdout.trim());
  if (code !== 0 || !Number.isFinite(ms)) {
    throw new Error(
      `bundles: importing ${specifiers.join(', ')} failed (exit ${code}): ${stderr.slice(0, 500)}`,
    );
  }
  return ms;
}

/** Runs `node <args>` in a fresh process: its exit code, output, and wall time from spawn to exit. */
function timed(
  args: string[],
  env: Record<string, string | undefined>,
  cwd = ROOT,
): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, args, {
      cwd,
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr, ms: performance.now() - started }));
  });
}

/**
 * NodejsFunction's default externals when a function sets neither `externalModules` nor
 * `bundleAwsSDK`, for a Node 18+ runtime: '@aws-sdk/*', and '@smithy/*' too when cdk.json
 * enables the sdkV3ExcludeSmithyPackages feature flag.
 */
async function cdkDefaultExternals(): Promise<string[]> {
  const cdk = JSON.parse(await readFile(join(ROOT, 'cdk.json'), 'utf8')) as {
    context?: Record<string, unknown>;
  };
  const smithy = cdk.context?.['@aws-cdk/aws-lambda-nodejs:sdkV3ExcludeSmithyPackages'] === true;
  return smithy ? ['@aws-sdk/*', '@smithy/*'] : ['@aws-sdk/*'];
}

/**
 * How many functions of the stack bundle each handler: its path as an entry in lib/, counted
 * where it appears as `handlers/<name>.ts` (a table entry or a join()).
 */
async function functionsPerHandler(handlers: string[]): Promise<Record<string, number>> {
  const sources = await Promise.all(
    (await readdir(join(ROOT, 'lib'), { recursive: true }))
      .filter((f) => f.endsWith('.ts'))
      .map((f) => readFile(join(ROOT, 'lib', f), 'utf8')),
  );
  const text = sources.join('\n');
  return Object.fromEntries(handlers.map((h) => [h, text.split(`handlers/${h}.ts'`).length - 1]));
}
