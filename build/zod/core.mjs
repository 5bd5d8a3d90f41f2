// zod's core namespace (`z.core`), lean as external.mjs says.
export * from '../../node_modules/zod/v4/core/index.js';
export {
  compile,
  compileFn,
  INVALID,
  withParser,
  ZodCompileAsyncError,
  ZodCompileUnsupportedError,
} from './left-out.mjs';
export * as locales from './locales.mjs';
