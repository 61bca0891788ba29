import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { parseAttachmentIds, parseId, type Actor, type Affix, type ImportedOrigin, type UploadTarget } from '../../core/affix.js';
import { AffixError, notFound } from '../../core/errors.js';
import { mayReuseLogin } from '../login-reuse.js';
import { receiveOneFile, refuseDeclaredOversize, type BodyTimeouts, type UploadErrors } from '../upload.js';
import { parseCredential } from '../credentials.js';
import { servedAttachment, servedThumbnail, type ContentSender } from '../content.js';
import { DEFAULT_THUMBNAIL_SIZE, THUMBNAIL_SIZES, type ThumbnailFormat } from '../../media/thumbnailer.js';
import type { Attachment } from '../../core/model.js';
import { entityRoutes } from './entities.js';
import { paginate } from './pagination.js';
import { attachmentJson, commentJson, fieldsJson, issueJson, userJson } from './render.js';

export interface TrackerOptions {
  core: Affix;
  /** Absolute base of response URLs for this request. */
  baseUrl: (request: FastifyRequest) => string;
  /** Answers downloads (bytes, ranges, 304s, or an X-Accel-Redirect). */
  send: ContentSender;
  timeouts: BodyTimeouts;
}

declare module 'fastify' {
  interface FastifyRequest {
    actor: Actor;
  }
}

const IssueParams = Type.Object({ issue: Type.String({ description: 'Issue key (QUEUE-1) or 24-hex id' }) });
const IdParams = Type.Object({ id: Type.String({ description: 'Attachment id' }) });
const IssueFileParams = Type.Object({ issue: Type.String(), id: Type.String() });
const DownloadParams = Type.Object({ issue: Type.String(), id: Type.String(), filename: Type.String() });
const TempDownloadParams = Type.Object({ id: Type.String(), filename: Type.String() });
const UploadQuery = Type.Object({ filename: Type.Optional(Type.String({ description: 'Name to store the file under' })) });
const ThumbnailQuery = Type.Object({
  size: Type.Optional(Type.String({ description: `Longest side in pixels: one of ${THUMBNAIL_SIZES.join(', ')} (default ${DEFAULT_THUMBNAIL_SIZE})` })),
  format: Type.Optional(Type.Union([Type.Literal('webp'), Type.Literal('jpeg')], { description: 'webp (default) or jpeg' })),
});
const AttachmentIds = Type.Optional(Type.Array(Type.Union([Type.String(), Type.Integer()])));
const NewIssueBody = Type.Object({
  queue: Type.Union([Type.String(), Type.Object({ key: Type.String() })]),
  summary: Type.String(),
  description: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  attachmentIds: AttachmentIds,
});
const CommentParams = Type.Object({ issue: Type.String(), commentId: Type.String() });
const ImportQuery = Type.Object({
  filename: Type.Optional(Type.String()),
  createdAt: Type.Optional(Type.String({ description: 'e.g. 2024-11-17T19:18:36.433+0000' })),
  createdBy: Type.Optional(Type.String({ description: 'login or id of the author' })),
});
const IssueChanges = Type.Optional(
  Type.Object({
    summary: Type.Optional(Type.String()),
    description: Type.Optional(Type.Union([Type.String(), Type.Null()])),
    attachmentIds: AttachmentIds,
    descriptionAttachmentIds: AttachmentIds,
  }),
);
const CommentChanges = Type.Optional(Type.Object({ text: Type.Optional(Type.String()), attachmentIds: AttachmentIds }));
const NewCommentBody = Type.Object({ text: Type.Optional(Type.String()), attachmentIds: AttachmentIds });

/** The Tracker dialect (`/v2`, and `/v3` rewritten to it): routes, auth, and Tracker's JSON shapes. */
export async function trackerRoutes(instance: FastifyInstance, { core, baseUrl, send, timeouts }: TrackerOptions): Promise<void> {
  const app = instance.withTypeProvider<TypeBoxTypeProvider>();
  app.decorateRequest('actor', null as unknown as Actor);

  app.addHook('onRequest', async (request) => {
    const credential = parseCredential(request.headers.authorization);
    const token = credential?.kind === 'token' ? credential.token : undefined;
    request.actor = await core.authenticate(token, orgHeader(request), { reuse: mayReuseLogin(request) });
  });

  // Runs after the auth hook, so the org's own limit applies.
  const refuseOversize = async (request: FastifyRequest) => refuseDeclaredOversize(core, request);

  const issueOf = (request: { actor: Actor; params: { issue: string } }) => core.getIssue(request.actor, request.params.issue);
  const issueAttachmentOf = (request: { actor: Actor; params: { issue: string; id: string } }) =>
    core.getIssueAttachment(request.actor, request.params.issue, idOf(request.params.id));
  const idOf = (raw: string) => {
    const id = parseId(raw);
    if (id === null) throw notFound('Attachment');
    return id;
  };

  const upload = async (request: FastifyRequest, reply: FastifyReply, target: UploadTarget, imported?: ImportedOrigin) => {
    const attachment = await receiveUpload(core, request, timeouts, target, imported);
    return reply.code(201).send(attachmentJson(baseUrl(request), attachment));
  };

  const importedOrigin = async (request: FastifyRequest): Promise<ImportedOrigin> => {
    const query = request.query as { filename?: string; createdAt?: string; createdBy?: string };
    if (query.filename !== undefined && query.filename.length > 255) {
      throw new AffixError('unprocessable', 'filename must be at most 255 characters', { filename: 'too long' });
    }
    const createdAt = query.createdAt === undefined ? Date.now() : parseTrackerDate(query.createdAt);
    if (Number.isNaN(createdAt)) throw new AffixError('unprocessable', `Invalid createdAt ${query.createdAt}`, { createdAt: 'invalid date' });
    return { owner: await core.importAuthor(request.actor, query.createdBy), createdAt };
  };

  const thumbnail = async (request: FastifyRequest, reply: FastifyReply, attachment: Attachment) => {
    const query = request.query as { size?: string; format?: ThumbnailFormat };
    const size = query.size === undefined ? DEFAULT_THUMBNAIL_SIZE : Number(query.size);
    if (!(THUMBNAIL_SIZES as readonly number[]).includes(size)) {
      throw new AffixError('bad_request', `size must be one of ${THUMBNAIL_SIZES.join(', ')}`, { size: 'not allowed' });
    }
    const made = await core.thumbnail(attachment, size, query.format ?? 'webp');
    return send(request, reply, servedThumbnail(attachment, made));
  };

  // --- users and fields (what real clients read around attachments) ---

  app.get('/v2/myself', async (request) => userJson(baseUrl(request), request.actor.user));
  app.get('/v2/users/:id', { schema: { params: IdParams } }, async (request) => {
    const id = parseId(request.params.id);
    if (id === null) throw notFound('User');
    return userJson(baseUrl(request), await core.getUser(request.actor, id));
  });
  app.get('/v2/fields', async (request) => fieldsJson(baseUrl(request)));

  // --- issues and comments ---

  app.post('/v2/issues', { schema: { body: NewIssueBody } }, async (request, reply) => {
    const body = request.body;
    const issue = await core.createIssue(request.actor, {
      queue: typeof body.queue === 'string' ? body.queue : body.queue.key,
      summary: body.summary,
      description: body.description ?? null,
      attachmentIds: parseAttachmentIds(body.attachmentIds),
    });
    const attachments = await core.listIssueAttachments(request.actor, issue);
    return reply.code(201).send(issueJson(baseUrl(request), issue, attachments));
  });

  app.get('/v2/issues/:issue', { schema: { params: IssueParams } }, async (request) => {
    const issue = await issueOf(request);
    return issueJson(baseUrl(request), issue, await core.listIssueAttachments(request.actor, issue));
  });

  app.get('/v2/issues/:issue/comments', { schema: { params: IssueParams } }, async (request, reply) => {
    const issue = await issueOf(request);
    const attachments = await core.listIssueAttachments(request.actor, issue);
    return paginate(
      request,
      reply,
      baseUrl(request),
      (page) => core.listComments(request.actor, issue, page),
      () => core.countComments(request.actor, issue),
      (c) => commentJson(baseUrl(request), c, attachments),
    );
  });

  app.get('/v2/issues/:issue/comments/:commentId', { schema: { params: CommentParams } }, async (request) => {
    const issue = await issueOf(request);
    const comment = await core.getComment(request.actor, issue, request.params.commentId);
    return commentJson(baseUrl(request), comment, await core.listIssueAttachments(request.actor, issue));
  });

  app.patch('/v2/issues/:issue/comments/:commentId', { schema: { params: CommentParams, body: CommentChanges } }, async (request) => {
    const issue = await issueOf(request);
    const comment = await core.getComment(request.actor, issue, request.params.commentId);
    const updated = await core.updateComment(request.actor, comment, {
      text: request.body?.text,
      attachmentIds: parseAttachmentIds(request.body?.attachmentIds),
    });
    return commentJson(baseUrl(request), updated, await core.listIssueAttachments(request.actor, issue));
  });

  app.patch('/v2/issues/:issue', { schema: { params: IssueParams, body: IssueChanges } }, async (request) => {
    const issue = await issueOf(request);
    const body = request.body ?? {};
    const updated = await core.updateIssue(request.actor, issue, {
      summary: body.summary,
      description: body.description,
      attachmentIds: [...parseAttachmentIds(body.attachmentIds), ...parseAttachmentIds(body.descriptionAttachmentIds)],
    });
    return issueJson(baseUrl(request), updated, await core.listIssueAttachments(request.actor, updated));
  });

  app.post('/v2/issues/:issue/comments', { schema: { params: IssueParams, body: NewCommentBody } }, async (request, reply) => {
    const issue = await issueOf(request);
    const body = request.body;
    const comment = await core.addComment(request.actor, issue, {
      text: body.text ?? '',
      attachmentIds: parseAttachmentIds(body.attachmentIds),
    });
    const attachments = await core.listIssueAttachments(request.actor, issue);
    return reply.code(201).send(commentJson(baseUrl(request), comment, attachments));
  });

  // --- issue attachments ---

  app.get('/v2/issues/:issue/attachments', { schema: { params: IssueParams } }, async (request, reply) => {
    const issue = await issueOf(request);
    return paginate(
      request,
      reply,
      baseUrl(request),
      (page) => core.listIssueAttachments(request.actor, issue, page),
      () => core.countIssueAttachments(request.actor, issue),
      (a) => attachmentJson(baseUrl(request), a),
    );
  });

  // Imports keep the author and time given (`createdBy` login or id, `createdAt` in Tracker's format).
  app.post(
    '/v2/issues/:issue/attachments/_import',
    { schema: { params: IssueParams, querystring: ImportQuery }, onRequest: refuseOversize },
    async (request, reply) => {
      const issue = await issueOf(request);
      return upload(request, reply, { kind: 'issue', issue }, await importedOrigin(request));
    },
  );

  app.post(
    '/v2/issues/:issue/comments/:commentId/attachments/_import',
    { schema: { params: CommentParams, querystring: ImportQuery }, onRequest: refuseOversize },
    async (request, reply) => {
      const issue = await issueOf(request);
      const comment = await core.getComment(request.actor, issue, request.params.commentId);
      return upload(request, reply, { kind: 'issue', issue, comment }, await importedOrigin(request));
    },
  );

  // The Ruby client attaches straight to a comment.
  app.post(
    '/v2/issues/:issue/comments/:commentId/attachments',
    { schema: { params: CommentParams, querystring: UploadQuery }, onRequest: refuseOversize },
    async (request, reply) => {
      const issue = await issueOf(request);
      const comment = await core.getComment(request.actor, issue, request.params.commentId);
      return upload(request, reply, { kind: 'issue', issue, comment });
    },
  );

  app.post(
    '/v2/issues/:issue/attachments',
    { schema: { params: IssueParams, querystring: UploadQuery }, onRequest: refuseOversize },
    async (request, reply) => upload(request, reply, { kind: 'issue', issue: await issueOf(request) }),
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
    handler: async (request, reply) => {
      return send(request, reply, servedAttachment(await issueAttachmentOf(request)));
    },
  });

  app.route({
    method: ['GET', 'HEAD'],
    url: '/v2/issues/:issue/thumbnails/:id',
    schema: { params: IssueFileParams, querystring: ThumbnailQuery },
    handler: async (request, reply) => {
      return thumbnail(request, reply, await issueAttachmentOf(request));
    },
  });

  app.delete('/v2/issues/:issue/attachments/:id', { schema: { params: IssueFileParams } }, async (request, reply) => {
    await core.deleteAttachment(request.actor, await issueAttachmentOf(request));
    return reply.code(204).send();
  });

  // --- temporary files (and any file by id) ---

  app.post('/v2/attachments', { schema: { querystring: UploadQuery }, onRequest: refuseOversize }, async (request, reply) =>
    upload(request, reply, { kind: 'temporary' }),
  );

  app.get('/v2/attachments/:id', { schema: { params: IdParams } }, async (request) =>
    attachmentJson(baseUrl(request), await core.getAttachment(request.actor, idOf(request.params.id))),
  );

  app.route({
    method: ['GET', 'HEAD'],
    url: '/v2/attachments/:id/:filename',
    schema: { params: TempDownloadParams },
    handler: async (request, reply) =>
      send(request, reply, servedAttachment(await core.getAttachment(request.actor, idOf(request.params.id)))),
  });

  app.route({
    method: ['GET', 'HEAD'],
    url: '/v2/attachments/:id/thumbnail',
    schema: { params: IdParams, querystring: ThumbnailQuery },
    handler: async (request, reply) => {
      const attachment = await core.getAttachment(request.actor, idOf(request.params.id));
      // This path is also the content URL of a file named "thumbnail"; one that has no thumbnail is served itself.
      if (attachment.name === 'thumbnail' && attachment.width === null) return send(request, reply, servedAttachment(attachment));
      return thumbnail(request, reply, attachment);
    },
  });

  app.delete('/v2/attachments/:id', { schema: { params: IdParams } }, async (request, reply) => {
    await core.deleteAttachment(request.actor, await core.getAttachment(request.actor, idOf(request.params.id)));
    return reply.code(204).send();
  });

  await app.register(entityRoutes, { core, baseUrl });
}

/** `X-Cloud-Org-ID` wins over `X-Org-ID`; the Python client's literal `not provided` means none. */
function orgHeader(request: FastifyRequest): string | undefined {
  for (const name of ['x-cloud-org-id', 'x-org-id']) {
    const value = request.headers[name];
    const text = (Array.isArray(value) ? value[0] : value)?.trim();
    if (text && text !== 'not provided') return text;
  }
  return undefined;
}

const TRACKER_UPLOAD_ERRORS: UploadErrors = {
  notMultipart: () => new AffixError('unsupported_media', 'Expected a multipart/form-data body with a part named file'),
  noFile: () => new AffixError('bad_request', 'The request has no file part', { file: 'required' }),
  severalFiles: () => new AffixError('bad_request', 'Send one file per request', { file: 'only one file part is accepted' }),
};

/** Name rule: `?filename=`, else a `filename` field (before or after the file), else the part's name. */
function receiveUpload(core: Affix, request: FastifyRequest, timeouts: BodyTimeouts, target: UploadTarget, imported?: ImportedOrigin) {
  return receiveOneFile(core, request, TRACKER_UPLOAD_ERRORS, timeouts, ({ staged, partName, fields }) =>
    core.commitUpload(request.actor, staged, (request.query as { filename?: string }).filename || fields.get('filename') || partName || 'file', target, imported),
  );
}

/** `2024-11-17T19:18:36.433+0000` (Tracker's form) or any ISO 8601 time; NaN when it is neither. */
function parseTrackerDate(text: string): number {
  return Date.parse(text.trim().replace(/([+-]\d\d)(\d\d)$/, '$1:$2'));
}
