// Ids and secrets: 24-hex ids, storage keys, tokens and their hashes, ids parsed from requests.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** A 24-hex id, the shape Tracker uses for issue ids and comment `longId`s. */
export const hex24 = (): string => randomBytes(12).toString('hex');

/** Whether a reference names a 24-hex id (rather than a key such as `QUEUE-12` or a short number). */
export const isHex24 = (value: string): boolean => /^[0-9a-f]{24}$/i.test(value);

/** A storage key: 32 hex characters, never derived from anything a user sent. */
export const storageKey = (): string => randomBytes(16).toString('hex');

/** A secret for a person to keep: an OAuth token or an API key. */
export const secret = (): string => randomBytes(24).toString('base64url');

/** Secrets are stored as their sha256; lookups go by hash, so the secret itself is never compared. */
export const hashSecret = (value: string): string => createHash('sha256').update(value, 'utf8').digest('hex');

export function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Tracker `cloudUid`-like identifier: 20 lower-case base32 characters. */
export function cloudUid(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  return Array.from(randomBytes(20), (b) => alphabet[b & 31]).join('');
}

/** Tracker `passportUid`-like identifier: a positive integer below 2^48 that fits in a JS number. */
export const passportUid = (): number => randomBytes(6).readUIntBE(0, 6) || 1;

/** A positive integer id from a path segment or a JSON value, or null. */
export function parseId(value: unknown): number | null {
  const text = typeof value === 'number' ? String(value) : typeof value === 'string' ? value.trim() : '';
  if (!/^[1-9][0-9]{0,15}$/.test(text)) return null;
  const id = Number(text);
  return Number.isSafeInteger(id) ? id : null;
}
