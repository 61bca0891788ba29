// Queries of the integrity check (affix fsck): blobs in id order with the attachments that really use them, thumbnails, and the repairs.
import type { BlobUse, IntegrityRecords } from './meta-store.js';
import type { QueryContext } from './query-context.js';
import { num } from './rows.js';

export class IntegrityQueries implements IntegrityRecords {
  constructor(private readonly q: QueryContext) {}

  async blobsAfter(afterId: number, limit: number): Promise<BlobUse[]> {
    const rows = await this.q.db
      .selectFrom('blobs as b')
      .select((eb) => [
        'b.id',
        'b.sha256',
        'b.size',
        'b.storage_key',
        'b.ref_count',
        eb.selectFrom('attachments as a').select((e) => e.fn.countAll<number>().as('n')).whereRef('a.blob_id', '=', 'b.id').as('used'),
      ])
      .where('b.id', '>', afterId)
      .orderBy('b.id')
      .limit(limit)
      .execute();
    return rows.map((r) => ({ id: num(r.id), sha256: r.sha256, size: num(r.size), storageKey: r.storage_key, refCount: num(r.ref_count), attachments: num(r.used) }));
  }

  async countBlobs(): Promise<number> {
    const row = await this.q.db.selectFrom('blobs').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    return num(row.n);
  }

  async attachmentsOfBlob(blobId: number, limit: number): Promise<Array<{ id: number; orgId: number; name: string }>> {
    const rows = await this.q.db.selectFrom('attachments').select(['id', 'org_id', 'name']).where('blob_id', '=', blobId).orderBy('id').limit(limit).execute();
    return rows.map((r) => ({ id: num(r.id), orgId: num(r.org_id), name: r.name }));
  }

  async setBlobRefCount(blobId: number, refCount: number): Promise<void> {
    await this.q.db.updateTable('blobs').set({ ref_count: refCount }).where('id', '=', blobId).execute();
  }

  async deleteUnusedBlob(blobId: number): Promise<string | null> {
    return this.q.transaction(async (trx) => {
      const used = await trx.selectFrom('attachments').select('id').where('blob_id', '=', blobId).limit(1).executeTakeFirst();
      if (used) return null;
      const row = await trx.deleteFrom('blobs').where('id', '=', blobId).returning('storage_key').executeTakeFirst();
      return row?.storage_key ?? null;
    });
  }

  async thumbnailsAfter(afterKey: string, limit: number): Promise<Array<{ storageKey: string; bytes: number }>> {
    const rows = await this.q.db.selectFrom('thumbnails').select(['storage_key', 'bytes']).where('storage_key', '>', afterKey).orderBy('storage_key').limit(limit).execute();
    return rows.map((r) => ({ storageKey: r.storage_key, bytes: num(r.bytes) }));
  }

  async deleteThumbnail(storageKey: string): Promise<void> {
    await this.q.db.deleteFrom('thumbnails').where('storage_key', '=', storageKey).execute();
  }
}
