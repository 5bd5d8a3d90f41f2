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
  const mode = options.mode ? { mode: options.mode } : {};
  await writeFile(temporary, data, { flag: 'wx', ...mode });
  try {
    if (!options.exclusive) await rename(temporary, file);
    else
      await link(temporary, file).catch(async (error: NodeJS.ErrnoException) => {
        // A file system without hard links (some network and FUSE mounts): created
        // exclusively in place, as before, with the gap this function otherwise closes.
        if (error.code !== 'EPERM' && error.code !== 'ENOTSUP' && error.code !== 'EOPNOTSUPP') throw error;
        await writeFile(file, data, { flag: 'wx', ...mode });
      });
  } finally {
    await rm(temporary, { force: true });
  }
}
