// Where a resumable upload's bytes wait, as the core sees it: one face over the stores' two ways (in place, or parts), and what both share.
import { createHash, type Hash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { HEAD_BYTES } from '../media/describe.js';
import { pipeInto } from '../util/pipe-into.js';
import { readUpTo } from '../util/read-up-to.js';
import { AffixError } from './errors.js';
import { Meter } from './meter.js';
import type { ResumableMultipart, ResumableSegment, ResumableUpload } from './model.js';
import type { StagedUpload } from './uploads.js';

export interface Chunk {
  upload: ResumableUpload;
  source: Readable;
  /** Bytes the chunk may carry at most; `overflow` is the error past them. */
  room: number;
  overflow: () => AffixError;
  /** The bytes the client says it sends (`Content-Length`), if it said: a hint for how to keep them, never trusted as a count. */
  announced: number | null;
  /** A digest the client sent for the chunk (tus checksum). */
  checksum?: { algorithm: string; digest: string };
}

/** What a chunk left in the store: the segment to record, and the multipart upload it began, if it did. */
export interface Received {
  segment: Omit<ResumableSegment, 'start'>;
  began?: ResumableMultipart;
}

/** The bytes of resumable uploads, kept by the store's own way (`BlobStore.resumable`). */
export interface UploadBytes {
  /** The chunk, durable, as a segment to record (null when empty); a refused chunk leaves nothing. */
  receive(chunk: Chunk): Promise<Received | null>;
  /** After the segment is recorded: bytes it took over from earlier segments go (failures are harmless: `release` and `remove` take them too). */
  recorded(previous: ResumableUpload, received: Received): Promise<void>;
  /** Undoes a received chunk the records then refused. */
  discard(upload: ResumableUpload, received: Received): Promise<void>;
  /** The uploads' bytes, in order, as one staged blob (a final upload's partials, or one whole upload). */
  assemble(uploads: ResumableUpload[], limit: number): Promise<StagedUpload>;
  /** After the file is recorded: what the uploads still hold goes. */
  release(uploads: ResumableUpload[], staged: StagedUpload): Promise<void>;
  /** Termination or expiry: the removed upload's bytes go. */
  remove(upload: ResumableUpload): Promise<void>;
  /** Removes bytes last written before `before` whose upload `known` no longer lists (a crash between the two removals); how many. */
  sweep(before: number, known: (ids: string[]) => Promise<Set<string>>): Promise<number>;
}

/**
 * Reads `source` through a Meter (bounds, sha256) into `sink`, with the client's checksum and the
 * running whole-file `hash`, if any, fed on the way. Settles only once both sides have.
 */
export async function metered<T>(chunk: Chunk, hash: Hash | null, sink: (meter: Meter) => Promise<T>) {
  const check = chunk.checksum ? createHash(chunk.checksum.algorithm) : null;
  if (check || hash) {
    chunk.source.on('data', (data: Buffer) => {
      check?.update(data);
      hash?.update(data);
    });
  }
  // The chunk's bytes are hashed once, into the whole file's running hash (when known), not on their own.
  const meter = new Meter(chunk.room, chunk.overflow, 0, false);
  const sunk = sink(meter).catch((err: unknown) => {
    // A sink that stops reading would leave the source waiting on a full meter.
    meter.destroy(err as Error);
    throw err;
  });
  const [fed, stored] = await Promise.allSettled([pipeInto(chunk.source, meter), sunk]);
  const matches = !check || check.digest('base64') === chunk.checksum!.digest;
  return { meter, fed, stored, matches };
}

/** The error a refused chunk rejects with: the source's own, a store failure, or a checksum mismatch; null when it was fine. */
export function refusal(chunk: Chunk, fed: PromiseSettledResult<unknown>, stored: PromiseSettledResult<unknown>, matches: boolean): unknown {
  if (fed.status === 'rejected') return fed.reason;
  if (stored.status === 'rejected') return stored.reason;
  if (!matches) return new AffixError('checksum_mismatch', `Upload-Checksum ${chunk.checksum!.algorithm} does not match the bytes received`);
  return null;
}

/** The first bytes of a stored file, for sniffing its type. */
export async function headOf(stream: Readable | null): Promise<Buffer> {
  if (!stream) throw new AffixError('internal', 'The bytes of the upload are missing from the store');
  const { head } = await readUpTo(stream, HEAD_BYTES);
  stream.destroy();
  return head.subarray(0, HEAD_BYTES);
}

/** The range holding the first HEAD_BYTES of a file of `size` bytes (none when empty). */
export const headRange = (size: number) => (size > 0 ? { start: 0, end: Math.min(size, HEAD_BYTES) - 1 } : undefined);

export async function sha256Of(stream: Readable | null): Promise<string> {
  if (!stream) throw new AffixError('internal', 'The bytes of the upload are missing from the store');
  const hash = createHash('sha256');
  for await (const data of stream as AsyncIterable<Buffer>) hash.update(data);
  return hash.digest('hex');
}

const EMPTY_SHA256 = createHash('sha256').digest('hex');

/** A segment's `sha256`: the running hash so far, if there is one. */
export const digestSoFar = (hash: Hash | null): string => (hash ? hash.copy().digest('hex') : '');

/** Uploads whose whole-file sha256 one process keeps running at once. */
const RUNNING_HASHES_KEPT = 10_000;

/**
 * The whole-file sha256 of uploads this process has received in order since their first byte, so a
 * finished upload's digest is known without reading its bytes again. Bounded: past the cap the
 * oldest goes (its completion then reads the file once).
 */
export class RunningHashes {
  private readonly running = new Map<string, { hash: Hash; offset: number }>();

  /** A hash to feed a chunk at `offset` into: a copy of the upload's (kept only if the chunk is), or a new one at 0; null: unknown. */
  candidate(uploadId: string, offset: number): Hash | null {
    const known = this.running.get(uploadId);
    return known && known.offset === offset ? known.hash.copy() : offset === 0 ? createHash('sha256') : null;
  }

  /** The chunk was kept: `hash` is the upload's, up to `offset`. */
  keep(uploadId: string, hash: Hash | null, offset: number): void {
    this.running.delete(uploadId);
    if (!hash) return;
    if (this.running.size >= RUNNING_HASHES_KEPT) this.running.delete(this.running.keys().next().value!);
    this.running.set(uploadId, { hash, offset });
  }

  /** The hex digest of the upload's bytes so far: this process's running hash, or the one its last segment recorded; null: unknown. */
  digestOf(upload: ResumableUpload): string | null {
    const known = this.running.get(upload.id);
    if (known?.offset === upload.offset) return known.hash.copy().digest('hex');
    const last = upload.segments.at(-1);
    return last?.sha256 && last.start + last.size === upload.offset ? last.sha256 : upload.offset === 0 ? EMPTY_SHA256 : null;
  }

  forget(uploadId: string): void {
    this.running.delete(uploadId);
  }
}
