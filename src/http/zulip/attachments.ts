// Zulip's attachments: the caller's uploads with the messages that link them and `upload_space_used`, and delete.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AffixError } from '../../core/errors.js';
import { parseId } from '../../core/ids.js';
import type { ZulipOptions } from './params.js';
import { attachmentJson, success } from './render.js';

export async function attachmentRoutes(app: FastifyInstance, { core }: ZulipOptions): Promise<void> {
  app.get('/api/v1/attachments', async (request) => {
    const [attachments, used] = await Promise.all([core.attachments.listOwn(request.actor), core.attachments.spaceUsed(request.actor)]);
    return success({ attachments: attachments.map(attachmentJson), upload_space_used: used });
  });

  app.delete('/api/v1/attachments/:id', async (request: FastifyRequest<{ Params: { id: string } }>) => {
    const id = parseId(request.params.id);
    if (id === null) throw new AffixError('bad_request', 'Invalid attachment');
    await core.attachments.deleteOwn(request.actor, id);
    return success({});
  });
}
