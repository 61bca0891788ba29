// What the Zulip route files share: their options, and the `path_id` a `/user_uploads/<realm>/...` URL names.
import type { FastifyRequest } from 'fastify';
import type { Affix } from '../../core/affix.js';
import { AffixError } from '../../core/errors.js';
import type { Actor } from '../../core/identity.js';
import type { ContentSender } from '../content.js';
import { parseCredential } from '../credentials.js';
import { mayReuseLogin } from '../login-reuse.js';
import type { BodyTimeouts } from '../upload.js';
import { sessionActor, type Origins } from '../session.js';

export interface ZulipOptions {
  core: Affix;
  /** Absolute base of this server's URLs for a request (the realm's URL). */
  baseUrl: (request: FastifyRequest) => string;
  timeouts: BodyTimeouts;
  /** This server's own `scheme://host` values for a request: absolute upload links under them count, and session writes come from them. */
  origins: Origins;
  send: ContentSender;
}

export type UploadPathRequest = FastifyRequest<{ Params: { realm: string; '*': string } }>;

/** `/user_uploads/<realm>/<rest>` names a file of the caller's realm; another realm's is 404. */
export function pathIdOf(realm: string, rest: string, actor: Actor): string {
  if (realm !== String(actor.org.id)) throw new AffixError('not_found', 'File not found');
  return `${realm}/${rest}`;
}

/** HTTP Basic `email:api_key`, as zulip-js and the Python client send it. */
/** HTTP Basic with the API key, or the web UI's session cookie. */
export async function authenticate(core: Affix, request: FastifyRequest, origins: Origins): Promise<Actor> {
  const credential = parseCredential(request.headers.authorization);
  if (!credential) {
    const signedIn = await sessionActor(core, request, origins);
    if (signedIn) return signedIn;
  }
  if (credential?.kind !== 'basic') throw new AffixError('unauthenticated', "Missing 'Authorization' header.");
  return core.identity.authenticateApiKey(credential.email, credential.apiKey, { reuse: mayReuseLogin(request) });
}
