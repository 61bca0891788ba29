// Tells what an upload is from its leading bytes: MIME type (file-type) and image dimensions (image-size).
import { fileTypeFromBuffer, supportedMimeTypes } from 'file-type';
import { imageSize } from 'image-size';
import mime from 'mime-types';

/** How many leading bytes the upload pass keeps for sniffing and image headers. */
export const HEAD_BYTES = 128 << 10;

/** Raster formats whose dimensions Affix records and for which it makes thumbnails. */
export const RASTER_TYPES = new Set([
  'image/jpeg',
  'image/png',
  'image/gif',
  'image/webp',
  'image/avif',
  'image/heic',
  'image/heif',
  'image/tiff',
  'image/bmp',
]);

export interface ContentFacts {
  /** Lower case, from the bytes first, then the name, then whether it reads as text. */
  mimetype: string;
  /** Display dimensions (EXIF rotation applied) of a raster image, from its header; else null. */
  width: number | null;
  height: number | null;
}

/** What a file is, judged from its first bytes (`head`) and, failing that, its name. */
export async function describeContent(head: Buffer, name: string, complete: boolean): Promise<ContentFacts> {
  const mimetype = await mimeTypeOf(head, name, complete);
  const { width, height } = RASTER_TYPES.has(mimetype) ? dimensionsOf(head) : { width: null, height: null };
  return { mimetype, width, height };
}

async function mimeTypeOf(head: Buffer, name: string, complete: boolean): Promise<string> {
  const sniffed = (await fileTypeFromBuffer(head))?.mime;
  const byName = mime.lookup(name) || null;
  if (sniffed) {
    // `<?xml` says XML; the name can say which XML (an SVG drawing, say) — never anything but XML.
    if (sniffed === 'application/xml' && byName && /[+/]xml$/.test(byName)) return byName.toLowerCase();
    return sniffed.toLowerCase();
  }
  // The name claims a binary format the sniffer knows, yet the bytes are not that format: believe the bytes.
  if (byName && !supportedMimeTypes.has(byName as never)) return byName.toLowerCase();
  return looksLikeText(head, complete) ? 'text/plain' : 'application/octet-stream';
}

/** No NUL bytes and valid UTF-8 (a character cut at the end of an incomplete head is allowed). */
function looksLikeText(head: Buffer, complete: boolean): boolean {
  if (head.includes(0)) return false;
  const decoder = new TextDecoder('utf-8', { fatal: true });
  for (let cut = 0; cut <= (complete ? 0 : 3); cut++) {
    try {
      decoder.decode(head.subarray(0, head.length - cut));
      return true;
    } catch {
      // try again without a possibly truncated trailing character
    }
  }
  return false;
}

function dimensionsOf(head: Buffer): { width: number | null; height: number | null } {
  try {
    const size = imageSize(head);
    if (!size.width || !size.height) return { width: null, height: null };
    // EXIF orientations 5 to 8 turn the image a quarter: what people see is height x width.
    const turned = size.orientation !== undefined && size.orientation >= 5;
    return turned ? { width: size.height, height: size.width } : { width: size.width, height: size.height };
  } catch {
    return { width: null, height: null };
  }
}
