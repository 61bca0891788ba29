// A resumable upload's bytes in one file of the store's (local disk): chunks appended in place and fsynced, the file made a blob when complete.
import { Readable } from 'node:stream';
import type { BlobStore, ResumableBytes } from '../store/blob/blob-store.js';
import { AffixError } from './errors.js';
import type { ResumableUpload } from './model.js';
import { digestSoFar, headOf, headRange, metered, refusal, RunningHashes, sha256Of, type Chunk, type Received, type UploadBytes } from './resumable-bytes.js';
import { stageUpload, type StagedUpload } from './uploads.js';

/**
 * Completion makes the file a blob with a hard link, so it stays the upload's until recorded. The
 * sha256 of the whole file runs along in memory while one process receives every chunk in order;
 * otherwise (a restart, another node) completion reads the file once.
 */
export class InPlace implements UploadBytes {
  private readonly hashes = new RunningHashes();

  constructor(
    private readonly blobs: BlobStore,
    private readonly bytes: ResumableBytes,
  ) {}

  async receive(chunk: Chunk): Promise<Received | null> {
    const { id, offset } = chunk.upload;
    const hash = this.hashes.candidate(id, offset);
    const { meter, fed, stored, matches } = await metered(chunk, hash, (m) => this.bytes.append(id, offset, m));
    const refused = refusal(chunk, fed, stored, matches);
    if (refused || meter.bytes === 0) {
      await this.bytes.truncate(id, offset);
      if (refused) throw refused;
      return null;
    }
    this.hashes.keep(id, hash, offset + meter.bytes);
    return { segment: { size: meter.bytes, sha256: digestSoFar(hash), storageKey: `${id}@${offset}`, parts: null } };
  }

  /** Chunks are appended to the one file: nothing is taken over. */
  async recorded(): Promise<void> {}

  async discard(upload: ResumableUpload): Promise<void> {
    this.hashes.forget(upload.id);
    await this.bytes.truncate(upload.id, upload.offset);
  }

  async assemble(uploads: ResumableUpload[], limit: number): Promise<StagedUpload> {
    const [only] = uploads;
    if (uploads.length === 1 && only && !only.partial) {
      const size = only.offset;
      const sha256 = this.hashes.digestOf(only) ?? (await sha256Of(await this.bytes.read(only.id)));
      const head = await headOf(await this.bytes.read(only.id, headRange(size)));
      const { key, size: stored } = await this.bytes.complete(only.id);
      this.hashes.forget(only.id);
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

  async release(uploads: ResumableUpload[]): Promise<void> {
    for (const upload of uploads) await this.remove(upload);
  }

  async remove(upload: Pick<ResumableUpload, 'id'>): Promise<void> {
    this.hashes.forget(upload.id);
    await this.bytes.remove(upload.id);
  }

  async sweep(before: number, known: (ids: string[]) => Promise<Set<string>>): Promise<number> {
    let removed = 0;
    let batch: string[] = [];
    const flush = async () => {
      const live = await known(batch);
      for (const id of batch.filter((candidate) => !live.has(candidate))) {
        await this.remove({ id });
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
}
