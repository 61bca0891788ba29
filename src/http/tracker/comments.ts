// Tracker issue comments: list, get, add and change, each with the files it carries.
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { parseAttachmentIds } from '../../core/claims.js';
import { paginate } from './pagination.js';
import { AttachmentIds, CommentParams, commentOf, IssueParams, issueOf, type TrackerOptions } from './params.js';
import { commentJson } from './render.js';

const NewCommentBody = Type.Object({ text: Type.Optional(Type.String()), attachmentIds: AttachmentIds });
const CommentChanges = Type.Optional(Type.Object({ text: Type.Optional(Type.String()), attachmentIds: AttachmentIds }));

export async function commentRoutes(instance: FastifyInstance, { core, baseUrl }: TrackerOptions): Promise<void> {
  const app = instance.withTypeProvider<TypeBoxTypeProvider>();

  app.get('/v2/issues/:issue/comments', { schema: { params: IssueParams } }, async (request, reply) => {
    const issue = await issueOf(core, request);
    const attachments = await core.issues.listAttachments(request.actor, issue);
    return paginate(
      request,
      reply,
      baseUrl(request),
      (page) => core.issues.listComments(request.actor, issue, page),
      () => core.issues.countComments(request.actor, issue),
      (c) => commentJson(baseUrl(request), c, attachments),
    );
  });

  app.get('/v2/issues/:issue/comments/:commentId', { schema: { params: CommentParams } }, async (request) => {
    const { issue, comment } = await commentOf(core, request);
    return commentJson(baseUrl(request), comment, await core.issues.listAttachments(request.actor, issue));
  });

  app.patch('/v2/issues/:issue/comments/:commentId', { schema: { params: CommentParams, body: CommentChanges } }, async (request) => {
    const { issue, comment } = await commentOf(core, request);
    const updated = await core.issues.updateComment(request.actor, comment, {
      text: request.body?.text,
      attachmentIds: parseAttachmentIds(request.body?.attachmentIds),
    });
    return commentJson(baseUrl(request), updated, await core.issues.listAttachments(request.actor, issue));
  });

  app.post('/v2/issues/:issue/comments', { schema: { params: IssueParams, body: NewCommentBody } }, async (request, reply) => {
    const issue = await issueOf(core, request);
    const body = request.body;
    const comment = await core.issues.addComment(request.actor, issue, {
      text: body.text ?? '',
      attachmentIds: parseAttachmentIds(body.attachmentIds),
    });
    const attachments = await core.issues.listAttachments(request.actor, issue);
    return reply.code(201).send(commentJson(baseUrl(request), comment, attachments));
  });
}
