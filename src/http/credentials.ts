// The credential an Authorization header carries, parsed once for both dialects' auth and the rate limit.

/** Tracker's `OAuth <token>` (or `Bearer`), Zulip's HTTP Basic `email:api_key`, or nothing usable. */
export type Credential = { kind: 'token'; token: string } | { kind: 'basic'; email: string; apiKey: string } | null;

const TOKEN = /^(?:OAuth|Bearer)\s+(\S+)\s*$/i;
const BASIC = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i;

export function parseCredential(header: string | undefined): Credential {
  if (!header) return null;
  const token = TOKEN.exec(header)?.[1];
  if (token) return { kind: 'token', token };
  const basic = BASIC.exec(header)?.[1];
  if (!basic) return null;
  const decoded = Buffer.from(basic, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  // No colon: a user without a key, which no login matches.
  if (colon < 0) return { kind: 'basic', email: decoded.trim().toLowerCase(), apiKey: '' };
  return { kind: 'basic', email: decoded.slice(0, colon).trim().toLowerCase(), apiKey: decoded.slice(colon + 1) };
}
