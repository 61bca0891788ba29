// The BlobStore on the local disk: one file per blob, or an append to a pack file for small ones.
import { randomBytes, randomUUID } from 'node:crypto';
import { link, mkdir, open, opendir, readdir, readFile, rename, rm, stat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeInto } from '../../util/pipe-into.js';
import { readUpTo } from '../../util/read-up-to.js';
import { removeFilesOlderThan } from '../../util/remove-old-files.js';
import { BlobPacks, isPackedKey, MAX_PACKED } from './blob-packs.js';
import type { BlobStore, ByteRange, ResumableStorage, StoredBlob } from './blob-store.js';
import { SharedRuns } from '../../util/shared-run.js';
import { syncDir } from './sync-dir.js';
import { LocalResumableBytes } from './local-resumable.js';
import { DurableFileSink } from './durable-file-sink.js';

const KEY = /^[0-9a-f]{32}$/;
const IO_CHUNK = 1 << 20;
/** How much a blob write lets reach the page cache before it starts the next writeback (see DurableFileSink). */
const WRITEBACK_EVERY = 8 << 20;

/** Blobs up to this size go into packs unless the store is told otherwise. */
export const DEFAULT_PACK_UP_TO = 64 << 10;

/** How many directories the store remembers having made (one a second while it writes). */
const MADE_DIRS_KEPT = 1024;

export interface LocalBlobOptions {
  /** Blobs of at most this many bytes go into shared pack files (see BlobPacks); 0: every blob is a file. */
  packUpTo?: number;
}

/**
 * Blobs up to `packUpTo` bytes (64 KiB unless told) in shared pack files under `<root>/packs/`; larger
 * ones as files under `<root>/blobs/ab/cd/<key>`. A file is written to `<root>/tmp` first (same
 * filesystem), fsynced, then renamed into place, so a blob is either whole or absent.
 *
 * A key starts with the current second (mod 2^16, 4 hex digits), so the blobs written in the same
 * second land in the same `ab/cd` directory: it is made once, and one fsync of it makes all their
 * new entries durable. With random keys every blob paid a `mkdir`, an `open`, an fsync and a `close`
 * of a directory of its own. The other 112 bits of a key are random.
 */
export class LocalBlobStore implements BlobStore {
  private readonly blobsDir: string;
  private readonly stagingDir: string;
  private readonly dirSyncs = new SharedRuns(syncDir);
  private readonly madeDirs = new Map<string, Promise<void>>();
  /** Where the pack files are (`<root>/packs`), for a backup to copy them whole. */
  readonly packsDir: string;
  private readonly packs: BlobPacks;
  private readonly packUpTo: number;
  private readonly resumableDir: string;
  /** Unfinished resumable uploads' files, under `<root>/resumable/`. */
  readonly inPlace: LocalResumableBytes;
  readonly resumable: ResumableStorage;

  constructor(root: string, options: LocalBlobOptions = {}) {
    this.blobsDir = join(root, 'blobs');
    this.stagingDir = join(root, 'tmp');
    this.resumableDir = join(root, 'resumable');
    this.inPlace = new LocalResumableBytes(this.resumableDir, (path, size) => this.adopt(path, size));
    this.resumable = { kind: 'in-place', bytes: this.inPlace };
    this.packsDir = join(root, 'packs');
    this.packs = new BlobPacks(this.packsDir);
    this.packUpTo = options.packUpTo ?? DEFAULT_PACK_UP_TO;
    if (!(this.packUpTo >= 0 && this.packUpTo <= MAX_PACKED)) throw new Error(`packUpTo must be 0 to ${MAX_PACKED} bytes`);
  }

  async init(): Promise<void> {
    for (const dir of [this.blobsDir, this.stagingDir, this.packsDir, this.resumableDir]) await mkdir(dir, { recursive: true });
  }

  private pathOf(key: string): string {
    return join(this.blobsDir, this.filePath(key));
  }

  /** Null for a packed blob: it is not a file of its own. */
  relativePath(key: string): string | null {
    if (isPackedKey(key)) return null;
    return this.filePath(key);
  }

  private filePath(key: string): string {
    // The only way to a path: a key of our own shape, so no input can reach outside the root.
    if (!KEY.test(key)) throw new Error(`invalid blob key ${JSON.stringify(key)}`);
    return `${key.slice(0, 2)}/${key.slice(2, 4)}/${key}`;
  }

  async write(source: Readable): Promise<StoredBlob> {
    if (this.packUpTo === 0) return this.writeFile(source);
    const { head, ended } = await readUpTo(source, this.packUpTo);
    if (!ended) return this.writeFile(source);
    return { key: await this.packs.append(head), size: head.length };
  }

  private async writeFile(source: Readable): Promise<StoredBlob> {
    const key = keyForThisSecond();
    const staging = join(this.stagingDir, `${key}.${randomUUID()}`);
    const file = await open(staging, 'wx');
    const sink = new DurableFileSink(file, { writebackEvery: WRITEBACK_EVERY });
    try {
      await pipeInto(source, sink);
    } catch (err) {
      await file.close().catch(() => undefined);
      await unlink(staging).catch(() => undefined);
      throw err;
    }
    await file.close();
    try {
      await this.place(staging, key);
    } catch (err) {
      await unlink(staging).catch(() => undefined);
      throw err;
    }
    return { key, size: sink.bytesWritten };
  }

  /** Renames a durable file into the blob directory under `key`, and makes the rename durable. */
  private async place(source: string, key: string): Promise<void> {
    const target = this.pathOf(key);
    const dir = join(target, '..');
    await this.makeDir(dir);
    await rename(source, target).catch(async (err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
      // The directory was removed after this store made it (by hand): make it again, once.
      this.madeDirs.delete(dir);
      await this.makeDir(dir);
      await rename(source, target);
    });
    await this.dirSyncs.request(dir);
  }

  /**
   * A complete resumable upload's file (fsynced) becomes a blob too: a pack entry when small, else a
   * second name for the same file (a hard link, renamed into place). The upload keeps its own name
   * until it is recorded and released, so a crash in between loses nothing.
   */
  private async adopt(path: string, size: number): Promise<StoredBlob> {
    if (size <= this.packUpTo) return { key: await this.packs.append(await readFile(path)), size };
    const key = keyForThisSecond();
    const staging = join(this.stagingDir, `${key}.${randomUUID()}`);
    await link(path, staging);
    try {
      await this.place(staging, key);
    } catch (err) {
      await unlink(staging).catch(() => undefined);
      throw err;
    }
    return { key, size };
  }

  /**
   * Makes a blob directory once; concurrent callers share the work. A directory it had to create is
   * made durable in its parent (and the parent in its own, if new) before anyone renames into it.
   */
  private makeDir(dir: string): Promise<void> {
    let made = this.madeDirs.get(dir);
    if (!made) {
      if (this.madeDirs.size >= MADE_DIRS_KEPT) this.madeDirs.clear();
      made = mkdir(dir, { recursive: true }).then(async (first) => {
        if (first === undefined) return;
        for (let created = dir; ; created = dirname(created)) {
          await syncDir(dirname(created));
          if (created === first) break;
        }
      });
      made.catch(() => this.madeDirs.delete(dir));
      this.madeDirs.set(dir, made);
    }
    return made;
  }

  async read(key: string, range?: ByteRange): Promise<Readable | null> {
    if (isPackedKey(key)) {
      const bytes = await this.packs.read(key);
      if (!bytes) return null;
      return Readable.from([range ? bytes.subarray(range.start, range.end + 1) : bytes], { objectMode: false });
    }
    const path = this.pathOf(key);
    const handle = await open(path, 'r').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return null;
      throw err;
    });
    if (!handle) return null;
    // The stream owns the handle and closes it when it ends or is destroyed.
    return handle.createReadStream({ start: range?.start, end: range?.end, highWaterMark: IO_CHUNK });
  }

  async size(key: string): Promise<number | null> {
    if (isPackedKey(key)) return (await this.packs.read(key))?.length ?? null;
    try {
      return (await stat(this.pathOf(key))).size;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    if (isPackedKey(key)) return this.packs.delete(key);
    await rm(this.pathOf(key), { force: true });
  }

  localPath(key: string): string | null {
    return isPackedKey(key) ? null : this.pathOf(key);
  }

  async downloadUrl(): Promise<null> {
    return null;
  }

  close(): void {
    this.packs.close();
  }

  reclaim(before: number): Promise<number> {
    return this.packs.reclaim(before);
  }

  async *listOlderThan(before: number): AsyncIterable<string> {
    for (const a of await readdirOrEmpty(this.blobsDir)) {
      for (const b of await readdirOrEmpty(join(this.blobsDir, a))) {
        const dir = await opendir(join(this.blobsDir, a, b));
        for await (const entry of dir) {
          if (!KEY.test(entry.name)) continue;
          const info = await stat(join(dir.path, entry.name)).catch(() => null);
          if (info && info.mtimeMs < before) yield entry.name;
        }
      }
    }
    yield* this.packs.listOlderThan(before);
  }

  /** Multipart uploads are S3's; every staging file here is a crash's leftover once old enough. */
  async sweepStaging(before: number): Promise<number> {
    return removeFilesOlderThan(this.stagingDir, before);
  }
}

/** 32 hex digits: the current second mod 2^16, then 14 random bytes. */
function keyForThisSecond(): string {
  const second = Math.floor(Date.now() / 1000) & 0xffff;
  return second.toString(16).padStart(4, '0') + randomBytes(14).toString('hex');
}

async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}
