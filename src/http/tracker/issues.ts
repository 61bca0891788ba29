// Tracker issues: create, get and change one, with the files of the issue in its JSON; queues, and the search of issues.
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { parseAttachmentIds } from '../../core/claims.js';
import { AttachmentIds, IssueParams, issueOf, type TrackerOptions } from './params.js';
import { paginate } from './pagination.js';
import { issueJson, queueJson } from './render.js';
import { emptyBodyAsObject, issueSearchOf, IssueSearchBody } from './search.js';

const NewIssueBody = Type.Object({
  queue: Type.Union([Type.String(), Type.Object({ key: Type.String() })]),
  summary: Type.String(),
  description: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  attachmentIds: AttachmentIds,
});
const IssueChanges = Type.Optional(
  Type.Object({
    summary: Type.Optional(Type.String()),
    description: Type.Optional(Type.Union([Type.String(), Type.Null()])),
    attachmentIds: AttachmentIds,
    descriptionAttachmentIds: AttachmentIds,
  }),
);

export async function issueRoutes(instance: FastifyInstance, { core, baseUrl }: TrackerOptions): Promise<void> {
  const app = instance.withTypeProvider<TypeBoxTypeProvider>();

  app.post('/v2/issues', { schema: { body: NewIssueBody } }, async (request, reply) => {
    const body = request.body;
    const issue = await core.issues.create(request.actor, {
      queue: typeof body.queue === 'string' ? body.queue : body.queue.key,
      summary: body.summary,
      description: body.description ?? null,
      attachmentIds: parseAttachmentIds(body.attachmentIds),
    });
    const attachments = await core.issues.listAttachments(request.actor, issue);
    return reply.code(201).send(issueJson(baseUrl(request), issue, attachments));
  });

  app.get('/v2/queues', async (request, reply) =>
    paginate(request, reply, baseUrl(request), (page) => core.issues.listQueues(request.actor, page), () => core.issues.countQueues(request.actor), (q) => queueJson(baseUrl(request), q)),
  );

  // Tracker's search, paginated as Tracker's lists are (perPage, page; X-Total-Count).
  app.post('/v2/issues/_search', { schema: { body: IssueSearchBody }, preValidation: emptyBodyAsObject }, async (request, reply) => {
    const search = issueSearchOf(request.body);
    const wantsFiles = String((request.query as { expand?: string }).expand ?? '').split(',').includes('attachments');
    const issues = await paginate(request, reply, baseUrl(request), (page) => core.issues.search(request.actor, search, page), () => core.issues.count(request.actor, search), (i) => i);
    return Promise.all(issues.map(async (issue) => issueJson(baseUrl(request), issue, wantsFiles ? await core.issues.listAttachments(request.actor, issue) : [])));
  });

  app.get('/v2/issues/:issue', { schema: { params: IssueParams } }, async (request) => {
    const issue = await issueOf(core, request);
    return issueJson(baseUrl(request), issue, await core.issues.listAttachments(request.actor, issue));
  });

  app.patch('/v2/issues/:issue', { schema: { params: IssueParams, body: IssueChanges } }, async (request) => {
    const issue = await issueOf(core, request);
    const body = request.body ?? {};
    const updated = await core.issues.update(request.actor, issue, {
      summary: body.summary,
      description: body.description,
      attachmentIds: [...parseAttachmentIds(body.attachmentIds), ...parseAttachmentIds(body.descriptionAttachmentIds)],
    });
    return issueJson(baseUrl(request), updated, await core.issues.listAttachments(request.actor, updated));
  });
}
