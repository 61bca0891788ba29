// Files: uploads staged and committed, looked up by id or Zulip path, served, signed for a minute, deleted.
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { BlobStore, ByteRange, DownloadHeaders } from '../store/blob/blob-store.js';
import type { InsertOptions, MetaStore, Released } from '../store/meta/meta-store.js';
import { describeContent } from '../media/describe.js';
import { AffixError, notFound } from './errors.js';
import type { Actor } from './identity.js';
import type { Attachment, ClaimedAttachment, Comment, Issue, Org, User } from './model.js';
import { cleanFileName, pathSegmentName } from './names.js';
import { UrlSigner } from './signed-urls.js';
import { stageUpload, type StagedUpload } from './uploads.js';

/** Where an upload goes: a temporary file, an issue, or one of an issue's comments. */
export type UploadTarget = { kind: 'temporary' } | { kind: 'issue'; issue: Issue; comment?: Comment };

/** Imports keep the author and time of the system they come from. */
export interface ImportedOrigin {
  owner: User;
  createdAt: number;
}

export interface UploadLimits {
  /** Largest file accepted, in bytes. */
  maxFileSize: number;
  /** How long a temporary upload waits to be attached before the collector removes it. */
  temporaryTtlMs: number;
}

const MIB = 1 << 20;
/** How long a signed download URL works (Zulip: 60 s). */
const TEMPORARY_URL_TTL_MS = 60_000;
/** How long a presigned download URL works: only its first request must fall inside it. */
const DIRECT_DOWNLOAD_TTL_S = 60;

export class Attachments {
  private signer: Promise<UrlSigner> | undefined;

  constructor(
    private readonly meta: MetaStore,
    private readonly blobs: BlobStore,
    private readonly limits: UploadLimits,
    private readonly clock: () => number,
  ) {}

  // --- uploads ---

  /** The largest upload this org accepts: the server's limit, or the org's own when lower. */
  uploadLimit(org: Org): number {
    const own = org.maxFileUploadSizeMib === null ? Infinity : org.maxFileUploadSizeMib * MIB;
    return Math.min(this.limits.maxFileSize, own);
  }

  /** Streams the file into the BlobStore within the org's size limit; nothing is visible until `commit`. */
  stage(actor: Actor, source: Readable): Promise<StagedUpload> {
    return stageUpload(this.blobs, source, this.uploadLimit(actor.org));
  }

  /**
   * Deletes a staged blob no attachment took. A failed insert may still have committed (its WAL sync
   * failed, or PostgreSQL's answer to COMMIT was lost): while a row uses the blob, or while the store
   * cannot say, the blob stays, and the collector's orphan sweep decides later.
   */
  async discard(staged: StagedUpload): Promise<void> {
    const used = await this.meta.knownBlobKeys([staged.key]).catch(() => null);
    if (used && !used.has(staged.key)) await this.blobs.delete(staged.key);
  }

  /** `resumable`: the resumable uploads these bytes finish, recorded complete with the insert. */
  async commit(actor: Actor, staged: StagedUpload, rawName: string, target: UploadTarget, imported?: ImportedOrigin, resumable?: Pick<InsertOptions, 'completing' | 'concatenated'>): Promise<Attachment> {
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
      }, { quotaBytes: quota, ...resumable });
    } catch (err) {
      // A resumable upload's bytes stay with it (its segments), to be completed again or expire.
      if (resumable === undefined) await this.discard(staged);
      throw err;
    }
    if (result.duplicateKey) await this.blobs.delete(result.duplicateKey);
    return result.attachment;
  }

  // --- lookups ---

  /**
   * An attachment the actor may see: their own; an issue's or entity's file (the whole org's); a
   * chat upload, to whoever can see a message linking it (a stream message, or a direct message they
   * take part in). Anything else (a temporary upload, one no message links) is its uploader's alone.
   */
  async get(actor: Actor, id: number): Promise<Attachment> {
    const found = await this.meta.getAttachment(actor.org.id, id);
    if (!found || !(await this.visible(actor, found))) throw notFound('Attachment');
    return found;
  }

  private async visible(actor: Actor, attachment: Attachment): Promise<boolean> {
    if (visibleTo(actor, attachment)) return true;
    return attachment.expiresAt === null && this.meta.canSeeLinkedUpload(actor.org.id, attachment.id, actor.user.id);
  }

  /** By Zulip's `path_id`. */
  async getByPath(actor: Actor, pathId: string): Promise<Attachment> {
    const found = await this.meta.getAttachmentByPathId(actor.org.id, pathId);
    if (!found) throw notFound('File');
    return this.get(actor, found.id);
  }

  /** The caller's uploads, newest first, each with the messages that link it. */
  listOwn(actor: Actor): Promise<ClaimedAttachment[]> {
    return this.meta.listOwnAttachments(actor.org.id, actor.user.id);
  }

  /** Bytes used by all of the caller's organization's attachments. */
  spaceUsed(actor: Actor): Promise<number> {
    return this.meta.uploadSpaceUsed(actor.org.id);
  }

  // --- deletion ---

  async delete(actor: Actor, attachment: Attachment): Promise<void> {
    const released = await this.meta.deleteAttachment(actor.org.id, attachment.id);
    if (released.count === 0) throw notFound('Attachment');
    await deleteReleased(this.blobs, released);
  }

  /** Zulip lets only the uploader delete a file. */
  async deleteOwn(actor: Actor, id: number): Promise<void> {
    const found = await this.meta.getAttachment(actor.org.id, id);
    if (!found || found.owner.id !== actor.user.id) throw new AffixError('bad_request', 'Invalid attachment');
    await this.delete(actor, found);
  }

  // --- the bytes ---

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

  private urlSigner(): Promise<UrlSigner> {
    this.signer ??= this.meta.setting('url_signing_secret', () => randomBytes(32).toString('base64url')).then((s) => new UrlSigner(s));
    return this.signer;
  }
}

/** What is known without asking the store: the uploader sees their file; an issue's or entity's file is the whole org's. */
export function visibleTo(actor: Actor, attachment: Attachment): boolean {
  return attachment.owner.id === actor.user.id || (attachment.expiresAt === null && (attachment.issueId !== null || attachment.entityId !== null));
}

/** Deletes the blobs a removal let go of; returns how many. */
export async function deleteReleased(blobs: BlobStore, released: Released): Promise<number> {
  for (const key of released.releasedKeys) await blobs.delete(key);
  return released.releasedKeys.length;
}
