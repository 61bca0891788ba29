// Parses a `Range` header into the one byte range Affix serves.
import type { ByteRange } from '../store/blob/blob-store.js';

/**
 * The one range of a `Range: bytes=...` header against a body of `size` bytes: a range to send,
 * `'unsatisfiable'` (416), or null to send the whole body (no header, another unit, or several
 * ranges, which RFC 9110 lets a server answer with the whole representation).
 */
export function parseRange(header: string | undefined, size: number): ByteRange | 'unsatisfiable' | null {
  if (!header) return null;
  const match = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!match) return null;
  const [, first, last] = match as unknown as [string, string, string];
  if (first === '' && last === '') return null;
  if (first === '') {
    // A suffix: the last N bytes.
    const length = Number(last);
    if (length === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - length), end: size - 1 };
  }
  const start = Number(first);
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
  if (start >= size || end < start) return 'unsatisfiable';
  return { start, end };
}

/** RFC 9110 §13.1.2 weak comparison over a list of entity tags, or `*`. */
export function etagMatches(header: string, etag: string): boolean {
  if (header.trim() === '*') return true;
  const bare = etag.replace(/^W\//, '');
  return header.split(',').some((tag) => tag.trim().replace(/^W\//, '') === bare);
}

/** Whether a GET or HEAD may be answered 304 Not Modified. */
export function notModified(headers: Record<string, string | string[] | undefined>, etag: string, modifiedAt: number): boolean {
  const ifNoneMatch = headers['if-none-match'];
  if (typeof ifNoneMatch === 'string') return etagMatches(ifNoneMatch, etag);
  const ifModifiedSince = headers['if-modified-since'];
  if (typeof ifModifiedSince === 'string') {
    const since = Date.parse(ifModifiedSince);
    // HTTP dates have whole seconds.
    return !Number.isNaN(since) && Math.floor(modifiedAt / 1000) * 1000 <= since;
  }
  return false;
}

/** `If-Range` lets a Range apply only while the representation is the one the client saw. */
export function rangeStillValid(ifRange: string | undefined, etag: string, modifiedAt: number): boolean {
  if (!ifRange) return true;
  if (ifRange.trim().startsWith('"') || ifRange.trim().startsWith('W/')) return ifRange.trim() === etag;
  const date = Date.parse(ifRange);
  return !Number.isNaN(date) && Math.floor(modifiedAt / 1000) * 1000 <= date;
}
