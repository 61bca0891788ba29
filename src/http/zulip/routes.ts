// The Zulip dialect (`/api/v1/...`, `/user_uploads/...`): its auth, then one route file per section of Zulip's docs.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Affix } from '../../core/affix.js';
import { AffixError } from '../../core/errors.js';
import type { Actor } from '../../core/identity.js';
import { parseCredential } from '../credentials.js';
import { mayReuseLogin } from '../login-reuse.js';
import { attachmentRoutes } from './attachments.js';
import { messageRoutes } from './messages.js';
import type { ZulipOptions } from './params.js';
import { registerRoutes, serverSettingsRoutes } from './server-settings.js';
import { thumbnailRoutes } from './thumbnails.js';
import { zulipTusRoutes } from './tus.js';
import { signedUploadRoutes, uploadRoutes } from './uploads.js';

/** HTTP Basic `email:api_key`, as zulip-js and the Python client send it. */
async function authenticate(core: Affix, request: FastifyRequest): Promise<Actor> {
  const credential = parseCredential(request.headers.authorization);
  if (credential?.kind !== 'basic') throw new AffixError('unauthenticated', "Missing 'Authorization' header.");
  return core.identity.authenticateApiKey(credential.email, credential.apiKey, { reuse: mayReuseLogin(request) });
}

export async function zulipRoutes(app: FastifyInstance, options: ZulipOptions): Promise<void> {
  // Without credentials: signed URLs (the token is the credential) and the server settings.
  await app.register(signedUploadRoutes, options);
  await app.register(serverSettingsRoutes, options);
  await app.register(async (authed) => {
    authed.decorateRequest('actor', null as unknown as Actor);
    authed.addHook('onRequest', async (request) => {
      request.actor = await authenticate(options.core, request);
    });
    for (const section of [uploadRoutes, zulipTusRoutes, thumbnailRoutes, attachmentRoutes, messageRoutes, registerRoutes]) await authed.register(section, options);
  });
}
