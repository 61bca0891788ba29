// Makes thumbnails with sharp, bounded in pixels, time, concurrency and memory.
import { availableParallelism } from 'node:os';
import type Sharp from 'sharp';

/** Formats a thumbnail can be made from: those whose loaders stay unblocked below. */
export const THUMBNAIL_SOURCE_TYPES = new Set(['image/jpeg', 'image/png', 'image/gif', 'image/webp', 'image/avif', 'image/tiff']);
export const THUMBNAIL_SIZES = [64, 128, 256, 320, 512, 1024] as const;
export const DEFAULT_THUMBNAIL_SIZE = 320;
export type ThumbnailFormat = 'webp' | 'jpeg';

/** What to make: the box the image is shrunk into, the encoding, and whether an animation stays one. */
export interface ThumbnailSpec {
  /** Names the variant among a source's thumbnails: `webp`/`jpeg` for a square box, or a Zulip format name. */
  variant: string;
  width: number;
  height: number;
  format: ThumbnailFormat;
  animated: boolean;
}

/** Tracker's thumbnails: the longest side at most `size`, still. */
export const squareThumbnail = (size: number, format: ThumbnailFormat): ThumbnailSpec => ({ variant: format, width: size, height: size, format, animated: false });

/** The encoding of a stored variant. */
export const encodingOf = (variant: string): ThumbnailFormat => (variant === 'jpeg' || variant.endsWith('.jpeg') ? 'jpeg' : 'webp');

/** Frames of an animation counted toward the pixel limit, as Zulip counts them. */
export const COUNTED_FRAMES = 3;

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

  /** How many frames the image has (1 for a still one), read from its header without decoding pixels. */
  async frames(input: string | Buffer): Promise<number> {
    const sharp = await loadSharp();
    const { pages } = await sharp(input, { limitInputPixels: false, failOn: 'error' }).metadata();
    return Math.max(1, pages ?? 1);
  }

  /**
   * The image (a file path or its bytes) shrunk into `spec`'s box, turned upright by its EXIF
   * orientation, with all metadata stripped. `pixels`: the image's width x height. An animated spec
   * keeps the first `frames` frames (the caller bounds them). Rejects for anything it cannot or may
   * not decode.
   */
  async make(input: string | Buffer, pixels: number, spec: ThumbnailSpec, frames = 1): Promise<Buffer> {
    const sharp = await loadSharp();
    const pages = spec.animated ? Math.max(1, frames) : 1;
    const cost = Math.min(this.memoryBytes, Math.max(1, pixels) * pages * BYTES_PER_PIXEL);
    await this.acquire(cost);
    try {
      const pipeline = sharp(input, {
        limitInputPixels: spec.animated ? this.maxPixels * pages : this.maxPixels,
        sequentialRead: true,
        failOn: 'error',
        animated: false,
        ...(spec.animated ? { pages } : {}),
      })
        // EXIF orientation is a still image's; GIF and animated WebP carry none.
        .rotate(spec.animated ? 0 : undefined)
        .resize(spec.width, spec.height, { fit: 'inside', withoutEnlargement: true })
        .timeout({ seconds: this.timeoutSeconds });
      return await (spec.format === 'webp' ? pipeline.webp({ quality: 80 }) : pipeline.jpeg({ quality: 82, mozjpeg: true })).toBuffer();
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
