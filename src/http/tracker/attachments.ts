// Tracker attachments: upload to an issue or comment, import, temporary files, list, get, download, thumbnails, delete.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Affix } from '../../core/affix.js';
import type { ImportedOrigin, UploadTarget } from '../../core/attachments.js';
import { AffixError } from '../../core/errors.js';
import type { Actor } from '../../core/identity.js';
import type { Attachment } from '../../core/model.js';
import { DEFAULT_THUMBNAIL_SIZE, squareThumbnail, THUMBNAIL_SIZES, type ThumbnailFormat } from '../../media/thumbnailer.js';
import { servedAttachment, servedThumbnail } from '../content.js';
import { receiveOneFile, refuseDeclaredOversize, type BodyTimeouts, type UploadErrors } from '../upload.js';
import { paginate } from './pagination.js';
import { attachmentIdOf, CommentParams, commentOf, IdParams, IssueParams, issueOf, queryFileName, type TrackerOptions } from './params.js';
import { attachmentJson } from './render.js';

const IssueFileParams = Type.Object({ issue: Type.String(), id: Type.String() });
const DownloadParams = Type.Object({ issue: Type.String(), id: Type.String(), filename: Type.String() });
const TempDownloadParams = Type.Object({ id: Type.String(), filename: Type.String() });
const UploadQuery = Type.Object({ filename: Type.Optional(Type.String({ description: 'Name to store the file under' })) });
const ImportQuery = Type.Object({
  filename: Type.Optional(Type.String()),
  createdAt: Type.Optional(Type.String({ description: 'e.g. 2024-11-17T19:18:36.433+0000' })),
  createdBy: Type.Optional(Type.String({ description: 'login or id of the author' })),
});
const ThumbnailQuery = Type.Object({
  size: Type.Optional(Type.String({ description: `Longest side in pixels: one of ${THUMBNAIL_SIZES.join(', ')} (default ${DEFAULT_THUMBNAIL_SIZE})` })),
  format: Type.Optional(Type.Union([Type.Literal('webp'), Type.Literal('jpeg')], { description: 'webp (default) or jpeg' })),
});

const TRACKER_UPLOAD_ERRORS: UploadErrors = {
  notMultipart: () => new AffixError('unsupported_media', 'Expected a multipart/form-data body with a part named file'),
  noFile: () => new AffixError('bad_request', 'The request has no file part', { file: 'required' }),
  severalFiles: () => new AffixError('bad_request', 'Send one file per request', { file: 'only one file part is accepted' }),
};

export async function attachmentRoutes(instance: FastifyInstance, { core, baseUrl, send, timeouts }: TrackerOptions): Promise<void> {
  const app = instance.withTypeProvider<TypeBoxTypeProvider>();

  // Runs after the auth hook, so the org's own limit applies.
  const refuseOversize = async (request: FastifyRequest) => refuseDeclaredOversize(core, request);

  const issueAttachmentOf = (request: { actor: Actor; params: { issue: string; id: string } }) =>
    core.issues.getAttachment(request.actor, request.params.issue, attachmentIdOf(request.params.id));
  const fileOf = (request: { actor: Actor; params: { id: string } }) => core.attachments.get(request.actor, attachmentIdOf(request.params.id));

  const upload = async (request: FastifyRequest, reply: FastifyReply, target: UploadTarget, imported?: ImportedOrigin) => {
    const attachment = await receiveUpload(core, request, timeouts, target, imported);
    return reply.code(201).send(attachmentJson(baseUrl(request), attachment));
  };

  const importedOrigin = async (request: FastifyRequest): Promise<ImportedOrigin> => {
    const query = request.query as { filename?: string; createdAt?: string; createdBy?: string };
    queryFileName(query.filename);
    const createdAt = query.createdAt === undefined ? Date.now() : parseTrackerDate(query.createdAt);
    if (Number.isNaN(createdAt)) throw new AffixError('unprocessable', `Invalid createdAt ${query.createdAt}`, { createdAt: 'invalid date' });
    return { owner: await core.identity.importAuthor(request.actor, query.createdBy), createdAt };
  };

  const thumbnail = async (request: FastifyRequest, reply: FastifyReply, attachment: Attachment) => {
    const query = request.query as { size?: string; format?: ThumbnailFormat };
    const size = query.size === undefined ? DEFAULT_THUMBNAIL_SIZE : Number(query.size);
    if (!(THUMBNAIL_SIZES as readonly number[]).includes(size)) {
      throw new AffixError('bad_request', `size must be one of ${THUMBNAIL_SIZES.join(', ')}`, { size: 'not allowed' });
    }
    const made = await core.thumbnails.get(attachment, squareThumbnail(size, query.format ?? 'webp'));
    return send(request, reply, servedThumbnail(attachment, made));
  };

  // --- an issue's files, and its comments' ---

  app.get('/v2/issues/:issue/attachments', { schema: { params: IssueParams } }, async (request, reply) => {
    const issue = await issueOf(core, request);
    return paginate(
      request,
      reply,
      baseUrl(request),
      (page) => core.issues.listAttachments(request.actor, issue, page),
      () => core.issues.countAttachments(request.actor, issue),
      (a) => attachmentJson(baseUrl(request), a),
    );
  });

  app.post(
    '/v2/issues/:issue/attachments',
    { schema: { params: IssueParams, querystring: UploadQuery }, onRequest: refuseOversize },
    async (request, reply) => upload(request, reply, { kind: 'issue', issue: await issueOf(core, request) }),
  );

  // The Ruby client attaches straight to a comment.
  app.post(
    '/v2/issues/:issue/comments/:commentId/attachments',
    { schema: { params: CommentParams, querystring: UploadQuery }, onRequest: refuseOversize },
    async (request, reply) => upload(request, reply, { kind: 'issue', ...(await commentOf(core, request)) }),
  );

  // Imports keep the author and time given (`createdBy` login or id, `createdAt` in Tracker's format).
  app.post(
    '/v2/issues/:issue/attachments/_import',
    { schema: { params: IssueParams, querystring: ImportQuery }, onRequest: refuseOversize },
    async (request, reply) => {
      const issue = await issueOf(core, request);
      return upload(request, reply, { kind: 'issue', issue }, await importedOrigin(request));
    },
  );

  app.post(
    '/v2/issues/:issue/comments/:commentId/attachments/_import',
    { schema: { params: CommentParams, querystring: ImportQuery }, onRequest: refuseOversize },
    async (request, reply) => {
      const target = await commentOf(core, request);
      return upload(request, reply, { kind: 'issue', ...target }, await importedOrigin(request));
    },
  );

  app.get('/v2/issues/:issue/attachments/:id', { schema: { params: IssueFileParams } }, async (request) => {
    return attachmentJson(baseUrl(request), await issueAttachmentOf(request));
  });

  // The name segment is for people and browsers; the id decides which file is served.
  // Downloads answer HEAD themselves: Fastify's automatic HEAD would read the file and zero Content-Length.
  app.route({
    method: ['GET', 'HEAD'],
    url: '/v2/issues/:issue/attachments/:id/:filename',
    schema: { params: DownloadParams },
    handler: async (request, reply) => send(request, reply, servedAttachment(await issueAttachmentOf(request))),
  });

  app.route({
    method: ['GET', 'HEAD'],
    url: '/v2/issues/:issue/thumbnails/:id',
    schema: { params: IssueFileParams, querystring: ThumbnailQuery },
    handler: async (request, reply) => thumbnail(request, reply, await issueAttachmentOf(request)),
  });

  app.delete('/v2/issues/:issue/attachments/:id', { schema: { params: IssueFileParams } }, async (request, reply) => {
    await core.attachments.delete(request.actor, await issueAttachmentOf(request));
    return reply.code(204).send();
  });

  // --- temporary files (and any file by id) ---

  app.post('/v2/attachments', { schema: { querystring: UploadQuery }, onRequest: refuseOversize }, async (request, reply) =>
    upload(request, reply, { kind: 'temporary' }),
  );

  app.get('/v2/attachments/:id', { schema: { params: IdParams } }, async (request) => attachmentJson(baseUrl(request), await fileOf(request)));

  app.route({
    method: ['GET', 'HEAD'],
    url: '/v2/attachments/:id/:filename',
    schema: { params: TempDownloadParams },
    handler: async (request, reply) => send(request, reply, servedAttachment(await fileOf(request))),
  });

  app.route({
    method: ['GET', 'HEAD'],
    url: '/v2/attachments/:id/thumbnail',
    schema: { params: IdParams, querystring: ThumbnailQuery },
    handler: async (request, reply) => {
      const attachment = await fileOf(request);
      // This path is also the content URL of a file named "thumbnail"; one that has no thumbnail is served itself.
      if (attachment.name === 'thumbnail' && attachment.width === null) return send(request, reply, servedAttachment(attachment));
      return thumbnail(request, reply, attachment);
    },
  });

  app.delete('/v2/attachments/:id', { schema: { params: IdParams } }, async (request, reply) => {
    await core.attachments.delete(request.actor, await fileOf(request));
    return reply.code(204).send();
  });
}

/** Name rule: `?filename=`, else a `filename` field (before or after the file), else the part's name. */
function receiveUpload(core: Affix, request: FastifyRequest, timeouts: BodyTimeouts, target: UploadTarget, imported?: ImportedOrigin) {
  return receiveOneFile(core, request, TRACKER_UPLOAD_ERRORS, timeouts, ({ staged, partName, fields }) =>
    core.attachments.commit(
      request.actor,
      staged,
      (request.query as { filename?: string }).filename || fields.get('filename') || partName || 'file',
      target,
      imported,
    ),
  );
}

/** `2024-11-17T19:18:36.433+0000` (Tracker's form) or any ISO 8601 time; NaN when it is neither. */
function parseTrackerDate(text: string): number {
  return Date.parse(text.trim().replace(/([+-]\d\d)(\d\d)$/, '$1:$2'));
}
