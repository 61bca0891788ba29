// The integrity check (affix fsck): every attachment's bytes present with their size (and sha256, for a sample or all), reference counts, thumbnails, orphans; repairs what can be repaired.
import { createHash } from 'node:crypto';
import type { BlobStore } from '../store/blob/blob-store.js';
import type { BlobUse, MetaStore } from '../store/meta/meta-store.js';

export interface CheckOptions {
  /** Re-hash every blob against its recorded sha256 (else only `sample` of them, spread over the store). */
  full?: boolean;
  /** Blobs re-hashed without `full` (default 100). */
  sample?: number;
  /** Fix what can be fixed: reference counts, blob rows no attachment uses, thumbnail rows without bytes, orphan blobs. */
  repair?: boolean;
  /** Blobs written this recently are left alone as orphans: their upload may be committing (as the collector does). */
  orphanGraceMs?: number;
  onProgress?: (done: number, total: number) => void;
  /** Each problem as it is found, one line's worth. */
  onProblem?: (problem: Problem) => void;
}

export type Problem =
  | { kind: 'missing' | 'short' | 'corrupt'; blob: string; detail: string; attachments: Array<{ id: number; name: string }> }
  | { kind: 'ref_count'; blob: string; detail: string; repaired: boolean }
  | { kind: 'unused_blob'; blob: string; repaired: boolean }
  | { kind: 'thumbnail_missing'; blob: string; repaired: boolean }
  | { kind: 'orphan'; blob: string; repaired: boolean };

export interface CheckReport {
  blobs: number;
  rehashed: number;
  /** Attachments whose bytes are missing, short or corrupt: the failures. */
  damaged: number;
  refCountsWrong: number;
  unusedBlobs: number;
  thumbnailsMissing: number;
  orphans: number;
  repaired: number;
}

const BATCH = 500;
const NAMED_PER_BLOB = 50;

export class Integrity {
  constructor(
    private readonly meta: MetaStore,
    private readonly blobs: BlobStore,
    private readonly clock: () => number,
  ) {}

  /** Reads the records in batches (memory stays bounded however many files), the bytes one blob at a time. */
  async check(options: CheckOptions = {}): Promise<CheckReport> {
    const report: CheckReport = { blobs: 0, rehashed: 0, damaged: 0, refCountsWrong: 0, unusedBlobs: 0, thumbnailsMissing: 0, orphans: 0, repaired: 0 };
    const say = (problem: Problem) => options.onProblem?.(problem);
    const total = await this.meta.countBlobs();
    // Every n-th blob is re-hashed, so the sample spreads over old and new ones.
    const every = options.full ? 1 : Math.max(1, Math.ceil(total / Math.max(1, options.sample ?? 100)));
    for (let after = 0; ; ) {
      const batch = await this.meta.blobsAfter(after, BATCH);
      if (batch.length === 0) break;
      for (const blob of batch) {
        after = blob.id;
        await this.checkBlob(blob, report.blobs % every === 0, options, report, say);
        report.blobs++;
        options.onProgress?.(report.blobs, total);
      }
    }
    for (let after = ''; ; ) {
      const batch = await this.meta.thumbnailsAfter(after, BATCH);
      if (batch.length === 0) break;
      for (const thumbnail of batch) {
        after = thumbnail.storageKey;
        if ((await this.blobs.size(thumbnail.storageKey)) === thumbnail.bytes) continue;
        report.thumbnailsMissing++;
        // A thumbnail is made again on its next request once its row is gone.
        if (options.repair) {
          await this.meta.deleteThumbnail(thumbnail.storageKey);
          report.repaired++;
        }
        say({ kind: 'thumbnail_missing', blob: thumbnail.storageKey, repaired: options.repair === true });
      }
    }
    await this.orphans(options, report, say);
    return report;
  }

  private async checkBlob(blob: BlobUse, rehash: boolean, options: CheckOptions, report: CheckReport, say: (p: Problem) => void): Promise<void> {
    if (blob.attachments === 0) {
      report.unusedBlobs++;
      const key = options.repair ? await this.meta.deleteUnusedBlob(blob.id) : null;
      if (key) {
        await this.blobs.delete(key);
        report.repaired++;
      }
      say({ kind: 'unused_blob', blob: blob.storageKey, repaired: key !== null });
      return;
    }
    if (blob.refCount !== blob.attachments) {
      report.refCountsWrong++;
      if (options.repair) {
        await this.meta.setBlobRefCount(blob.id, blob.attachments);
        report.repaired++;
      }
      say({ kind: 'ref_count', blob: blob.storageKey, detail: `recorded ${blob.refCount}, used by ${blob.attachments}`, repaired: options.repair === true });
    }
    const size = await this.blobs.size(blob.storageKey);
    let damage: { kind: 'missing' | 'short' | 'corrupt'; detail: string } | null =
      size === null ? { kind: 'missing', detail: 'no bytes in the store' } : size !== blob.size ? { kind: 'short', detail: `${size} bytes, not ${blob.size}` } : null;
    if (!damage && rehash) {
      report.rehashed++;
      const sha256 = await this.sha256Of(blob.storageKey);
      if (sha256 !== blob.sha256) damage = { kind: 'corrupt', detail: `sha256 ${sha256.slice(0, 12)}…, not the recorded ${blob.sha256.slice(0, 12)}…` };
    }
    if (!damage) return;
    // Nothing to repair it from: the attachments it affects are named, for someone to upload again or delete.
    const attachments = (await this.meta.attachmentsOfBlob(blob.id, NAMED_PER_BLOB)).map(({ id, name }) => ({ id, name }));
    report.damaged += blob.attachments;
    say({ ...damage, blob: blob.storageKey, attachments });
  }

  /** Stored blobs no record names, older than the grace: reported, deleted with `repair`. The records are asked a batch at a time. */
  private async orphans(options: CheckOptions, report: CheckReport, say: (p: Problem) => void): Promise<void> {
    const before = this.clock() - (options.orphanGraceMs ?? 60 * 60 * 1000);
    let batch: string[] = [];
    const flush = async () => {
      const used = await this.meta.knownBlobKeys(batch);
      for (const key of batch) {
        if (used.has(key)) continue;
        report.orphans++;
        if (options.repair) {
          await this.blobs.delete(key);
          report.repaired++;
        }
        say({ kind: 'orphan', blob: key, repaired: options.repair === true });
      }
      batch = [];
    };
    for await (const key of this.blobs.listOlderThan(before)) {
      batch.push(key);
      if (batch.length >= BATCH) await flush();
    }
    await flush();
  }

  private async sha256Of(key: string): Promise<string> {
    const stream = await this.blobs.read(key);
    const hash = createHash('sha256');
    if (stream) for await (const chunk of stream as AsyncIterable<Buffer>) hash.update(chunk);
    return hash.digest('hex');
  }
}
