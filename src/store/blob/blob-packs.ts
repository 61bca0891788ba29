// Pack files for small blobs: batched appends, reads by key, zeroing on delete, compaction.
import { randomBytes, randomInt } from 'node:crypto';
import { type FileHandle, open, readdir, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { syncDir } from './sync-dir.js';
import { shortWrite } from './short-write.js';

/**
 * Small blobs appended to shared pack files (`<dir>/<pack>`), as Haystack or SeaweedFS volumes keep
 * them: a blob costs no file of its own, and the appends of everyone writing at the same moment reach
 * the disk in one `writev` and one `fdatasync`. A file per 16 KiB blob had cost a create, an fsync, a
 * rename and a share of a directory fsync.
 *
 * A key says where its blob is: `p`, the pack (12 hex digits: its creation second, then 16 random
 * bits), the needle's offset (7), the blob's length (5) and a random cookie (7) that the needle's
 * header must repeat. So any process on the same directory can read a blob without an index.
 *
 * A pack is appended only by the process that created it, for at most ROLL_AFTER_MS and up to
 * PACK_BYTES; a batch resolves only after the fdatasync that covers it, and a pack whose write failed
 * takes no more appends. So a pack is a run of whole needles, then at most a torn tail that nobody was
 * told about: a scan stops at the first header that does not hold.
 *
 * Deleting a blob flags its header and overwrites its bytes with zeros at once (not fsynced, like the
 * removal of a blob file: should a crash undo it, the orphan sweep finds the blob again). The space comes back
 * in `reclaim`: a pack with no live blob is removed, and one mostly dead is copied sparsely, each live
 * needle at its own offset (so keys stay valid) and each run of dead ones as one header over a hole.
 */
export class BlobPacks {
  private active: ActivePack | null = null;
  /** Deletes and compactions of one pack, one at a time in this process. */
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(private readonly dir: string) {}

  async append(data: Buffer): Promise<string> {
    if (data.length > MAX_PACKED) throw new Error(`a packed blob holds at most ${MAX_PACKED} bytes`);
    const pack = this.packWithRoomFor(HEADER + data.length);
    const cookie = randomInt(COOKIE_LIMIT);
    const { offset, durable } = pack.append([encodeHeader({ flags: 0, length: data.length, cookie, writtenAt: Date.now() }), data]);
    await durable;
    return packedKey(pack.name, offset, data.length, cookie);
  }

  /** The blob's bytes, or null when the key names nothing live. */
  async read(key: string): Promise<Buffer | null> {
    const where = parsePackedKey(key);
    const handle = await this.openPack(where.pack, 'r');
    if (!handle) return null;
    try {
      const needle = Buffer.allocUnsafe(HEADER + where.length);
      const { bytesRead } = await handle.read(needle, 0, needle.length, where.offset);
      const header = decodeHeader(needle);
      if (bytesRead < needle.length || !header || !isLiveNeedle(header, where)) return null;
      return needle.subarray(HEADER);
    } finally {
      await handle.close();
    }
  }

  async delete(key: string): Promise<void> {
    const where = parsePackedKey(key);
    await this.withLock(where.pack, async () => {
      const handle = await this.openPack(where.pack, 'r+');
      if (!handle) return;
      try {
        const header = Buffer.alloc(HEADER);
        await handle.read(header, 0, HEADER, where.offset);
        const found = decodeHeader(header);
        if (!found || !isLiveNeedle(found, where)) return;
        // The header and its zeroed bytes in one write: nothing of the blob is left readable.
        const dead = Buffer.alloc(HEADER + where.length);
        encodeHeader({ ...found, flags: DELETED }).copy(dead);
        await handle.write(dead, 0, dead.length, where.offset);
      } finally {
        await handle.close();
      }
    });
  }

  /** Keys of live packed blobs written before `before` (ms). */
  async *listOlderThan(before: number): AsyncIterable<string> {
    for (const pack of await this.packNames()) {
      const handle = await this.openPack(pack, 'r');
      if (!handle) continue;
      try {
        for await (const needle of scanNeedles(handle, (await handle.stat()).size)) {
          if (!(needle.flags & DELETED) && needle.writtenAt < before) yield packedKey(pack, needle.offset, needle.length, needle.cookie);
        }
      } finally {
        await handle.close();
      }
    }
  }

  /**
   * Gives back the space of deleted blobs in packs created before `before` minus ROLL_AFTER_MS (so no
   * process still appends to them); returns the bytes freed.
   */
  async reclaim(before: number): Promise<number> {
    let freed = 0;
    for (const name of await readdir(this.dir).catch(() => [] as string[])) {
      if (!name.endsWith(COMPACTING)) continue;
      const info = await stat(join(this.dir, name)).catch(() => null);
      // A copy a crash interrupted; a recent one may be another process's, under way.
      if (info && info.mtimeMs < before) await unlink(join(this.dir, name)).catch(() => undefined);
    }
    for (const pack of await this.packNames()) {
      if (packCreatedAt(pack) + ROLL_AFTER_MS >= before || pack === this.active?.name) continue;
      freed += await this.withLock(pack, () => this.compact(pack));
    }
    return freed;
  }

  /** Stops taking appends; those under way still finish, then the pack's file is closed. */
  close(): void {
    this.active?.seal();
    this.active = null;
  }

  private async compact(pack: string): Promise<number> {
    const path = join(this.dir, pack);
    const handle = await this.openPack(pack, 'r');
    if (!handle) return 0;
    try {
      const info = await handle.stat();
      const allocated = info.blocks * 512;
      const needles: Needle[] = [];
      for await (const needle of scanNeedles(handle, info.size)) needles.push(needle);
      const last = needles[needles.length - 1];
      const wholeEnd = last ? last.offset + HEADER + last.length : 0;
      const live = needles.filter((n) => !(n.flags & DELETED));
      // Bytes past the last whole needle (a torn tail) are kept as they are: nothing is destroyed unread.
      if (live.length === 0 && wholeEnd === info.size) {
        await unlink(path);
        return allocated;
      }
      const keptBytes = live.reduce((sum, n) => sum + HEADER + n.length, 0) + (info.size - wholeEnd);
      if (allocated - keptBytes < Math.max(allocated / 2, COMPACT_AT_LEAST)) return 0;
      const copy = `${path}${COMPACTING}`;
      const out = await open(copy, 'wx').catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'EEXIST') return null; // another process is compacting this pack
        throw err;
      });
      if (!out) return 0;
      try {
        let deadRun: Needle | null = null;
        const endDeadRun = async (end: number) => {
          if (!deadRun) return;
          const header = encodeHeader({ flags: DELETED, length: end - deadRun.offset - HEADER, cookie: 0, writtenAt: deadRun.writtenAt });
          await out.write(header, 0, HEADER, deadRun.offset);
          deadRun = null;
        };
        for (const needle of needles) {
          if (needle.flags & DELETED) {
            deadRun ??= needle;
            continue;
          }
          await endDeadRun(needle.offset);
          const bytes = Buffer.allocUnsafe(HEADER + needle.length);
          await handle.read(bytes, 0, bytes.length, needle.offset);
          await out.write(bytes, 0, bytes.length, needle.offset);
        }
        await endDeadRun(wholeEnd);
        if (info.size > wholeEnd) {
          const tail = Buffer.allocUnsafe(info.size - wholeEnd);
          await handle.read(tail, 0, tail.length, wholeEnd);
          await out.write(tail, 0, tail.length, wholeEnd);
        }
        await out.truncate(info.size);
        await out.sync();
      } finally {
        await out.close();
      }
      await rename(copy, path);
      await syncDir(this.dir);
      return allocated - (await stat(path)).blocks * 512;
    } finally {
      await handle.close();
    }
  }

  private packWithRoomFor(bytes: number): ActivePack {
    const active = this.active;
    if (active && !active.failed && active.end + bytes <= PACK_BYTES && Date.now() - active.createdAt < ROLL_AFTER_MS) return active;
    active?.seal();
    const name = Math.floor(Date.now() / 1000).toString(16).padStart(8, '0') + randomBytes(2).toString('hex');
    this.active = new ActivePack(this.dir, name);
    return this.active;
  }

  private async packNames(): Promise<string[]> {
    return (await readdir(this.dir).catch(() => [] as string[])).filter((name) => PACK_NAME.test(name));
  }

  private async openPack(pack: string, flags: 'r' | 'r+'): Promise<FileHandle | null> {
    return open(join(this.dir, pack), flags).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return null;
      throw err;
    });
  }

  private withLock<T>(pack: string, task: () => Promise<T>): Promise<T> {
    const before = this.locks.get(pack) ?? Promise.resolve();
    const run = before.then(task, task);
    const settled = run.catch(() => undefined);
    this.locks.set(pack, settled);
    void settled.then(() => {
      if (this.locks.get(pack) === settled) this.locks.delete(pack);
    });
    return run;
  }
}

/** Largest blob a pack can keep: a key has 5 hex digits for the length. */
export const MAX_PACKED = 0xfffff;
/** A pack takes no more appends past this size (the key's 7 hex digits of offset reach 256 MiB). */
const PACK_BYTES = 64 << 20;
/** ... nor once it is this old, so a pack older than that plus a margin is never written again. */
const ROLL_AFTER_MS = 10 * 60_000;
/** Compaction is worth a copy only when it frees at least half of the pack and at least this much. */
const COMPACT_AT_LEAST = 1 << 20;
const COMPACTING = '.compacting';
const HEADER = 32;
const MAGIC = 0x4146584e; // "AFXN"
const DELETED = 1;
const COOKIE_LIMIT = 1 << 28;
const PACK_NAME = /^[0-9a-f]{12}$/;
const PACKED_KEY = /^p([0-9a-f]{12})([0-9a-f]{7})([0-9a-f]{5})([0-9a-f]{7})$/;

export const isPackedKey = (key: string): boolean => PACKED_KEY.test(key);

interface Header {
  flags: number;
  length: number;
  cookie: number;
  writtenAt: number;
}

interface Needle extends Header {
  offset: number;
}

interface PackedAt {
  pack: string;
  offset: number;
  length: number;
  cookie: number;
}

function packedKey(pack: string, offset: number, length: number, cookie: number): string {
  return `p${pack}${offset.toString(16).padStart(7, '0')}${length.toString(16).padStart(5, '0')}${cookie.toString(16).padStart(7, '0')}`;
}

function parsePackedKey(key: string): PackedAt {
  const match = PACKED_KEY.exec(key);
  if (!match) throw new Error(`invalid blob key ${JSON.stringify(key)}`);
  return { pack: match[1]!, offset: parseInt(match[2]!, 16), length: parseInt(match[3]!, 16), cookie: parseInt(match[4]!, 16) };
}

const packCreatedAt = (pack: string): number => parseInt(pack.slice(0, 8), 16) * 1000;

const isLiveNeedle = (header: Header, where: PackedAt): boolean =>
  !(header.flags & DELETED) && header.length === where.length && header.cookie === where.cookie;

function encodeHeader(header: Header): Buffer {
  const bytes = Buffer.alloc(HEADER);
  bytes.writeUInt32BE(MAGIC, 0);
  bytes.writeUInt32BE(header.flags, 4);
  bytes.writeUInt32BE(header.length, 8);
  bytes.writeUInt32BE(header.cookie, 12);
  bytes.writeDoubleBE(header.writtenAt, 16);
  return bytes;
}

function decodeHeader(bytes: Buffer): Header | null {
  if (bytes.length < HEADER || bytes.readUInt32BE(0) !== MAGIC) return null;
  const length = bytes.readUInt32BE(8);
  if (length > PACK_BYTES) return null;
  return { flags: bytes.readUInt32BE(4), length, cookie: bytes.readUInt32BE(12), writtenAt: bytes.readDoubleBE(16) };
}

/** The whole needles of a pack, in order, up to the first header that does not hold. */
async function* scanNeedles(handle: FileHandle, size: number): AsyncIterable<Needle> {
  const bytes = Buffer.alloc(HEADER);
  for (let offset = 0; offset + HEADER <= size; ) {
    const { bytesRead } = await handle.read(bytes, 0, HEADER, offset);
    const header = bytesRead === HEADER ? decodeHeader(bytes) : null;
    if (!header || offset + HEADER + header.length > size) return;
    yield { ...header, offset };
    offset += HEADER + header.length;
  }
}

interface PendingAppend {
  buffers: Buffer[];
  resolve: () => void;
  reject: (err: Error) => void;
}

/**
 * The pack this process appends to. Offsets are handed out in the order appends arrive, and the
 * queue is written in that order; whatever queues while one batch is written and fdatasynced goes
 * out as the next batch, in one writev.
 */
class ActivePack {
  readonly createdAt = Date.now();
  /** Where the next append goes. */
  end = 0;
  /** Where the bytes on disk end: the queue is written from here. */
  private writtenEnd = 0;
  failed: Error | null = null;
  private readonly opened: Promise<FileHandle>;
  private queue: PendingAppend[] = [];
  private flushing = false;
  private sealed = false;

  constructor(
    dir: string,
    readonly name: string,
  ) {
    // The pack's own directory entry is made durable before any append in it is acknowledged.
    this.opened = open(join(dir, name), 'wx').then(async (handle) => {
      await syncDir(dir);
      return handle;
    });
    this.opened.catch((err: Error) => (this.failed ??= err));
  }

  /** Where the buffers will be, and a promise that they are on disk there. */
  append(buffers: Buffer[]): { offset: number; durable: Promise<void> } {
    const offset = this.end;
    this.end += buffers.reduce((n, b) => n + b.length, 0);
    const durable = new Promise<void>((resolve, reject) => this.queue.push({ buffers, resolve, reject }));
    if (!this.flushing) void this.flush();
    return { offset, durable };
  }

  seal(): void {
    this.sealed = true;
    if (!this.flushing) void this.closeFile();
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    while (this.queue.length > 0) {
      const batch = this.queue;
      this.queue = [];
      const buffers = batch.flatMap((p) => p.buffers);
      const total = buffers.reduce((n, b) => n + b.length, 0);
      try {
        if (this.failed) throw this.failed;
        const handle = await this.opened;
        const { bytesWritten } = await handle.writev(buffers, this.writtenEnd);
        if (bytesWritten !== total) throw shortWrite(bytesWritten, total);
        this.writtenEnd += total;
        await handle.datasync();
        for (const p of batch) p.resolve();
      } catch (err) {
        // Later offsets were counted after this batch: no append in this pack can be trusted now.
        this.failed ??= err as Error;
        for (const p of batch) p.reject(err as Error);
      }
    }
    this.flushing = false;
    if (this.sealed) await this.closeFile();
  }

  private async closeFile(): Promise<void> {
    const handle = await this.opened.catch(() => null);
    await handle?.close().catch(() => undefined);
  }
}
