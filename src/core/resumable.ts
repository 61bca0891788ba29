// Resumable uploads (tus, in both dialects): created with their length and quota reservation, fed by durable segments, completed into an attachment.
import type { Readable } from 'node:stream';
import type { BlobStore } from '../store/blob/blob-store.js';
import type { MetaStore, NewResumable } from '../store/meta/meta-store.js';
import type { Attachments, UploadTarget } from './attachments.js';
import { AffixError, notFound } from './errors.js';
import type { Actor } from './identity.js';
import { storageKey } from './ids.js';
import type { Attachment, ResumableUpload } from './model.js';
import { tooLarge, type StagedUpload } from './uploads.js';
import type { UploadBytes } from './resumable-bytes.js';
import { InPlace } from './resumable-in-place.js';
import { Parts } from './resumable-parts.js';

/** Digests a chunk may be checked with (tus checksum extension); the names as `Upload-Checksum` writes them. */
export const CHECKSUM_ALGORITHMS = ['md5', 'sha1', 'sha256'] as const;
export type ChecksumAlgorithm = (typeof CHECKSUM_ALGORITHMS)[number];

export interface NewResumableUpload {
  /** Null: the length is declared later (creation-defer-length). */
  length: number | null;
  /** A partial upload (tus concatenation), to become part of a final upload. */
  partial?: boolean;
  metadata: Record<string, string>;
  /** Where the file goes on completion, as the dialect encodes it. */
  target: string;
}

export interface AppendResult {
  upload: ResumableUpload;
  /** Set when these bytes completed the upload: commit it with `complete`. */
  staged: StagedUpload | null;
}

/** A final upload (tus concatenation): its partials' bytes staged as one file, and its own record, written complete with the file. */
export interface Concatenation {
  uploads: ResumableUpload[];
  staged: StagedUpload;
  final: NewResumable;
}

const MIB = 1 << 20;
/** Partial uploads one final upload may name (tus-js-client's `parallelUploads` uses a handful). */
const MAX_PARTIALS = 100;

export class Resumable {
  private readonly bytes: UploadBytes;

  constructor(
    private readonly meta: MetaStore,
    blobs: BlobStore,
    private readonly attachments: Attachments,
    /** How long an unfinished upload lives (tus `Upload-Expires`). */
    private readonly ttlMs: number,
    private readonly clock: () => number,
  ) {
    this.bytes = blobs.resumable.kind === 'in-place' ? new InPlace(blobs, blobs.resumable.bytes) : new Parts(blobs, blobs.resumable.parts);
  }

  /** Refuses a declared length over the org's limit, or over what is left of its quota, before a byte is sent. */
  async create(actor: Actor, input: NewResumableUpload): Promise<ResumableUpload> {
    const limit = this.attachments.uploadLimit(actor.org);
    if (input.length !== null && input.length > limit) throw tooLarge(limit);
    return this.meta.createResumable(this.record(actor, input), { quotaBytes: this.quota(actor) });
  }

  /** A new upload's record, living `ttlMs`. */
  private record(actor: Actor, input: NewResumableUpload): NewResumable {
    const now = this.clock();
    return {
      id: storageKey(),
      orgId: actor.org.id,
      ownerId: actor.user.id,
      length: input.length,
      partial: input.partial ?? false,
      reserved: input.length ?? 0,
      metadata: input.metadata,
      target: input.target,
      createdAt: now,
      expiresAt: now + this.ttlMs,
    };
  }

  /** The caller's own unfinished upload. */
  async get(actor: Actor, id: string): Promise<ResumableUpload> {
    const upload = /^[0-9a-f]{32}$/.test(id) ? await this.meta.getResumable(actor.org.id, id) : null;
    if (!upload || upload.ownerId !== actor.user.id) throw notFound('Upload');
    return upload;
  }

  /**
   * Appends `source` at `offset`, holding the upload's lock (423 while another request holds it).
   * What arrives before the source ends is durable before this resolves; with a checksum, a chunk
   * whose digest differs is discarded whole (460). `length` declares a deferred length; `announced`
   * is the byte count the client announced for the chunk, a hint for how the store keeps it.
   */
  async append(
    actor: Actor,
    id: string,
    offset: number,
    source: Readable,
    options: { length?: number; announced?: number; checksum?: { algorithm: ChecksumAlgorithm; digest: string } } = {},
  ): Promise<AppendResult> {
    const held = await this.meta.withResumableLock(id, async () => {
      let upload = await this.get(actor, id);
      if (offset !== upload.offset) throw new AffixError('conflict', `Upload-Offset ${offset} is not the upload's offset ${upload.offset}`);
      // Complete already: an empty PATCH at its end asks for the final answer again (one that was lost).
      if (upload.attachmentId !== null) {
        await drainEmpty(source);
        return { upload, staged: null };
      }
      if (options.length !== undefined && upload.length === null) {
        if (options.length > this.attachments.uploadLimit(actor.org)) throw tooLarge(this.attachments.uploadLimit(actor.org));
        if (options.length < upload.offset) throw new AffixError('bad_request', 'Upload-Length is less than the bytes already received');
        upload = await this.meta.setResumableLength(actor.org.id, id, options.length, { quotaBytes: this.quota(actor) });
      }
      const limit = this.attachments.uploadLimit(actor.org);
      const received = await this.bytes.receive({
        upload,
        source,
        room: (upload.length ?? limit) - upload.offset,
        overflow: () => (upload.length === null ? tooLarge(limit) : new AffixError('too_large', 'The chunk goes past the declared Upload-Length')),
        announced: options.announced ?? null,
        ...(options.checksum ? { checksum: options.checksum } : {}),
      });
      if (received) {
        const previous = upload;
        try {
          upload = await this.meta.addResumableSegment(actor.org.id, id, { start: offset, ...received.segment }, {
            quotaBytes: this.quota(actor),
            ...(received.began ? { multipart: received.began } : {}),
          });
        } catch (err) {
          await this.bytes.discard(previous, received);
          throw err;
        }
        await this.bytes.recorded(previous, received).catch(() => undefined);
      }
      // A partial upload is done when its bytes are; only the final upload that names it makes a file.
      const done = !upload.partial && upload.length !== null && upload.offset === upload.length;
      return { upload, staged: done ? await this.bytes.assemble([upload], limit) : null };
    });
    if (!held) throw new AffixError('locked', 'Another request is writing this upload');
    return held.value;
  }

  /**
   * Concatenation's final upload: the caller's complete partial uploads, in order, staged as one
   * file. They are removed when the file is recorded (`complete`), never attachments of their own;
   * the final upload is recorded then, complete.
   */
  async concatenate(actor: Actor, ids: string[], input: Pick<NewResumableUpload, 'metadata' | 'target'>): Promise<Concatenation> {
    if (ids.length === 0 || ids.length > MAX_PARTIALS) throw new AffixError('bad_request', `Upload-Concat: final names 1 to ${MAX_PARTIALS} partial uploads`);
    if (new Set(ids).size !== ids.length) throw new AffixError('bad_request', 'Upload-Concat: final names a partial upload twice');
    const uploads = await Promise.all(ids.map((id) => this.get(actor, id)));
    for (const upload of uploads) {
      if (!upload.partial) throw new AffixError('bad_request', `Upload ${upload.id} is not a partial upload`);
      if (upload.length === null || upload.offset !== upload.length) throw new AffixError('bad_request', `Partial upload ${upload.id} is not complete`);
    }
    const total = uploads.reduce((sum, u) => sum + u.offset, 0);
    const limit = this.attachments.uploadLimit(actor.org);
    if (total > limit) throw tooLarge(limit);
    const staged = await this.bytes.assemble(uploads, limit);
    return { uploads, staged, final: this.record(actor, { length: total, metadata: input.metadata, target: input.target }) };
  }

  /**
   * Records completed bytes as an attachment (through the same path as every upload), the uploads
   * complete with it (and `final`, a concatenation's), then drops what their bytes still hold.
   */
  async complete(actor: Actor, uploads: ResumableUpload[], staged: StagedUpload, target: UploadTarget, name: string, final?: NewResumable): Promise<Attachment> {
    const attachment = await this.attachments.commit(actor, staged, name || 'file', target, undefined, {
      completing: uploads.map((u) => u.id),
      ...(final ? { concatenated: final } : {}),
    });
    await this.bytes.release(uploads, staged);
    return attachment;
  }

  /** Termination: the upload, its bytes and its reservation go; not while a request writes it (423). */
  async terminate(actor: Actor, id: string): Promise<void> {
    await this.get(actor, id);
    const held = await this.meta.withResumableLock(id, () => this.meta.deleteResumable(actor.org.id, id));
    if (!held) throw new AffixError('locked', 'Another request is writing this upload');
    if (!held.value) throw notFound('Upload');
    await this.bytes.remove(held.value);
  }

  /**
   * Removes expired uploads (unfinished ones with their bytes, and the records of complete ones), and
   * bytes whose upload a crash removed (untouched for `graceMs`); returns how many unfinished uploads expired.
   */
  async collect(now: number, graceMs: number): Promise<number> {
    await this.bytes.sweep(now - graceMs, (ids) => this.meta.knownResumables(ids));
    let unfinished = 0;
    for (;;) {
      const expired = await this.meta.expiredResumables(now, 100);
      let removedNow = 0;
      for (const { orgId, id } of expired) {
        // One a request is still writing is left for the next run.
        const held = await this.meta.withResumableLock(id, () => this.meta.deleteResumable(orgId, id));
        if (held?.value) {
          removedNow++;
          if (held.value.attachmentId === null) unfinished++;
          await this.bytes.remove(held.value);
        }
      }
      if (removedNow === 0) return unfinished;
    }
  }

  private quota(actor: Actor): number | null {
    return actor.org.uploadQuotaMib === null ? null : actor.org.uploadQuotaMib * MIB;
  }
}

/** The body of a PATCH to a complete upload: nothing may come (413 past it). */
async function drainEmpty(source: Readable): Promise<void> {
  for await (const data of source as AsyncIterable<Buffer>) {
    if (data.length > 0) {
      source.destroy();
      throw new AffixError('too_large', 'The upload is complete: no more bytes fit');
    }
  }
}
