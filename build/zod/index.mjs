// zod's own entry (node_modules/zod/index.js), over the lean namespace below. esbuild's
// `alias` points `zod` here in every bundle (build/esbuild.ts); TypeScript still reads zod's types.
import * as z from './external.mjs';

export * from './external.mjs';
export { z, z as default };
