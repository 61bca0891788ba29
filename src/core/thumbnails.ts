// Thumbnails of image attachments: made once per (bytes, size, format) from the stored blob, kept as blobs.
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { COUNTED_FRAMES, hasThumbnail, type Thumbnailer, type ThumbnailSpec } from '../media/thumbnailer.js';
import type { BlobStore } from '../store/blob/blob-store.js';
import type { MetaStore } from '../store/meta/meta-store.js';
import type { Attachments } from './attachments.js';
import { AffixError, notFound } from './errors.js';
import type { Attachment, Thumbnail } from './model.js';
import { UNOBSERVED, type Observer } from './observer.js';

export class Thumbnails {
  /** Thumbnails being made in this process, so concurrent first requests make each one once. */
  private readonly inFlight = new Map<string, Promise<Thumbnail>>();

  constructor(
    private readonly meta: MetaStore,
    private readonly blobs: BlobStore,
    private readonly attachments: Attachments,
    private readonly thumbnailer: Thumbnailer,
    /** A local directory for short-lived files: images copied out of a remote BlobStore for libvips. */
    private readonly scratchDir: string,
    private readonly clock: () => number,
    private readonly observer: Observer = UNOBSERVED,
  ) {}

  /**
   * The thumbnail of an image attachment, made on first request and stored as a blob of its own. An
   * animated spec is made only of an animated image (else 404); its first COUNTED_FRAMES frames count
   * toward the pixel limit, and it keeps as many frames as fit in the limit together (at least those).
   */
  async get(attachment: Attachment, spec: ThumbnailSpec): Promise<Thumbnail> {
    const { width, height } = attachment;
    if (!hasThumbnail(attachment.mimetype) || width === null || height === null) throw notFound('Thumbnail');
    const { maxPixels } = this.thumbnailer;
    if (width * height > (spec.animated ? Math.floor(maxPixels / COUNTED_FRAMES) : maxPixels)) {
      throw new AffixError('unprocessable', `The image is ${width}x${height} pixels, more than the ${maxPixels} pixels a thumbnail is made from`);
    }
    const existing = await this.meta.getThumbnail(attachment.sha256, spec.width, spec.variant);
    if (existing) return existing;
    const key = `${attachment.sha256}:${spec.width}:${spec.variant}`;
    let pending = this.inFlight.get(key);
    if (!pending) {
      const started = performance.now();
      pending = this.make(attachment, spec)
        .then(
          (made) => (this.observer.thumbnailMade((performance.now() - started) / 1000), made),
          (err: unknown) => {
            this.observer.thumbnailFailed(err instanceof AffixError ? err.code : 'internal');
            throw err;
          },
        )
        .finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, pending);
    }
    return pending;
  }

  private async make(attachment: Attachment, spec: ThumbnailSpec): Promise<Thumbnail> {
    const pixels = (attachment.width ?? 0) * (attachment.height ?? 0);
    const image = await this.withLocalCopy(attachment.storageKey, async (path) => {
      const frames = spec.animated ? await this.thumbnailer.frames(path).catch(() => 1) : 1;
      if (spec.animated && frames < 2) throw notFound('Thumbnail');
      const kept = Math.min(frames, Math.max(COUNTED_FRAMES, Math.floor(this.thumbnailer.maxPixels / Math.max(1, pixels))));
      try {
        return await this.thumbnailer.make(path, pixels, spec, kept);
      } catch (err) {
        throw new AffixError('unprocessable', `No thumbnail can be made of this image: ${(err as Error).message}`);
      }
    });
    const stored = await this.blobs.write(Readable.from([image]));
    const { thumbnail, duplicateKey } = await this.meta.insertThumbnail({
      sourceSha256: attachment.sha256,
      size: spec.width,
      format: spec.variant,
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
    const path = join(this.scratchDir, `${storageKey}.${randomBytes(6).toString('hex')}`);
    try {
      await pipeline(await this.attachments.openContent(storageKey), createWriteStream(path, { flags: 'wx' }));
      return await use(path);
    } finally {
      await rm(path, { force: true });
    }
  }
}
