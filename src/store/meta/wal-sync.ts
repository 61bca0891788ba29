import { open, type FileHandle } from 'node:fs/promises';

/**
 * Makes SQLite's write-ahead log durable without stopping the event loop. With `synchronous = NORMAL`
 * a commit only write()s its frames to the WAL; `flush()` then fdatasyncs the WAL file on libuv's
 * pool. fdatasync covers every page of the file whoever wrote it, and the WAL is replayed in order,
 * so once it returns, the caller's commit and all before it survive a power cut, as with
 * `synchronous = FULL`. Callers that ask while a sync runs share the next one: the running sync may
 * have started before their commit.
 *
 * After a failed fdatasync the kernel may have dropped the pages it could not write, and a later
 * fdatasync would not say so: from then on every flush fails, as PostgreSQL stops, until a restart.
 */
export class WalSync {
  private handle: FileHandle | null = null;
  private running: Promise<void> | null = null;
  private next: Promise<void> | null = null;
  private failure: Error | null = null;

  constructor(private readonly path: string) {}

  flush(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.next) return this.next;
    if (!this.running) return this.start();
    this.next = this.running.then(
      () => this.start(),
      () => this.start(),
    );
    return this.next;
  }

  /** Waits for a sync under way, then closes the file. */
  async close(): Promise<void> {
    await (this.next ?? this.running)?.catch(() => undefined);
    await this.handle?.close();
    this.handle = null;
  }

  private start(): Promise<void> {
    this.next = null;
    if (this.failure) return Promise.reject(this.failure);
    const run: Promise<void> = this.sync().finally(() => {
      if (this.running === run) this.running = null;
    });
    this.running = run;
    return run;
  }

  private async sync(): Promise<void> {
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
