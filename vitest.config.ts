import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/helpers/own-local-state.ts'],
    testTimeout: 30_000,
    // The local ledger is Node's built-in SQLite, which Node 22 still flags experimental.
    execArgv: ['--disable-warning=ExperimentalWarning'],
    hookTimeout: 60_000,
    // Logs from Powertools in handlers under test stay quiet unless a test turns them on.
    env: { POWERTOOLS_LOG_LEVEL: 'SILENT', POWERTOOLS_DEV: 'false' },
  },
});
