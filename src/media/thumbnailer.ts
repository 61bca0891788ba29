// Makes thumbnails with sharp, bounded in pixels, time, concurrency and memory.
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
  /** Decoded pixels of all images being made at once may take at most this many bytes (4 a pixel). */
  memoryBytes?: number;
}

/** What a decoded pixel is counted at: four 8-bit bands, the most the allowed formats decode to. */
const BYTES_PER_PIXEL = 4;
export const DEFAULT_THUMBNAIL_MEMORY = 256 << 20;

/**
 * Makes small WebP or JPEG previews, bounded in pixels, time, parallel work and memory: at most one
 * image per core, and together at most `memoryBytes` of decoded pixels (pixels x 4 bytes x images at
 * once, as Mattermost bounds its decoders); an image alone over the budget runs by itself.
 */
export class Thumbnailer {
  readonly maxPixels: number;
  private readonly timeoutSeconds: number;
  private readonly slots: number;
  private readonly memoryBytes: number;
  private running = 0;
  private memoryInUse = 0;
  private readonly waiting: Array<{ cost: number; start: () => void }> = [];

  constructor(options: ThumbnailerOptions) {
    this.maxPixels = options.maxPixels;
    this.timeoutSeconds = options.timeoutSeconds;
    this.slots = options.concurrency ?? availableParallelism();
    this.memoryBytes = options.memoryBytes ?? DEFAULT_THUMBNAIL_MEMORY;
  }

  /**
   * The image (a file path or its bytes) shrunk so its longest side is at most `size`, turned
   * upright by its EXIF orientation, with all metadata stripped. `pixels`: the image's width x
   * height, which its turn waits on. Rejects for anything it cannot or may not decode.
   */
  async make(input: string | Buffer, pixels: number, size: number, format: ThumbnailFormat): Promise<Buffer> {
    const sharp = await loadSharp();
    const cost = Math.min(this.memoryBytes, Math.max(1, pixels) * BYTES_PER_PIXEL);
    await this.acquire(cost);
    try {
      const pipeline = sharp(input, { limitInputPixels: this.maxPixels, sequentialRead: true, failOn: 'error', animated: false })
        .rotate()
        .resize(size, size, { fit: 'inside', withoutEnlargement: true })
        .timeout({ seconds: this.timeoutSeconds });
      return await (format === 'webp' ? pipeline.webp({ quality: 80 }) : pipeline.jpeg({ quality: 82, mozjpeg: true })).toBuffer();
    } finally {
      this.release(cost);
    }
  }

  /** Images being made now, and the bytes of decoded pixels counted for them. */
  get inUse(): { images: number; bytes: number } {
    return { images: this.running, bytes: this.memoryInUse };
  }

  private fits(cost: number): boolean {
    return this.running < this.slots && this.memoryInUse + cost <= this.memoryBytes;
  }

  private async acquire(cost: number): Promise<void> {
    // First come, first served: nobody overtakes a waiting image, however small.
    if (this.waiting.length === 0 && this.fits(cost)) {
      this.running++;
      this.memoryInUse += cost;
      return;
    }
    await new Promise<void>((start) => this.waiting.push({ cost, start }));
  }

  private release(cost: number): void {
    this.running--;
    this.memoryInUse -= cost;
    while (this.waiting.length > 0 && this.fits(this.waiting[0]!.cost)) {
      const next = this.waiting.shift()!;
      this.running++;
      this.memoryInUse += next.cost;
      next.start();
    }
  }
}
