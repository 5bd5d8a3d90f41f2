import { randomBytes } from 'node:crypto';
import { link, open, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/**
 * Writes a file whole: under a temporary dot-name beside it, then linked (`exclusive`: fails
 * with EEXIST when the file is there) or renamed into place. A reader in another terminal
 * sees no file or the whole file, never the empty one `writeFile` leaves between creating and
 * writing it. `durable` flushes it to disk first, so a crash leaves the old file or the new.
 */
export async function writeWhole(
  file: string,
  data: string | Uint8Array,
  options: { exclusive?: boolean; mode?: number; durable?: boolean } = {},
): Promise<void> {
  const temporary = join(dirname(file), `.${basename(file)}.${randomBytes(8).toString('hex')}.tmp`);
  const mode = options.mode ? { mode: options.mode } : {};
  try {
    await writeFile(temporary, data, { flag: 'wx', ...mode });
    if (options.durable) await flush(temporary);
    if (!options.exclusive) await rename(temporary, file);
    else await link(temporary, file).catch(linkFailed);
  } finally {
    // Only tidying: the file is in place (or the error above says why not).
    await rm(temporary, { force: true }).catch(() => undefined);
  }

  /** A link refused: made anyway, or there already, or a file system without hard links. */
  async function linkFailed(error: NodeJS.ErrnoException): Promise<void> {
    // NFS: a retried link whose first try worked answers EEXIST; the temporary then has two names.
    if (error.code === 'EEXIST' && (await stat(temporary).catch(() => undefined))?.nlink === 2) return;
    // Some network and FUSE mounts have no hard links: created exclusively in place, as before,
    // with the gap this function otherwise closes (readers treat an empty file as not yet there).
    if (!NO_HARD_LINKS.has(String(error.code))) throw error;
    await writeFile(file, data, { flag: 'wx', ...mode });
  }
}

const NO_HARD_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS']);

async function flush(file: string): Promise<void> {
  const handle = await open(file, 'r+');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
