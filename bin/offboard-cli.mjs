#!/usr/bin/env node
// `npx offboard ...`: runs the TypeScript command line through tsx, on the project's Node 22.
import { register } from 'tsx/esm/api';

// The handlers' JSON logs are for CloudWatch; on a terminal they would bury the result.
// Set POWERTOOLS_LOG_LEVEL=INFO to see them. (Read when the logger is built, so set it first.)
process.env.POWERTOOLS_LOG_LEVEL ??= 'SILENT';
// The local ledger is Node's built-in SQLite, which Node 22 still calls experimental, on
// every start, on stderr. Every other warning is printed as Node would.
const printWarning = process.listeners('warning');
process.removeAllListeners('warning');
process.on('warning', (warning) => {
  if (warning.name === 'ExperimentalWarning' && /SQLite/.test(warning.message)) return;
  for (const print of printWarning) print(warning);
});
register();
const { main } = await import('../cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
