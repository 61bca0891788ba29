// Queries of entities (project, portfolio, goal) and their comments; numbered per org and type under the org's lock.
import { AffixError } from '../../core/errors.js';
import { hex24, isHex24 } from '../../core/ids.js';
import type { Entity, EntityComment, EntityType } from '../../core/model.js';
import { claimUploads } from './claims.js';
import { userById } from './identity.js';
import type { AttachmentClaim, EntityRecords, EntitySearch, NewEntity, NewEntityComment, Page } from './meta-store.js';
import type { QueryContext } from './query-context.js';
import { containsText, num, paged, toUser, USER_COLUMNS, type Row } from './rows.js';

export class EntityQueries implements EntityRecords {
  constructor(private readonly q: QueryContext) {}

  async createEntity(e: NewEntity): Promise<Entity> {
    const id = hex24();
    await this.q.transaction(async (trx) => {
      await this.q.lockOrg(trx, e.orgId);
      const last = await trx
        .selectFrom('entities')
        .select((eb) => eb.fn.max<number>('short_id').as('max'))
        .where('org_id', '=', e.orgId)
        .where('type', '=', e.type)
        .executeTakeFirst();
      await trx
        .insertInto('entities')
        .values({
          id,
          org_id: e.orgId,
          type: e.type,
          short_id: num(last?.max ?? 0) + 1,
          summary: e.summary,
          version: 1,
          created_by: e.createdBy,
          created_at: e.createdAt,
          updated_at: e.createdAt,
        })
        .execute();
    });
    const created = await this.findEntity(e.orgId, e.type, id);
    if (!created) throw new Error('entity vanished after insert');
    return created;
  }

  async findEntity(orgId: number, type: EntityType, idOrShortId: string): Promise<Entity | null> {
    const byId = isHex24(idOrShortId);
    if (!byId && !/^\d{1,15}$/.test(idOrShortId)) return null;
    const row = await this.entityQuery(orgId, type)
      .select(ENTITY_COLUMNS)
      .where(byId ? 'e.id' : 'e.short_id', '=', byId ? idOrShortId.toLowerCase() : Number(idOrShortId))
      .executeTakeFirst();
    return row ? toEntity(row) : null;
  }

  async searchEntities(orgId: number, type: EntityType, search: EntitySearch, page?: Page): Promise<Entity[]> {
    const column = { shortId: 'e.short_id', createdAt: 'e.created_at', updatedAt: 'e.updated_at', summary: 'e.summary' } as const;
    const direction = search.order.descending ? 'desc' : 'asc';
    const rows = await paged(this.searched(orgId, type, search).select(ENTITY_COLUMNS).orderBy(column[search.order.field], direction).orderBy('e.id', direction), page).execute();
    return rows.map(toEntity);
  }

  async countEntities(orgId: number, type: EntityType, search: EntitySearch): Promise<number> {
    const row = await this.searched(orgId, type, search).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    return num(row.n);
  }

  private searched(orgId: number, type: EntityType, search: EntitySearch) {
    const query = this.entityQuery(orgId, type);
    return search.text ? query.where(containsText('e.summary', search.text)) : query;
  }

  private entityQuery(orgId: number, type: EntityType) {
    return this.q.db.selectFrom('entities as e').innerJoin('users as u', 'u.id', 'e.created_by').where('e.org_id', '=', orgId).where('e.type', '=', type);
  }

  async attachToEntity(orgId: number, entity: Entity, claim: AttachmentClaim, name?: string): Promise<Entity> {
    await this.q.transaction(async (trx) => {
      await claimUploads(trx, orgId, claim, { entityId: entity.id });
      if (name !== undefined && claim.ids.length > 0) {
        await trx.updateTable('attachments').set({ name }).where('org_id', '=', orgId).where('id', 'in', claim.ids).execute();
      }
      await trx
        .updateTable('entities')
        .set((eb) => ({ version: eb('version', '+', 1), updated_at: claim.now }))
        .where('id', '=', entity.id)
        .execute();
    });
    const updated = await this.findEntity(orgId, entity.type, entity.id);
    if (!updated) throw new AffixError('not_found', 'Entity not found');
    return updated;
  }

  async createEntityComment(c: NewEntityComment): Promise<EntityComment> {
    const longId = hex24();
    const id = await this.q.transaction(async (trx) => {
      const { id } = await trx
        .insertInto('entity_comments')
        .values({ long_id: longId, org_id: c.orgId, entity_id: c.entityId, text: c.text, created_by: c.createdBy, created_at: c.createdAt })
        .returning('id')
        .executeTakeFirstOrThrow();
      await claimUploads(trx, c.orgId, c.claim, { entityId: c.entityId });
      return num(id);
    });
    const author = await userById(this.q.db, c.orgId, c.createdBy);
    if (!author) throw new Error('comment author vanished');
    return { id, longId, orgId: c.orgId, entityId: c.entityId, text: c.text, createdBy: author, createdAt: c.createdAt };
  }
}

const ENTITY_COLUMNS = [...USER_COLUMNS, 'e.id', 'e.org_id', 'e.type', 'e.short_id', 'e.summary', 'e.version', 'e.created_at', 'e.updated_at'] as const;

function toEntity(r: Row): Entity {
  return {
    id: r.id as string,
    orgId: num(r.org_id),
    type: r.type as EntityType,
    shortId: num(r.short_id),
    summary: r.summary as string,
    version: num(r.version),
    createdBy: toUser(r),
    createdAt: num(r.created_at),
    updatedAt: num(r.updated_at),
  };
}
