/** The one error type of the core; each HTTP dialect maps `code` to its own status and body. */
export type AffixErrorCode =
  | 'bad_request'
  | 'unauthenticated'
  /** Credentials were given and are wrong (Zulip answers these apart from missing ones). */
  | 'bad_credentials'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'too_large'
  | 'unsupported_media'
  | 'unprocessable'
  | 'range_not_satisfiable'
  | 'quota_exceeded'
  | 'rate_limited'
  | 'timeout'
  /** Another request holds the resource (a resumable upload being written). */
  | 'locked'
  /** A resumable chunk's `Upload-Checksum` does not match its bytes. */
  | 'checksum_mismatch'
  /** The client speaks a protocol version the server does not (tus `Tus-Resumable`). */
  | 'version_unsupported'
  | 'insufficient_storage'
  | 'internal';

export class AffixError extends Error {
  readonly code: AffixErrorCode;
  /** Field name -> message, for validation errors (Tracker's `errors` object). */
  readonly details: Record<string, string>;

  /** For `too_large`: the limit that was passed, in bytes (each dialect words it its own way). */
  readonly limitBytes: number | undefined;

  constructor(code: AffixErrorCode, message: string, details: Record<string, string> = {}, limitBytes?: number) {
    super(message);
    this.name = 'AffixError';
    this.code = code;
    this.details = details;
    this.limitBytes = limitBytes;
  }
}

export const notFound = (what: string): AffixError => new AffixError('not_found', `${what} not found`);

export function isAffixError(err: unknown): err is AffixError {
  return err instanceof AffixError;
}

/**
 * Whether a store failed for want of space: the disk (ENOSPC, EDQUOT), SQLite's database or journal
 * (SQLITE_FULL), or PostgreSQL's disk_full (53100). Each dialect answers 507.
 */
export function isOutOfSpace(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT' || code === 'SQLITE_FULL' || code === '53100';
}
