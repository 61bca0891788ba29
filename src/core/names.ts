// Cleans user-supplied file names for display and download headers.
const MAX_NAME_BYTES = 255;
const FALLBACK_NAME = 'file';
// C0 and C1 controls, DEL, path separators, and Unicode bidi/format characters that can disguise an extension.
const UNSAFE_CHARS = /[\u0000-\u001f\u007f-\u009f/\\\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]/g;

/**
 * Cleans a user-supplied file name for display and download headers.
 * The result is never used to build a storage path (blobs live under generated ids).
 */
export function cleanFileName(raw: string | undefined | null): string {
  let name = (raw ?? '').normalize('NFC').replace(UNSAFE_CHARS, '').trim();
  // A name made only of dots ('.', '..', '...') means nothing and reads like a path.
  if (name === '' || /^\.+$/.test(name)) return FALLBACK_NAME;
  if (Buffer.byteLength(name, 'utf8') > MAX_NAME_BYTES) name = truncateKeepingExtension(name);
  return name;
}

function truncateKeepingExtension(name: string): string {
  const dot = name.lastIndexOf('.');
  const ext = dot > 0 && name.length - dot <= 16 ? name.slice(dot) : '';
  const budget = MAX_NAME_BYTES - Buffer.byteLength(ext, 'utf8');
  let stem = '';
  let used = 0;
  // Iterate by code point so a multi-byte character is never cut in half.
  for (const ch of name.slice(0, name.length - ext.length)) {
    const size = Buffer.byteLength(ch, 'utf8');
    if (used + size > budget) break;
    stem += ch;
    used += size;
  }
  return stem + ext;
}

/**
 * The last segment of a Zulip `path_id`: NFKC, letters/digits/`.`/`-`/`_` kept (any script), runs of
 * spaces and dashes folded to one dash, at most 255 bytes; as Zulip's `sanitize_name`.
 */
export function pathSegmentName(displayName: string): string {
  let name = displayName.normalize('NFKC').replace(/[^\p{L}\p{N}\p{M}_\s.-]/gu, '').trim().replace(/[-\s]+/g, '-');
  if (name === '' || /^\.+$/.test(name)) name = 'uploaded-file';
  return Buffer.byteLength(name, 'utf8') > MAX_NAME_BYTES ? truncateKeepingExtension(name) : name;
}
