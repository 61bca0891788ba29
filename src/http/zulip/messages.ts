// Zulip's messages: send, get, edit and delete; a message claims the uploads its content links to.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AffixError } from '../../core/errors.js';
import { parseId } from '../../core/ids.js';
import { parseList, readForm } from '../form.js';
import type { ZulipOptions } from './params.js';
import { attachmentJson, messageJson, success } from './render.js';

/** Zulip's names for a message's type, and ours. */
const MESSAGE_TYPES = new Map<string, 'stream' | 'private'>([
  ['stream', 'stream'],
  ['channel', 'stream'],
  ['private', 'private'],
  ['direct', 'private'],
]);

function messageIdOf(raw: string): number {
  const id = parseId(raw);
  if (id === null) throw new AffixError('bad_request', 'Invalid message(s)');
  return id;
}

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

  // `raw_content` and `message` (its content always the Markdown sent: Affix renders no HTML).
  app.get('/api/v1/messages/:id', async (request: FastifyRequest<{ Params: { id: string } }>) => {
    const message = await core.chat.get(request.actor, messageIdOf(request.params.id));
    return success({ raw_content: message.content, message: messageJson(message, request.actor.org.extId) });
  });

  // `detached_uploads` (Zulip 10): the caller's uploads the edit unlinked that no message links any more.
  app.patch('/api/v1/messages/:id', async (request: FastifyRequest<{ Params: { id: string } }>) => {
    const id = messageIdOf(request.params.id);
    const content = (await readForm(request, timeouts)).get('content');
    if (content === undefined) throw new AffixError('bad_request', 'Nothing to change');
    const { detached } = await core.chat.edit(request.actor, id, content, origins(request));
    return success({ detached_uploads: detached.map((attachment) => attachmentJson({ attachment, messages: [] })) });
  });

  app.delete('/api/v1/messages/:id', async (request: FastifyRequest<{ Params: { id: string } }>) => {
    await core.chat.delete(request.actor, messageIdOf(request.params.id));
    return success({});
  });
}
