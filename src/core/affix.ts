import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { BlobStore, ByteRange, DownloadHeaders } from '../store/blob/blob-store.js';
import type { AttachmentClaim, MetaStore, Page, Released } from '../store/meta/meta-store.js';
import { AffixError, notFound } from './errors.js';
import { cloudUid, hashSecret, isHex24, passportUid, secret } from './ids.js';
import { ENTITY_TYPES, type Attachment, type ClaimedAttachment, type Comment, type Entity, type EntityComment, type EntityType, type Issue, type Message, type Org, type Thumbnail, type User } from './model.js';
import { cleanFileName, pathSegmentName } from './names.js';
import { linkedPathIds } from './links.js';
import { UrlSigner } from './signed-urls.js';
import { describeContent } from '../media/describe.js';
import { hasThumbnail, type Thumbnailer, type ThumbnailFormat } from '../media/thumbnailer.js';
import { RecentLogins } from './recent-logins.js';
import { stageUpload, type StagedUpload } from './uploads.js';
import { removeFilesOlderThan } from '../util/remove-old-files.js';

export interface CoreLimits {
  /** Largest file accepted, in bytes. */
  maxFileSize: number;
  /** How long a temporary upload waits to be attached before the collector removes it. */
  temporaryTtlMs: number;
  /** A local directory for short-lived files: images copied out of a remote BlobStore for libvips. */
  scratchDir: string;
  /** How long a successful token or API-key lookup may be reused by this process (see `authenticate`). */
  authCacheMs?: number;
}

/** Who is calling: a user and the organization everything they do is scoped to. */
export interface Actor {
  user: User;
  org: Org;
}

/** Where an upload goes: a temporary file, an issue, or one of an issue's comments. */
export type UploadTarget = { kind: 'temporary' } | { kind: 'issue'; issue: Issue; comment?: Comment };

/** Imports keep the author and time of the system they come from. */
export interface ImportedOrigin {
  owner: User;
  createdAt: number;
}

export interface NewUserResult {
  user: User;
  org: Org;
  token: string;
  apiKey: string;
}

export interface CollectorReport {
  expired: number;
  blobsDeleted: number;
  stagingRemoved: number;
  orphansRemoved: number;
  /** Bytes of deleted blobs given back from files shared with live ones (local packs). */
  bytesReclaimed: number;
}

export interface NewChatMessage {
  type: Message['type'];
  /** Stream messages: the channel's name; private: the recipients. */
  to: string[];
  topic: string | null;
  content: string;
}

const QUEUE_KEY = /^[A-Z][A-Z0-9]{0,31}$/;
const MIB = 1 << 20;
/** How long a signed download URL works (Zulip: 60 s). */
const TEMPORARY_URL_TTL_MS = 60_000;
/** How long a presigned download URL works: only its first request must fall inside it. */
const DIRECT_DOWNLOAD_TTL_S = 60;
/** Blob files younger than this are never treated as orphans: their transaction may still be running. */
const ORPHAN_GRACE_MS = 60 * 60 * 1000;
/** Attachments one request may link (Tracker's attachmentIds), or uploads one message may claim. */
const MAX_LINKED_PER_REQUEST = 1000;
/** Logins kept at most by the auth cache; past it, the oldest are dropped. */
const RECENT_LOGINS_MAX = 10_000;

/** The domain: everything Affix does, with no knowledge of HTTP. */
export class Affix {
  /** Thumbnails being made in this process, so concurrent first requests make each one once. */
  private readonly thumbnailsInFlight = new Map<string, Promise<Thumbnail>>();
  private signer: Promise<UrlSigner> | undefined;
  /** Keyed by `token:` or `apikey:` and the secret's hash. */
  private readonly recentLogins: RecentLogins<Actor>;

  constructor(
    readonly meta: MetaStore,
    readonly blobs: BlobStore,
    private readonly thumbnailer: Thumbnailer,
    readonly limits: CoreLimits,
    private readonly clock: () => number = Date.now,
  ) {
    this.recentLogins = new RecentLogins(limits.authCacheMs ?? 0, RECENT_LOGINS_MAX);
  }

  // --- identity ---

  /**
   * The caller behind an OAuth token. With `reuse`, a lookup made in the last `authCacheMs` may answer;
   * its organization's limits may then be that old, so only reads should ask for it.
   */
  async authenticate(token: string | undefined, orgExtId: string | undefined, { reuse = false } = {}): Promise<Actor> {
    if (!token) throw new AffixError('unauthenticated', 'Authorization required');
    const found = await this.recall('token', hashSecret(token), reuse, (hash) => this.meta.findUserByTokenHash(hash));
    if (!found) throw new AffixError('unauthenticated', 'Invalid OAuth token');
    if (orgExtId !== undefined && orgExtId !== found.org.extId) {
      throw new AffixError('forbidden', `You are not a member of organization ${orgExtId}`);
    }
    return found;
  }

  /** Zulip's HTTP Basic `email:api_key`; `reuse` as for `authenticate`. */
  async authenticateApiKey(email: string, apiKey: string, { reuse = false } = {}): Promise<Actor> {
    const found = apiKey ? await this.recall('apikey', hashSecret(apiKey), reuse, (hash) => this.meta.findUserByApiKeyHash(hash)) : null;
    if (!found || found.user.email.toLowerCase() !== email.trim().toLowerCase()) {
      throw new AffixError('unauthenticated', 'Invalid API key');
    }
    return found;
  }

  /** A login seen in the last moments (when `reuse`), or the store's answer, kept when someone was found. */
  private async recall(
    kind: 'token' | 'apikey',
    hash: string,
    reuse: boolean,
    lookup: (hash: string) => Promise<Actor | null>,
  ): Promise<Actor | null> {
    const key = `${kind}:${hash}`;
    const recent = reuse ? this.recentLogins.get(key) : undefined;
    if (recent) return recent;
    const found = await lookup(hash);
    if (found) this.recentLogins.set(key, found);
    return found;
  }

  async setOrgLimits(orgExtId: string, limits: { maxFileUploadSizeMib?: number | null; uploadQuotaMib?: number | null }): Promise<Org> {
    const org = await this.meta.getOrgByExtId(orgExtId);
    if (!org) throw notFound('Organization');
    return this.meta.setOrgLimits(org.id, limits);
  }

  /** The largest upload this org accepts: the server's limit, or the org's own when lower. */
  uploadLimit(org: Org): number {
    const own = org.maxFileUploadSizeMib === null ? Infinity : org.maxFileUploadSizeMib * MIB;
    return Math.min(this.limits.maxFileSize, own);
  }

  async addUser(input: { orgExtId: string; login: string; display: string; email?: string }): Promise<NewUserResult> {
    const login = input.login.trim();
    if (!input.orgExtId.trim() || !login) throw new AffixError('bad_request', 'org and login are required');
    const now = this.clock();
    const org = await this.meta.ensureOrg(input.orgExtId.trim(), input.orgExtId.trim(), now);
    const token = secret();
    const apiKey = secret();
    const user = await this.meta.createUser({
      orgId: org.id,
      login,
      display: input.display.trim() || login,
      email: input.email?.trim() || `${login}@${org.extId}.affix.invalid`,
      cloudUid: cloudUid(),
      passportUid: passportUid(),
      tokenHash: hashSecret(token),
      apiKeyHash: hashSecret(apiKey),
      createdAt: now,
    });
    return { user, org, token, apiKey };
  }

  async getUser(actor: Actor, id: number): Promise<User> {
    const user = await this.meta.getUser(actor.org.id, id);
    if (!user) throw notFound('User');
    return user;
  }

  // --- uploads ---

  /** Streams the file into the BlobStore within the org's size limit; nothing is visible until `commitUpload`. */
  stageUpload(actor: Actor, source: Readable): Promise<StagedUpload> {
    return stageUpload(this.blobs, source, this.uploadLimit(actor.org));
  }

  /**
   * Deletes a staged blob no attachment took. A failed insert may still have committed (its WAL sync
   * failed, or PostgreSQL's answer to COMMIT was lost): while a row uses the blob, or while the store
   * cannot say, the blob stays, and the collector's orphan sweep decides later.
   */
  async discardUpload(staged: StagedUpload): Promise<void> {
    const used = await this.meta.knownBlobKeys([staged.key]).catch(() => null);
    if (used && !used.has(staged.key)) await this.blobs.delete(staged.key);
  }

  async commitUpload(actor: Actor, staged: StagedUpload, rawName: string, target: UploadTarget, imported?: ImportedOrigin): Promise<Attachment> {
    const name = cleanFileName(rawName);
    const now = imported?.createdAt ?? this.clock();
    let result;
    try {
      const facts = await describeContent(staged.head, name, staged.head.length === staged.size);
      const quota = actor.org.uploadQuotaMib === null ? null : actor.org.uploadQuotaMib * MIB;
      result = await this.meta.insertAttachment({
        orgId: actor.org.id,
        ownerId: imported?.owner.id ?? actor.user.id,
        name,
        mimetype: facts.mimetype,
        width: facts.width,
        height: facts.height,
        size: staged.size,
        sha256: staged.sha256,
        storageKey: staged.key,
        createdAt: now,
        expiresAt: target.kind === 'temporary' ? this.clock() + this.limits.temporaryTtlMs : null,
        issueId: target.kind === 'issue' ? target.issue.id : null,
        commentId: target.kind === 'issue' ? (target.comment?.id ?? null) : null,
        entityId: null,
        pathId: `${actor.org.id}/${randomBytes(1).toString('hex')}/${randomBytes(18).toString('base64url')}/${pathSegmentName(name)}`,
      }, { quotaBytes: quota });
    } catch (err) {
      await this.discardUpload(staged);
      throw err;
    }
    if (result.duplicateKey) await this.blobs.delete(result.duplicateKey);
    return result.attachment;
  }

  // --- attachments ---

  /** An attachment the actor may see: any of their org's attached files, or their own temporary ones. */
  async getAttachment(actor: Actor, id: number): Promise<Attachment> {
    const found = await this.meta.getAttachment(actor.org.id, id);
    if (!found || !visibleTo(actor, found)) throw notFound('Attachment');
    return found;
  }

  /**
   * An issue's attachment, the issue named by its key or its id. The attachment's row carries its
   * issue's id and key, so the issue itself is looked up only to tell which of the two is missing.
   */
  async getIssueAttachment(actor: Actor, issueRef: string, id: number): Promise<Attachment> {
    const found = await this.meta.getAttachment(actor.org.id, id);
    const onIssue = isHex24(issueRef) ? found?.issueId === issueRef.toLowerCase() : found?.issueKey === issueRef.toUpperCase();
    if (found && onIssue && visibleTo(actor, found)) return found;
    await this.getIssue(actor, issueRef);
    throw notFound('Attachment');
  }

  listIssueAttachments(actor: Actor, issue: Issue, page?: Page): Promise<Attachment[]> {
    return this.meta.listIssueAttachments(actor.org.id, issue.id, page);
  }

  countIssueAttachments(actor: Actor, issue: Issue): Promise<number> {
    return this.meta.countIssueAttachments(actor.org.id, issue.id);
  }

  /** The author of an import: a user of the org by login or id; unknown ones are a validation error. */
  async importAuthor(actor: Actor, loginOrId: string | undefined): Promise<User> {
    if (!loginOrId) return actor.user;
    const byId = /^\d+$/.test(loginOrId) ? await this.meta.getUser(actor.org.id, Number(loginOrId)) : null;
    const user = byId ?? (await this.meta.findUserByLogin(actor.org.id, loginOrId));
    if (!user) throw new AffixError('unprocessable', `Unknown user ${loginOrId}`, { createdBy: 'unknown user' });
    return user;
  }

  async deleteAttachment(actor: Actor, attachment: Attachment): Promise<void> {
    const released = await this.meta.deleteAttachment(actor.org.id, attachment.id);
    if (released.count === 0) throw notFound('Attachment');
    await this.deleteBlobs(released);
  }

  /** Where the client may fetch the bytes directly, for a minute (presigned S3 downloads); null: stream them. */
  async directDownloadUrl(storageKey: string, headers: DownloadHeaders): Promise<string | null> {
    return this.blobs.downloadUrl(storageKey, headers, DIRECT_DOWNLOAD_TTL_S);
  }

  /** Stored bytes by blob key (an attachment's or a thumbnail's), or a range of them. */
  async openContent(storageKey: string, range?: ByteRange): Promise<Readable> {
    const stream = await this.blobs.read(storageKey, range);
    if (!stream) throw new AffixError('internal', `Blob ${storageKey} is missing from the store`);
    return stream;
  }

  // --- Zulip: a user's uploads, messages that claim them, signed URLs ---

  async getAttachmentByPath(actor: Actor, pathId: string): Promise<Attachment> {
    const found = await this.meta.getAttachmentByPathId(actor.org.id, pathId);
    if (!found) throw notFound('File');
    return this.getAttachment(actor, found.id);
  }

  listOwnAttachments(actor: Actor): Promise<ClaimedAttachment[]> {
    return this.meta.listOwnAttachments(actor.org.id, actor.user.id);
  }

  uploadSpaceUsed(actor: Actor): Promise<number> {
    return this.meta.uploadSpaceUsed(actor.org.id);
  }

  /** Zulip lets only the uploader delete a file. */
  async deleteOwnAttachment(actor: Actor, id: number): Promise<void> {
    const found = await this.meta.getAttachment(actor.org.id, id);
    if (!found || found.owner.id !== actor.user.id) throw new AffixError('not_found', 'Invalid attachment');
    await this.deleteAttachment(actor, found);
  }

  /** `origins`: this server's own scheme://host values, under which absolute upload links count. */
  async sendMessage(actor: Actor, input: NewChatMessage, origins: string[]): Promise<Message> {
    const to = input.to.map((t) => t.trim()).filter(Boolean);
    if (to.length === 0) throw new AffixError('bad_request', 'Missing \'to\' argument');
    if (!input.content.trim()) throw new AffixError('bad_request', 'Message must not be empty');
    if (input.type === 'stream' && !input.topic?.trim()) throw new AffixError('bad_request', 'Missing topic');
    return this.meta.createMessage({
      orgId: actor.org.id,
      senderId: actor.user.id,
      type: input.type,
      channel: input.type === 'stream' ? to[0]! : null,
      recipients: input.type === 'private' ? to : [],
      topic: input.type === 'stream' ? input.topic!.trim() : null,
      content: input.content,
      dateSent: this.clock(),
      linkedPathIds: messageLinks(input.content, actor.org.id, origins),
    });
  }

  async editMessage(actor: Actor, id: number, content: string, origins: string[]): Promise<Message> {
    const message = await this.meta.getMessage(actor.org.id, id);
    if (!message) throw new AffixError('bad_request', 'Invalid message(s)');
    if (message.senderId !== actor.user.id) throw new AffixError('bad_request', "You don't have permission to edit this message");
    if (!content.trim()) throw new AffixError('bad_request', 'Message must not be empty');
    return this.meta.updateMessage(actor.org.id, id, content, messageLinks(content, actor.org.id, origins), this.clock());
  }

  /** A token that lets anyone download this attachment for the next 60 seconds. */
  async temporaryDownloadToken(actor: Actor, attachment: Attachment): Promise<string> {
    return (await this.urlSigner()).sign(actor.org.id, attachment.id, this.clock() + TEMPORARY_URL_TTL_MS);
  }

  async redeemDownloadToken(token: string): Promise<Attachment> {
    const claim = (await this.urlSigner()).verify(token, this.clock());
    const found = claim && (await this.meta.getAttachment(claim.orgId, claim.attachmentId));
    if (!found) throw new AffixError('bad_request', 'Invalid token');
    return found;
  }

  async close(): Promise<void> {
    await this.meta.close();
    this.blobs.close();
  }

  private urlSigner(): Promise<UrlSigner> {
    this.signer ??= this.meta.setting('url_signing_secret', () => randomBytes(32).toString('base64url')).then((s) => new UrlSigner(s));
    return this.signer;
  }

  // --- thumbnails ---

  /** The thumbnail of an image attachment, made on first request and stored as a blob of its own. */
  async thumbnail(attachment: Attachment, size: number, format: ThumbnailFormat): Promise<Thumbnail> {
    const { width, height } = attachment;
    if (!hasThumbnail(attachment.mimetype) || width === null || height === null) throw notFound('Thumbnail');
    if (width * height > this.thumbnailer.maxPixels) {
      throw new AffixError(
        'unprocessable',
        `The image is ${width}x${height} pixels, more than the ${this.thumbnailer.maxPixels} pixels a thumbnail is made from`,
      );
    }
    const existing = await this.meta.getThumbnail(attachment.sha256, size, format);
    if (existing) return existing;
    const key = `${attachment.sha256}:${size}:${format}`;
    let pending = this.thumbnailsInFlight.get(key);
    if (!pending) {
      pending = this.makeThumbnail(attachment, size, format).finally(() => this.thumbnailsInFlight.delete(key));
      this.thumbnailsInFlight.set(key, pending);
    }
    return pending;
  }

  private async makeThumbnail(attachment: Attachment, size: number, format: ThumbnailFormat): Promise<Thumbnail> {
    const image = await this.withLocalCopy(attachment.storageKey, async (path) => {
      try {
        return await this.thumbnailer.make(path, (attachment.width ?? 0) * (attachment.height ?? 0), size, format);
      } catch (err) {
        throw new AffixError('unprocessable', `No thumbnail can be made of this image: ${(err as Error).message}`);
      }
    });
    const stored = await this.blobs.write(Readable.from([image]));
    const { thumbnail, duplicateKey } = await this.meta.insertThumbnail({
      sourceSha256: attachment.sha256,
      size,
      format,
      storageKey: stored.key,
      bytes: image.length,
      sha256: createHash('sha256').update(image).digest('hex'),
      createdAt: this.clock(),
    });
    // Another node made the same thumbnail first: keep theirs.
    if (duplicateKey) await this.blobs.delete(duplicateKey);
    return thumbnail;
  }

  /**
   * Runs `use` on a file holding the blob: the store's own file, or a scratch copy of a remote blob
   * (streamed to disk, so a large image never sits whole in memory), removed afterwards.
   */
  private async withLocalCopy<T>(storageKey: string, use: (path: string) => Promise<T>): Promise<T> {
    const local = this.blobs.localPath(storageKey);
    if (local) return use(local);
    const path = join(this.limits.scratchDir, `${storageKey}.${randomBytes(6).toString('hex')}`);
    try {
      await pipeline(await this.openContent(storageKey), createWriteStream(path, { flags: 'wx' }));
      return await use(path);
    } finally {
      await rm(path, { force: true });
    }
  }

  // --- issues and comments ---

  async createIssue(actor: Actor, input: { queue: string; summary: string; description?: string | null; attachmentIds: number[] }): Promise<Issue> {
    const queueKey = input.queue.trim().toUpperCase();
    if (!QUEUE_KEY.test(queueKey)) {
      throw new AffixError('bad_request', 'Queue key must be Latin letters and digits, starting with a letter', { queue: 'invalid' });
    }
    const summary = input.summary.trim();
    if (!summary) throw new AffixError('unprocessable', 'Summary is required', { summary: 'required' });
    const now = this.clock();
    return this.meta.createIssue({
      orgId: actor.org.id,
      queueKey,
      summary,
      description: input.description ?? null,
      createdBy: actor.user.id,
      createdAt: now,
      claim: this.claimOf(actor, input.attachmentIds, now),
    });
  }

  async getIssue(actor: Actor, keyOrId: string): Promise<Issue> {
    const issue = await this.meta.findIssue(actor.org.id, keyOrId);
    if (!issue) throw notFound('Issue');
    return issue;
  }

  async addComment(actor: Actor, issue: Issue, input: { text: string; attachmentIds: number[] }): Promise<Comment> {
    if (!input.text.trim() && input.attachmentIds.length === 0) {
      throw new AffixError('unprocessable', 'Comment text or attachments are required', { text: 'required' });
    }
    const now = this.clock();
    return this.meta.createComment({
      orgId: actor.org.id,
      issueId: issue.id,
      text: input.text,
      createdBy: actor.user.id,
      createdAt: now,
      claim: this.claimOf(actor, input.attachmentIds, now),
    });
  }

  listComments(actor: Actor, issue: Issue, page?: Page): Promise<Comment[]> {
    return this.meta.listComments(actor.org.id, issue.id, page);
  }

  countComments(actor: Actor, issue: Issue): Promise<number> {
    return this.meta.countComments(actor.org.id, issue.id);
  }

  async getComment(actor: Actor, issue: Issue, rawId: string): Promise<Comment> {
    const id = parseId(rawId);
    const comment = id === null ? null : await this.meta.getComment(actor.org.id, issue.id, id);
    if (!comment) throw notFound('Comment');
    return comment;
  }

  async updateIssue(actor: Actor, issue: Issue, input: { summary?: string; description?: string | null; attachmentIds: number[] }): Promise<Issue> {
    if (input.summary !== undefined && !input.summary.trim()) throw new AffixError('unprocessable', 'Summary is required', { summary: 'required' });
    const now = this.clock();
    return this.meta.updateIssue(
      actor.org.id,
      issue.id,
      { summary: input.summary?.trim(), description: input.description },
      this.claimOf(actor, input.attachmentIds, now),
      now,
    );
  }

  async updateComment(actor: Actor, comment: Comment, input: { text?: string; attachmentIds: number[] }): Promise<Comment> {
    const now = this.clock();
    return this.meta.updateComment(actor.org.id, comment, input.text, this.claimOf(actor, input.attachmentIds, now), now);
  }

  // --- entities: projects, portfolios, goals ---

  entityType(raw: string): EntityType {
    if (!(ENTITY_TYPES as readonly string[]).includes(raw)) {
      throw new AffixError('bad_request', `Unknown entity type ${raw}; expected ${ENTITY_TYPES.join(', ')}`, { entityType: 'invalid' });
    }
    return raw as EntityType;
  }

  async createEntity(actor: Actor, type: EntityType, summary: string): Promise<Entity> {
    if (!summary.trim()) throw new AffixError('unprocessable', 'fields.summary is required', { summary: 'required' });
    return this.meta.createEntity({ orgId: actor.org.id, type, summary: summary.trim(), createdBy: actor.user.id, createdAt: this.clock() });
  }

  async getEntity(actor: Actor, type: EntityType, idOrShortId: string): Promise<Entity> {
    const entity = await this.meta.findEntity(actor.org.id, type, idOrShortId);
    if (!entity) throw notFound('Entity');
    return entity;
  }

  attachToEntity(actor: Actor, entity: Entity, attachmentIds: number[]): Promise<Entity> {
    return this.meta.attachToEntity(actor.org.id, entity, this.claimOf(actor, attachmentIds, this.clock()));
  }

  async addEntityComment(actor: Actor, entity: Entity, input: { text: string; attachmentIds: number[] }): Promise<EntityComment> {
    if (!input.text.trim() && input.attachmentIds.length === 0) {
      throw new AffixError('unprocessable', 'Comment text or attachments are required', { text: 'required' });
    }
    const now = this.clock();
    return this.meta.createEntityComment({
      orgId: actor.org.id,
      entityId: entity.id,
      text: input.text,
      createdBy: actor.user.id,
      createdAt: now,
      claim: this.claimOf(actor, input.attachmentIds, now),
    });
  }

  listEntityAttachments(actor: Actor, entity: Entity, page?: Page): Promise<Attachment[]> {
    return this.meta.listEntityAttachments(actor.org.id, entity.id, page);
  }

  countEntityAttachments(actor: Actor, entity: Entity): Promise<number> {
    return this.meta.countEntityAttachments(actor.org.id, entity.id);
  }

  async getEntityAttachment(actor: Actor, entity: Entity, id: number): Promise<Attachment> {
    const found = await this.getAttachment(actor, id);
    if (found.entityId !== entity.id) throw notFound('Attachment');
    return found;
  }

  // --- the collector ---

  /**
   * Removes expired temporary uploads, blobs nobody references, and staging files a crash left.
   * An unreferenced blob is deleted only when a sweep at least ORPHAN_GRACE_MS earlier found it
   * unreferenced too: a blob whose upload has just finished (S3 dates a multipart object from the
   * start of its upload, however long ago) is referenced by then. `now` is for tests.
   */
  async collect(now = this.clock()): Promise<CollectorReport> {
    const report: CollectorReport = { expired: 0, blobsDeleted: 0, stagingRemoved: 0, orphansRemoved: 0, bytesReclaimed: 0 };
    for (;;) {
      const released = await this.meta.deleteExpired(now, 500);
      if (released.count === 0) break;
      report.expired += released.count;
      report.blobsDeleted += await this.deleteBlobs(released);
    }
    report.stagingRemoved = (await this.blobs.sweepStaging(now - ORPHAN_GRACE_MS)) + (await removeFilesOlderThan(this.limits.scratchDir, now - ORPHAN_GRACE_MS));
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
      if (batch.length >= 500) await sweep();
    }
    await sweep();
    report.bytesReclaimed = await this.blobs.reclaim(now - ORPHAN_GRACE_MS);
    return report;
  }

  /** What a request links, bounded: past MAX_LINKED_PER_REQUEST ids it is refused whole. */
  private claimOf(actor: Actor, ids: number[], now: number): AttachmentClaim {
    if (ids.length > MAX_LINKED_PER_REQUEST) {
      throw new AffixError('unprocessable', `At most ${MAX_LINKED_PER_REQUEST} attachments can be linked in one request, not ${ids.length}`, {
        attachmentIds: `at most ${MAX_LINKED_PER_REQUEST}`,
      });
    }
    return { ownerId: actor.user.id, ids, now };
  }

  private async deleteBlobs(released: Released): Promise<number> {
    for (const key of released.releasedKeys) await this.blobs.delete(key);
    return released.releasedKeys.length;
  }
}

/** Attachment ids arrive as strings or numbers; anything else is the caller's mistake. */
export function parseAttachmentIds(value: unknown): number[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new AffixError('bad_request', 'attachmentIds must be an array', { attachmentIds: 'must be an array' });
  return value.map((item) => {
    const id = parseId(item);
    if (id === null) throw new AffixError('bad_request', `Invalid attachment id ${JSON.stringify(item)}`, { attachmentIds: 'invalid id' });
    return id;
  });
}

/** A positive integer id from a path segment or a JSON value, or null. */
export function parseId(value: unknown): number | null {
  const text = typeof value === 'number' ? String(value) : typeof value === 'string' ? value.trim() : '';
  if (!/^[1-9][0-9]{0,15}$/.test(text)) return null;
  const id = Number(text);
  return Number.isSafeInteger(id) ? id : null;
}

/** The uploads a message's content links to, at most MAX_LINKED_PER_REQUEST of them. */
function messageLinks(content: string, realmId: number, origins: string[]): string[] {
  const linked = linkedPathIds(content, realmId, origins);
  if (linked.length > MAX_LINKED_PER_REQUEST) {
    throw new AffixError('bad_request', `A message may link at most ${MAX_LINKED_PER_REQUEST} uploads, not ${linked.length}`);
  }
  return linked;
}

/** A temporary file (not yet attached) is its uploader's alone; an attached one, the whole org's. */
function visibleTo(actor: Actor, attachment: Attachment): boolean {
  return attachment.expiresAt === null || attachment.owner.id === actor.user.id;
}
