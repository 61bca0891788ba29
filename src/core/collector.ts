// The collector: removes expired temporary uploads, blobs nothing references, and files a crash left behind.
import type { BlobStore } from '../store/blob/blob-store.js';
import type { MetaStore } from '../store/meta/meta-store.js';
import { removeFilesOlderThan } from '../util/remove-old-files.js';
import { deleteReleased } from './attachments.js';
import type { Resumable } from './resumable.js';
import type { Sessions } from './sessions.js';

export interface CollectorReport {
  expired: number;
  blobsDeleted: number;
  stagingRemoved: number;
  orphansRemoved: number;
  /** Bytes of deleted blobs given back from files shared with live ones (local packs). */
  bytesReclaimed: number;
  /** Unfinished resumable uploads past their expiry, removed with their bytes and reservations. */
  resumableExpired: number;
  /** Web UI sessions past their expiry. */
  sessionsExpired: number;
}

/** Blob files younger than this are never treated as orphans: their transaction may still be running. */
const ORPHAN_GRACE_MS = 60 * 60 * 1000;
/** Rows or keys handled per statement. */
const BATCH = 500;

export class Collector {
  constructor(
    private readonly meta: MetaStore,
    private readonly blobs: BlobStore,
    /** The thumbnailer's scratch directory, swept of copies a crash left. */
    private readonly scratchDir: string,
    private readonly resumable: Resumable,
    private readonly sessions: Sessions,
    private readonly clock: () => number,
  ) {}

  /** One run unless another process or node is running one (then null): the server's timer and `affix gc`. */
  async collectAlone(): Promise<CollectorReport | null> {
    return (await this.meta.withCollectorLock(() => this.collect()))?.value ?? null;
  }

  /**
   * One run. An unreferenced blob is deleted only when a sweep at least ORPHAN_GRACE_MS earlier found
   * it unreferenced too: a blob whose upload has just finished (S3 dates a multipart object from the
   * start of its upload, however long ago) is referenced by then. `now` is for tests.
   */
  async collect(now = this.clock()): Promise<CollectorReport> {
    const report: CollectorReport = { expired: 0, blobsDeleted: 0, stagingRemoved: 0, orphansRemoved: 0, bytesReclaimed: 0, resumableExpired: 0, sessionsExpired: 0 };
    report.resumableExpired = await this.resumable.collect(now, ORPHAN_GRACE_MS);
    report.sessionsExpired = await this.sessions.collect(now);
    for (;;) {
      const released = await this.meta.deleteExpired(now, BATCH);
      if (released.count === 0) break;
      report.expired += released.count;
      report.blobsDeleted += await deleteReleased(this.blobs, released);
    }
    report.stagingRemoved = (await this.blobs.sweepStaging(now - ORPHAN_GRACE_MS, (keys) => this.meta.knownBlobKeys(keys))) + (await removeFilesOlderThan(this.scratchDir, now - ORPHAN_GRACE_MS));
    let batch: string[] = [];
    const sweep = async () => {
      const known = await this.meta.knownBlobKeys(batch);
      await this.meta.clearSuspects(batch.filter((key) => known.has(key)));
      const orphans = await this.meta.suspectOrphans(batch.filter((key) => !known.has(key)), now, now - ORPHAN_GRACE_MS);
      for (const key of orphans) await this.blobs.delete(key);
      await this.meta.clearSuspects(orphans);
      report.orphansRemoved += orphans.length;
      batch = [];
    };
    for await (const key of this.blobs.listOlderThan(now - ORPHAN_GRACE_MS)) {
      batch.push(key);
      if (batch.length >= BATCH) await sweep();
    }
    await sweep();
    report.bytesReclaimed = await this.blobs.reclaim(now - ORPHAN_GRACE_MS);
    return report;
  }
}
