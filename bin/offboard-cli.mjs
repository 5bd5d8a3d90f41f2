#!/usr/bin/env node
// `npx offboard ...`: the command line, bundled into dist/ by build/cli.ts and run by Node
// alone, on the project's Node 22. When a file the bundle was built from changed since (an
// edit, a checkout, an install), it is built again first: a stale bundle never runs.
import { readFileSync, statSync } from 'node:fs';

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

const ROOT = new URL('../', import.meta.url);
const { main } = await import(await bundleEntry());
process.exitCode = await main(process.argv.slice(2));

/** The bundle's entry module, built first when there is none or it is stale. */
async function bundleEntry() {
  let manifest = readManifest();
  if (!manifest || isStale(manifest)) {
    const { buildCli } = await import('../build/cli.ts');
    manifest = await buildCli();
  }
  return new URL(`dist/${manifest.entry}`, ROOT).href;
}

/** dist/cli.json (build/cli.ts, CliManifest), or undefined when there is none yet. */
function readManifest() {
  try {
    return JSON.parse(readFileSync(new URL('dist/cli.json', ROOT), 'utf8'));
  } catch {
    return undefined;
  }
}

/**
 * A file the bundle was built from differs from when it was built (its date or size: an older
 * date too, as a file put back from a copy keeps it), or is gone, or the bundle itself is gone:
 * about 70 stats, a millisecond.
 */
function isStale(manifest) {
  const stampOf = (file) => {
    try {
      const { mtimeMs, size } = statSync(new URL(file, ROOT));
      return [mtimeMs, size];
    } catch {
      return undefined;
    }
  };
  if (!stampOf(`dist/${manifest.entry}`) || !manifest.stamps) return true;
  return manifest.inputs.some((file) => {
    const now = stampOf(file);
    const then = manifest.stamps[file];
    return !now || !then || now[0] !== then[0] || now[1] !== then[1];
  });
}
