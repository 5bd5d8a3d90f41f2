// zod features the bundles leave out: nothing in offboard calls them, and together they are
// 43 KiB of a 190 KiB zod. The ahead-of-time compiler (core/compile.js) is opt-in, and
// fromJSONSchema builds schemas from JSON Schema documents. Calling one in a bundle says so;
// the tests run against the real zod (test/build/esbuild.test.ts checks that no source calls them).
function leftOut(name) {
  const fn = () => {
    throw new Error(`zod: ${name} is left out of offboard's bundles (build/zod/left-out.mjs)`);
  };
  Object.defineProperty(fn, 'name', { value: name });
  return fn;
}

export const compile = leftOut('compile');
export const compileFn = leftOut('compileFn');
export const withParser = leftOut('withParser');
export const fromJSONSchema = leftOut('fromJSONSchema');
/** As zod's: a registered symbol, the same one the parser compares with. */
export const INVALID = Symbol.for('zod.compile.invalid');
export class ZodCompileAsyncError extends Error {}
export class ZodCompileUnsupportedError extends Error {}
