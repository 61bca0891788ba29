// The web UI's session cookie: written at sign-in, and taken by both dialects in place of an Authorization header, writes only from Affix's own pages.
import type {} from '@fastify/cookie';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Affix } from '../core/affix.js';
import { AffixError } from '../core/errors.js';
import type { Actor } from '../core/identity.js';

export const SESSION_COOKIE = 'affix_session';
/** Our secrets: base64url of 32 random bytes (`core/ids.ts`); anything else is no session. */
const SECRET = /^[A-Za-z0-9_-]{20,100}$/;
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** This server's own `scheme://host` values for a request: the public URL's, and the request's own. */
export type Origins = (request: FastifyRequest) => string[];

/** The session cookie's secret, when the request has no Authorization header (a header always wins, so API clients are unaffected). */
export function sessionSecret(request: FastifyRequest): string | null {
  if (request.headers.authorization !== undefined) return null;
  const value = request.cookies?.[SESSION_COOKIE];
  return value && SECRET.test(value) ? value : null;
}

/**
 * Against cross-site request forgery, twice over: the cookie is `SameSite=Strict`, so browsers leave
 * it off requests other sites start, and a write (anything but GET, HEAD, OPTIONS) must carry an
 * `Origin` naming one of Affix's own origins, which every browser sends on such requests.
 */
export function requireOwnOrigin(request: FastifyRequest, origins: Origins): void {
  if (SAFE_METHODS.has(request.method)) return;
  const origin = request.headers.origin?.toLowerCase();
  if (!origin || !origins(request).includes(origin)) throw new AffixError('forbidden', 'A change signed in with the session cookie must come from Affix’s own pages');
}

/** The signed-in user behind the request's session cookie; null when it carries none (401 when it names no live session). */
export async function sessionActor(core: Affix, request: FastifyRequest, origins: Origins): Promise<Actor | null> {
  const secret = sessionSecret(request);
  if (!secret) return null;
  requireOwnOrigin(request, origins);
  return core.sessions.authenticate(secret);
}

/** HttpOnly and SameSite=Strict always; Secure when Affix is served over https. */
export function setSessionCookie(reply: FastifyReply, secret: string, expiresAt: number, secure: boolean): void {
  reply.setCookie(SESSION_COOKIE, secret, { path: '/', httpOnly: true, sameSite: 'strict', secure, expires: new Date(expiresAt) });
}

export function clearSessionCookie(reply: FastifyReply, secure: boolean): void {
  reply.clearCookie(SESSION_COOKIE, { path: '/', httpOnly: true, sameSite: 'strict', secure });
}
