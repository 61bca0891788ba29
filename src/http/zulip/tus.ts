// Zulip's `/api/v1/tus`: a finished upload is a normal Zulip upload, and the final PATCH answers `{"url", "filename"}` as Zulip's tusd hook does.
import type { FastifyInstance } from 'fastify';
import { tusRoutes, type TusDialect } from '../tus/protocol.js';
import type { ZulipOptions } from './params.js';
import { uploadUrl } from './render.js';

export async function zulipTusRoutes(app: FastifyInstance, options: ZulipOptions): Promise<void> {
  const { core } = options;
  const dialect: TusDialect = {
    // A Zulip upload is temporary until a message claims it; metadata other than `filename` is ignored.
    target: async () => 'temporary',
    resolve: async () => ({ target: { kind: 'temporary' } }),
    answer: async (request, id) => {
      const attachment = await core.attachments.get(request.actor, id);
      return { url: uploadUrl(attachment.pathId), filename: attachment.name };
    },
  };
  await app.register(tusRoutes, { core, endpoint: '/api/v1/tus', baseUrl: options.baseUrl, timeouts: options.timeouts, dialect });
}
