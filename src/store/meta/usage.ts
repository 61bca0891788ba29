// Queries of an organization's storage use: bytes by type and by month, the largest files, the top uploaders, and a search of file names.
import { sql, type SqlBool } from 'kysely';
import type { Attachment, User } from '../../core/model.js';
import type { Page, UsageRecords, UsageRow } from './meta-store.js';
import type { QueryContext } from './query-context.js';
import { attachmentQuery, containsText, num, paged, toAttachment, toUser, USER_COLUMNS } from './rows.js';

export class UsageQueries implements UsageRecords {
  constructor(private readonly q: QueryContext) {}

  async usageByType(orgId: number): Promise<Array<UsageRow & { mimetype: string }>> {
    const rows = await this.q.db
      .selectFrom('attachments')
      .select((eb) => ['mimetype', eb.fn.countAll<number>().as('files'), eb.fn.sum<number>('size').as('bytes')])
      .where('org_id', '=', orgId)
      .groupBy('mimetype')
      .execute();
    return rows.map((r) => ({ mimetype: r.mimetype, files: num(r.files), bytes: num(r.bytes) }));
  }

  async usageByMonth(orgId: number): Promise<Array<UsageRow & { month: string }>> {
    // The month of the upload in UTC, `YYYY-MM`, in each flavor's own words.
    const month =
      this.q.flavor === 'postgres'
        ? sql<string>`to_char(to_timestamp(created_at / 1000.0) at time zone 'UTC', 'YYYY-MM')`
        : sql<string>`strftime('%Y-%m', created_at / 1000, 'unixepoch')`;
    const rows = await this.q.db
      .selectFrom('attachments')
      .select((eb) => [month.as('month'), eb.fn.countAll<number>().as('files'), eb.fn.sum<number>('size').as('bytes')])
      .where('org_id', '=', orgId)
      .groupBy(month)
      .orderBy(month)
      .execute();
    return rows.map((r) => ({ month: r.month, files: num(r.files), bytes: num(r.bytes) }));
  }

  async largestAttachments(orgId: number, limit: number): Promise<Attachment[]> {
    const rows = await attachmentQuery(this.q.db, orgId).orderBy('a.size', 'desc').orderBy('a.id', 'desc').limit(limit).execute();
    return rows.map(toAttachment);
  }

  async topUploaders(orgId: number, limit: number): Promise<Array<UsageRow & { user: User }>> {
    const rows = await this.q.db
      .selectFrom('attachments as a')
      .innerJoin('users as u', 'u.id', 'a.owner_id')
      .select((eb) => [...USER_COLUMNS, eb.fn.countAll<number>().as('files'), eb.fn.sum<number>('a.size').as('bytes')])
      .where('a.org_id', '=', orgId)
      // The user's primary key: PostgreSQL then takes their other columns as grouped too.
      .groupBy('u.id')
      .orderBy('bytes', 'desc')
      .limit(limit)
      .execute();
    return rows.map((r) => ({ user: toUser(r), files: num(r.files), bytes: num(r.bytes) }));
  }

  async searchAttachments(orgId: number, viewerId: number, text: string, page?: Page, ownOnly = false): Promise<Attachment[]> {
    const query = attachmentQuery(this.q.db, orgId).where(containsText('a.name', text)).where(seenBy(viewerId, ownOnly)).orderBy('a.id', 'desc');
    return (await paged(query, page).execute()).map(toAttachment);
  }

  async countSearchAttachments(orgId: number, viewerId: number, text: string, ownOnly = false): Promise<number> {
    const row = await this.q.db
      .selectFrom('attachments as a')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('a.org_id', '=', orgId)
      .where(containsText('a.name', text))
      .where(seenBy(viewerId, ownOnly))
      .executeTakeFirstOrThrow();
    return num(row.n);
  }
}

/** The files a viewer sees without asking more: issues' and entities' files, and their own (or their own only). */
const seenBy = (viewerId: number, ownOnly: boolean) =>
  ownOnly
    ? sql<SqlBool>`a.owner_id = ${viewerId}`
    : sql<SqlBool>`(a.owner_id = ${viewerId} or (a.expires_at is null and (a.issue_id is not null or a.entity_id is not null)))`;
