// Deletes files left in a scratch directory past their time.
import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';

/** Removes the files directly in `dir` last modified before `before` (ms); a missing directory has none. Returns how many. */
export async function removeFilesOlderThan(dir: string, before: number): Promise<number> {
  let removed = 0;
  const names = await readdir(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [];
    throw err;
  });
  for (const name of names) {
    const path = join(dir, name);
    const info = await stat(path).catch(() => null);
    if (info && info.mtimeMs < before) {
      await rm(path, { force: true });
      removed++;
    }
  }
  return removed;
}
