// Zulip uploads: `POST /api/v1/user_uploads`, the files under `/user_uploads/...`, and their signed temporary URLs.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Affix } from '../../core/affix.js';
import { AffixError } from '../../core/errors.js';
import type { Attachment } from '../../core/model.js';
import { servedAttachment } from '../content.js';
import { receiveOneFile, refuseDeclaredOversize, type BodyTimeouts, type UploadErrors } from '../upload.js';
import { pathIdOf, type UploadPathRequest, type ZulipOptions } from './params.js';
import { success, uploadUrl } from './render.js';

const ZULIP_UPLOAD_ERRORS: UploadErrors = {
  notMultipart: () => new AffixError('bad_request', 'You must specify a file to upload'),
  noFile: () => new AffixError('bad_request', 'You must specify a file to upload'),
  severalFiles: () => new AffixError('bad_request', 'You may only upload one file at a time'),
};

/** Signed URLs work without credentials: the token is the credential. Registered outside the auth hook. */
export async function signedUploadRoutes(app: FastifyInstance, { core, send }: ZulipOptions): Promise<void> {
  app.route({
    method: ['GET', 'HEAD'],
    url: '/user_uploads/temporary/:token/:filename',
    handler: async (request: FastifyRequest<{ Params: { token: string } }>, reply) =>
      send(request, reply, servedAttachment(await core.attachments.redeemDownloadToken(request.params.token))),
  });
}

export async function uploadRoutes(app: FastifyInstance, { core, timeouts, send }: ZulipOptions): Promise<void> {
  app.post(
    '/api/v1/user_uploads',
    { onRequest: async (request) => refuseDeclaredOversize(core, request) },
    async (request) => {
      const attachment = await receiveUpload(core, request, timeouts);
      return success({ uri: uploadUrl(attachment.pathId), url: uploadUrl(attachment.pathId), filename: attachment.name });
    },
  );

  // The bytes, to members of the realm; `download/` always as an attachment.
  const serve = (forceDownload: boolean) => async (request: UploadPathRequest, reply: FastifyReply) => {
    const attachment = await core.attachments.getByPath(request.actor, pathIdOf(request.params.realm, request.params['*'], request.actor));
    return send(request, reply, { ...servedAttachment(attachment), forceDownload });
  };
  app.route({ method: ['GET', 'HEAD'], url: '/user_uploads/download/:realm/*', handler: serve(true) });
  app.route({ method: ['GET', 'HEAD'], url: '/user_uploads/:realm/*', handler: serve(false) });

  app.get('/api/v1/user_uploads/:realm/*', async (request: UploadPathRequest) => {
    const attachment = await core.attachments.getByPath(request.actor, pathIdOf(request.params.realm, request.params['*'], request.actor));
    const token = await core.attachments.temporaryDownloadToken(request.actor, attachment);
    return success({ url: `/user_uploads/temporary/${token}/${encodeURIComponent(attachment.name)}` });
  });
}

/** A Zulip upload is temporary until a message claims it. */
function receiveUpload(core: Affix, request: FastifyRequest, timeouts: BodyTimeouts): Promise<Attachment> {
  return receiveOneFile(core, request, ZULIP_UPLOAD_ERRORS, timeouts, ({ staged, partName }) =>
    core.attachments.commit(request.actor, staged, partName ?? 'uploaded-file', { kind: 'temporary' }),
  );
}
