// Queries of attachments and the blobs they share: insert under quota with dedup, lookups, lists, delete with release.
import type { Kysely } from 'kysely';
import type { Attachment, ClaimedAttachment } from '../../core/model.js';
import type { AttachmentRecords, InsertOptions, NewAttachment, Page, Released } from './meta-store.js';
import { attachmentBytes, checkQuota } from './quota.js';
import { completeResumables, insertResumable } from './resumable.js';
import { preparedQuery, type SlotOf } from './prepared-query.js';
import type { QueryContext, Trx } from './query-context.js';
import { attachmentQuery, num, paged, toAttachment } from './rows.js';
import type { Database } from './schema.js';

export class AttachmentQueries implements AttachmentRecords {
  private readonly queries: ReturnType<typeof hotQueries>;

  constructor(private readonly q: QueryContext) {
    this.queries = hotQueries(q.db);
  }

  // --- recording an upload ---

  async insertAttachment(a: NewAttachment, options: InsertOptions = { quotaBytes: null }): Promise<{ attachment: Attachment; duplicateKey: string | null }> {
    // SQLite: uploads committing in the same turn of the event loop share one transaction, and one fsync.
    const { id, blobKey } = await this.q.groupedTransaction((trx) => this.recordAttachment(trx, a, options));
    const attachment = await this.getAttachment(a.orgId, id);
    if (!attachment) throw new Error('attachment vanished after insert');
    return { attachment, duplicateKey: blobKey === a.storageKey ? null : a.storageKey };
  }

  private async recordAttachment(trx: Trx, a: NewAttachment, options: InsertOptions): Promise<{ id: number; blobKey: string }> {
    // In the same transaction as the insert, so concurrent uploads cannot all see room for themselves.
    await checkQuota(this.q, trx, a.orgId, a.size, options.quotaBytes, options.completing);
    // One statement, so concurrent uploads of identical bytes cannot both create a blob row.
    const [blob] = await this.queries.insertBlob(a, trx);
    const [row] = await this.queries.insertAttachment({ ...a, blobId: num(blob!.id) }, trx);
    const id = num(row!.id);
    if (options.completing?.length) await completeResumables(trx, a.orgId, options.completing, id);
    if (options.concatenated) await insertResumable(trx, options.concatenated, { offset: options.concatenated.length ?? 0, attachment_id: id });
    return { id, blobKey: blob!.storage_key };
  }

  // --- one attachment ---

  async getAttachment(orgId: number, id: number): Promise<Attachment | null> {
    const [row] = await this.queries.attachmentById({ orgId, id });
    return row ? toAttachment(row) : null;
  }

  async getAttachmentByPathId(orgId: number, pathId: string): Promise<Attachment | null> {
    const [row] = await this.queries.attachmentByPathId({ orgId, pathId });
    return row ? toAttachment(row) : null;
  }

  // --- lists ---

  async listOwnAttachments(orgId: number, ownerId: number): Promise<ClaimedAttachment[]> {
    const rows = await attachmentQuery(this.q.db, orgId).where('a.owner_id', '=', ownerId).orderBy('a.id', 'desc').execute();
    if (rows.length === 0) return [];
    const links = await this.q.db
      .selectFrom('message_attachments as ma')
      .innerJoin('messages as m', 'm.id', 'ma.message_id')
      .innerJoin('attachments as a', 'a.id', 'ma.attachment_id')
      .select(['ma.attachment_id', 'm.id', 'm.date_sent'])
      .where('a.org_id', '=', orgId)
      .where('a.owner_id', '=', ownerId)
      .orderBy('m.id')
      .execute();
    const byAttachment = new Map<number, Array<{ id: number; dateSent: number }>>();
    for (const link of links) {
      const list = byAttachment.get(num(link.attachment_id)) ?? [];
      list.push({ id: num(link.id), dateSent: num(link.date_sent) });
      byAttachment.set(num(link.attachment_id), list);
    }
    return rows.map((row) => {
      const attachment = toAttachment(row);
      return { attachment, messages: byAttachment.get(attachment.id) ?? [] };
    });
  }

  async uploadSpaceUsed(orgId: number): Promise<number> {
    return attachmentBytes(this.q.db, orgId);
  }

  async listIssueAttachments(orgId: number, issueId: string, page?: Page): Promise<Attachment[]> {
    const rows = page
      ? await this.queries.issueAttachmentsPage({ orgId, issueId, limit: page.limit, offset: page.offset })
      : await this.queries.issueAttachments({ orgId, issueId });
    return rows.map(toAttachment);
  }

  async countIssueAttachments(orgId: number, issueId: string): Promise<number> {
    return this.countAttachments(orgId, 'issue_id', issueId);
  }

  async listEntityAttachments(orgId: number, entityId: string, page?: Page): Promise<Attachment[]> {
    const rows = await paged(attachmentQuery(this.q.db, orgId).where('a.entity_id', '=', entityId).orderBy('a.id'), page).execute();
    return rows.map(toAttachment);
  }

  async countEntityAttachments(orgId: number, entityId: string): Promise<number> {
    return this.countAttachments(orgId, 'entity_id', entityId);
  }

  private async countAttachments(orgId: number, column: 'issue_id' | 'entity_id', value: string): Promise<number> {
    const row = await this.q.db
      .selectFrom('attachments')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('org_id', '=', orgId)
      .where(column, '=', value)
      .executeTakeFirstOrThrow();
    return num(row.n);
  }

  // --- deletion ---

  async deleteAttachment(orgId: number, id: number): Promise<Released> {
    return this.q.transaction(async (trx) => {
      const rows = await trx
        .deleteFrom('attachments')
        .where('org_id', '=', orgId)
        .where('id', '=', id)
        .returning('blob_id')
        .execute();
      return { count: rows.length, releasedKeys: await releaseBlobs(trx, rows.map((r) => num(r.blob_id))) };
    });
  }
}

/** Drops one reference per entry; returns the keys of blobs left with none, and of their thumbnails (rows removed). */
export async function releaseBlobs(trx: Trx, blobIds: number[]): Promise<string[]> {
  const released: string[] = [];
  for (const blobId of blobIds) {
    const blob = await trx
      .updateTable('blobs')
      .set((eb) => ({ ref_count: eb('ref_count', '-', 1) }))
      .where('id', '=', blobId)
      .returning(['ref_count', 'storage_key', 'sha256'])
      .executeTakeFirst();
    if (blob && num(blob.ref_count) <= 0) {
      await trx.deleteFrom('blobs').where('id', '=', blobId).execute();
      const thumbnails = await trx.deleteFrom('thumbnails').where('source_sha256', '=', blob.sha256).returning('storage_key').execute();
      released.push(blob.storage_key, ...thumbnails.map((t) => t.storage_key));
    }
  }
  return released;
}

/**
 * The queries of the hot paths, compiled once per store (see prepared-query.ts): one attachment (every
 * download), an issue's list, and the two inserts of an upload.
 */
function hotQueries(db: Kysely<Database>) {
  type IssueList = { orgId: number; issueId: string };
  const issueAttachments = (slot: SlotOf<IssueList>) =>
    attachmentQuery(db, slot('orgId')).where('a.issue_id', '=', slot('issueId')).orderBy('a.id');
  return {
    attachmentById: preparedQuery(db, (slot: SlotOf<{ orgId: number; id: number }>) =>
      attachmentQuery(db, slot('orgId')).where('a.id', '=', slot('id')),
    ),
    attachmentByPathId: preparedQuery(db, (slot: SlotOf<{ orgId: number; pathId: string }>) =>
      attachmentQuery(db, slot('orgId')).where('a.path_id', '=', slot('pathId')),
    ),
    insertBlob: preparedQuery(db, (slot: SlotOf<NewAttachment>) =>
      db
        .insertInto('blobs')
        .values({ sha256: slot('sha256'), size: slot('size'), storage_key: slot('storageKey'), ref_count: 1, created_at: slot('createdAt') })
        .onConflict((oc) => oc.column('sha256').doUpdateSet((eb) => ({ ref_count: eb('blobs.ref_count', '+', 1) })))
        .returning(['id', 'storage_key']),
    ),
    insertAttachment: preparedQuery(db, (slot: SlotOf<NewAttachment & { blobId: number }>) =>
      db
        .insertInto('attachments')
        .values({
          org_id: slot('orgId'),
          owner_id: slot('ownerId'),
          blob_id: slot('blobId'),
          name: slot('name'),
          mimetype: slot('mimetype'),
          size: slot('size'),
          width: slot('width'),
          height: slot('height'),
          created_at: slot('createdAt'),
          expires_at: slot('expiresAt'),
          issue_id: slot('issueId'),
          comment_id: slot('commentId'),
          path_id: slot('pathId'),
          entity_id: slot('entityId'),
        })
        .returning('id'),
    ),
    issueAttachments: preparedQuery(db, issueAttachments),
    issueAttachmentsPage: preparedQuery(db, (slot: SlotOf<IssueList & { limit: number; offset: number }>) =>
      issueAttachments(slot).limit(slot('limit')).offset(slot('offset')),
    ),
  };
}
