// fdatasync of SQLite's write-ahead log on the thread pool, shared by the commits waiting for it.
import { open, type FileHandle } from 'node:fs/promises';
import { SharedRun } from '../../util/shared-run.js';

/**
 * Makes SQLite's write-ahead log durable without stopping the event loop. With `synchronous = NORMAL`
 * a commit only write()s its frames to the WAL; `flush()` then fdatasyncs the WAL file on libuv's
 * pool. fdatasync covers every page of the file whoever wrote it, and the WAL is replayed in order,
 * so once it returns, the caller's commit and all before it survive a power cut, as with
 * `synchronous = FULL`. Callers that ask while a sync runs share the next one (SharedRun).
 *
 * After a failed fdatasync the kernel may have dropped the pages it could not write, and a later
 * fdatasync would not say so: from then on every flush fails, as PostgreSQL stops, until a restart.
 */
export class WalSync {
  private handle: FileHandle | null = null;
  private failure: Error | null = null;
  private readonly syncs = new SharedRun(() => this.sync());

  constructor(private readonly path: string) {}

  flush(): Promise<void> {
    return this.syncs.request();
  }

  /** Waits for the syncs asked for, then closes the file. */
  async close(): Promise<void> {
    await this.syncs.settled();
    await this.handle?.close();
    this.handle = null;
  }

  private async sync(): Promise<void> {
    if (this.failure) throw this.failure;
    try {
      // Opened once the WAL surely exists (after a commit); SQLite keeps it while a connection is open.
      this.handle ??= await open(this.path, 'r');
      await this.handle.datasync();
    } catch (err) {
      this.failure = new Error(`fdatasync of ${this.path} failed; restart Affix once the disk is healthy`, { cause: err });
      throw this.failure;
    }
  }
}
