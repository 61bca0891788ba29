import type { Kysely, Transaction } from 'kysely';
import { AffixError } from '../../core/errors.js';
import { hex24, isHex24 } from '../../core/ids.js';
import type { Attachment, ClaimedAttachment, Comment, Entity, EntityComment, EntityType, Issue, Message, Org, Thumbnail, User } from '../../core/model.js';
import type {
  AttachmentClaim,
  ClaimTarget,
  IssueChanges,
  MetaStore,
  NewEntity,
  NewEntityComment,
  Page,
  NewAttachment,
  NewComment,
  NewIssue,
  NewMessage,
  NewUser,
  OrgLimits,
  Released,
} from './meta-store.js';
import { GroupCommit } from './group-commit.js';
import { migrateToLatest, type SqlFlavor } from './migrations.js';
import { preparedQuery, type SlotOf } from './prepared-query.js';
import type { Database } from './schema.js';

type Row = Record<string, unknown>;

const USER_COLUMNS = [
  'u.id as u_id',
  'u.org_id as u_org_id',
  'u.login as u_login',
  'u.display as u_display',
  'u.email as u_email',
  'u.cloud_uid as u_cloud_uid',
  'u.passport_uid as u_passport_uid',
  'u.created_at as u_created_at',
] as const;

// PostgreSQL returns bigint columns as strings; SQLite as numbers. Every numeric read goes through num().
const num = (value: unknown): number => Number(value);
const numOrNull = (value: unknown): number | null => (value === null || value === undefined ? null : Number(value));

function toUser(r: Row): User {
  return {
    id: num(r.u_id),
    orgId: num(r.u_org_id),
    login: r.u_login as string,
    display: r.u_display as string,
    email: r.u_email as string,
    cloudUid: r.u_cloud_uid as string,
    passportUid: num(r.u_passport_uid),
    createdAt: num(r.u_created_at),
  };
}

function toOrg(r: Row): Org {
  return {
    id: num(r.id),
    extId: r.ext_id as string,
    name: r.name as string,
    createdAt: num(r.created_at),
    maxFileUploadSizeMib: numOrNull(r.max_file_upload_size_mib),
    uploadQuotaMib: numOrNull(r.upload_quota_mib),
  };
}

const ORG_COLUMNS = ['o.id', 'o.ext_id', 'o.name', 'o.created_at', 'o.max_file_upload_size_mib', 'o.upload_quota_mib'] as const;

/** MetaStore over Kysely: one implementation of the queries, the SQL flavor chosen by the dialect. */
export class KyselyMetaStore implements MetaStore {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly flavor: SqlFlavor,
    /** How this backend runs the migrations (PostgreSQL serializes nodes that start together). */
    private readonly runMigrations: () => Promise<void> = () => migrateToLatest(db, flavor),
  ) {
    this.groupCommit = new GroupCommit(db);
    this.queries = hotQueries(db);
  }

  private readonly groupCommit: GroupCommit;
  private readonly queries: ReturnType<typeof hotQueries>;

  async migrate(): Promise<void> {
    await this.runMigrations();
  }

  /**
   * Serializes writers of one org's counted state (quota, entity numbers) until the transaction ends.
   * SQLite has one writer at a time already; PostgreSQL locks the org's row.
   */
  private async lockOrg(trx: Transaction<Database>, orgId: number): Promise<void> {
    if (this.flavor === 'postgres') await trx.selectFrom('orgs').select('id').where('id', '=', orgId).forUpdate().execute();
  }

  async close(): Promise<void> {
    await this.db.destroy();
  }

  // --- organizations and users ---

  async ensureOrg(extId: string, name: string, now: number): Promise<Org> {
    await this.db
      .insertInto('orgs')
      .values({ ext_id: extId, name, created_at: now })
      .onConflict((oc) => oc.column('ext_id').doNothing())
      .execute();
    const org = await this.getOrgByExtId(extId);
    if (!org) throw new Error(`org ${extId} vanished after insert`);
    return org;
  }

  async getOrgByExtId(extId: string): Promise<Org | null> {
    const row = await this.db.selectFrom('orgs').selectAll().where('ext_id', '=', extId).executeTakeFirst();
    return row ? toOrg(row) : null;
  }

  async setOrgLimits(orgId: number, limits: OrgLimits): Promise<Org> {
    const values = {
      ...(limits.maxFileUploadSizeMib !== undefined ? { max_file_upload_size_mib: limits.maxFileUploadSizeMib } : {}),
      ...(limits.uploadQuotaMib !== undefined ? { upload_quota_mib: limits.uploadQuotaMib } : {}),
    };
    if (Object.keys(values).length > 0) await this.db.updateTable('orgs').set(values).where('id', '=', orgId).execute();
    const row = await this.db.selectFrom('orgs').selectAll().where('id', '=', orgId).executeTakeFirstOrThrow();
    return toOrg(row);
  }

  async createUser(user: NewUser): Promise<User> {
    const { id } = await this.db
      .insertInto('users')
      .values({
        org_id: user.orgId,
        login: user.login,
        display: user.display,
        email: user.email,
        cloud_uid: user.cloudUid,
        passport_uid: user.passportUid,
        token_hash: user.tokenHash,
        api_key_hash: user.apiKeyHash,
        created_at: user.createdAt,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    const created = await this.getUser(user.orgId, num(id));
    if (!created) throw new Error('user vanished after insert');
    return created;
  }

  async findUserByTokenHash(tokenHash: string): Promise<{ user: User; org: Org } | null> {
    return this.findUserBy(this.queries.userByTokenHash, tokenHash);
  }

  async findUserByApiKeyHash(apiKeyHash: string): Promise<{ user: User; org: Org } | null> {
    return this.findUserBy(this.queries.userByApiKeyHash, apiKeyHash);
  }

  private async findUserBy(lookup: (args: { hash: string }) => Promise<Row[]>, hash: string): Promise<{ user: User; org: Org } | null> {
    const [row] = await lookup({ hash });
    return row ? { user: toUser(row), org: toOrg(row) } : null;
  }

  async getUser(orgId: number, userId: number): Promise<User | null> {
    const row = await this.db
      .selectFrom('users as u')
      .select(USER_COLUMNS)
      .where('u.org_id', '=', orgId)
      .where('u.id', '=', userId)
      .executeTakeFirst();
    return row ? toUser(row) : null;
  }

  async findUserByLogin(orgId: number, login: string): Promise<User | null> {
    const row = await this.db.selectFrom('users as u').select(USER_COLUMNS).where('u.org_id', '=', orgId).where('u.login', '=', login).executeTakeFirst();
    return row ? toUser(row) : null;
  }

  // --- issues and comments ---

  async createIssue(issue: NewIssue): Promise<Issue> {
    const id = await this.db.transaction().execute(async (trx) => {
      const queue = await trx
        .insertInto('queues')
        .values({ org_id: issue.orgId, key: issue.queueKey, next_number: 1, created_at: issue.createdAt })
        .onConflict((oc) =>
          oc.columns(['org_id', 'key']).doUpdateSet((eb) => ({ next_number: eb('queues.next_number', '+', 1) })),
        )
        .returning(['id', 'next_number'])
        .executeTakeFirstOrThrow();
      const issueId = hex24();
      await trx
        .insertInto('issues')
        .values({
          id: issueId,
          org_id: issue.orgId,
          queue_id: num(queue.id),
          key: `${issue.queueKey}-${num(queue.next_number)}`,
          summary: issue.summary,
          description: issue.description,
          created_by: issue.createdBy,
          created_at: issue.createdAt,
          updated_at: issue.createdAt,
        })
        .execute();
      await this.claim(trx, issue.orgId, issue.claim, { issueId, commentId: null });
      return issueId;
    });
    const created = await this.findIssue(issue.orgId, id);
    if (!created) throw new Error('issue vanished after insert');
    return created;
  }

  async findIssue(orgId: number, keyOrId: string): Promise<Issue | null> {
    const [row] = isHex24(keyOrId)
      ? await this.queries.issueById({ orgId, value: keyOrId.toLowerCase() })
      : await this.queries.issueByKey({ orgId, value: keyOrId.toUpperCase() });
    if (!row) return null;
    return {
      id: row.id,
      orgId: num(row.org_id),
      queueKey: row.queue_key,
      key: row.key,
      summary: row.summary,
      description: row.description,
      createdBy: toUser(row),
      createdAt: num(row.created_at),
      updatedAt: num(row.updated_at),
    };
  }

  async createComment(comment: NewComment): Promise<Comment> {
    const id = await this.db.transaction().execute(async (trx) => {
      const { id } = await trx
        .insertInto('comments')
        .values({
          long_id: hex24(),
          org_id: comment.orgId,
          issue_id: comment.issueId,
          text: comment.text,
          created_by: comment.createdBy,
          created_at: comment.createdAt,
          updated_at: comment.createdAt,
        })
        .returning('id')
        .executeTakeFirstOrThrow();
      await this.claim(trx, comment.orgId, comment.claim, { issueId: comment.issueId, commentId: num(id) });
      return num(id);
    });
    const [created] = await this.commentQuery(comment.orgId).where('c.id', '=', id).execute();
    if (!created) throw new Error('comment vanished after insert');
    return toComment(created);
  }

  async updateIssue(orgId: number, issueId: string, changes: IssueChanges, claim: AttachmentClaim, now: number): Promise<Issue> {
    await this.db.transaction().execute(async (trx) => {
      await trx
        .updateTable('issues')
        .set({
          updated_at: now,
          ...(changes.summary !== undefined ? { summary: changes.summary } : {}),
          ...(changes.description !== undefined ? { description: changes.description } : {}),
        })
        .where('org_id', '=', orgId)
        .where('id', '=', issueId)
        .execute();
      await this.claim(trx, orgId, claim, { issueId, commentId: null });
    });
    const issue = await this.findIssue(orgId, issueId);
    if (!issue) throw new AffixError('not_found', 'Issue not found');
    return issue;
  }

  async getComment(orgId: number, issueId: string, commentId: number): Promise<Comment | null> {
    const row = await this.commentQuery(orgId).where('c.issue_id', '=', issueId).where('c.id', '=', commentId).executeTakeFirst();
    return row ? toComment(row) : null;
  }

  async updateComment(orgId: number, comment: Comment, text: string | undefined, claim: AttachmentClaim, now: number): Promise<Comment> {
    await this.db.transaction().execute(async (trx) => {
      await trx
        .updateTable('comments')
        .set({ updated_at: now, ...(text !== undefined ? { text } : {}) })
        .where('org_id', '=', orgId)
        .where('id', '=', comment.id)
        .execute();
      await this.claim(trx, orgId, claim, { issueId: comment.issueId, commentId: comment.id });
    });
    const updated = await this.getComment(orgId, comment.issueId, comment.id);
    if (!updated) throw new AffixError('not_found', 'Comment not found');
    return updated;
  }

  async listComments(orgId: number, issueId: string, page?: Page): Promise<Comment[]> {
    const rows = await paged(this.commentQuery(orgId).where('c.issue_id', '=', issueId).orderBy('c.id'), page).execute();
    return rows.map(toComment);
  }

  async countComments(orgId: number, issueId: string): Promise<number> {
    const row = await this.db
      .selectFrom('comments')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('org_id', '=', orgId)
      .where('issue_id', '=', issueId)
      .executeTakeFirstOrThrow();
    return num(row.n);
  }

  // --- entities (project, portfolio, goal) ---

  async createEntity(e: NewEntity): Promise<Entity> {
    const id = hex24();
    await this.db.transaction().execute(async (trx) => {
      await this.lockOrg(trx, e.orgId);
      const last = await trx
        .selectFrom('entities')
        .select((eb) => eb.fn.max<number>('short_id').as('max'))
        .where('org_id', '=', e.orgId)
        .where('type', '=', e.type)
        .executeTakeFirst();
      await trx
        .insertInto('entities')
        .values({
          id,
          org_id: e.orgId,
          type: e.type,
          short_id: num(last?.max ?? 0) + 1,
          summary: e.summary,
          version: 1,
          created_by: e.createdBy,
          created_at: e.createdAt,
          updated_at: e.createdAt,
        })
        .execute();
    });
    const created = await this.findEntity(e.orgId, e.type, id);
    if (!created) throw new Error('entity vanished after insert');
    return created;
  }

  async findEntity(orgId: number, type: EntityType, idOrShortId: string): Promise<Entity | null> {
    const byId = isHex24(idOrShortId);
    if (!byId && !/^\d{1,15}$/.test(idOrShortId)) return null;
    const row = await this.db
      .selectFrom('entities as e')
      .innerJoin('users as u', 'u.id', 'e.created_by')
      .select([...USER_COLUMNS, 'e.id', 'e.org_id', 'e.type', 'e.short_id', 'e.summary', 'e.version', 'e.created_at', 'e.updated_at'])
      .where('e.org_id', '=', orgId)
      .where('e.type', '=', type)
      .where(byId ? 'e.id' : 'e.short_id', '=', byId ? idOrShortId.toLowerCase() : Number(idOrShortId))
      .executeTakeFirst();
    if (!row) return null;
    return {
      id: row.id,
      orgId: num(row.org_id),
      type: row.type as EntityType,
      shortId: num(row.short_id),
      summary: row.summary,
      version: num(row.version),
      createdBy: toUser(row),
      createdAt: num(row.created_at),
      updatedAt: num(row.updated_at),
    };
  }

  async attachToEntity(orgId: number, entity: Entity, claim: AttachmentClaim): Promise<Entity> {
    await this.db.transaction().execute(async (trx) => {
      await this.claim(trx, orgId, claim, { entityId: entity.id });
      await trx
        .updateTable('entities')
        .set((eb) => ({ version: eb('version', '+', 1), updated_at: claim.now }))
        .where('id', '=', entity.id)
        .execute();
    });
    const updated = await this.findEntity(orgId, entity.type, entity.id);
    if (!updated) throw new AffixError('not_found', 'Entity not found');
    return updated;
  }

  async createEntityComment(c: NewEntityComment): Promise<EntityComment> {
    const longId = hex24();
    const id = await this.db.transaction().execute(async (trx) => {
      const { id } = await trx
        .insertInto('entity_comments')
        .values({ long_id: longId, org_id: c.orgId, entity_id: c.entityId, text: c.text, created_by: c.createdBy, created_at: c.createdAt })
        .returning('id')
        .executeTakeFirstOrThrow();
      await this.claim(trx, c.orgId, c.claim, { entityId: c.entityId });
      return num(id);
    });
    const author = await this.getUser(c.orgId, c.createdBy);
    if (!author) throw new Error('comment author vanished');
    return { id, longId, orgId: c.orgId, entityId: c.entityId, text: c.text, createdBy: author, createdAt: c.createdAt };
  }

  async listEntityAttachments(orgId: number, entityId: string, page?: Page): Promise<Attachment[]> {
    const rows = await paged(attachmentQuery(this.db, orgId).where('a.entity_id', '=', entityId).orderBy('a.id'), page).execute();
    return rows.map(toAttachment);
  }

  async countEntityAttachments(orgId: number, entityId: string): Promise<number> {
    return this.countAttachments(orgId, 'entity_id', entityId);
  }

  private async countAttachments(orgId: number, column: 'issue_id' | 'entity_id', value: string): Promise<number> {
    const row = await this.db
      .selectFrom('attachments')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('org_id', '=', orgId)
      .where(column, '=', value)
      .executeTakeFirstOrThrow();
    return num(row.n);
  }

  private commentQuery(orgId: number) {
    return this.db
      .selectFrom('comments as c')
      .innerJoin('users as u', 'u.id', 'c.created_by')
      .innerJoin('issues as i', 'i.id', 'c.issue_id')
      .select([...USER_COLUMNS, 'c.id', 'c.long_id', 'c.org_id', 'c.issue_id', 'i.key as issue_key', 'c.text', 'c.created_at', 'c.updated_at'])
      .where('c.org_id', '=', orgId);
  }

  /**
   * Attaches the owner's unexpired temporary uploads to an issue (and comment) or an entity, or throws
   * without changing anything. The conditional UPDATE is what makes a second claim of the same id fail.
   */
  private async claim(trx: Transaction<Database>, orgId: number, claim: AttachmentClaim, target: ClaimTarget) {
    const ids = [...new Set(claim.ids)];
    if (ids.length === 0) return;
    const rows = await trx
      .selectFrom('attachments')
      .select(['id', 'owner_id', 'expires_at'])
      .where('org_id', '=', orgId)
      .where('id', 'in', ids)
      .execute();
    const byId = new Map(rows.map((r) => [num(r.id), r]));
    for (const id of ids) {
      const row = byId.get(id);
      const problem =
        !row || num(row.owner_id) !== claim.ownerId
          ? `Attachment ${id} not found`
          : row.expires_at === null
            ? `Attachment ${id} is already attached`
            : num(row.expires_at) <= claim.now
              ? `Attachment ${id} has expired`
              : null;
      if (problem) throw new AffixError('unprocessable', problem, { attachmentIds: problem });
    }
    const result = await trx
      .updateTable('attachments')
      .set('entityId' in target ? { entity_id: target.entityId, expires_at: null } : { issue_id: target.issueId, comment_id: target.commentId, expires_at: null })
      .where('org_id', '=', orgId)
      .where('id', 'in', ids)
      .where('expires_at', 'is not', null)
      .executeTakeFirst();
    if (Number(result.numUpdatedRows) !== ids.length) {
      throw new AffixError('unprocessable', 'Some attachments were attached concurrently', { attachmentIds: 'already attached' });
    }
  }

  // --- attachments and blobs ---

  async insertAttachment(
    a: NewAttachment,
    options: { quotaBytes: number | null } = { quotaBytes: null },
  ): Promise<{ attachment: Attachment; duplicateKey: string | null }> {
    // SQLite: uploads committing in the same turn of the event loop share one transaction, and one fsync.
    const { id, blobKey } =
      this.flavor === 'sqlite'
        ? await this.groupCommit.run((trx) => this.recordAttachment(trx, a, options))
        : await this.db.transaction().execute((trx) => this.recordAttachment(trx, a, options));
    const attachment = await this.getAttachment(a.orgId, id);
    if (!attachment) throw new Error('attachment vanished after insert');
    return { attachment, duplicateKey: blobKey === a.storageKey ? null : a.storageKey };
  }

  private async recordAttachment(
    trx: Transaction<Database>,
    a: NewAttachment,
    options: { quotaBytes: number | null },
  ): Promise<{ id: number; blobKey: string }> {
    if (options.quotaBytes !== null) {
      // In the same transaction as the insert, so concurrent uploads cannot all see room for themselves.
      await this.lockOrg(trx, a.orgId);
      const used = await this.spaceUsed(trx, a.orgId);
      if (used + a.size > options.quotaBytes) {
        throw new AffixError('quota_exceeded', "Upload would exceed your organization's upload quota.");
      }
    }
    // One statement, so concurrent uploads of identical bytes cannot both create a blob row.
    const [blob] = await this.queries.insertBlob(a, trx);
    const [row] = await this.queries.insertAttachment({ ...a, blobId: num(blob!.id) }, trx);
    return { id: num(row!.id), blobKey: blob!.storage_key };
  }

  async getAttachment(orgId: number, id: number): Promise<Attachment | null> {
    const [row] = await this.queries.attachmentById({ orgId, id });
    return row ? toAttachment(row) : null;
  }

  async getAttachmentByPathId(orgId: number, pathId: string): Promise<Attachment | null> {
    const [row] = await this.queries.attachmentByPathId({ orgId, pathId });
    return row ? toAttachment(row) : null;
  }

  async listOwnAttachments(orgId: number, ownerId: number): Promise<ClaimedAttachment[]> {
    const rows = await attachmentQuery(this.db, orgId).where('a.owner_id', '=', ownerId).orderBy('a.id', 'desc').execute();
    if (rows.length === 0) return [];
    const links = await this.db
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
    return this.spaceUsed(this.db, orgId);
  }

  private async spaceUsed(db: Kysely<Database> | Transaction<Database>, orgId: number): Promise<number> {
    const row = await db
      .selectFrom('attachments')
      .select((eb) => eb.fn.coalesce(eb.fn.sum<number>('size'), eb.lit(0)).as('used'))
      .where('org_id', '=', orgId)
      .executeTakeFirstOrThrow();
    return num(row.used);
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

  async deleteAttachment(orgId: number, id: number): Promise<Released> {
    return this.db.transaction().execute(async (trx) => {
      const rows = await trx
        .deleteFrom('attachments')
        .where('org_id', '=', orgId)
        .where('id', '=', id)
        .returning('blob_id')
        .execute();
      return { count: rows.length, releasedKeys: await this.release(trx, rows.map((r) => num(r.blob_id))) };
    });
  }

  async deleteExpired(now: number, limit: number): Promise<Released> {
    return this.db.transaction().execute(async (trx) => {
      const expired = await trx
        .selectFrom('attachments')
        .select('id')
        .where('expires_at', 'is not', null)
        .where('expires_at', '<=', now)
        .orderBy('expires_at')
        .limit(limit)
        // Concurrent collectors on PostgreSQL take different rows instead of waiting on each other.
        .$if(this.flavor === 'postgres', (q) => q.forUpdate().skipLocked())
        .execute();
      if (expired.length === 0) return { count: 0, releasedKeys: [] };
      // Release only what this DELETE removed: a concurrent collector may have taken some rows already.
      const deleted = await trx
        .deleteFrom('attachments')
        .where('id', 'in', expired.map((r) => num(r.id)))
        .where('expires_at', 'is not', null)
        .returning('blob_id')
        .execute();
      return { count: deleted.length, releasedKeys: await this.release(trx, deleted.map((r) => num(r.blob_id))) };
    });
  }

  /** Drops one reference per entry; returns the keys of blobs left with none, and of their thumbnails (rows removed). */
  private async release(trx: Transaction<Database>, blobIds: number[]): Promise<string[]> {
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

  // --- messages (Zulip dialect) ---

  async createMessage(m: NewMessage): Promise<Message> {
    const id = await this.db.transaction().execute(async (trx) => {
      let channelId: number | null = null;
      if (m.channel !== null) {
        await trx
          .insertInto('channels')
          .values({ org_id: m.orgId, name: m.channel, created_at: m.dateSent })
          .onConflict((oc) => oc.columns(['org_id', 'name']).doNothing())
          .execute();
        const channel = await trx.selectFrom('channels').select('id').where('org_id', '=', m.orgId).where('name', '=', m.channel).executeTakeFirstOrThrow();
        channelId = num(channel.id);
      }
      const { id } = await trx
        .insertInto('messages')
        .values({
          org_id: m.orgId,
          sender_id: m.senderId,
          type: m.type,
          channel_id: channelId,
          recipients: m.type === 'private' ? JSON.stringify(m.recipients) : null,
          topic: m.topic,
          content: m.content,
          date_sent: m.dateSent,
          edited_at: null,
        })
        .returning('id')
        .executeTakeFirstOrThrow();
      await this.claimForMessage(trx, m.orgId, num(id), m.senderId, m.linkedPathIds);
      return num(id);
    });
    const message = await this.getMessage(m.orgId, id);
    if (!message) throw new Error('message vanished after insert');
    return message;
  }

  async getMessage(orgId: number, id: number): Promise<Message | null> {
    const row = await this.db
      .selectFrom('messages as m')
      .leftJoin('channels as ch', 'ch.id', 'm.channel_id')
      .select(['m.id', 'm.org_id', 'm.sender_id', 'm.type', 'ch.name as channel', 'm.recipients', 'm.topic', 'm.content', 'm.date_sent', 'm.edited_at'])
      .where('m.org_id', '=', orgId)
      .where('m.id', '=', id)
      .executeTakeFirst();
    return row ? toMessage(row) : null;
  }

  async updateMessage(orgId: number, id: number, content: string, linkedPathIds: string[], now: number): Promise<Message> {
    await this.db.transaction().execute(async (trx) => {
      const message = await trx.selectFrom('messages').select('sender_id').where('org_id', '=', orgId).where('id', '=', id).executeTakeFirst();
      if (!message) throw new AffixError('not_found', 'Invalid message(s)');
      await trx.updateTable('messages').set({ content, edited_at: now }).where('id', '=', id).execute();
      await trx.deleteFrom('message_attachments').where('message_id', '=', id).execute();
      await this.claimForMessage(trx, orgId, id, num(message.sender_id), linkedPathIds);
    });
    const message = await this.getMessage(orgId, id);
    if (!message) throw new Error('message vanished after update');
    return message;
  }

  /**
   * Links the message to the uploads its content names: the sender's own, or ones another message
   * already claimed (so anyone may forward a shared file). Claimed uploads stop being temporary.
   */
  private async claimForMessage(trx: Transaction<Database>, orgId: number, messageId: number, senderId: number, pathIds: string[]) {
    const unique = [...new Set(pathIds)];
    if (unique.length === 0) return;
    const claimable = await trx
      .selectFrom('attachments as a')
      .select('a.id')
      .where('a.org_id', '=', orgId)
      .where('a.path_id', 'in', unique)
      .where((eb) =>
        eb.or([
          eb('a.owner_id', '=', senderId),
          eb.exists(eb.selectFrom('message_attachments as ma').select('ma.message_id').whereRef('ma.attachment_id', '=', 'a.id')),
        ]),
      )
      .execute();
    const ids = claimable.map((r) => num(r.id));
    if (ids.length === 0) return;
    await trx
      .insertInto('message_attachments')
      .values(ids.map((attachmentId) => ({ message_id: messageId, attachment_id: attachmentId })))
      .onConflict((oc) => oc.columns(['attachment_id', 'message_id']).doNothing())
      .execute();
    await trx.updateTable('attachments').set({ expires_at: null }).where('id', 'in', ids).execute();
  }

  async setting(key: string, create: () => string): Promise<string> {
    await this.db.insertInto('settings').values({ key, value: create() }).onConflict((oc) => oc.column('key').doNothing()).execute();
    const row = await this.db.selectFrom('settings').select('value').where('key', '=', key).executeTakeFirstOrThrow();
    return row.value;
  }

  async getThumbnail(sourceSha256: string, size: number, format: Thumbnail['format']): Promise<Thumbnail | null> {
    const row = await this.db
      .selectFrom('thumbnails')
      .selectAll()
      .where('source_sha256', '=', sourceSha256)
      .where('size', '=', size)
      .where('format', '=', format)
      .executeTakeFirst();
    return row ? toThumbnail(row) : null;
  }

  async insertThumbnail(t: Thumbnail): Promise<{ thumbnail: Thumbnail; duplicateKey: string | null }> {
    await this.db
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

  async knownBlobKeys(keys: string[]): Promise<Set<string>> {
    if (keys.length === 0) return new Set();
    const rows = await this.db
      .selectFrom('blobs')
      .select('storage_key')
      .where('storage_key', 'in', keys)
      .unionAll(this.db.selectFrom('thumbnails').select('storage_key').where('storage_key', 'in', keys))
      .execute();
    return new Set(rows.map((r) => r.storage_key));
  }

  async suspectOrphans(keys: string[], now: number, seenBefore: number): Promise<string[]> {
    if (keys.length === 0) return [];
    await this.db
      .insertInto('orphan_suspects')
      .values(keys.map((key) => ({ storage_key: key, first_seen: now })))
      .onConflict((oc) => oc.column('storage_key').doNothing())
      .execute();
    const rows = await this.db
      .selectFrom('orphan_suspects')
      .select('storage_key')
      .where('storage_key', 'in', keys)
      .where('first_seen', '<=', seenBefore)
      .execute();
    return rows.map((r) => r.storage_key);
  }

  async clearSuspects(keys: string[]): Promise<void> {
    if (keys.length > 0) await this.db.deleteFrom('orphan_suspects').where('storage_key', 'in', keys).execute();
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

function toComment(r: Row): Comment {
  return {
    id: num(r.id),
    longId: r.long_id as string,
    orgId: num(r.org_id),
    issueId: r.issue_id as string,
    issueKey: r.issue_key as string,
    text: r.text as string,
    createdBy: toUser(r),
    createdAt: num(r.created_at),
    updatedAt: num(r.updated_at),
  };
}

function toAttachment(r: Row): Attachment {
  return {
    id: num(r.id),
    orgId: num(r.org_id),
    owner: toUser(r),
    name: r.name as string,
    mimetype: r.mimetype as string,
    size: num(r.size),
    width: numOrNull(r.width),
    height: numOrNull(r.height),
    sha256: r.sha256 as string,
    storageKey: r.storage_key as string,
    createdAt: num(r.created_at),
    expiresAt: numOrNull(r.expires_at),
    issueId: (r.issue_id as string | null) ?? null,
    issueKey: (r.issue_key as string | null) ?? null,
    commentId: numOrNull(r.comment_id),
    commentLongId: (r.comment_long_id as string | null) ?? null,
    pathId: r.path_id as string,
    entityId: (r.entity_id as string | null) ?? null,
  };
}

/** Attachments of an org with what their JSON needs: owner, blob, issue key, comment id. */
function attachmentQuery(db: Kysely<Database>, orgId: number) {
  return db
    .selectFrom('attachments as a')
    .innerJoin('blobs as b', 'b.id', 'a.blob_id')
    .innerJoin('users as u', 'u.id', 'a.owner_id')
    .leftJoin('issues as i', 'i.id', 'a.issue_id')
    .leftJoin('comments as c', 'c.id', 'a.comment_id')
    .select([
      ...USER_COLUMNS,
      'a.id',
      'a.org_id',
      'a.name',
      'a.mimetype',
      'a.size',
      'a.width',
      'a.height',
      'a.created_at',
      'a.expires_at',
      'a.issue_id',
      'a.comment_id',
      'b.sha256',
      'b.storage_key',
      'i.key as issue_key',
      'c.long_id as comment_long_id',
      'a.path_id',
      'a.entity_id',
    ])
    .where('a.org_id', '=', orgId);
}

/**
 * The queries of the hot paths, compiled once per store (see prepared-query.ts): the lookups every
 * read request makes (auth, the issue, one attachment, an issue's list) and the two inserts of an upload.
 */
function hotQueries(db: Kysely<Database>) {
  const userBy = (column: 'u.token_hash' | 'u.api_key_hash') =>
    preparedQuery(db, (slot: SlotOf<{ hash: string }>) =>
      db
        .selectFrom('users as u')
        .innerJoin('orgs as o', 'o.id', 'u.org_id')
        .select([...USER_COLUMNS, ...ORG_COLUMNS])
        .where(column, '=', slot('hash')),
    );
  const issueBy = (column: 'i.id' | 'i.key') =>
    preparedQuery(db, (slot: SlotOf<{ orgId: number; value: string }>) =>
      db
        .selectFrom('issues as i')
        .innerJoin('users as u', 'u.id', 'i.created_by')
        .innerJoin('queues as q', 'q.id', 'i.queue_id')
        .select([...USER_COLUMNS, 'i.id', 'i.org_id', 'i.key', 'i.summary', 'i.description', 'i.created_at', 'i.updated_at', 'q.key as queue_key'])
        .where('i.org_id', '=', slot('orgId'))
        .where(column, '=', slot('value')),
    );
  type IssueList = { orgId: number; issueId: string };
  const issueAttachments = (slot: SlotOf<IssueList>) =>
    attachmentQuery(db, slot('orgId')).where('a.issue_id', '=', slot('issueId')).orderBy('a.id');
  return {
    userByTokenHash: userBy('u.token_hash'),
    userByApiKeyHash: userBy('u.api_key_hash'),
    issueById: issueBy('i.id'),
    issueByKey: issueBy('i.key'),
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

/** The rows of one page; the whole list without a page. */
function paged<Q extends { limit(n: number): Q; offset(n: number): Q }>(query: Q, page: Page | undefined): Q {
  return page ? query.limit(page.limit).offset(page.offset) : query;
}

function toMessage(r: Row): Message {
  return {
    id: num(r.id),
    orgId: num(r.org_id),
    senderId: num(r.sender_id),
    type: r.type as Message['type'],
    channel: (r.channel as string | null) ?? null,
    recipients: r.recipients ? (JSON.parse(r.recipients as string) as string[]) : [],
    topic: (r.topic as string | null) ?? null,
    content: r.content as string,
    dateSent: num(r.date_sent),
    editedAt: numOrNull(r.edited_at),
  };
}
