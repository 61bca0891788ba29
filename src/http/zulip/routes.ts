// The Zulip dialect (`/api/v1/...`, `/user_uploads/...`): its auth, then one route file per section of Zulip's docs.
import type { FastifyInstance } from 'fastify';
import type { Actor } from '../../core/identity.js';
import { attachmentRoutes } from './attachments.js';
import { messageRoutes } from './messages.js';
import { authenticate, type ZulipOptions } from './params.js';
import { registerRoutes, serverSettingsRoutes } from './server-settings.js';
import { thumbnailRoutes } from './thumbnails.js';
import { zulipTusRoutes } from './tus.js';
import { signedUploadRoutes, uploadRoutes } from './uploads.js';

export async function zulipRoutes(app: FastifyInstance, options: ZulipOptions): Promise<void> {
  // Without credentials: signed URLs (the token is the credential) and the server settings.
  await app.register(signedUploadRoutes, options);
  await app.register(serverSettingsRoutes, options);
  await app.register(async (authed) => {
    authed.decorateRequest('actor', null as unknown as Actor);
    authed.addHook('onRequest', async (request) => {
      request.actor = await authenticate(options.core, request, options.origins);
    });
    for (const section of [uploadRoutes, zulipTusRoutes, thumbnailRoutes, attachmentRoutes, messageRoutes, registerRoutes]) await authed.register(section, options);
  });
}
