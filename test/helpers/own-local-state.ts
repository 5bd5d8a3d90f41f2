import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Runs before every test file (vitest's setupFiles): the file's local ledger and tasks live in
 * a directory of its own, never in the clone's `.offboard/`, which `npm run demo` and a
 * developer's own runs use and which test files running side by side would share. A file that
 * names its own directories sets them after this.
 */
const dir = mkdtempSync(join(tmpdir(), 'offboard-test-state-'));
process.env.OFFBOARD_LEDGER_DIR = join(dir, 'ledger');
process.env.OFFBOARD_TASKS_DIR = join(dir, 'tasks');
