import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { afterAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { LAMBDA_ESBUILD } from '../../build/esbuild';
// @ts-expect-error: plain JavaScript without types; the test compares it with zod's own namespace.
import { z as leanZ } from '../../build/zod/index.mjs';

/**
 * The Lambda bundles take zod without its locales and its compiler (build/zod, through
 * esbuild's alias): what a person reads in an error must not change, and nothing may call
 * what was left out, since the tests themselves run against zod whole.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'offboard-esbuild-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** zod's own words for a few mistakes, with the messages zod words itself (no custom message). */
function wordsFor(zod: typeof z, value: unknown): string[] {
  const schema = zod
    .object({ email: zod.email(), count: zod.number().int().min(1), kind: zod.enum(['a', 'b']) })
    .strict();
  return schema.safeParse(value).error?.issues.map((issue) => issue.message) ?? [];
}

const MISTAKES: unknown[] = [
  { email: 'jane', count: 0.5, kind: 'c', extra: true },
  { count: '1' },
  'not an object',
];

describe('zod in the Lambda bundles', () => {
  it('words every mistake in the English zod itself uses, and carries no other language', async () => {
    // Prepare: a bundle built with the Lambda options, holding the same schema
    const outfile = join(dir, 'words.mjs');
    await build({
      ...LAMBDA_ESBUILD,
      absWorkingDir: ROOT,
      stdin: {
        contents: `import { z } from 'zod';\nexport { z };`,
        resolveDir: ROOT,
        loader: 'ts',
      },
      outfile,
      logLevel: 'silent',
    });
    const bundled = (await import(pathToFileURL(outfile).href)) as { z: typeof z };

    // Act
    const fromBundle = MISTAKES.map((value) => wordsFor(bundled.z, value));
    const fromZod = MISTAKES.map((value) => wordsFor(z, value));

    // Assess
    expect(fromBundle).toEqual(fromZod);
    expect(fromBundle.flat()).toContain('Invalid email address');
    const code = readFileSync(outfile, 'utf8');
    // German and Japanese, from zod's locales: left out.
    expect(code).not.toContain('Ungültige Eingabe');
    expect(code).not.toContain('無効な入力');
  });

  it('has every name zod has, at the top and under core', () => {
    expect(Object.keys(leanZ).sort()).toEqual(Object.keys(z).sort());
    expect(Object.keys(leanZ.core).sort()).toEqual(Object.keys(z.core).sort());
    expect(Object.keys(leanZ.locales)).toEqual(['en']);
  });

  it('is never asked, in our code, for what it leaves out (locales, the compiler, fromJSONSchema)', () => {
    // Prepare: every TypeScript source that ends up in a bundle
    const sources = ['lambdas', 'lib', 'local', 'cli', 'sandboxes'].flatMap((top) =>
      readdirSync(join(ROOT, top), { recursive: true })
        .map(String)
        .filter((file) => file.endsWith('.ts'))
        .map((file) => join(top, file)),
    );
    const leftOut = /\bz\.(?:core\.)?(?:locales|compile|compileFn|withParser|fromJSONSchema)\b|from 'zod\//;

    // Act
    const callers = sources.filter((file) => leftOut.test(readFileSync(join(ROOT, file), 'utf8')));

    // Assess
    expect(sources.length).toBeGreaterThan(20);
    expect(callers).toEqual([]);
  });
});
