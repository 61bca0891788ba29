// Tracker's `/v2/tus`: `Upload-Metadata` names the file and where it goes (an issue, a comment, an entity, or a temporary file); the final PATCH answers the Attachment.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AffixError } from '../../core/errors.js';
import { tusRoutes, type TusDialect } from '../tus/protocol.js';
import type { TrackerOptions } from './params.js';
import { attachmentJson } from './render.js';

/** Where a finished file goes, as stored with the upload. */
type Target = { issue?: string; comment?: string; entity?: { type: string; id: string } };

export async function trackerTusRoutes(app: FastifyInstance, options: TrackerOptions): Promise<void> {
  const { core, baseUrl } = options;
  const issueAndComment = async (request: FastifyRequest, target: Target) => {
    const issue = await core.issues.get(request.actor, target.issue!);
    return { issue, comment: target.comment === undefined ? undefined : await core.issues.getComment(request.actor, issue, target.comment) };
  };
  const entityOf = (request: FastifyRequest, ref: { type: string; id: string }) => core.entities.get(request.actor, core.entities.type(ref.type), ref.id);

  const dialect: TusDialect = {
    // Checked at creation, so a bad target is refused before a byte is sent; looked up again at completion.
    async target(request, metadata) {
      const target: Target = {};
      if (metadata.comment !== undefined && metadata.issue === undefined) throw new AffixError('bad_request', 'Upload-Metadata comment needs issue');
      if (metadata.entity !== undefined && metadata.issue !== undefined) throw new AffixError('bad_request', 'Upload-Metadata names an issue or an entity, not both');
      if (metadata.issue !== undefined) {
        const { issue, comment } = await issueAndComment(request, { issue: metadata.issue, ...(metadata.comment !== undefined ? { comment: metadata.comment } : {}) });
        target.issue = issue.id;
        if (comment) target.comment = String(comment.id);
      }
      if (metadata.entity !== undefined) {
        const [type, id, ...rest] = metadata.entity.split('/');
        if (!type || !id || rest.length > 0) throw new AffixError('bad_request', 'Upload-Metadata entity must be type/id');
        const entity = await entityOf(request, { type, id });
        target.entity = { type: entity.type, id: entity.id };
      }
      return JSON.stringify(target);
    },
    async resolve(request, encoded) {
      const target = JSON.parse(encoded) as Target;
      if (target.issue !== undefined) {
        const { issue, comment } = await issueAndComment(request, target);
        return { target: { kind: 'issue', issue, ...(comment ? { comment } : {}) } };
      }
      const entityRef = target.entity;
      if (!entityRef) return { target: { kind: 'temporary' } };
      const entity = await entityOf(request, entityRef);
      // An entity takes a temporary file, as `POST /v2/entities/.../attachments/{id}` does.
      return { target: { kind: 'temporary' }, after: async (id) => void (await core.entities.attach(request.actor, entity, [id])) };
    },
    answer: async (request, id) => attachmentJson(baseUrl(request), await core.attachments.get(request.actor, id)),
  };
  await app.register(tusRoutes, { core, endpoint: '/v2/tus', baseUrl, timeouts: options.timeouts, dialect });
}
