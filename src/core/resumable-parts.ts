// A resumable upload's bytes on a store that joins parts (S3): one multipart upload per upload, fixed-size parts, bytes short of a part waiting as blobs.
import type { Hash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { BlobStore, MultipartBlobs } from '../store/blob/blob-store.js';
import { AffixError } from './errors.js';
import type { ResumableMultipart, ResumableUpload } from './model.js';
import { digestSoFar, headOf, headRange, metered, refusal, RunningHashes, sha256Of, type Chunk, type Received, type UploadBytes } from './resumable-bytes.js';
import { stageUpload, type StagedUpload } from './uploads.js';

const MIB = 1 << 20;
const BLOB_KEY = /^[0-9a-f]{32}$/;

/**
 * Every part but the last has exactly `partSize` bytes (services such as R2 demand equal parts), chosen
 * when the upload's first part is sent so that its largest possible length fits in the store's part count.
 * A chunk that, with the bytes waiting before it, makes at least one whole part (or ends the upload) is
 * joined: the waiting bytes are read back, whole parts go to the multipart upload, and what is left of a
 * part waits as a new blob (or, at the end, is the last part). A smaller chunk waits as a blob of its own,
 * so many small PATCHes cost one write each, not a rewrite of everything waiting. Partial uploads (tus
 * concatenation) always wait as blobs: their final upload reads them back into one new blob.
 */
export class Parts implements UploadBytes {
  private readonly hashes = new RunningHashes();

  constructor(
    private readonly blobs: BlobStore,
    private readonly parts: MultipartBlobs,
  ) {}

  /** The part size for an upload that may reach `maxLength` bytes. */
  partSizeFor(maxLength: number): number {
    const fitting = Math.ceil(Math.ceil(maxLength / this.parts.maxParts) / MIB) * MIB;
    return Math.max(this.parts.minPartSize, fitting);
  }

  async receive(chunk: Chunk): Promise<Received | null> {
    const { upload } = chunk;
    if (chunk.room === 0) {
      // Every byte is here (its last part may be sent): an empty chunk asks for completion, any byte is refused.
      const { fed, stored, matches } = await metered(chunk, null, async (m) => {
        for await (const _ of m as AsyncIterable<Buffer>);
      });
      const refused = refusal(chunk, fed, stored, matches);
      if (refused) throw refused;
      return null;
    }
    const partSize = upload.multipart?.partSize ?? this.partSizeFor(upload.offset + chunk.room);
    const waitingBytes = upload.offset - tagsOf(upload).length * partSize;
    const ends = upload.length !== null && chunk.announced !== null && upload.offset + chunk.announced >= upload.length;
    const joins = !upload.partial && (ends || waitingBytes + (chunk.announced ?? Infinity) >= partSize);
    const hash = this.hashes.candidate(upload.id, upload.offset);
    const received = joins ? await this.join(chunk, partSize, hash) : await this.wait(chunk, hash);
    if (received) this.hashes.keep(upload.id, hash, upload.offset + received.segment.size);
    return received;
  }

  /** The chunk waits whole, as a blob of its own. */
  private async wait(chunk: Chunk, hash: Hash | null): Promise<Received | null> {
    const { meter, fed, stored, matches } = await metered(chunk, hash, (m) => this.blobs.write(m));
    const refused = refusal(chunk, fed, stored, matches);
    if (stored.status === 'fulfilled' && (refused || meter.bytes === 0)) await this.blobs.delete(stored.value.key);
    if (refused) throw refused;
    if (meter.bytes === 0 || stored.status !== 'fulfilled') return null;
    return { segment: { size: meter.bytes, sha256: digestSoFar(hash), storageKey: stored.value.key, parts: null } };
  }

  /** The waiting bytes and the chunk's, as whole parts; the rest waits as a new blob, or is the last part when the upload ends here. */
  private async join(chunk: Chunk, partSize: number, hash: Hash | null): Promise<Received | null> {
    const { upload } = chunk;
    const tagsBefore = tagsOf(upload);
    let began: Promise<ResumableMultipart> | null = null;
    const multipart = () =>
      upload.multipart ? Promise.resolve(upload.multipart) : (began ??= this.parts.begin().then((m) => ({ ...m, partSize })));
    const writer = new PartWriter(partSize, tagsBefore.length + 1, this.parts.maxParts, async (number, data) => {
      const m = await multipart();
      return this.parts.putPart(m.key, m.session, number, data);
    });
    const { meter, fed, stored, matches } = await metered(chunk, hash, async (m) => {
      let waited = 0;
      for (const key of waitingKeys(upload)) {
        const stream = await this.blobs.read(key);
        if (!stream) throw new AffixError('internal', 'Bytes of the upload waiting for their part are missing from the store');
        for await (const data of stream as AsyncIterable<Buffer>) {
          waited += data.length;
          await writer.push(data);
        }
      }
      if (waited !== upload.offset - tagsBefore.length * partSize) throw new AffixError('internal', `The upload has ${waited} bytes waiting, not ${upload.offset - tagsBefore.length * partSize}`);
      for await (const data of m as AsyncIterable<Buffer>) await writer.push(data);
      return writer.drain();
    });
    const refused = refusal(chunk, fed, stored, matches);
    const abandon = async () => {
      if (!began) return;
      const m = await began;
      await this.parts.abort(m.key, m.session);
    };
    if (refused || meter.bytes === 0 || stored.status !== 'fulfilled') {
      await abandon().catch(() => undefined);
      if (refused) throw refused;
      return null;
    }
    const rest = stored.value;
    const ends = upload.length !== null && upload.offset + meter.bytes === upload.length;
    let storageKey = `${upload.id}@${upload.offset + meter.bytes}`;
    try {
      if (rest.length > 0 && ends && (upload.multipart || began)) await writer.last(rest);
      else if (rest.length > 0) storageKey = (await this.blobs.write(Readable.from([rest]))).key;
    } catch (err) {
      await abandon().catch(() => undefined);
      throw err;
    }
    return {
      segment: { size: meter.bytes, sha256: digestSoFar(hash), storageKey, parts: writer.tags },
      ...(began ? { began: await began } : {}),
    };
  }

  /** A joined segment took in the bytes that waited: their blobs go now, not at completion (a large upload in small PATCHes would otherwise keep most of its bytes twice). */
  async recorded(previous: ResumableUpload, received: Received): Promise<void> {
    if (received.segment.parts === null) return;
    for (const key of waitingKeys(previous)) await this.blobs.delete(key);
  }

  async discard(_upload: ResumableUpload, received: Received): Promise<void> {
    if (BLOB_KEY.test(received.segment.storageKey)) await this.blobs.delete(received.segment.storageKey);
    if (received.began) await this.parts.abort(received.began.key, received.began.session);
  }

  async assemble(uploads: ResumableUpload[], limit: number): Promise<StagedUpload> {
    const [only] = uploads;
    if (uploads.length === 1 && only && !only.partial) return only.multipart ? this.complete(only, only.multipart) : this.whole(only, limit);
    // Concatenation: the partial uploads' blobs, in order, read once into a new one.
    return this.joined(uploads.flatMap(waitingKeys), limit);
  }

  /** An upload with no multipart upload: its waiting blob is the file (or its several are joined into one). */
  private async whole(upload: ResumableUpload, limit: number): Promise<StagedUpload> {
    const keys = waitingKeys(upload);
    const [key] = keys;
    if (keys.length !== 1 || !key) return this.joined(keys, limit);
    const sha256 = this.hashes.digestOf(upload) ?? (await sha256Of(await this.blobs.read(key)));
    return { key, size: upload.offset, sha256, head: await headOf(await this.blobs.read(key, headRange(upload.offset))) };
  }

  private joined(keys: string[], limit: number): Promise<StagedUpload> {
    const blobs = this.blobs;
    async function* concatenated() {
      for (const key of keys) {
        const stream = await blobs.read(key);
        if (!stream) throw new AffixError('internal', 'A piece of the upload is missing from the store');
        yield* stream;
      }
    }
    return stageUpload(this.blobs, Readable.from(concatenated()), limit);
  }

  /** The multipart upload made a blob: the waiting bytes (a deferred length declared last) as its last part, then completed, its size checked. */
  private async complete(upload: ResumableUpload, multipart: ResumableMultipart): Promise<StagedUpload> {
    const size = upload.offset;
    const tags = tagsOf(upload);
    const keys = waitingKeys(upload);
    if (keys.length > 0 && (await this.blobs.size(multipart.key)) !== size) {
      const writer = new PartWriter(multipart.partSize, tags.length + 1, this.parts.maxParts, (number, data) => this.parts.putPart(multipart.key, multipart.session, number, data));
      const chunks: Buffer[] = [];
      for (const key of keys) {
        const stream = await this.blobs.read(key);
        if (!stream) throw new AffixError('internal', 'Bytes of the upload waiting for their part are missing from the store');
        for await (const data of stream as AsyncIterable<Buffer>) chunks.push(data);
      }
      await writer.last(Buffer.concat(chunks));
      tags.push(...writer.tags);
    }
    if (tags.length !== Math.ceil(size / multipart.partSize)) throw new AffixError('internal', `The upload has ${tags.length} parts for ${size} bytes`);
    const { key } = await this.parts.complete(multipart.key, multipart.session, tags, size);
    const sha256 = this.hashes.digestOf(upload) ?? (await sha256Of(await this.blobs.read(key)));
    return { key, size, sha256, head: await headOf(await this.blobs.read(key, headRange(size))) };
  }

  async release(uploads: ResumableUpload[], staged: StagedUpload): Promise<void> {
    for (const upload of uploads) {
      this.hashes.forget(upload.id);
      for (const key of blobKeysOf(upload)) if (key !== staged.key) await this.blobs.delete(key);
    }
  }

  /** Its multipart upload aborted, and its blob deleted if completed but never recorded; its waiting blobs deleted. */
  async remove(upload: ResumableUpload): Promise<void> {
    this.hashes.forget(upload.id);
    if (upload.multipart) {
      await this.parts.abort(upload.multipart.key, upload.multipart.session);
      await this.blobs.delete(upload.multipart.key);
    }
    for (const key of blobKeysOf(upload)) await this.blobs.delete(key);
  }

  /** Waiting blobs are ordinary blobs, which the orphan sweep takes once no row names them; multipart uploads, the staging sweep. */
  async sweep(): Promise<number> {
    return 0;
  }
}

/** The tags of the parts sent so far, in order. */
function tagsOf(upload: ResumableUpload): string[] {
  return upload.segments.flatMap((s) => s.parts ?? []);
}

/** The blobs holding the bytes not yet in a part, in order: what the last joined segment left, and every segment's since. */
function waitingKeys(upload: ResumableUpload): string[] {
  let last = -1;
  upload.segments.forEach((s, i) => {
    if (s.parts !== null) last = i;
  });
  return upload.segments.slice(Math.max(last, 0)).map((s) => s.storageKey).filter((key) => BLOB_KEY.test(key));
}

function blobKeysOf(upload: ResumableUpload): string[] {
  return upload.segments.map((s) => s.storageKey).filter((key) => BLOB_KEY.test(key));
}

/**
 * Cuts a stream of bytes into parts of exactly `partSize`, sending each as it fills while the next
 * fills (two parts in memory at most), numbered from `first`; `drain` hands back what is left.
 */
class PartWriter {
  readonly tags: string[] = [];
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private sending: Promise<void> = Promise.resolve();
  private next: number;

  constructor(
    private readonly partSize: number,
    first: number,
    private readonly maxParts: number,
    private readonly send: (number: number, data: Buffer) => Promise<string>,
  ) {
    this.next = first;
  }

  async push(data: Buffer): Promise<void> {
    this.pending.push(data);
    this.pendingBytes += data.length;
    while (this.pendingBytes >= this.partSize) {
      const joined = Buffer.concat(this.pending, this.pendingBytes);
      const rest = joined.subarray(this.partSize);
      this.pending = rest.length > 0 ? [rest] : [];
      this.pendingBytes = rest.length;
      await this.sending;
      this.sending = this.start(joined.subarray(0, this.partSize));
    }
  }

  /** Waits for the parts under way; the bytes short of a part. */
  async drain(): Promise<Buffer> {
    await this.sending;
    const rest = Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    return rest;
  }

  /** Sends `data` as the last part, however small. */
  async last(data: Buffer): Promise<void> {
    await this.sending;
    await this.start(data);
  }

  private start(data: Buffer): Promise<void> {
    const number = this.next++;
    if (number > this.maxParts) throw new AffixError('too_large', `The upload needs more than ${this.maxParts} parts`);
    const index = this.tags.length;
    this.tags.push('');
    const sent = this.send(number, data).then((tag) => {
      this.tags[index] = tag;
    });
    // Awaited before the next part starts, or by drain; marked handled so a failure waits for them.
    sent.catch(() => undefined);
    return sent;
  }
}
