// Zulip's messages: send and edit; a message claims the uploads its content links to.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AffixError } from '../../core/errors.js';
import { parseId } from '../../core/ids.js';
import { parseList, readForm } from '../form.js';
import type { ZulipOptions } from './params.js';
import { success } from './render.js';

/** Zulip's names for a message's type, and ours. */
const MESSAGE_TYPES = new Map<string, 'stream' | 'private'>([
  ['stream', 'stream'],
  ['channel', 'stream'],
  ['private', 'private'],
  ['direct', 'private'],
]);

export async function messageRoutes(app: FastifyInstance, { core, timeouts, origins }: ZulipOptions): Promise<void> {
  app.post('/api/v1/messages', async (request) => {
    const form = await readForm(request, timeouts);
    const type = MESSAGE_TYPES.get(form.get('type') ?? '');
    if (!type) throw new AffixError('bad_request', "Invalid message type; expected 'stream', 'channel', 'private' or 'direct'");
    const message = await core.chat.send(
      request.actor,
      { type, to: parseList(form.get('to')), topic: form.get('topic') ?? form.get('subject') ?? null, content: form.get('content') ?? '' },
      origins(request),
    );
    return success({ id: message.id });
  });

  app.patch('/api/v1/messages/:id', async (request: FastifyRequest<{ Params: { id: string } }>) => {
    const id = parseId(request.params.id);
    if (id === null) throw new AffixError('bad_request', 'Invalid message(s)');
    const content = (await readForm(request, timeouts)).get('content');
    if (content === undefined) throw new AffixError('bad_request', 'Nothing to change');
    await core.chat.edit(request.actor, id, content, origins(request));
    return success({});
  });
}
