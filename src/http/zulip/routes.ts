import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { parseId, type Actor, type Affix } from '../../core/affix.js';
import { AffixError } from '../../core/errors.js';
import type { Attachment } from '../../core/model.js';
import { receiveOneFile, refuseDeclaredOversize, type BodyTimeouts, type UploadErrors } from '../upload.js';
import { servedAttachment, type ContentSender } from '../content.js';
import { parseList, readForm } from '../form.js';
import { mayReuseLogin } from '../login-reuse.js';
import { parseCredential } from '../credentials.js';
import { attachmentJson, success, uploadUrl } from './render.js';

export interface ZulipOptions {
  core: Affix;
  timeouts: BodyTimeouts;
  /** This server's own `scheme://host` values for a request: absolute upload links under them count. */
  origins: (request: FastifyRequest) => string[];
  send: ContentSender;
}

/** Zulip's names for a message's type, and ours. */
const MESSAGE_TYPES = new Map<string, 'stream' | 'private'>([
  ['stream', 'stream'],
  ['channel', 'stream'],
  ['private', 'private'],
  ['direct', 'private'],
]);

/** HTTP Basic `email:api_key`, as zulip-js and the Python client send it. */
async function authenticate(core: Affix, request: FastifyRequest): Promise<Actor> {
  const credential = parseCredential(request.headers.authorization);
  if (credential?.kind !== 'basic') throw new AffixError('unauthenticated', "Missing 'Authorization' header.");
  return core.authenticateApiKey(credential.email, credential.apiKey, { reuse: mayReuseLogin(request) });
}

/** `/user_uploads/<realm>/<rest>` names a file of the caller's realm; another realm's is 404. */
function pathIdOf(request: FastifyRequest<{ Params: { realm: string; '*': string } }>, actor: Actor): string {
  if (request.params.realm !== String(actor.org.id)) throw new AffixError('not_found', 'File not found');
  return `${request.params.realm}/${request.params['*']}`;
}

/** The Zulip dialect: `/api/v1/...` and `/user_uploads/...`, over the same core as Tracker's. */
export async function zulipRoutes(app: FastifyInstance, { core, timeouts, origins, send }: ZulipOptions): Promise<void> {
  // Signed URLs work without credentials: the token is the credential.
  app.route({
    method: ['GET', 'HEAD'],
    url: '/user_uploads/temporary/:token/:filename',
    handler: async (request: FastifyRequest<{ Params: { token: string } }>, reply) =>
      send(request, reply, servedAttachment(await core.redeemDownloadToken(request.params.token))),
  });

  await app.register(async (authed) => {
    authed.decorateRequest('actor', null as unknown as Actor);
    authed.addHook('onRequest', async (request) => {
      request.actor = await authenticate(core, request);
    });

    authed.post(
      '/api/v1/user_uploads',
      { onRequest: async (request) => refuseDeclaredOversize(core, request) },
      async (request) => {
        const attachment = await receiveUpload(core, request, timeouts);
        return success({ uri: uploadUrl(attachment.pathId), url: uploadUrl(attachment.pathId), filename: attachment.name });
      },
    );

    authed.get('/api/v1/attachments', async (request) => {
      const [attachments, used] = await Promise.all([core.listOwnAttachments(request.actor), core.uploadSpaceUsed(request.actor)]);
      return success({ attachments: attachments.map(attachmentJson), upload_space_used: used });
    });

    authed.delete('/api/v1/attachments/:id', async (request: FastifyRequest<{ Params: { id: string } }>) => {
      const id = parseId(request.params.id);
      if (id === null) throw new AffixError('not_found', 'Invalid attachment');
      await core.deleteOwnAttachment(request.actor, id);
      return success({});
    });

    authed.post('/api/v1/messages', async (request) => {
      const form = await readForm(request, timeouts);
      const type = MESSAGE_TYPES.get(form.get('type') ?? '');
      if (!type) throw new AffixError('bad_request', "Invalid message type; expected 'stream', 'channel', 'private' or 'direct'");
      const message = await core.sendMessage(
        request.actor,
        { type, to: parseList(form.get('to')), topic: form.get('topic') ?? form.get('subject') ?? null, content: form.get('content') ?? '' },
        origins(request),
      );
      return success({ id: message.id });
    });

    authed.patch('/api/v1/messages/:id', async (request: FastifyRequest<{ Params: { id: string } }>) => {
      const id = parseId(request.params.id);
      if (id === null) throw new AffixError('bad_request', 'Invalid message(s)');
      const content = (await readForm(request, timeouts)).get('content');
      if (content === undefined) throw new AffixError('bad_request', 'Nothing to change');
      await core.editMessage(request.actor, id, content, origins(request));
      return success({});
    });

    // The bytes, to members of the realm; `download/` always as an attachment.
    const serve = (forceDownload: boolean) => async (request: FastifyRequest<{ Params: { realm: string; '*': string } }>, reply: FastifyReply) => {
      const attachment = await core.getAttachmentByPath(request.actor, pathIdOf(request, request.actor));
      return send(request, reply, { ...servedAttachment(attachment), forceDownload });
    };
    authed.route({ method: ['GET', 'HEAD'], url: '/user_uploads/download/:realm/*', handler: serve(true) });
    authed.route({ method: ['GET', 'HEAD'], url: '/user_uploads/:realm/*', handler: serve(false) });

    authed.get('/api/v1/user_uploads/:realm/*', async (request: FastifyRequest<{ Params: { realm: string; '*': string } }>) => {
      const attachment = await core.getAttachmentByPath(request.actor, pathIdOf(request, request.actor));
      const token = await core.temporaryDownloadToken(request.actor, attachment);
      return success({ url: `/user_uploads/temporary/${token}/${encodeURIComponent(attachment.name)}` });
    });
  });
}

const ZULIP_UPLOAD_ERRORS: UploadErrors = {
  notMultipart: () => new AffixError('bad_request', 'You must specify a file to upload'),
  noFile: () => new AffixError('bad_request', 'You must specify a file to upload'),
  severalFiles: () => new AffixError('bad_request', 'You may only upload one file at a time'),
};

/** A Zulip upload is temporary until a message claims it. */
function receiveUpload(core: Affix, request: FastifyRequest, timeouts: BodyTimeouts): Promise<Attachment> {
  return receiveOneFile(core, request, ZULIP_UPLOAD_ERRORS, timeouts, ({ staged, partName }) =>
    core.commitUpload(request.actor, staged, partName ?? 'uploaded-file', { kind: 'temporary' }),
  );
}
