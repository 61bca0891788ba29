// The metadata contract: one interface per domain, joined in `MetaStore`, which every backend implements.
import type { Attachment, ClaimedAttachment, Comment, Entity, EntityComment, EntityType, Issue, Message, Org, Queue, ResumableMultipart, ResumableSegment, ResumableUpload, Thumbnail, User } from '../../core/model.js';

/** A user to record, with the sha256 of their OAuth token and API key (never the secrets). */
export type NewUser = Omit<User, 'id'> & { tokenHash: string; apiKeyHash: string };

/**
 * An attachment to record: the model's own fields, with the owner by id. `storageKey` is the key of
 * the blob just written; it becomes the blob's key unless identical bytes are stored already.
 */
export type NewAttachment = Omit<Attachment, 'id' | 'owner' | 'issueKey' | 'commentLongId'> & { ownerId: number };

/** Temporary uploads to attach in the same transaction as the record that claims them. */
export interface AttachmentClaim {
  ownerId: number;
  ids: number[];
  now: number;
}

export interface NewIssue {
  orgId: number;
  queueKey: string;
  summary: string;
  description: string | null;
  createdBy: number;
  createdAt: number;
  claim: AttachmentClaim;
}

export interface NewComment {
  orgId: number;
  issueId: string;
  text: string;
  createdBy: number;
  createdAt: number;
  claim: AttachmentClaim;
}

/** Where claimed temporary uploads go: an issue (and one of its comments), or an entity. */
export type ClaimTarget = { issueId: string; commentId: number | null } | { entityId: string };

/** A page of a list: `limit` rows after skipping `offset`. */
export interface Page {
  limit: number;
  offset: number;
}

/** How a search sorts: by a field, one way. */
export interface SearchOrder<F extends string> {
  field: F;
  descending: boolean;
}

/** Which issues a search finds (Tracker's `_search`); every criterion given must hold. */
export interface IssueSearch {
  queueKey?: string;
  keys?: string[];
  /** Every word found in the summary or the key, any case. */
  text?: string;
  /** Found in the summary, any case. */
  summary?: string;
  order: SearchOrder<'key' | 'createdAt' | 'updatedAt' | 'summary'>;
}

/** Which entities a search finds: `text` in the summary, any case. */
export interface EntitySearch {
  text?: string;
  order: SearchOrder<'shortId' | 'createdAt' | 'updatedAt' | 'summary'>;
}

export interface IssueChanges {
  summary?: string;
  description?: string | null;
}

export interface NewEntity {
  orgId: number;
  type: EntityType;
  summary: string;
  createdBy: number;
  createdAt: number;
}

export interface NewEntityComment {
  orgId: number;
  entityId: string;
  text: string;
  createdBy: number;
  createdAt: number;
  claim: AttachmentClaim;
}

export interface NewMessage {
  orgId: number;
  senderId: number;
  type: Message['type'];
  channel: string | null;
  recipients: string[];
  topic: string | null;
  content: string;
  dateSent: number;
  /** `path_id`s the content links to; the sender's own uploads, and ones a message the sender can see links, are claimed. */
  linkedPathIds: string[];
  /** Private messages: the participants' user ids, the sender's among them. */
  participantIds: number[];
}

export interface OrgLimits {
  maxFileUploadSizeMib?: number | null;
  uploadQuotaMib?: number | null;
}

/** What a removal let go of: blob keys no attachment refers to any more, for the BlobStore to delete. */
export interface Released {
  count: number;
  releasedKeys: string[];
}

/** Organizations and their users; users are found by id, login, or the hash of their token or API key. */
export interface IdentityRecords {
  /** Returns the org with this external id, creating it on first use. */
  ensureOrg(extId: string, name: string, now: number): Promise<Org>;
  getOrgByExtId(extId: string): Promise<Org | null>;
  setOrgLimits(orgId: number, limits: OrgLimits): Promise<Org>;
  createUser(user: NewUser): Promise<User>;
  /** The user whose OAuth token has this hash, with their org. */
  findUserByTokenHash(tokenHash: string): Promise<{ user: User; org: Org } | null>;
  /** The user whose API key has this hash, with their org (Zulip's Basic auth). */
  findUserByApiKeyHash(apiKeyHash: string): Promise<{ user: User; org: Org } | null>;
  getUser(orgId: number, userId: number): Promise<User | null>;
  findUserByLogin(orgId: number, login: string): Promise<User | null>;
  /** The org's users named by these references: emails (any case) or numeric ids; unknown ones are left out. */
  findUsers(orgId: number, refs: string[]): Promise<User[]>;
}

/** Tracker issues (numbered per queue) and their comments. */
export interface IssueRecords {
  /** Creates the issue (and its queue on first use) and claims the temporary uploads, atomically. */
  createIssue(issue: NewIssue): Promise<Issue>;
  /** By key (`QUEUE-N`, case-insensitive) or 24-hex id. */
  findIssue(orgId: number, keyOrId: string): Promise<Issue | null>;
  /** Changes the issue and claims more temporary uploads for it, atomically. */
  updateIssue(orgId: number, issueId: string, changes: IssueChanges, claim: AttachmentClaim, now: number): Promise<Issue>;
  createComment(comment: NewComment): Promise<Comment>;
  getComment(orgId: number, issueId: string, commentId: number): Promise<Comment | null>;
  updateComment(orgId: number, comment: Comment, text: string | undefined, claim: AttachmentClaim, now: number): Promise<Comment>;
  listComments(orgId: number, issueId: string, page?: Page): Promise<Comment[]>;
  countComments(orgId: number, issueId: string): Promise<number>;
  /** The org's queues by key, each with its issue count. */
  listQueues(orgId: number, page?: Page): Promise<Queue[]>;
  countQueues(orgId: number): Promise<number>;
  searchIssues(orgId: number, search: IssueSearch, page?: Page): Promise<Issue[]>;
  countIssues(orgId: number, search: IssueSearch): Promise<number>;
}

/** Tracker entities (project, portfolio, goal), numbered per org and type, and their comments. */
export interface EntityRecords {
  createEntity(entity: NewEntity): Promise<Entity>;
  /** By 24-hex id or numeric short id. */
  findEntity(orgId: number, type: EntityType, idOrShortId: string): Promise<Entity | null>;
  /** Claims temporary uploads for the entity (renamed to `name` when given) and bumps its version, atomically. */
  attachToEntity(orgId: number, entity: Entity, claim: AttachmentClaim, name?: string): Promise<Entity>;
  createEntityComment(comment: NewEntityComment): Promise<EntityComment>;
  searchEntities(orgId: number, type: EntityType, search: EntitySearch, page?: Page): Promise<Entity[]>;
  countEntities(orgId: number, type: EntityType, search: EntitySearch): Promise<number>;
}

/** How an attachment is recorded: against which quota, and whether it completes a resumable upload. */
export interface InsertOptions {
  quotaBytes: number | null;
  /**
   * The resumable uploads this attachment completes (one, or a final upload's partials), in the same
   * transaction: their reservations and segments go; a partial upload goes whole, the others stay as
   * the record of the file they became (`attachmentId`). Conflict if one is gone or complete already.
   */
  completing?: string[];
  /** A final upload (tus concatenation) to record as completed by this attachment. */
  concatenated?: NewResumable;
}

/** Attachments and the reference-counted blobs they share. */
export interface AttachmentRecords {
  /** Records the attachment; `duplicateKey` is the new blob's key when identical bytes were stored already. */
  insertAttachment(attachment: NewAttachment, options?: InsertOptions): Promise<{ attachment: Attachment; duplicateKey: string | null }>;
  getAttachment(orgId: number, id: number): Promise<Attachment | null>;
  getAttachmentByPathId(orgId: number, pathId: string): Promise<Attachment | null>;
  /** The owner's attachments with the messages that reference each, newest first. */
  listOwnAttachments(orgId: number, ownerId: number): Promise<ClaimedAttachment[]>;
  /** Bytes used by all the org's attachments. */
  uploadSpaceUsed(orgId: number): Promise<number>;
  /** Files of the issue and of its comments, oldest first. */
  listIssueAttachments(orgId: number, issueId: string, page?: Page): Promise<Attachment[]>;
  countIssueAttachments(orgId: number, issueId: string): Promise<number>;
  listEntityAttachments(orgId: number, entityId: string, page?: Page): Promise<Attachment[]>;
  countEntityAttachments(orgId: number, entityId: string): Promise<number>;
  deleteAttachment(orgId: number, id: number): Promise<Released>;
}

/** Zulip's messages, which claim the uploads they link to. */
export interface ChatRecords {
  /** Creates the message (its channel on first use) and claims the uploads it links to, atomically. */
  createMessage(message: NewMessage): Promise<Message>;
  getMessage(orgId: number, id: number): Promise<Message | null>;
  /**
   * New content; claims now follow the new links (references removed from the content are dropped).
   * `detached`: the sender's uploads this edit unlinked that no message links any more.
   */
  updateMessage(orgId: number, id: number, content: string, linkedPathIds: string[], now: number): Promise<{ message: Message; detached: Attachment[] }>;
  /**
   * Deletes the message and its claims, atomically; uploads it alone linked (and no issue or entity
   * holds) become temporary again, expiring at `expiresAt`. False when there was no such message.
   */
  deleteMessage(orgId: number, id: number, expiresAt: number): Promise<boolean>;
  /** Whether a message this user can see links the upload: a stream message, or a direct message they take part in. */
  canSeeLinkedUpload(orgId: number, attachmentId: number, userId: number): Promise<boolean>;
}

export interface SettingRecords {
  /** A server-wide value, created once by `create` and the same on every node afterwards. */
  setting(key: string, create: () => string): Promise<string>;
}

export interface ThumbnailRecords {
  getThumbnail(sourceSha256: string, size: number, format: Thumbnail['format']): Promise<Thumbnail | null>;
  /** Records a thumbnail unless one exists already; `duplicateKey` is the new blob's key when it lost. */
  insertThumbnail(thumbnail: Thumbnail): Promise<{ thumbnail: Thumbnail; duplicateKey: string | null }>;
}

export type NewResumable = Omit<ResumableUpload, 'offset' | 'segments' | 'multipart' | 'attachmentId'>;

/** Resumable (tus) uploads: their state, received segments, quota reservations, and one writer at a time. */
export interface ResumableRecords {
  /** Records the upload and its reservation, checked against the quota in the same transaction (quota_exceeded). */
  createResumable(upload: NewResumable, options: { quotaBytes: number | null }): Promise<ResumableUpload>;
  getResumable(orgId: number, id: string): Promise<ResumableUpload | null>;
  /**
   * Records received bytes at `segment.start`, which must be the upload's offset (else conflict, and
   * nothing changes); a deferred-length upload's reservation grows with them, within the quota.
   * `multipart`: the multipart upload this segment began, recorded with it.
   */
  addResumableSegment(
    orgId: number,
    id: string,
    segment: ResumableSegment,
    options: { quotaBytes: number | null; multipart?: ResumableMultipart },
  ): Promise<ResumableUpload>;
  /** Declares a deferred length, once, reserving it within the quota. */
  setResumableLength(orgId: number, id: string, length: number, options: { quotaBytes: number | null }): Promise<ResumableUpload>;
  /** Removes the upload and its reservation; the upload as it was (its segments and multipart upload, for the BlobStore to let go of); null: no such upload. */
  deleteResumable(orgId: number, id: string): Promise<ResumableUpload | null>;
  /** Unfinished uploads whose expiry has passed, at most `limit`. */
  expiredResumables(now: number, limit: number): Promise<Array<{ orgId: number; id: string }>>;
  /** Which of these upload ids are unfinished uploads still (of any org): the collector's sweep of bytes left behind. */
  knownResumables(ids: string[]): Promise<Set<string>>;
  /**
   * Runs `work` holding the upload's lock, which only one request on any node holds at a time and
   * which dies with its holder (a PostgreSQL session advisory lock; in-process on SQLite); null, and
   * `work` not run, when another holds it.
   */
  withResumableLock<T>(id: string, work: () => Promise<T>): Promise<{ value: T } | null>;
}

export interface NewSession {
  /** The sha256 of the cookie's secret. */
  tokenHash: string;
  userId: number;
  createdAt: number;
  expiresAt: number;
}

/** Browser sessions of the web UI, by the hash of their cookie's secret. */
export interface SessionRecords {
  createSession(session: NewSession): Promise<void>;
  /** The session's user and org, while it has not expired. */
  findSession(tokenHash: string, now: number): Promise<{ user: User; org: Org; expiresAt: number } | null>;
  /** Idempotent. */
  deleteSession(tokenHash: string): Promise<void>;
  /** Removes sessions past their expiry; how many. */
  deleteExpiredSessions(now: number): Promise<number>;
}

/** Files and bytes of a group of attachments. */
export interface UsageRow {
  files: number;
  bytes: number;
}

/** An organization's storage use, and a search of its file names. */
export interface UsageRecords {
  usageByType(orgId: number): Promise<Array<UsageRow & { mimetype: string }>>;
  /** By the month of upload, UTC (`YYYY-MM`), oldest first. */
  usageByMonth(orgId: number): Promise<Array<UsageRow & { month: string }>>;
  largestAttachments(orgId: number, limit: number): Promise<Attachment[]>;
  /** Uploaders by the bytes of their files, most first. */
  topUploaders(orgId: number, limit: number): Promise<Array<UsageRow & { user: User }>>;
  /**
   * Files whose name contains `text` (any case) among the org's issue and entity files and the
   * viewer's own (`ownOnly`: the viewer's own only), newest first.
   */
  searchAttachments(orgId: number, viewerId: number, text: string, page?: Page, ownOnly?: boolean): Promise<Attachment[]>;
  countSearchAttachments(orgId: number, viewerId: number, text: string, ownOnly?: boolean): Promise<number>;
}

/** A blob row, and how many attachments really use it (its `refCount` should say the same). */
export interface BlobUse {
  id: number;
  sha256: string;
  size: number;
  storageKey: string;
  refCount: number;
  attachments: number;
}

/** What the integrity check (`affix fsck`) reads and repairs. */
export interface IntegrityRecords {
  /** Blob rows after `afterId`, in id order, at most `limit`. */
  blobsAfter(afterId: number, limit: number): Promise<BlobUse[]>;
  countBlobs(): Promise<number>;
  attachmentsOfBlob(blobId: number, limit: number): Promise<Array<{ id: number; orgId: number; name: string }>>;
  setBlobRefCount(blobId: number, refCount: number): Promise<void>;
  /** Removes a blob row no attachment uses (none at the moment of the transaction); its storage key, or null when one uses it. */
  deleteUnusedBlob(blobId: number): Promise<string | null>;
  /** Thumbnail rows after `afterKey`, in key order. */
  thumbnailsAfter(afterKey: string, limit: number): Promise<Array<{ storageKey: string; bytes: number }>>;
  deleteThumbnail(storageKey: string): Promise<void>;
}

/** The tables `affix migrate` copies, in an order where each row's references come first. */
export const TRANSFER_TABLES = [
  'orgs',
  'users',
  'queues',
  'issues',
  'comments',
  'entities',
  'entity_comments',
  'blobs',
  'attachments',
  'channels',
  'messages',
  'message_attachments',
  'message_recipients',
  'settings',
  'sessions',
] as const;
export type TransferTable = (typeof TRANSFER_TABLES)[number];

/** Rows as they are, for copying every record from one backend to another (thumbnails, unfinished uploads and orphan notes are left: they are made again). */
export interface TransferRecords {
  /** A table's rows after the key `after` (that of the previous batch's last row), in key order, at most `limit`. */
  rowsAfter(table: TransferTable, after: unknown[] | null, limit: number): Promise<{ rows: Array<Record<string, unknown>>; last: unknown[] | null }>;
  countRows(table: TransferTable): Promise<number>;
  /** Inserts rows with their ids; a row whose key is there already is left as it is (a resumed copy). */
  insertRows(table: TransferTable, rows: Array<Record<string, unknown>>): Promise<void>;
  /** After rows came in with their ids: each generated id goes on past the largest. */
  resetIdSequences(): Promise<void>;
}

/** What the collector asks of the records. */
export interface CollectorRecords {
  /** Removes temporary uploads whose expiry has passed, at most `limit` of them. */
  deleteExpired(now: number, limit: number): Promise<Released>;
  /** Which of these blob keys some blob, thumbnail, resumable-upload segment or resumable upload's multipart upload still uses. */
  knownBlobKeys(keys: string[]): Promise<Set<string>>;
  /**
   * Notes these unreferenced blob keys as suspected orphans (first seen `now`, unless seen before)
   * and returns those first seen at or before `seenBefore`: only they may be deleted.
   */
  suspectOrphans(keys: string[], now: number, seenBefore: number): Promise<string[]>;
  /** Forgets suspects: deleted, or referenced after all. */
  clearSuspects(keys: string[]): Promise<void>;
  /**
   * Runs `work` holding the collector's lock, as `withResumableLock` holds an upload's: one run at a time
   * across the processes and nodes that share the lock; null, and `work` not run, while another runs.
   */
  withCollectorLock<T>(work: () => Promise<T>): Promise<{ value: T } | null>;
}

/**
 * Records: organizations, users, issues, comments, attachments and the blobs they share, one
 * interface per domain above. Guarantees, one a line (the conformance suite checks each):
 * - every read and write is scoped to an org: a record of another org is never returned or changed;
 * - a method that writes several rows does so in one transaction: all of it is visible, or none;
 * - identical content (sha256) has one blob row, whose ref_count equals the attachments that use it;
 * - a temporary upload is claimed at most once, and only by its owner before it expires;
 * - a blob key is reported released exactly once, when its last attachment goes;
 * - a blob's thumbnails are released with it; there is at most one thumbnail per (bytes, size, format);
 * - an org's attachments and resumable reservations never add up past its quota, however many uploads commit at once;
 * - a resumable upload's bytes are recorded only at its offset, by one lock holder at a time;
 * - an upload linked only by direct messages is seen through them by their participants alone, and a
 *   message claims only uploads its sender owns or can see; its last message's deletion frees it.
 */
export interface MetaStore
  extends IdentityRecords,
    IssueRecords,
    EntityRecords,
    AttachmentRecords,
    ChatRecords,
    SettingRecords,
    ThumbnailRecords,
    ResumableRecords,
    SessionRecords,
    UsageRecords,
    IntegrityRecords,
    TransferRecords,
    CollectorRecords {
  /** Creates or upgrades the schema; safe to call on every start. */
  migrate(): Promise<void>;
  close(): Promise<void>;
}
