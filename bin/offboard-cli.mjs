#!/usr/bin/env node
// `npx offboard ...`: runs the TypeScript command line through tsx, on the project's Node 22.
import { register } from 'tsx/esm/api';

// The handlers' JSON logs are for CloudWatch; on a terminal they would bury the result.
// Set POWERTOOLS_LOG_LEVEL=INFO to see them. (Read when the logger is built, so set it first.)
process.env.POWERTOOLS_LOG_LEVEL ??= 'SILENT';
register();
const { main } = await import('../cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
