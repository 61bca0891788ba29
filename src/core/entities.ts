// Tracker entities (projects, portfolios, goals): created, found by id or short id, and the files attached to them.
import type { EntitySearch, MetaStore, Page } from '../store/meta/meta-store.js';
import type { Attachments } from './attachments.js';
import { claimOf, requireCommentContent } from './claims.js';
import { AffixError, notFound } from './errors.js';
import type { Actor } from './identity.js';
import { cleanFileName } from './names.js';
import { ENTITY_TYPES, type Attachment, type Entity, type EntityComment, type EntityType } from './model.js';

export class Entities {
  constructor(
    private readonly meta: MetaStore,
    private readonly attachments: Attachments,
    private readonly clock: () => number,
  ) {}

  type(raw: string): EntityType {
    if (!(ENTITY_TYPES as readonly string[]).includes(raw)) {
      throw new AffixError('bad_request', `Unknown entity type ${raw}; expected ${ENTITY_TYPES.join(', ')}`, { entityType: 'invalid' });
    }
    return raw as EntityType;
  }

  async create(actor: Actor, type: EntityType, summary: string): Promise<Entity> {
    if (!summary.trim()) throw new AffixError('unprocessable', 'fields.summary is required', { summary: 'required' });
    return this.meta.createEntity({ orgId: actor.org.id, type, summary: summary.trim(), createdBy: actor.user.id, createdAt: this.clock() });
  }

  async get(actor: Actor, type: EntityType, idOrShortId: string): Promise<Entity> {
    const entity = await this.meta.findEntity(actor.org.id, type, idOrShortId);
    if (!entity) throw notFound('Entity');
    return entity;
  }

  /** Claims temporary uploads for the entity; `rawName`, when given, is the name they take as they are attached. */
  attach(actor: Actor, entity: Entity, attachmentIds: number[], rawName?: string): Promise<Entity> {
    const name = rawName === undefined ? undefined : cleanFileName(rawName);
    return this.meta.attachToEntity(actor.org.id, entity, claimOf(actor, attachmentIds, this.clock()), name);
  }

  async addComment(actor: Actor, entity: Entity, input: { text: string; attachmentIds: number[] }): Promise<EntityComment> {
    requireCommentContent(input);
    const now = this.clock();
    return this.meta.createEntityComment({
      orgId: actor.org.id,
      entityId: entity.id,
      text: input.text,
      createdBy: actor.user.id,
      createdAt: now,
      claim: claimOf(actor, input.attachmentIds, now),
    });
  }

  listAttachments(actor: Actor, entity: Entity, page?: Page): Promise<Attachment[]> {
    return this.meta.listEntityAttachments(actor.org.id, entity.id, page);
  }

  countAttachments(actor: Actor, entity: Entity): Promise<number> {
    return this.meta.countEntityAttachments(actor.org.id, entity.id);
  }

  async getAttachment(actor: Actor, entity: Entity, id: number): Promise<Attachment> {
    const found = await this.attachments.get(actor, id);
    if (found.entityId !== entity.id) throw notFound('Attachment');
    return found;
  }

  search(actor: Actor, type: EntityType, search: EntitySearch, page?: Page): Promise<Entity[]> {
    return this.meta.searchEntities(actor.org.id, type, search, page);
  }

  count(actor: Actor, type: EntityType, search: EntitySearch): Promise<number> {
    return this.meta.countEntities(actor.org.id, type, search);
  }
}
