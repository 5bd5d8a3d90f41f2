/**
 * The esbuild options of every Lambda bundle, in one place: the CDK construct gives them to
 * NodejsFunction (lib/constructs/offboard-function.ts), the benchmark to esbuild's API
 * (bench/bundles.ts), and the CLI bundle takes the parts that apply to it (build/cli.ts).
 *
 * Plain TypeScript that Node runs as is (types only, no other import of ours): build/cli.ts
 * runs under `node` alone, before anything is compiled.
 */
import { fileURLToPath } from 'node:url';
import type { BuildOptions } from 'esbuild';

/**
 * zod without its locales and its opt-in compiler: esbuild's `alias` points `zod` at
 * build/zod/index.mjs, which is zod's own entry over a leaner namespace (145 KiB of a bundle
 * instead of 459; English messages as before). TypeScript and the tests use zod itself.
 */
export const ZOD_ALIAS: Readonly<Record<string, string>> = {
  zod: fileURLToPath(new URL('./zod/index.mjs', import.meta.url)),
};

/**
 * Some dependencies still call require() for Node built-ins; an ES module has no require.
 * The Lambda bundles and the CLI bundle start with it.
 */
export const REQUIRE_SHIM =
  "import { createRequire } from 'module'; const require = createRequire(import.meta.url);";

/**
 * How every Lambda handler is bundled, as esbuild's API takes it: one ES module for Node 22,
 * minified, with a source map (NODE_OPTIONS=--enable-source-maps reads it). The AWS SDK is
 * not in it: NodejsFunction leaves `@aws-sdk/*` (and `@smithy/*`, by cdk.json's feature flag)
 * to the Lambda runtime; a caller of the API says so with `external`.
 */
export const LAMBDA_ESBUILD = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node22',
  minify: true,
  // Error classes' names are matched by the state machine's Retry/Catch. They set a literal
  // `this.name` too, but keeping names also keeps stack traces readable.
  keepNames: true,
  sourcemap: true,
  // Stack traces need the mappings, not our source text: without it the map is a third the
  // size, and Node (--enable-source-maps) parses it at every cold start.
  sourcesContent: false,
  mainFields: ['module', 'main'],
  banner: { js: REQUIRE_SHIM },
  alias: ZOD_ALIAS,
} satisfies BuildOptions;
