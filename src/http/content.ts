import type { FastifyReply } from 'fastify';
import type { Affix } from '../core/affix.js';
import type { Attachment } from '../core/model.js';

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

/** Headers every response carrying user content gets, whatever its type. */
export function setUserContentHeaders(reply: FastifyReply): void {
  reply.header('x-content-type-options', 'nosniff');
  reply.header('content-security-policy', "default-src 'none'; sandbox");
  reply.header('x-frame-options', 'DENY');
  reply.header('cache-control', 'private');
}

/** Streams an attachment's bytes with the headers that keep a hostile file from being rendered. */
export async function sendAttachment(reply: FastifyReply, core: Affix, attachment: Attachment): Promise<FastifyReply> {
  setUserContentHeaders(reply);
  const disposition = isInlineSafe(attachment.mimetype) ? 'inline' : 'attachment';
  reply.header('content-type', attachment.mimetype);
  reply.header('content-length', attachment.size);
  reply.header('content-disposition', contentDisposition(disposition, attachment.name));
  reply.header('etag', `"${attachment.sha256}"`);
  reply.header('last-modified', new Date(attachment.createdAt).toUTCString());
  return reply.send(await core.openContent(attachment));
}
