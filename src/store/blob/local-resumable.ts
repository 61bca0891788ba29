// Resumable uploads' bytes on the local disk: one file per upload, appended in place and fsynced, linked into a blob when complete.
import { constants, createReadStream } from 'node:fs';
import { open, opendir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeInto } from '../../util/pipe-into.js';
import type { ByteRange, ResumableBytes, StoredBlob } from './blob-store.js';
import { DurableFileSink } from './durable-file-sink.js';
import { syncDir } from './sync-dir.js';

const UPLOAD_ID = /^[0-9a-f]{32}$/;
/** A PATCH's bytes reach the disk while it arrives, so its final sync has little left to write. */
const WRITEBACK_EVERY = 2 << 20;

export class LocalResumableBytes implements ResumableBytes {
  constructor(
    private readonly dir: string,
    /** Makes a complete file a blob of the store too (the file keeps its name). */
    private readonly adopt: (path: string, size: number) => Promise<StoredBlob>,
  ) {}

  private pathOf(uploadId: string): string {
    // Ids are ours (32 hex); nothing a client sends reaches a path otherwise.
    if (!UPLOAD_ID.test(uploadId)) throw new Error(`invalid upload id ${JSON.stringify(uploadId)}`);
    return join(this.dir, uploadId);
  }

  async append(uploadId: string, offset: number, source: Readable): Promise<number> {
    const path = this.pathOf(uploadId);
    // The first append makes the file: its directory entry is made durable too, before any answer.
    let created = false;
    const file = await open(path, constants.O_RDWR).catch(async (err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
      created = true;
      return open(path, constants.O_RDWR | constants.O_CREAT, 0o600);
    });
    try {
      const { size } = await file.stat();
      if (size < offset) throw new Error(`upload ${uploadId} holds ${size} bytes, fewer than its recorded offset ${offset}`);
      // Bytes a killed process wrote past the recorded offset were never acknowledged: they go.
      if (size > offset) await file.truncate(offset);
      const sink = new DurableFileSink(file, { position: offset, writebackEvery: WRITEBACK_EVERY });
      await pipeInto(source, sink);
      if (created) await syncDir(this.dir);
      return sink.bytesWritten;
    } finally {
      await file.close();
    }
  }

  async truncate(uploadId: string, length: number): Promise<void> {
    const file = await open(this.pathOf(uploadId), constants.O_RDWR | constants.O_CREAT, 0o600);
    try {
      await file.truncate(length);
      await file.datasync();
    } finally {
      await file.close();
    }
  }

  async read(uploadId: string, range?: ByteRange): Promise<Readable | null> {
    const path = this.pathOf(uploadId);
    const exists = await stat(path).then(() => true, () => false);
    return exists ? createReadStream(path, range ? { start: range.start, end: range.end } : {}) : null;
  }

  async complete(uploadId: string): Promise<StoredBlob> {
    const path = this.pathOf(uploadId);
    return this.adopt(path, (await stat(path)).size);
  }

  async remove(uploadId: string): Promise<void> {
    await rm(this.pathOf(uploadId), { force: true });
  }

  async *listOlderThan(before: number): AsyncIterable<string> {
    const dir = await opendir(this.dir).catch(() => null);
    if (!dir) return;
    for await (const entry of dir) {
      if (!entry.isFile() || !UPLOAD_ID.test(entry.name)) continue;
      const info = await stat(join(this.dir, entry.name)).catch(() => null);
      if (info && info.mtimeMs < before) yield entry.name;
    }
  }
}
