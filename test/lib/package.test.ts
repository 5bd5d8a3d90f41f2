import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleAliases, bundlingRoot } from '../../lib/constructs/offboard-function';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const PACKAGE_JSON = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
};

/** The files `npm pack` puts in the tarball another CDK app installs (scripts skipped: no build). */
function packedFiles(): string[] {
  const pack = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
  });
  if (pack.status !== 0) throw new Error(`npm pack --dry-run: exit ${pack.status}: ${pack.stderr}`);
  const [report] = JSON.parse(pack.stdout) as [{ files: { path: string }[] }];
  return report.files.map((file) => file.path);
}

/**
 * What a consumer's synth reads of ours, found by esbuild as the bundles are: the package's
 * entry and what it imports, and each Lambda handler and what it imports (with the lean zod
 * of build/zod, as the bundles have it). Returns our files and the packages they import.
 */
async function whatSynthReads(): Promise<{ files: string[]; packages: string[] }> {
  const handlers = readdirSync(join(REPO_ROOT, 'lambdas', 'handlers'))
    .filter((name) => name.endsWith('.ts'))
    .map((name) => join(REPO_ROOT, 'lambdas', 'handlers', name));
  const files = new Set<string>();
  const packages = new Set<string>();
  for (const [entryPoints, alias] of [
    [[join(REPO_ROOT, 'index.ts')], {}],
    [handlers, bundleAliases(REPO_ROOT)],
  ] as const) {
    const { metafile } = await build({
      absWorkingDir: REPO_ROOT,
      entryPoints: [...entryPoints],
      bundle: true,
      platform: 'node',
      format: 'esm',
      outdir: join(tmpdir(), 'offboard-package-test'),
      write: false,
      metafile: true,
      logLevel: 'silent',
      alias,
      // Packages stay out, as the installed ones do: each import of one is listed as external.
      packages: 'external',
    });
    for (const [file, input] of Object.entries(metafile.inputs)) {
      // build/zod reaches into zod by relative path: zod's own files, installed beside ours.
      if (!file.startsWith('node_modules/')) files.add(file);
      for (const imported of input.imports) {
        if (imported.external && !imported.path.startsWith('node:') && imported.path !== 'module') {
          packages.add(imported.path.split('/', imported.path.startsWith('@') ? 2 : 1).join('/'));
        }
      }
    }
  }
  return { files: [...files].sort(), packages: [...packages].sort() };
}

describe('the package another CDK app installs (npm pack)', () => {
  let packed: string[];
  let reads: { files: string[]; packages: string[] };
  beforeAll(async () => {
    packed = packedFiles();
    reads = await whatSynthReads();
  });

  it('holds every file synth and the Lambda bundles read, and the state machine definitions', () => {
    // Assess: a missing one fails the consumer's synth with "Could not resolve".
    expect(reads.files).toContain('index.ts');
    expect(reads.files).toContain('lambdas/handlers/normalize.ts');
    expect(reads.files.filter((file) => !packed.includes(file))).toEqual([]);
    for (const asl of readdirSync(join(REPO_ROOT, 'statemachines'))) {
      expect(packed).toContain(`statemachines/${asl}`);
    }
  });

  it('holds none of the tests, benchmarks, local state or build output', () => {
    const unwanted = packed.filter((file) =>
      /^(test|bench|cdk\.out|\.offboard|dist|coverage|node_modules|\.ci)\//.test(file),
    );
    expect(unwanted).toEqual([]);
    expect(packed).not.toContain('package-lock.json');
  });

  it('installs, as dependencies, every package synth and the bundles import, esbuild too', () => {
    // Prepare: NodejsFunction runs esbuild from the consumer's node_modules.
    const needed = [...reads.packages, 'esbuild'];

    // Assess: a devDependency is not installed with the package, so bundling would fail.
    expect(needed).toContain('@middy/core');
    expect(needed.filter((name) => !(name in PACKAGE_JSON.dependencies))).toEqual([]);
  });
});

describe('where the Lambda handlers are bundled from', () => {
  let root: string;
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'offboard-bundling-root-'));
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('a clone: the package itself, with its own package-lock.json', () => {
    expect(bundlingRoot(REPO_ROOT)).toEqual({
      projectRoot: REPO_ROOT,
      depsLockFilePath: join(REPO_ROOT, 'package-lock.json'),
    });
  });

  it('an installed copy, which npm packs without a lock file: the project that installed it', () => {
    // Prepare: a consumer that installed the package with npm, and one with pnpm.
    const npmPackage = join(root, 'hr-tools', 'node_modules', 'offboard');
    mkdirSync(npmPackage, { recursive: true });
    writeFileSync(join(root, 'hr-tools', 'package-lock.json'), '{}');
    const pnpmPackage = join(
      root,
      'pnpm-app',
      'node_modules',
      '.pnpm',
      'offboard@0.1.0',
      'node_modules',
      'offboard',
    );
    mkdirSync(pnpmPackage, { recursive: true });
    writeFileSync(join(root, 'pnpm-app', 'pnpm-lock.yaml'), '');

    // Act & Assess: the lock file is under projectRoot, which holds the package's entries.
    expect(bundlingRoot(npmPackage)).toEqual({
      projectRoot: join(root, 'hr-tools'),
      depsLockFilePath: join(root, 'hr-tools', 'package-lock.json'),
    });
    expect(bundlingRoot(pnpmPackage)).toEqual({
      projectRoot: join(root, 'pnpm-app'),
      depsLockFilePath: join(root, 'pnpm-app', 'pnpm-lock.yaml'),
    });
  });

  it('a copy with no lock file in or above it: an error naming the package', () => {
    const lone = join(root, 'lone', 'offboard');
    mkdirSync(lone, { recursive: true });
    // A lock file in the temporary directory's parents (none on a usual machine) would be found.
    expect(() => bundlingRoot(lone)).toThrow(`${lone}: no package-lock.json in the package`);
  });

  it('an installed copy whose zod npm hoisted: zod bundled whole, the lean alias only where it resolves', () => {
    expect(bundleAliases(REPO_ROOT)).toHaveProperty('zod');
    expect(bundleAliases(join(root, 'hr-tools', 'node_modules', 'offboard'))).toEqual({});
  });
});
