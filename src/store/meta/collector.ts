// Queries of the collector: expired temporary uploads, which blob keys are still used, and suspected orphans.
import type { CollectorRecords, Released } from './meta-store.js';
import { releaseBlobs } from './attachments.js';
import type { QueryContext } from './query-context.js';
import { num } from './rows.js';

export class CollectorQueries implements CollectorRecords {
  constructor(private readonly q: QueryContext) {}

  withCollectorLock<T>(work: () => Promise<T>): Promise<{ value: T } | null> {
    return this.q.withLock('collector', work);
  }

  async deleteExpired(now: number, limit: number): Promise<Released> {
    return this.q.transaction(async (trx) => {
      const expired = await trx
        .selectFrom('attachments')
        .select('id')
        .where('expires_at', 'is not', null)
        .where('expires_at', '<=', now)
        .orderBy('expires_at')
        .limit(limit)
        // Concurrent collectors on PostgreSQL take different rows instead of waiting on each other.
        .$if(this.q.flavor === 'postgres', (query) => query.forUpdate().skipLocked())
        .execute();
      if (expired.length === 0) return { count: 0, releasedKeys: [] };
      // Release only what this DELETE removed: a concurrent collector may have taken some rows already.
      const deleted = await trx
        .deleteFrom('attachments')
        .where('id', 'in', expired.map((r) => num(r.id)))
        .where('expires_at', 'is not', null)
        .returning('blob_id')
        .execute();
      return { count: deleted.length, releasedKeys: await releaseBlobs(trx, deleted.map((r) => num(r.blob_id))) };
    });
  }

  async knownBlobKeys(keys: string[]): Promise<Set<string>> {
    if (keys.length === 0) return new Set();
    const rows = await this.q.db
      .selectFrom('blobs')
      .select('storage_key')
      .where('storage_key', 'in', keys)
      .unionAll(this.q.db.selectFrom('thumbnails').select('storage_key').where('storage_key', 'in', keys))
      .unionAll(this.q.db.selectFrom('resumable_segments').select('storage_key').where('storage_key', 'in', keys))
      .unionAll(this.q.db.selectFrom('resumable_uploads').select((eb) => eb.fn.coalesce('multipart_key', eb.val('')).as('storage_key')).where('multipart_key', 'in', keys))
      .execute();
    return new Set(rows.map((r) => r.storage_key));
  }

  async suspectOrphans(keys: string[], now: number, seenBefore: number): Promise<string[]> {
    if (keys.length === 0) return [];
    await this.q.db
      .insertInto('orphan_suspects')
      .values(keys.map((key) => ({ storage_key: key, first_seen: now })))
      .onConflict((oc) => oc.column('storage_key').doNothing())
      .execute();
    const rows = await this.q.db
      .selectFrom('orphan_suspects')
      .select('storage_key')
      .where('storage_key', 'in', keys)
      .where('first_seen', '<=', seenBefore)
      .execute();
    return rows.map((r) => r.storage_key);
  }

  async clearSuspects(keys: string[]): Promise<void> {
    if (keys.length > 0) await this.q.db.deleteFrom('orphan_suspects').where('storage_key', 'in', keys).execute();
  }
}
