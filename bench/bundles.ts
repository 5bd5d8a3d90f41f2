/**
 * Each Lambda bundle's size and cold init. Every handler in lambdas/handlers/ (connector.ts is
 * a library, not a function) is bundled with esbuild's JS API the way the CDK stack bundles it
 * (lib/constructs/offboard-function.ts through NodejsFunction), into a temp dir; cold init is
 * the time a fresh Node process takes to import the bundle.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import type { SectionResult } from './section';
import { median } from './support';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const HANDLERS_DIR = join(ROOT, 'lambdas', 'handlers');
const FUNCTION_CONSTRUCT = join(ROOT, 'lib', 'constructs', 'offboard-function.ts');
const RUNS = 7;

/** As in lib/constructs/offboard-function.ts (checked against it below). */
const BANNER = "import { createRequire } from 'module'; const require = createRequire(import.meta.url);";
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

interface Variant {
  id: 'deployed' | 'sdkBundled';
  external: string[];
}

interface Bundle {
  bytes: number;
  mapBytes: number;
  gzipBytes: number;
  externalImports: string[];
  /** Bytes in the output by package ('project' for our own code), largest first. */
  topInputs: Array<[string, number]>;
  initMs: number[];
}

export async function run(): Promise<SectionResult> {
  const drift = await checkAgainstConstruct();
  const sdkExternals = await cdkDefaultExternals();
  const variants: Variant[] = [
    { id: 'deployed', external: sdkExternals },
    { id: 'sdkBundled', external: [] },
  ];

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
    const results: Record<string, Record<Variant['id'], Bundle>> = {};
    for (const handler of handlers) {
      const byVariant = {} as Record<Variant['id'], Bundle>;
      for (const variant of variants) {
        byVariant[variant.id] = await bundle(handler, variant, join(dir, variant.id, handler));
      }
      results[handler] = byVariant;
    }

    const kib = (b: number) => (b / 1024).toFixed(1);
    const ms = (b: Bundle) => median(b.initMs).toFixed(0);
    const range = (b: Bundle) => `${Math.min(...b.initMs).toFixed(0)}–${Math.max(...b.initMs).toFixed(0)}`;
    const rows = handlers.map((h) => {
      const d = results[h]?.deployed as Bundle;
      const s = results[h]?.sdkBundled as Bundle;
      return [
        h,
        deployedCount[h] ?? 0,
        d.bytes,
        kib(d.bytes),
        kib(d.mapBytes),
        kib(d.gzipBytes),
        d.externalImports.length
          ? `runtime's: ${d.externalImports.map((i) => i.replace('@aws-sdk/client-', '')).join(', ')}`
          : 'none used',
        ms(d),
        range(d),
        kib(s.bytes),
        ms(s),
        range(s),
      ];
    });
    const usesSdk = handlers.filter((h) => (results[h]?.deployed.externalImports.length ?? 0) > 0);
    const slowest = handlers.reduce((a, b) =>
      median(results[a]?.deployed.initMs ?? []) >= median(results[b]?.deployed.initMs ?? []) ? a : b,
    );
    const largest = handlers.reduce((a, b) =>
      (results[a]?.deployed.bytes ?? 0) >= (results[b]?.deployed.bytes ?? 0) ? a : b,
    );

    return {
      title: `Lambda bundles: size and cold init (median of ${RUNS} fresh processes)`,
      columns: [
        'handler',
        'functions',
        'bytes',
        'KiB',
        'map KiB',
        'gzip KiB',
        'AWS SDK',
        'init ms',
        'min–max',
        'SDK bundled: KiB',
        'init ms',
        'min–max',
      ],
      rows,
      json: {
        esbuild: {
          bundle: true,
          platform: 'node',
          format: 'esm',
          target: 'node22',
          minify: true,
          keepNames: true,
          sourcemap: true,
          mainFields: ['module', 'main'],
          banner: BANNER,
          externalAsDeployed: sdkExternals,
        },
        initMethod: `fresh ${process.execPath} per run (env ${JSON.stringify(LAMBDA_ENV)}): performance.now() around await import(bundle)`,
        runsPerBundle: RUNS,
        functionsInStack: deployedCount,
        drift,
        bundles: Object.fromEntries(
          Object.entries(results).map(([h, v]) => [
            h,
            Object.fromEntries(
              Object.entries(v).map(([variant, b]) => [
                variant,
                {
                  ...b,
                  initMs: b.initMs.map((x) => Math.round(x * 10) / 10),
                  initMedianMs: Math.round(median(b.initMs) * 10) / 10,
                  initMinMs: Math.round(Math.min(...b.initMs) * 10) / 10,
                  initMaxMs: Math.round(Math.max(...b.initMs) * 10) / 10,
                },
              ]),
            ),
          ]),
        ),
      },
      notes: [
        `Bundled with esbuild's JS API as NodejsFunction does for this stack: ESM, node22 target, minify, keepNames, ` +
          `sourcemap (the .map ships in the asset), mainFields module,main, the createRequire banner, and NodejsFunction's ` +
          `default externals for a Node 22 runtime: ${sdkExternals.join(', ')} (the construct sets neither ` +
          'externalModules nor bundleAwsSDK; cdk.json enables @aws-cdk/aws-lambda-nodejs:sdkV3ExcludeSmithyPackages).',
        `So the AWS SDK v3 is NOT bundled as deployed: ${usesSdk.join(', ') || 'no handler'} import it at run time from ` +
          "the Lambda runtime's own copy (its version is Lambda's, not package-lock's). Here it loads unbundled from " +
          "the project's node_modules, which stands in for the runtime's. The 'SDK bundled' columns show the " +
          'alternative (bundleAwsSDK: true): the pinned SDK inside the bundle.',
        `Cold init: a fresh Node ${process.version} process per run imports the bundle; the figure is the import ` +
          "(module load, parse, top-level code), not Lambda's runtime bootstrap, and files are in the OS cache after " +
          "the first run. Lambda's 256 MB arm64 share of a CPU is slower than this machine's core.",
        `What fills the largest bundle (${largest}): ${(results[largest]?.deployed.topInputs ?? [])
          .slice(0, 3)
          .map(([pkg, bytes]) => `${pkg} ${kib(bytes)} KiB`)
          .join(', ')} (minified bytes in the output).`,
        ...(drift.length > 0
          ? [
              `WARNING, lib/constructs/offboard-function.ts changed: ${drift.join('; ')}. Update bench/bundles.ts.`,
            ]
          : []),
      ],
      summary: [
        `largest ${largest} ${kib(results[largest]?.deployed.bytes ?? 0)} KiB; slowest cold init ${slowest} ` +
          `${ms(results[slowest]?.deployed as Bundle)} ms (median); AWS SDK external (runtime's) as deployed`,
      ],
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function bundle(handler: string, variant: Variant, outDir: string): Promise<Bundle> {
  const outfile = join(outDir, 'index.mjs');
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: [join(HANDLERS_DIR, `${handler}.ts`)],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node22',
    outfile,
    minify: true,
    keepNames: true,
    sourcemap: true,
    mainFields: ['module', 'main'],
    banner: { js: BANNER },
    define: DEFINE,
    external: variant.external,
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
  const topInputs = [...bySource].sort((a, b) => b[1] - a[1]).slice(0, 5);
  const externalImports = [
    ...new Set(
      Object.values(result.metafile.outputs).flatMap((o) =>
        o.imports
          .filter((i) => i.external && !i.path.startsWith('node:') && !isBuiltin(i.path))
          .map((i) => i.path),
      ),
    ),
  ].sort();
  const initMs: number[] = [];
  for (let i = 0; i < RUNS; i++) initMs.push(await coldImport(outfile));
  return {
    bytes: code.length,
    mapBytes: (await stat(`${outfile}.map`)).size,
    gzipBytes: gzipSync(code).length,
    externalImports,
    topInputs,
    initMs,
  };
}

const BUILTINS = new Set(['module', 'fs', 'path', 'os', 'crypto', 'url', 'util', 'stream', 'http', 'https']);
function isBuiltin(path: string): boolean {
  return BUILTINS.has(path.split('/')[0] ?? '');
}

/** A fresh Node process imports the bundle once and reports how long the import took. */
function coldImport(file: string): Promise<number> {
  const script =
    'const t = performance.now(); await import(process.argv[1]); ' +
    'process.stdout.write(String(performance.now() - t));';
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script, pathToFileURL(file).href], {
      env: { PATH: process.env.PATH ?? '', ...LAMBDA_ENV },
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
    child.on('close', (code) => {
      const ms = Number(stdout.trim());
      if (code === 0 && Number.isFinite(ms)) resolve(ms);
      else
        reject(new Error(`bundles: importing ${file} failed (exit ${code}): ${stderr.trim().slice(0, 500)}`));
    });
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

/** What in the construct no longer matches the options used here (empty: none). */
async function checkAgainstConstruct(): Promise<string[]> {
  const source = await readFile(FUNCTION_CONSTRUCT, 'utf8');
  const expected: Array<[string, RegExp]> = [
    ['format ESM', /format:\s*OutputFormat\.ESM/],
    ["target 'node22'", /target:\s*'node22'/],
    ['keepNames', /keepNames:\s*true/],
    ['minify', /minify:\s*true/],
    ['sourceMap', /sourceMap:\s*true/],
    ['mainFields module,main', /mainFields:\s*\['module',\s*'main'\]/],
    ['the createRequire banner', new RegExp(BANNER.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))],
    ['memorySize 256', /memorySize:\s*256/],
  ];
  const drift = expected.filter(([, re]) => !re.test(source)).map(([what]) => `${what} not found`);
  for (const option of ['externalModules', 'bundleAwsSDK', 'nodeModules', 'esbuildArgs', 'loader']) {
    if (new RegExp(`\\b${option}\\s*:`).test(source)) drift.push(`it now sets ${option}`);
  }
  return drift;
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
