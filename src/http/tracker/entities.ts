// Tracker entities (projects, portfolios, goals) and their attachments: row 12 to 16 of the endpoint table.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { parseAttachmentIds } from '../../core/claims.js';
import { AffixError } from '../../core/errors.js';
import type { Actor } from '../../core/identity.js';
import { parseId } from '../../core/ids.js';
import type { Entity } from '../../core/model.js';
import { DEFAULT_PER_PAGE, paginate, requestedPage } from './pagination.js';
import { emptyBodyAsObject, entitySearchOf, EntitySearchBody } from './search.js';
import { AttachmentIds, queryFileName, type TrackerOptions } from './params.js';
import { attachmentJson, entityCommentJson, entityJson } from './render.js';

const EntityParams = Type.Object({ type: Type.String({ description: 'project, portfolio or goal' }), id: Type.String({ description: '24-hex id or shortId' }) });
const EntityFileParams = Type.Object({ type: Type.String(), id: Type.String(), fileId: Type.String() });
const Expand = Type.Object({
  expand: Type.Optional(Type.String({ description: 'attachments or all: include the files' })),
  fields: Type.Optional(Type.String({ description: 'attachments: include the files' })),
  filename: Type.Optional(Type.String({ description: 'A new name for the file being attached' })),
  notify: Type.Optional(Type.String()),
  notifyAuthor: Type.Optional(Type.String()),
});

/** Whether `expand=` (`attachments` or `all`) or `fields=` (`attachments`) asks for the files. */
const wantsAttachments = (request: FastifyRequest) => {
  const query = request.query as { expand?: string; fields?: string };
  const listed = (v: string | undefined) => v?.split(',').map((s) => s.trim()) ?? [];
  return listed(query.expand).some((v) => v === 'attachments' || v === 'all') || listed(query.fields).includes('attachments');
};

/** Entity ids are 24 hex characters or a numeric shortId; anything else is a validation error (422). */
function checkedId(raw: string, what: string): string {
  if (!/^([0-9a-f]{24}|\d{1,15})$/i.test(raw)) throw new AffixError('unprocessable', `Invalid ${what} ${raw}`, { [what]: 'invalid' });
  return raw;
}

function fileIdOf(raw: string): number {
  const id = parseId(raw);
  if (id === null) throw new AffixError('unprocessable', `Invalid attachment id ${raw}`, { fileId: 'invalid' });
  return id;
}

export async function entityRoutes(instance: FastifyInstance, { core, baseUrl }: TrackerOptions): Promise<void> {
  const app = instance.withTypeProvider<TypeBoxTypeProvider>();
  const entityOf = (request: { actor: Actor; params: { type: string; id: string } }): Promise<Entity> =>
    core.entities.get(request.actor, core.entities.type(request.params.type), checkedId(request.params.id, 'entity id'));
  const render = async (request: FastifyRequest & { actor: Actor }, entity: Entity) =>
    entityJson(baseUrl(request), entity, wantsAttachments(request) ? await core.entities.listAttachments(request.actor, entity) : undefined);

  app.post(
    '/v2/entities/:type',
    { schema: { params: Type.Object({ type: Type.String() }), body: Type.Object({ fields: Type.Object({ summary: Type.String() }) }) } },
    async (request, reply) => {
      const entity = await core.entities.create(request.actor, core.entities.type(request.params.type), request.body.fields.summary);
      return reply.code(201).send(entityJson(baseUrl(request), entity));
    },
  );

  // Tracker's entity search: `{hits, pages, values, orderBy}`, `perPage` (50) and `page` in the query.
  app.post('/v2/entities/:type/_search', { schema: { params: Type.Object({ type: Type.String() }), body: EntitySearchBody }, preValidation: emptyBodyAsObject }, async (request) => {
    const type = core.entities.type(request.params.type);
    const search = entitySearchOf(request.body);
    const page = requestedPage(request) ?? { number: 1, perPage: DEFAULT_PER_PAGE, limit: DEFAULT_PER_PAGE, offset: 0 };
    const [entities, hits] = await Promise.all([core.entities.search(request.actor, type, search, page), core.entities.count(request.actor, type, search)]);
    return {
      hits,
      pages: Math.max(1, Math.ceil(hits / page.perPage)),
      values: entities.map((e) => entityJson(baseUrl(request), e)),
      orderBy: search.order.field,
    };
  });

  app.get('/v2/entities/:type/:id', { schema: { params: EntityParams, querystring: Expand } }, async (request) =>
    render(request, await entityOf(request)),
  );

  // Attaches a temporary file; answers 200 with the entity (Tracker's answer for this call).
  app.post('/v2/entities/:type/:id/attachments/:fileId', { schema: { params: EntityFileParams, querystring: Expand } }, async (request) => {
    const entity = await entityOf(request);
    const name = queryFileName(request.query.filename);
    return render(request, await core.entities.attach(request.actor, entity, [fileIdOf(request.params.fileId)], name));
  });

  app.get('/v2/entities/:type/:id/attachments', { schema: { params: EntityParams } }, async (request, reply) => {
    const entity = await entityOf(request);
    return paginate(
      request,
      reply,
      baseUrl(request),
      (page) => core.entities.listAttachments(request.actor, entity, page),
      () => core.entities.countAttachments(request.actor, entity),
      (a) => attachmentJson(baseUrl(request), a),
    );
  });

  app.get('/v2/entities/:type/:id/attachments/:fileId', { schema: { params: EntityFileParams } }, async (request) => {
    const entity = await entityOf(request);
    return attachmentJson(baseUrl(request), await core.entities.getAttachment(request.actor, entity, fileIdOf(request.params.fileId)));
  });

  app.delete('/v2/entities/:type/:id/attachments/:fileId', { schema: { params: EntityFileParams } }, async (request, reply) => {
    const entity = await entityOf(request);
    await core.attachments.delete(request.actor, await core.entities.getAttachment(request.actor, entity, fileIdOf(request.params.fileId)));
    return reply.code(204).send();
  });

  app.post(
    '/v2/entities/:type/:id/comments',
    { schema: { params: EntityParams, body: Type.Object({ text: Type.Optional(Type.String()), attachmentIds: AttachmentIds }) } },
    async (request, reply) => {
      const entity = await entityOf(request);
      const ids = parseAttachmentIds(request.body.attachmentIds);
      const comment = await core.entities.addComment(request.actor, entity, { text: request.body.text ?? '', attachmentIds: ids });
      const attached = await Promise.all(ids.map((id) => core.entities.getAttachment(request.actor, entity, id)));
      return reply.code(201).send(entityCommentJson(baseUrl(request), entity.type, comment, attached));
    },
  );
}
