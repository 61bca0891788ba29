// Queries of thumbnails: at most one row per (source bytes, size, format), whoever makes it first.
import type { Thumbnail } from '../../core/model.js';
import type { ThumbnailRecords } from './meta-store.js';
import type { QueryContext } from './query-context.js';
import { num, type Row } from './rows.js';

export class ThumbnailQueries implements ThumbnailRecords {
  constructor(private readonly q: QueryContext) {}

  async getThumbnail(sourceSha256: string, size: number, format: Thumbnail['format']): Promise<Thumbnail | null> {
    const row = await this.q.db
      .selectFrom('thumbnails')
      .selectAll()
      .where('source_sha256', '=', sourceSha256)
      .where('size', '=', size)
      .where('format', '=', format)
      .executeTakeFirst();
    return row ? toThumbnail(row) : null;
  }

  async insertThumbnail(t: Thumbnail): Promise<{ thumbnail: Thumbnail; duplicateKey: string | null }> {
    await this.q.db
      .insertInto('thumbnails')
      .values({
        source_sha256: t.sourceSha256,
        size: t.size,
        format: t.format,
        storage_key: t.storageKey,
        bytes: t.bytes,
        sha256: t.sha256,
        created_at: t.createdAt,
      })
      .onConflict((oc) => oc.columns(['source_sha256', 'size', 'format']).doNothing())
      .execute();
    const stored = await this.getThumbnail(t.sourceSha256, t.size, t.format);
    if (!stored) throw new Error('thumbnail vanished after insert');
    return { thumbnail: stored, duplicateKey: stored.storageKey === t.storageKey ? null : t.storageKey };
  }
}

function toThumbnail(r: Row): Thumbnail {
  return {
    sourceSha256: r.source_sha256 as string,
    size: num(r.size),
    format: r.format as Thumbnail['format'],
    storageKey: r.storage_key as string,
    bytes: num(r.bytes),
    sha256: r.sha256 as string,
    createdAt: num(r.created_at),
  };
}
