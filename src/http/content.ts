// Serves stored bytes safely: type allow-list, Content-Disposition, ETag and 304, ranges, presigned redirects, X-Accel-Redirect.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AffixError } from '../core/errors.js';
import { notModified, parseRange, rangeStillValid } from './ranges.js';
import type { Affix } from '../core/affix.js';
import type { Attachment, Thumbnail } from '../core/model.js';
import { encodingOf } from '../media/thumbnailer.js';

// Types a browser may render in place; everything else (HTML, SVG, XML, scripts, ...) is only ever downloaded.
const INLINE_EXACT = new Set([
  'image/png',
  'image/jpeg',
  'image/gif',
  'image/webp',
  'image/avif',
  'image/heic',
  'image/heif',
  'image/bmp',
  'image/tiff',
  'application/pdf',
  'text/plain',
]);

export function isInlineSafe(mimetype: string): boolean {
  return INLINE_EXACT.has(mimetype) || mimetype.startsWith('audio/') || mimetype.startsWith('video/');
}

/** RFC 6266 with an ASCII fallback and the exact name in RFC 5987 `filename*`. */
export function contentDisposition(kind: 'inline' | 'attachment', name: string): string {
  const fallback = name.replace(/[^\x20-\x7e]|["\\%]/g, '_');
  const exact = encodeURIComponent(name).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `${kind}; filename="${fallback}"; filename*=UTF-8''${exact}`;
}

/** Headers every response carrying user content gets, whatever its type (nosniff is set on every response by the app). */
export function setUserContentHeaders(reply: FastifyReply): void {
  reply.header('content-security-policy', "default-src 'none'; sandbox");
  reply.header('x-frame-options', 'DENY');
  reply.header('cache-control', 'private');
}

/** What is served: an attachment's bytes, or a thumbnail's. */
export interface ServedContent {
  storageKey: string;
  name: string;
  mimetype: string;
  size: number;
  sha256: string;
  modifiedAt: number;
  /** Always offer a download, even for a type that could be shown inline. */
  forceDownload?: boolean;
}

export const servedAttachment = (a: Attachment): ServedContent => ({
  storageKey: a.storageKey,
  name: a.name,
  mimetype: a.mimetype,
  size: a.size,
  sha256: a.sha256,
  modifiedAt: a.createdAt,
});

export const servedThumbnail = (a: Attachment, t: Thumbnail): ServedContent => ({
  storageKey: t.storageKey,
  name: `${a.name.replace(/\.[^.]*$/, '')}.${encodingOf(t.format) === 'jpeg' ? 'jpg' : 'webp'}`,
  mimetype: `image/${encodingOf(t.format)}`,
  size: t.bytes,
  sha256: t.sha256,
  modifiedAt: t.createdAt,
});

export type ContentSender = (request: FastifyRequest, reply: FastifyReply, content: ServedContent) => Promise<FastifyReply>;

/**
 * Answers GET and HEAD for stored bytes: 304 on a matching `If-None-Match`/`If-Modified-Since`,
 * 206 for one satisfiable `Range`, 416 for an unsatisfiable one, else 200 with the whole body,
 * always with the headers that keep a hostile file from being rendered. With `accelPrefix`, the
 * bytes (and any Range) are left to nginx through `X-Accel-Redirect`; with presigned S3 downloads,
 * the client is sent (302) to the object store.
 */
export function contentSender(core: Affix, accelPrefix: string | null): ContentSender {
  return async (request, reply, content) => {
    const etag = `"${content.sha256}"`;
    setUserContentHeaders(reply);
    reply.header('etag', etag);
    reply.header('last-modified', new Date(content.modifiedAt).toUTCString());
    reply.header('accept-ranges', 'bytes');
    if (notModified(request.headers, etag, content.modifiedAt)) return reply.code(304).send();
    const inline = isInlineSafe(content.mimetype) && !content.forceDownload;
    const disposition = contentDisposition(inline ? 'inline' : 'attachment', content.name);
    const direct = await core.attachments.directDownloadUrl(content.storageKey, { contentType: content.mimetype, contentDisposition: disposition });
    // The object store serves the bytes (and any Range), with the same type and disposition.
    if (direct) return reply.code(302).header('location', direct).header('cache-control', 'no-store').send();
    reply.header('content-type', content.mimetype);
    reply.header('content-disposition', disposition);

    const relative = accelPrefix ? core.blobs.relativePath(content.storageKey) : null;
    if (accelPrefix && relative) return reply.header('x-accel-redirect', `${accelPrefix}/${relative}`).send();

    const headers = request.headers;
    const ifRange = typeof headers['if-range'] === 'string' ? headers['if-range'] : undefined;
    const range = rangeStillValid(ifRange, etag, content.modifiedAt) ? parseRange(headers.range, content.size) : null;
    if (range === 'unsatisfiable') {
      reply.header('content-range', `bytes */${content.size}`);
      throw new AffixError('range_not_satisfiable', `Range ${headers.range} is outside the ${content.size} bytes of the file`);
    }
    if (range) {
      reply.code(206);
      reply.header('content-range', `bytes ${range.start}-${range.end}/${content.size}`);
    }
    reply.header('content-length', range ? range.end - range.start + 1 : content.size);
    if (request.method === 'HEAD') return reply.send();
    return reply.send(await core.attachments.openContent(content.storageKey, range ?? undefined));
  };
}
