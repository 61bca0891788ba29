// The MetaStore over Kysely: each method handed to its domain's queries, all sharing one handle; the dialect files pick the SQL flavor.
import type { Kysely } from 'kysely';
import type { Comment, Entity, EntityType, ResumableMultipart, ResumableSegment, Thumbnail } from '../../core/model.js';
import { AttachmentQueries } from './attachments.js';
import { ChatQueries } from './chat.js';
import { CollectorQueries } from './collector.js';
import { EntityQueries } from './entities.js';
import { IdentityQueries } from './identity.js';
import { IssueQueries } from './issues.js';
import type {
  AttachmentClaim,
  InsertOptions,
  IssueChanges,
  MetaStore,
  NewAttachment,
  NewComment,
  NewEntity,
  NewEntityComment,
  NewIssue,
  NewMessage,
  NewResumable,
  NewUser,
  OrgLimits,
  NewSession,
  Page,
  EntitySearch,
  IssueSearch,
  TransferTable,
} from './meta-store.js';
import { migrateToLatest, type SqlFlavor } from './migrations.js';
import { QueryContext, type Locker } from './query-context.js';
import { ResumableQueries } from './resumable.js';
import { SessionQueries } from './sessions.js';
import { UsageQueries } from './usage.js';
import { IntegrityQueries } from './integrity.js';
import { TransferQueries } from './transfer.js';
import type { Database } from './schema.js';
import { SettingQueries } from './settings.js';
import { ThumbnailQueries } from './thumbnails.js';

/**
 * Methods here only forward (they live on the prototype, so a test may wrap one on an instance and
 * delete its wrapper again); the queries are in the domain files named in the constructor.
 */
export class KyselyMetaStore implements MetaStore {
  private readonly identity: IdentityQueries;
  private readonly issues: IssueQueries;
  private readonly entities: EntityQueries;
  private readonly attachments: AttachmentQueries;
  private readonly chat: ChatQueries;
  private readonly settings: SettingQueries;
  private readonly thumbnails: ThumbnailQueries;
  private readonly collector: CollectorQueries;
  private readonly resumable: ResumableQueries;
  private readonly sessions: SessionQueries;
  private readonly usage: UsageQueries;
  private readonly integrity: IntegrityQueries;
  private readonly transfer: TransferQueries;

  constructor(
    private readonly db: Kysely<Database>,
    flavor: SqlFlavor,
    /** How this backend runs the migrations (PostgreSQL serializes nodes that start together). */
    private readonly runMigrations: () => Promise<void> = () => migrateToLatest(db, flavor),
    locker?: Locker,
    /** What else `close` lets go of (PostgreSQL's lock connections). */
    private readonly closeMore: () => Promise<void> = async () => undefined,
  ) {
    const q = new QueryContext(db, flavor, locker);
    this.identity = new IdentityQueries(q);
    this.issues = new IssueQueries(q);
    this.entities = new EntityQueries(q);
    this.attachments = new AttachmentQueries(q);
    this.chat = new ChatQueries(q);
    this.settings = new SettingQueries(q);
    this.thumbnails = new ThumbnailQueries(q);
    this.collector = new CollectorQueries(q);
    this.resumable = new ResumableQueries(q);
    this.sessions = new SessionQueries(q);
    this.usage = new UsageQueries(q);
    this.integrity = new IntegrityQueries(q);
    this.transfer = new TransferQueries(q);
  }

  async migrate(): Promise<void> {
    await this.runMigrations();
  }

  async close(): Promise<void> {
    await this.db.destroy();
    await this.closeMore();
  }

  // --- identity.ts ---
  ensureOrg(extId: string, name: string, now: number) { return this.identity.ensureOrg(extId, name, now); }
  getOrgByExtId(extId: string) { return this.identity.getOrgByExtId(extId); }
  setOrgLimits(orgId: number, limits: OrgLimits) { return this.identity.setOrgLimits(orgId, limits); }
  createUser(user: NewUser) { return this.identity.createUser(user); }
  findUserByTokenHash(tokenHash: string) { return this.identity.findUserByTokenHash(tokenHash); }
  findUserByApiKeyHash(apiKeyHash: string) { return this.identity.findUserByApiKeyHash(apiKeyHash); }
  getUser(orgId: number, userId: number) { return this.identity.getUser(orgId, userId); }
  findUserByLogin(orgId: number, login: string) { return this.identity.findUserByLogin(orgId, login); }
  findUsers(orgId: number, refs: string[]) { return this.identity.findUsers(orgId, refs); }

  // --- issues.ts ---
  createIssue(issue: NewIssue) { return this.issues.createIssue(issue); }
  findIssue(orgId: number, keyOrId: string) { return this.issues.findIssue(orgId, keyOrId); }
  updateIssue(orgId: number, issueId: string, changes: IssueChanges, claim: AttachmentClaim, now: number) { return this.issues.updateIssue(orgId, issueId, changes, claim, now); }
  createComment(comment: NewComment) { return this.issues.createComment(comment); }
  getComment(orgId: number, issueId: string, commentId: number) { return this.issues.getComment(orgId, issueId, commentId); }
  updateComment(orgId: number, comment: Comment, text: string | undefined, claim: AttachmentClaim, now: number) { return this.issues.updateComment(orgId, comment, text, claim, now); }
  listComments(orgId: number, issueId: string, page?: Page) { return this.issues.listComments(orgId, issueId, page); }
  countComments(orgId: number, issueId: string) { return this.issues.countComments(orgId, issueId); }

  // --- entities.ts ---
  createEntity(entity: NewEntity) { return this.entities.createEntity(entity); }
  findEntity(orgId: number, type: EntityType, idOrShortId: string) { return this.entities.findEntity(orgId, type, idOrShortId); }
  attachToEntity(orgId: number, entity: Entity, claim: AttachmentClaim, name?: string) { return this.entities.attachToEntity(orgId, entity, claim, name); }
  createEntityComment(comment: NewEntityComment) { return this.entities.createEntityComment(comment); }

  // --- attachments.ts ---
  insertAttachment(attachment: NewAttachment, options?: InsertOptions) { return this.attachments.insertAttachment(attachment, options); }
  getAttachment(orgId: number, id: number) { return this.attachments.getAttachment(orgId, id); }
  getAttachmentByPathId(orgId: number, pathId: string) { return this.attachments.getAttachmentByPathId(orgId, pathId); }
  listOwnAttachments(orgId: number, ownerId: number) { return this.attachments.listOwnAttachments(orgId, ownerId); }
  uploadSpaceUsed(orgId: number) { return this.attachments.uploadSpaceUsed(orgId); }
  listIssueAttachments(orgId: number, issueId: string, page?: Page) { return this.attachments.listIssueAttachments(orgId, issueId, page); }
  countIssueAttachments(orgId: number, issueId: string) { return this.attachments.countIssueAttachments(orgId, issueId); }
  listEntityAttachments(orgId: number, entityId: string, page?: Page) { return this.attachments.listEntityAttachments(orgId, entityId, page); }
  countEntityAttachments(orgId: number, entityId: string) { return this.attachments.countEntityAttachments(orgId, entityId); }
  deleteAttachment(orgId: number, id: number) { return this.attachments.deleteAttachment(orgId, id); }

  // --- chat.ts ---
  createMessage(message: NewMessage) { return this.chat.createMessage(message); }
  getMessage(orgId: number, id: number) { return this.chat.getMessage(orgId, id); }
  updateMessage(orgId: number, id: number, content: string, linkedPathIds: string[], now: number) { return this.chat.updateMessage(orgId, id, content, linkedPathIds, now); }
  deleteMessage(orgId: number, id: number, expiresAt: number) { return this.chat.deleteMessage(orgId, id, expiresAt); }
  canSeeLinkedUpload(orgId: number, attachmentId: number, userId: number) { return this.chat.canSeeLinkedUpload(orgId, attachmentId, userId); }

  // --- resumable.ts ---
  createResumable(upload: NewResumable, options: { quotaBytes: number | null }) { return this.resumable.createResumable(upload, options); }
  getResumable(orgId: number, id: string) { return this.resumable.getResumable(orgId, id); }
  addResumableSegment(orgId: number, id: string, segment: ResumableSegment, options: { quotaBytes: number | null; multipart?: ResumableMultipart }) { return this.resumable.addResumableSegment(orgId, id, segment, options); }
  setResumableLength(orgId: number, id: string, length: number, options: { quotaBytes: number | null }) { return this.resumable.setResumableLength(orgId, id, length, options); }
  deleteResumable(orgId: number, id: string) { return this.resumable.deleteResumable(orgId, id); }
  expiredResumables(now: number, limit: number) { return this.resumable.expiredResumables(now, limit); }
  knownResumables(ids: string[]) { return this.resumable.knownResumables(ids); }
  withResumableLock<T>(id: string, work: () => Promise<T>) { return this.resumable.withResumableLock(id, work); }

  // --- issues.ts and entities.ts: queues and search ---
  listQueues(orgId: number, page?: Page) { return this.issues.listQueues(orgId, page); }
  countQueues(orgId: number) { return this.issues.countQueues(orgId); }
  searchIssues(orgId: number, search: IssueSearch, page?: Page) { return this.issues.searchIssues(orgId, search, page); }
  countIssues(orgId: number, search: IssueSearch) { return this.issues.countIssues(orgId, search); }
  searchEntities(orgId: number, type: EntityType, search: EntitySearch, page?: Page) { return this.entities.searchEntities(orgId, type, search, page); }
  countEntities(orgId: number, type: EntityType, search: EntitySearch) { return this.entities.countEntities(orgId, type, search); }

  // --- sessions.ts ---
  createSession(session: NewSession) { return this.sessions.createSession(session); }
  findSession(tokenHash: string, now: number) { return this.sessions.findSession(tokenHash, now); }
  deleteSession(tokenHash: string) { return this.sessions.deleteSession(tokenHash); }
  deleteExpiredSessions(now: number) { return this.sessions.deleteExpiredSessions(now); }

  // --- usage.ts ---
  usageByType(orgId: number) { return this.usage.usageByType(orgId); }
  usageByMonth(orgId: number) { return this.usage.usageByMonth(orgId); }
  largestAttachments(orgId: number, limit: number) { return this.usage.largestAttachments(orgId, limit); }
  topUploaders(orgId: number, limit: number) { return this.usage.topUploaders(orgId, limit); }
  searchAttachments(orgId: number, viewerId: number, text: string, page?: Page, ownOnly?: boolean) { return this.usage.searchAttachments(orgId, viewerId, text, page, ownOnly); }
  countSearchAttachments(orgId: number, viewerId: number, text: string, ownOnly?: boolean) { return this.usage.countSearchAttachments(orgId, viewerId, text, ownOnly); }

  // --- integrity.ts ---
  blobsAfter(afterId: number, limit: number) { return this.integrity.blobsAfter(afterId, limit); }
  countBlobs() { return this.integrity.countBlobs(); }
  attachmentsOfBlob(blobId: number, limit: number) { return this.integrity.attachmentsOfBlob(blobId, limit); }
  setBlobRefCount(blobId: number, refCount: number) { return this.integrity.setBlobRefCount(blobId, refCount); }
  deleteUnusedBlob(blobId: number) { return this.integrity.deleteUnusedBlob(blobId); }
  thumbnailsAfter(afterKey: string, limit: number) { return this.integrity.thumbnailsAfter(afterKey, limit); }
  deleteThumbnail(storageKey: string) { return this.integrity.deleteThumbnail(storageKey); }

  // --- transfer.ts ---
  rowsAfter(table: TransferTable, after: unknown[] | null, limit: number) { return this.transfer.rowsAfter(table, after, limit); }
  countRows(table: TransferTable) { return this.transfer.countRows(table); }
  insertRows(table: TransferTable, rows: Array<Record<string, unknown>>) { return this.transfer.insertRows(table, rows); }
  resetIdSequences() { return this.transfer.resetIdSequences(); }

  // --- settings.ts, thumbnails.ts, collector.ts ---
  setting(key: string, create: () => string) { return this.settings.setting(key, create); }
  getThumbnail(sourceSha256: string, size: number, format: Thumbnail['format']) { return this.thumbnails.getThumbnail(sourceSha256, size, format); }
  insertThumbnail(thumbnail: Thumbnail) { return this.thumbnails.insertThumbnail(thumbnail); }
  deleteExpired(now: number, limit: number) { return this.collector.deleteExpired(now, limit); }
  knownBlobKeys(keys: string[]) { return this.collector.knownBlobKeys(keys); }
  suspectOrphans(keys: string[], now: number, seenBefore: number) { return this.collector.suspectOrphans(keys, now, seenBefore); }
  clearSuspects(keys: string[]) { return this.collector.clearSuspects(keys); }
  withCollectorLock<T>(work: () => Promise<T>) { return this.collector.withCollectorLock(work); }
}
