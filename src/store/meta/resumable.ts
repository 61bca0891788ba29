// Queries of resumable (tus) uploads: their state and segments, and the quota their bytes reserve.
import { AffixError } from '../../core/errors.js';
import type { ResumableMultipart, ResumableSegment, ResumableUpload } from '../../core/model.js';
import type { NewResumable, ResumableRecords } from './meta-store.js';
import type { QueryContext, Trx } from './query-context.js';
import { checkQuota } from './quota.js';
import { num, numOrNull, type Row } from './rows.js';

export class ResumableQueries implements ResumableRecords {
  constructor(private readonly q: QueryContext) {}

  async createResumable(u: NewResumable, options: { quotaBytes: number | null }): Promise<ResumableUpload> {
    await this.q.transaction(async (trx) => {
      await checkQuota(this.q, trx, u.orgId, u.reserved, options.quotaBytes);
      await insertResumable(trx, u, { offset: 0 });
    });
    return this.required(u.orgId, u.id);
  }

  async getResumable(orgId: number, id: string): Promise<ResumableUpload | null> {
    const row = await this.q.db.selectFrom('resumable_uploads').selectAll().where('org_id', '=', orgId).where('id', '=', id).executeTakeFirst();
    if (!row) return null;
    const segments = await this.q.db.selectFrom('resumable_segments').selectAll().where('upload_id', '=', id).orderBy('start').execute();
    return toUpload(row, segments.map(toSegment));
  }

  async addResumableSegment(
    orgId: number,
    id: string,
    segment: ResumableSegment,
    options: { quotaBytes: number | null; multipart?: ResumableMultipart },
  ): Promise<ResumableUpload> {
    await this.q.transaction(async (trx) => {
      const row = await trx.selectFrom('resumable_uploads').select(['offset', 'length', 'reserved']).where('org_id', '=', orgId).where('id', '=', id).executeTakeFirst();
      if (!row) throw new AffixError('not_found', 'Upload not found');
      if (num(row.offset) !== segment.start) throw new AffixError('conflict', `Upload-Offset ${segment.start} is not the upload's offset ${num(row.offset)}`);
      const offset = num(row.offset) + segment.size;
      // A deferred length reserves as the bytes arrive.
      const grow = row.length === null ? Math.max(0, offset - num(row.reserved)) : 0;
      if (grow > 0) await checkQuota(this.q, trx, orgId, grow, options.quotaBytes);
      await trx
        .insertInto('resumable_segments')
        .values({
          upload_id: id,
          start: segment.start,
          size: segment.size,
          sha256: segment.sha256,
          storage_key: segment.storageKey,
          parts: segment.parts === null ? null : JSON.stringify(segment.parts),
        })
        .execute();
      const multipart = options.multipart ? { multipart_key: options.multipart.key, multipart_session: options.multipart.session, part_size: options.multipart.partSize } : {};
      await trx.updateTable('resumable_uploads').set({ offset, reserved: num(row.reserved) + grow, ...multipart }).where('id', '=', id).execute();
    });
    return this.required(orgId, id);
  }

  async setResumableLength(orgId: number, id: string, length: number, options: { quotaBytes: number | null }): Promise<ResumableUpload> {
    await this.q.transaction(async (trx) => {
      const row = await trx.selectFrom('resumable_uploads').select(['length', 'reserved']).where('org_id', '=', orgId).where('id', '=', id).executeTakeFirst();
      if (!row) throw new AffixError('not_found', 'Upload not found');
      if (row.length !== null) throw new AffixError('bad_request', 'Upload-Length is already set');
      const grow = Math.max(0, length - num(row.reserved));
      if (grow > 0) await checkQuota(this.q, trx, orgId, grow, options.quotaBytes);
      await trx.updateTable('resumable_uploads').set({ length, reserved: Math.max(length, num(row.reserved)) }).where('id', '=', id).execute();
    });
    return this.required(orgId, id);
  }

  async deleteResumable(orgId: number, id: string): Promise<ResumableUpload | null> {
    return this.q.transaction(async (trx) => {
      const row = await trx.selectFrom('resumable_uploads').selectAll().where('org_id', '=', orgId).where('id', '=', id).executeTakeFirst();
      if (!row) return null;
      const segments = await trx.deleteFrom('resumable_segments').where('upload_id', '=', id).returningAll().execute();
      const deleted = await trx.deleteFrom('resumable_uploads').where('org_id', '=', orgId).where('id', '=', id).executeTakeFirst();
      if (Number(deleted.numDeletedRows) === 0) return null;
      return toUpload(row, segments.map(toSegment).sort((a, b) => a.start - b.start));
    });
  }

  async expiredResumables(now: number, limit: number): Promise<Array<{ orgId: number; id: string }>> {
    const rows = await this.q.db.selectFrom('resumable_uploads').select(['org_id', 'id']).where('expires_at', '<=', now).orderBy('expires_at').limit(limit).execute();
    return rows.map((r) => ({ orgId: num(r.org_id), id: r.id }));
  }

  async knownResumables(ids: string[]): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    const rows = await this.q.db.selectFrom('resumable_uploads').select('id').where('id', 'in', ids).execute();
    return new Set(rows.map((r) => r.id));
  }

  withResumableLock<T>(id: string, work: () => Promise<T>): Promise<{ value: T } | null> {
    return this.q.withLock(`resumable:${id}`, work);
  }

  private async required(orgId: number, id: string): Promise<ResumableUpload> {
    const upload = await this.getResumable(orgId, id);
    if (!upload) throw new AffixError('not_found', 'Upload not found');
    return upload;
  }
}

/** Inserts an upload's row: a new one at offset 0, or a final upload (concatenation) recorded complete. */
export async function insertResumable(trx: Trx, u: NewResumable, state: { offset: number; attachment_id?: number }): Promise<void> {
  await trx
    .insertInto('resumable_uploads')
    .values({
      id: u.id,
      org_id: u.orgId,
      owner_id: u.ownerId,
      length: u.length,
      partial: u.partial ? 1 : 0,
      offset: state.offset,
      reserved: state.attachment_id === undefined ? u.reserved : 0,
      metadata: JSON.stringify(u.metadata),
      target: u.target,
      created_at: u.createdAt,
      expires_at: u.expiresAt,
      attachment_id: state.attachment_id ?? null,
    })
    .execute();
}

/**
 * Inside the transaction recording `attachmentId`: the uploads it completes lose their segments and
 * reservations; partial ones go, the others stay as the record of the file they became. Conflict
 * when one is gone, complete already, or another org's.
 */
export async function completeResumables(trx: Trx, orgId: number, ids: string[], attachmentId: number): Promise<void> {
  await trx.deleteFrom('resumable_segments').where('upload_id', 'in', ids).execute();
  const partials = await trx.deleteFrom('resumable_uploads').where('org_id', '=', orgId).where('id', 'in', ids).where('partial', '=', 1).where('attachment_id', 'is', null).executeTakeFirst();
  const whole = await trx
    .updateTable('resumable_uploads')
    .set({ attachment_id: attachmentId, reserved: 0, multipart_key: null, multipart_session: null, part_size: null })
    .where('org_id', '=', orgId)
    .where('id', 'in', ids)
    .where('partial', '=', 0)
    .where('attachment_id', 'is', null)
    .executeTakeFirst();
  if (Number(partials.numDeletedRows) + Number(whole.numUpdatedRows) !== ids.length) throw new AffixError('conflict', 'The upload was completed or removed meanwhile');
}

function toUpload(r: Row, segments: ResumableSegment[]): ResumableUpload {
  return {
    id: r.id as string,
    orgId: num(r.org_id),
    ownerId: num(r.owner_id),
    length: numOrNull(r.length),
    partial: num(r.partial) === 1,
    offset: num(r.offset),
    reserved: num(r.reserved),
    metadata: JSON.parse(r.metadata as string) as Record<string, string>,
    target: r.target as string,
    createdAt: num(r.created_at),
    expiresAt: num(r.expires_at),
    segments,
    multipart:
      r.multipart_key === null || r.multipart_key === undefined
        ? null
        : { key: r.multipart_key as string, session: r.multipart_session as string, partSize: num(r.part_size) },
    attachmentId: numOrNull(r.attachment_id),
  };
}

function toSegment(s: Row): ResumableSegment {
  return {
    start: num(s.start),
    size: num(s.size),
    sha256: s.sha256 as string,
    storageKey: s.storage_key as string,
    parts: s.parts === null || s.parts === undefined ? null : (JSON.parse(s.parts as string) as string[]),
  };
}
