import { randomBytes } from 'node:crypto';
import { link, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/**
 * Writes a file whole: under a temporary dot-name beside it, then linked (`exclusive`: fails
 * with EEXIST when the file is there) or renamed into place. A reader in another terminal
 * sees no file or the whole file, never the empty one `writeFile` leaves between creating and
 * writing it.
 */
export async function writeWhole(
  file: string,
  data: string | Uint8Array,
  options: { exclusive?: boolean; mode?: number } = {},
): Promise<void> {
  const temporary = join(dirname(file), `.${basename(file)}.${randomBytes(8).toString('hex')}.tmp`);
  await writeFile(temporary, data, { flag: 'wx', ...(options.mode ? { mode: options.mode } : {}) });
  try {
    if (options.exclusive) await link(temporary, file);
    else await rename(temporary, file);
  } finally {
    await rm(temporary, { force: true });
  }
}
