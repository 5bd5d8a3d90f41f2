// The one locale kept: English, the one zod configures itself on first use.
export { default as en } from '../../node_modules/zod/v4/locales/en.js';
