// zod's classic namespace (`z`), lean. `z` re-exports `locales` and `core` (which re-exports
// `locales` too), and a bundler must keep every property of a namespace used as a value: so
// every locale, 261 KiB, was in every bundle. Names exported here take precedence over the
// same names of `export *`: `locales`, `core` and the features of left-out.mjs are replaced,
// everything else is zod's own. The relative path skips the alias, which matches `zod/...` too.
export * from '../../node_modules/zod/v4/classic/external.js';
export * as core from './core.mjs';
export {
  compile,
  fromJSONSchema,
  INVALID,
  withParser,
  ZodCompileAsyncError,
  ZodCompileUnsupportedError,
} from './left-out.mjs';
export * as locales from './locales.mjs';
