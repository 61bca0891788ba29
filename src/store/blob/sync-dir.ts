// fsync of a directory, so renames into it survive a crash.
import { open } from 'node:fs/promises';

/** Makes a directory's entries durable: a new or renamed file is found after a crash only then. */
export async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
