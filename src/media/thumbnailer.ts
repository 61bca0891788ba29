import { availableParallelism } from 'node:os';
import type Sharp from 'sharp';

/** Formats a thumbnail can be made from: those whose loaders stay unblocked below. */
export const THUMBNAIL_SOURCE_TYPES = new Set(['image/jpeg', 'image/png', 'image/gif', 'image/webp', 'image/avif', 'image/tiff']);
export const THUMBNAIL_SIZES = [64, 128, 256, 320, 512, 1024] as const;
export const DEFAULT_THUMBNAIL_SIZE = 320;
export type ThumbnailFormat = 'webp' | 'jpeg';

export const hasThumbnail = (mimetype: string): boolean => THUMBNAIL_SOURCE_TYPES.has(mimetype);

let loadingSharp: Promise<typeof Sharp> | undefined;
/**
 * sharp, loaded on the first thumbnail: libvips adds about 28 MiB to the resident set of a process
 * that may only ever store files. Process-wide, libvips may load only the formats above (no SVG,
 * no PDF, no magick), and caches nothing.
 */
function loadSharp(): Promise<typeof Sharp> {
  loadingSharp ??= import('sharp').then(({ default: sharp }) => {
    sharp.block({ operation: ['VipsForeignLoad'] });
    sharp.unblock({
      operation: ['VipsForeignLoadJpeg', 'VipsForeignLoadPng', 'VipsForeignLoadNsgif', 'VipsForeignLoadWebp', 'VipsForeignLoadHeif', 'VipsForeignLoadTiff'],
    });
    sharp.cache(false);
    // Parallelism comes from running one image per core, each on one libvips thread.
    sharp.concurrency(1);
    return sharp;
  });
  return loadingSharp;
}

export interface ThumbnailerOptions {
  /** Images with more pixels than this are never decoded. */
  maxPixels: number;
  timeoutSeconds: number;
  concurrency?: number;
}

/** Makes small WebP or JPEG previews, bounded in pixels, time and parallel work. */
export class Thumbnailer {
  readonly maxPixels: number;
  private readonly timeoutSeconds: number;
  private readonly slots: number;
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(options: ThumbnailerOptions) {
    this.maxPixels = options.maxPixels;
    this.timeoutSeconds = options.timeoutSeconds;
    this.slots = options.concurrency ?? availableParallelism();
  }

  /**
   * The image (a file path or its bytes) shrunk so its longest side is at most `size`, turned
   * upright by its EXIF orientation, with all metadata stripped. Rejects for anything it cannot or
   * may not decode.
   */
  async make(input: string | Buffer, size: number, format: ThumbnailFormat): Promise<Buffer> {
    const sharp = await loadSharp();
    await this.acquire();
    try {
      const pipeline = sharp(input, { limitInputPixels: this.maxPixels, sequentialRead: true, failOn: 'error', animated: false })
        .rotate()
        .resize(size, size, { fit: 'inside', withoutEnlargement: true })
        .timeout({ seconds: this.timeoutSeconds });
      return await (format === 'webp' ? pipeline.webp({ quality: 80 }) : pipeline.jpeg({ quality: 82, mozjpeg: true })).toBuffer();
    } finally {
      this.release();
    }
  }

  private async acquire(): Promise<void> {
    if (this.running < this.slots) {
      this.running++;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  private release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.running--;
  }
}
