// Thumbnails of image attachments: made once per (bytes, size, format) from the stored blob, kept as blobs.
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { hasThumbnail, type Thumbnailer, type ThumbnailFormat } from '../media/thumbnailer.js';
import type { BlobStore } from '../store/blob/blob-store.js';
import type { MetaStore } from '../store/meta/meta-store.js';
import type { Attachments } from './attachments.js';
import { AffixError, notFound } from './errors.js';
import type { Attachment, Thumbnail } from './model.js';

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
  ) {}

  /** The thumbnail of an image attachment, made on first request and stored as a blob of its own. */
  async get(attachment: Attachment, size: number, format: ThumbnailFormat): Promise<Thumbnail> {
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
    let pending = this.inFlight.get(key);
    if (!pending) {
      pending = this.make(attachment, size, format).finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, pending);
    }
    return pending;
  }

  private async make(attachment: Attachment, size: number, format: ThumbnailFormat): Promise<Thumbnail> {
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
    const path = join(this.scratchDir, `${storageKey}.${randomBytes(6).toString('hex')}`);
    try {
      await pipeline(await this.attachments.openContent(storageKey), createWriteStream(path, { flags: 'wx' }));
      return await use(path);
    } finally {
      await rm(path, { force: true });
    }
  }
}
