/**
 * The command line as a bundle: cli/main.ts and what it imports, bundled by esbuild into
 * dist/, split where a command imports what it runs (`await import(...)`), so that `offboard`
 * starts on Node alone and loads only its command's chunks, instead of compiling the
 * TypeScript of every module on every start.
 *
 * `npm ci` builds it (package.json `prepare`, or `node build/cli.ts`); bin/offboard-cli.mjs
 * builds it again before it runs when a file it was built from has changed since. The state
 * machine definitions the local runner reads are validated here, since it does not validate
 * them on every start: a broken definition stops the build, named.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import aslValidator from 'asl-validator';
import { build, type Metafile } from 'esbuild';
import { REQUIRE_SHIM, ZOD_ALIAS } from './esbuild.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/**
 * Where the bundle goes: one level under the root, as local/ and cli/ are, so that a path
 * relative to the module (`new URL('../statemachines/…', import.meta.url)`) still finds its file.
 */
export const CLI_DIR = join(ROOT, 'dist');

/**
 * dist/cli.json, what bin/offboard-cli.mjs reads on every start: the entry to import, when
 * the build started, and the files it was built from (relative to the root). The bundle is
 * stale when one of them is newer than the build, or gone.
 */
export interface CliManifest {
  entry: string;
  builtAtMs: number;
  inputs: string[];
  /**
   * Each input's modification time and size as built (-1 when it changed during the build):
   * any difference is a change, an older date too (a file put back by `cp -p`, `git stash`,
   * rsync or an archive keeps its date).
   */
  stamps: Record<string, [number, number]>;
  /** Bytes of the entry and of the chunks it imports statically: what every command loads first. */
  startBytes: number;
}

/** A file's modification time and size; -1 when it changed after `since` (during the build), or is gone. */
function stampOf(file: string, since: number): [number, number] {
  try {
    const { mtimeMs, size } = statSync(join(ROOT, file));
    return mtimeMs > since ? [-1, -1] : [mtimeMs, size];
  } catch {
    return [-1, -1];
  }
}

/** Files that change the bundle without being in it: the build itself and the installed packages. */
const BUILD_INPUTS = [
  'build/cli.ts',
  'build/esbuild.ts',
  'package.json',
  'package-lock.json',
  // npm rewrites it on every install: a package changed under node_modules rebuilds the bundle.
  'node_modules/.package-lock.json',
];

/** A file in dist/ left by an earlier build is removed once it is this old (a run may still load it). */
const OLD_FILE_MS = 60 * 60 * 1000;

/**
 * Builds the bundle and returns its manifest. Each file is written whole under a temporary
 * name and renamed, the manifest last: a CLI starting meanwhile, or a second build running at
 * the same time (two commands started after an edit), never reads half a file. Names carry a
 * hash of the content, so the two builds write the same files.
 */
export async function buildCli(): Promise<CliManifest> {
  const builtAtMs = Date.now();
  const definitions = validStateMachines();
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: { main: join(ROOT, 'cli', 'main.ts') },
    outdir: CLI_DIR,
    entryNames: '[name]-[hash]',
    chunkNames: 'chunk-[hash]',
    bundle: true,
    splitting: true,
    platform: 'node',
    format: 'esm',
    target: 'node22',
    mainFields: ['module', 'main'],
    alias: {
      ...ZOD_ALIAS,
      // What aws-local-stepfunctions imports and a local run never uses (build/stubs says why).
      'asl-validator': join(ROOT, 'build', 'stubs', 'asl-validator.mjs'),
      '@aws-sdk/client-lambda': join(ROOT, 'build', 'stubs', 'aws-sdk-client-lambda.mjs'),
      '@aws-sdk/credential-providers': join(ROOT, 'build', 'stubs', 'aws-sdk-client-lambda.mjs'),
    },
    banner: { js: REQUIRE_SHIM },
    // Names and lines kept readable for stack traces; the maps are there for --enable-source-maps.
    minifyWhitespace: true,
    minifySyntax: true,
    sourcemap: 'linked',
    metafile: true,
    write: false,
    logLevel: 'warning',
  });

  mkdirSync(CLI_DIR, { recursive: true });
  const written = new Set<string>();
  for (const file of result.outputFiles) {
    writeWhole(file.path, file.contents);
    written.add(file.path);
  }
  // Each `await import()` is an entry point of its own: the command line's is cli/main.ts.
  const entry = Object.entries(result.metafile.outputs).find(
    ([, output]) => output.entryPoint === 'cli/main.ts',
  )?.[0];
  if (!entry) throw new Error('build/cli.ts: esbuild made no entry file');
  const inputs = Object.keys(result.metafile.inputs).filter(
    (input) => !input.startsWith('node_modules/') && !input.includes(':'),
  );
  const all = [...new Set([...inputs, ...definitions, ...BUILD_INPUTS])].sort();
  const manifest: CliManifest = {
    entry: relative(CLI_DIR, join(ROOT, entry)),
    builtAtMs,
    inputs: all,
    stamps: Object.fromEntries(all.map((file) => [file, stampOf(file, builtAtMs)])),
    startBytes: staticBytes(result.metafile, entry),
  };
  const manifestPath = join(CLI_DIR, 'cli.json');
  writeWhole(manifestPath, `${JSON.stringify(manifest)}\n`);
  written.add(manifestPath);

  // Another build may be renaming its files meanwhile: a file gone since the listing is skipped.
  for (const name of readdirSync(CLI_DIR)) {
    const path = join(CLI_DIR, name);
    const changed = statSync(path, { throwIfNoEntry: false })?.mtimeMs ?? Date.now();
    if (!written.has(path) && Date.now() - changed > OLD_FILE_MS) rmSync(path, { force: true });
  }
  return manifest;
}

/** Bytes of an output and of every output it imports statically, transitively. */
function staticBytes(metafile: Metafile, entry: string): number {
  const seen = new Set<string>();
  const pending = [entry];
  for (let output = pending.pop(); output !== undefined; output = pending.pop()) {
    if (seen.has(output)) continue;
    seen.add(output);
    for (const imported of metafile.outputs[output]?.imports ?? []) {
      if (imported.kind === 'import-statement' && metafile.outputs[imported.path])
        pending.push(imported.path);
    }
  }
  return [...seen].reduce((sum, output) => sum + (metafile.outputs[output]?.bytes ?? 0), 0);
}

/**
 * statemachines/*.asl.json, each checked as aws-local-stepfunctions would (ARNs and paths);
 * throws naming the first invalid one. Returns their paths, relative to the root.
 */
function validStateMachines(): string[] {
  const files = readdirSync(join(ROOT, 'statemachines'))
    .filter((file) => file.endsWith('.asl.json'))
    .map((file) => `statemachines/${file}`);
  for (const file of files) {
    const { isValid, errorsText } = aslValidator(JSON.parse(readFileSync(join(ROOT, file), 'utf8')), {
      checkArn: true,
      checkPaths: true,
    });
    if (!isValid) throw new Error(`${file}: not a valid state machine definition: ${errorsText('; ')}`);
  }
  return files;
}

function writeWhole(path: string, contents: string | Uint8Array): void {
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, contents);
  renameSync(temporary, path);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const manifest = await buildCli();
  process.stdout.write(`build/cli.ts: dist/${manifest.entry} from ${manifest.inputs.length} files\n`);
}
