// Where a resumable upload's bytes wait: appended in place (stores that can, local disk) or one blob per chunk (any store, S3).
import { createHash, type Hash } from 'node:crypto';
import { Readable } from 'node:stream';
import { HEAD_BYTES } from '../media/describe.js';
import type { BlobStore, ResumableBytes } from '../store/blob/blob-store.js';
import { pipeInto } from '../util/pipe-into.js';
import { readUpTo } from '../util/read-up-to.js';
import { AffixError } from './errors.js';
import { Meter } from './meter.js';
import type { ResumableSegment, ResumableUpload } from './model.js';
import { stageUpload, type StagedUpload } from './uploads.js';

export interface Chunk {
  upload: ResumableUpload;
  source: Readable;
  /** Bytes the chunk may carry at most; `overflow` is the error past them. */
  room: number;
  overflow: () => AffixError;
  /** A digest the client sent for the chunk (tus checksum). */
  checksum?: { algorithm: string; digest: string };
}

/** The two ways of keeping the bytes, behind one face. */
export interface UploadBytes {
  /** The chunk, durable, as a segment to record (null when empty); refused chunks leave nothing. */
  receive(chunk: Chunk): Promise<Omit<ResumableSegment, 'start'> | null>;
  /** Undoes a received segment the store then refused to record. */
  discard(upload: ResumableUpload, segment: Omit<ResumableSegment, 'start'>, offset: number): Promise<void>;
  /** The uploads' bytes, in order, as one staged blob. */
  assemble(uploads: ResumableUpload[], limit: number): Promise<StagedUpload>;
  /** After the file is recorded: what the uploads still hold goes. */
  release(uploads: ResumableUpload[], staged: StagedUpload): Promise<void>;
  /** Termination or expiry: the upload's bytes go; `keys`: its segments' keys. */
  remove(uploadId: string, keys: string[]): Promise<void>;
  /** Removes bytes last written before `before` whose upload `known` no longer lists (a crash between the two removals); how many. */
  sweep(before: number, known: (ids: string[]) => Promise<Set<string>>): Promise<number>;
}

export function uploadBytes(blobs: BlobStore): UploadBytes {
  return blobs.resumable ? new InPlace(blobs, blobs.resumable) : new SegmentBlobs(blobs);
}

/** Reads `source` through a Meter (bounds, sha256) into `sink`; the client's checksum on the way. */
async function metered(chunk: Chunk, sink: (meter: Meter) => Promise<unknown>) {
  const check = chunk.checksum ? createHash(chunk.checksum.algorithm) : null;
  if (check) chunk.source.on('data', (data: Buffer) => check.update(data));
  const meter = new Meter(chunk.room, chunk.overflow, 0);
  const [fed, stored] = await Promise.allSettled([pipeInto(chunk.source, meter), sink(meter)]);
  const matches = !check || check.digest('base64') === chunk.checksum!.digest;
  return { meter, fed, stored, matches };
}

/** Uploads whose whole-file sha256 this process keeps running at once. */
const RUNNING_HASHES_KEPT = 10_000;

const checksumMismatch = (algorithm: string) => new AffixError('checksum_mismatch', `Upload-Checksum ${algorithm} does not match the bytes received`);

async function headOf(stream: Readable | null): Promise<Buffer> {
  if (!stream) throw new AffixError('internal', 'The bytes of the upload are missing from the store');
  const { head } = await readUpTo(stream, HEAD_BYTES);
  stream.destroy();
  return head.subarray(0, HEAD_BYTES);
}

/** Any store: each chunk a blob of its own; completion reads several back into one (a single one is the file already). */
class SegmentBlobs implements UploadBytes {
  constructor(private readonly blobs: BlobStore) {}

  async receive(chunk: Chunk) {
    const { meter, fed, stored, matches } = await metered(chunk, (m) => this.blobs.write(m));
    if (stored.status === 'rejected') throw stored.reason;
    const key = (stored.value as { key: string }).key;
    if (fed.status === 'rejected' || !matches || meter.bytes === 0) {
      await this.blobs.delete(key);
      if (fed.status === 'rejected') throw fed.reason;
      if (!matches) throw checksumMismatch(chunk.checksum!.algorithm);
      return null;
    }
    return { size: meter.bytes, sha256: meter.digest(), storageKey: key };
  }

  async discard(_upload: ResumableUpload, segment: Omit<ResumableSegment, 'start'>) {
    await this.blobs.delete(segment.storageKey);
  }

  async assemble(uploads: ResumableUpload[], limit: number): Promise<StagedUpload> {
    const segments = uploads.flatMap((u) => u.segments);
    const [first] = segments;
    if (segments.length === 1 && first) {
      const head = await headOf(await this.blobs.read(first.storageKey, first.size > 0 ? { start: 0, end: Math.min(first.size, HEAD_BYTES) - 1 } : undefined));
      return { key: first.storageKey, size: first.size, sha256: first.sha256, head };
    }
    const blobs = this.blobs;
    async function* concatenated() {
      for (const segment of segments) {
        const stream = await blobs.read(segment.storageKey);
        if (!stream) throw new AffixError('internal', 'A segment of the upload is missing from the store');
        yield* stream;
      }
    }
    return stageUpload(this.blobs, Readable.from(concatenated()), limit);
  }

  async release(uploads: ResumableUpload[], staged: StagedUpload) {
    for (const segment of uploads.flatMap((u) => u.segments)) if (segment.storageKey !== staged.key) await this.blobs.delete(segment.storageKey);
  }

  async remove(_uploadId: string, keys: string[]) {
    for (const key of keys) await this.blobs.delete(key);
  }

  /** Segment blobs are ordinary blobs: the orphan sweep of blobs takes those no row uses. */
  async sweep(): Promise<number> {
    return 0;
  }
}

/**
 * A store that keeps an upload's bytes in one file: chunks appended in place (fsynced), the file made
 * a blob on completion (a hard link, so it stays the upload's until recorded). The sha256 of the whole file runs along in memory while one process
 * receives every chunk in order; otherwise (a restart, another node) completion reads the file once.
 */
class InPlace implements UploadBytes {
  /** Running whole-file hashes of uploads this process has received since their first byte. */
  private readonly running = new Map<string, { hash: Hash; offset: number }>();

  constructor(
    private readonly blobs: BlobStore,
    private readonly bytes: ResumableBytes,
  ) {}

  async receive(chunk: Chunk) {
    const { id, offset } = chunk.upload;
    const known = this.running.get(id);
    // The whole-file hash goes on only from where it stopped: a copy, kept if the chunk is.
    const candidate = known && known.offset === offset ? known.hash.copy() : offset === 0 ? createHash('sha256') : null;
    if (candidate) chunk.source.on('data', (data: Buffer) => candidate.update(data));
    const { meter, fed, stored, matches } = await metered(chunk, (m) => this.bytes.append(id, offset, m));
    if (fed.status === 'rejected' || stored.status === 'rejected' || !matches || meter.bytes === 0) {
      await this.bytes.truncate(id, offset);
      if (fed.status === 'rejected') throw fed.reason;
      if (stored.status === 'rejected') throw stored.reason;
      if (!matches) throw checksumMismatch(chunk.checksum!.algorithm);
      return null;
    }
    this.running.delete(id);
    if (candidate) {
      // Bounded: past the cap the oldest upload's hash goes (its completion then reads the file once).
      if (this.running.size >= RUNNING_HASHES_KEPT) this.running.delete(this.running.keys().next().value!);
      this.running.set(id, { hash: candidate, offset: offset + meter.bytes });
    }
    return { size: meter.bytes, sha256: meter.digest(), storageKey: `${id}@${offset}` };
  }

  async discard(upload: ResumableUpload, _segment: Omit<ResumableSegment, 'start'>, offset: number) {
    this.running.delete(upload.id);
    await this.bytes.truncate(upload.id, offset);
  }

  async assemble(uploads: ResumableUpload[], limit: number): Promise<StagedUpload> {
    const [only] = uploads;
    if (uploads.length === 1 && only && !only.partial) {
      const size = only.offset;
      const known = this.running.get(only.id);
      const sha256 = known?.offset === size ? known.hash.copy().digest('hex') : await this.hashFile(only.id);
      const head = await headOf(await this.bytes.read(only.id, size > 0 ? { start: 0, end: Math.min(size, HEAD_BYTES) - 1 } : undefined));
      const { key, size: stored } = await this.bytes.complete(only.id);
      this.running.delete(only.id);
      if (stored !== size) throw new AffixError('internal', `The upload holds ${stored} bytes, not ${size}`);
      return { key, size, sha256, head };
    }
    // Concatenation: the partial uploads' files, in order, read once into a new blob.
    const bytes = this.bytes;
    async function* concatenated() {
      for (const upload of uploads) {
        const stream = await bytes.read(upload.id, upload.offset > 0 ? { start: 0, end: upload.offset - 1 } : undefined);
        if (!stream) throw new AffixError('internal', 'A partial upload’s bytes are missing from the store');
        if (upload.offset > 0) yield* stream;
        else stream.destroy();
      }
    }
    return stageUpload(this.blobs, Readable.from(concatenated()), limit);
  }

  async release(uploads: ResumableUpload[]) {
    for (const upload of uploads) {
      this.running.delete(upload.id);
      await this.bytes.remove(upload.id);
    }
  }

  async remove(uploadId: string) {
    this.running.delete(uploadId);
    await this.bytes.remove(uploadId);
  }

  async sweep(before: number, known: (ids: string[]) => Promise<Set<string>>): Promise<number> {
    let removed = 0;
    let batch: string[] = [];
    const flush = async () => {
      const live = await known(batch);
      for (const id of batch.filter((candidate) => !live.has(candidate))) {
        await this.remove(id);
        removed++;
      }
      batch = [];
    };
    for await (const id of this.bytes.listOlderThan(before)) {
      batch.push(id);
      if (batch.length >= 500) await flush();
    }
    if (batch.length > 0) await flush();
    return removed;
  }

  private async hashFile(uploadId: string): Promise<string> {
    const stream = await this.bytes.read(uploadId);
    if (!stream) throw new AffixError('internal', 'The bytes of the upload are missing from the store');
    const hash = createHash('sha256');
    for await (const data of stream as AsyncIterable<Buffer>) hash.update(data);
    return hash.digest('hex');
  }
}
