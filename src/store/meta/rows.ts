// Rows to domain records, and the selects several domains' queries share (users, orgs, attachments with what their JSON needs).
import { sql, type Kysely, type RawBuilder, type SqlBool } from 'kysely';
import type { Attachment, Org, User } from '../../core/model.js';
import type { Page } from './meta-store.js';
import type { Database } from './schema.js';

export type Row = Record<string, unknown>;

// PostgreSQL returns bigint columns as strings; SQLite as numbers. Every numeric read goes through num().
export const num = (value: unknown): number => Number(value);
export const numOrNull = (value: unknown): number | null => (value === null || value === undefined ? null : Number(value));

export const USER_COLUMNS = [
  'u.id as u_id',
  'u.org_id as u_org_id',
  'u.login as u_login',
  'u.display as u_display',
  'u.email as u_email',
  'u.cloud_uid as u_cloud_uid',
  'u.passport_uid as u_passport_uid',
  'u.created_at as u_created_at',
] as const;

export const ORG_COLUMNS = ['o.id', 'o.ext_id', 'o.name', 'o.created_at', 'o.max_file_upload_size_mib', 'o.upload_quota_mib'] as const;

export function toUser(r: Row): User {
  return {
    id: num(r.u_id),
    orgId: num(r.u_org_id),
    login: r.u_login as string,
    display: r.u_display as string,
    email: r.u_email as string,
    cloudUid: r.u_cloud_uid as string,
    passportUid: num(r.u_passport_uid),
    createdAt: num(r.u_created_at),
  };
}

export function toOrg(r: Row): Org {
  return {
    id: num(r.id),
    extId: r.ext_id as string,
    name: r.name as string,
    createdAt: num(r.created_at),
    maxFileUploadSizeMib: numOrNull(r.max_file_upload_size_mib),
    uploadQuotaMib: numOrNull(r.upload_quota_mib),
  };
}

export function toAttachment(r: Row): Attachment {
  return {
    id: num(r.id),
    orgId: num(r.org_id),
    owner: toUser(r),
    name: r.name as string,
    mimetype: r.mimetype as string,
    size: num(r.size),
    width: numOrNull(r.width),
    height: numOrNull(r.height),
    sha256: r.sha256 as string,
    storageKey: r.storage_key as string,
    createdAt: num(r.created_at),
    expiresAt: numOrNull(r.expires_at),
    issueId: (r.issue_id as string | null) ?? null,
    issueKey: (r.issue_key as string | null) ?? null,
    commentId: numOrNull(r.comment_id),
    commentLongId: (r.comment_long_id as string | null) ?? null,
    pathId: r.path_id as string,
    entityId: (r.entity_id as string | null) ?? null,
  };
}

/** Attachments of an org with what their JSON needs: owner, blob, issue key, comment id. */
export function attachmentQuery(db: Kysely<Database>, orgId: number) {
  return db
    .selectFrom('attachments as a')
    .innerJoin('blobs as b', 'b.id', 'a.blob_id')
    .innerJoin('users as u', 'u.id', 'a.owner_id')
    .leftJoin('issues as i', 'i.id', 'a.issue_id')
    .leftJoin('comments as c', 'c.id', 'a.comment_id')
    .select([
      ...USER_COLUMNS,
      'a.id',
      'a.org_id',
      'a.name',
      'a.mimetype',
      'a.size',
      'a.width',
      'a.height',
      'a.created_at',
      'a.expires_at',
      'a.issue_id',
      'a.comment_id',
      'b.sha256',
      'b.storage_key',
      'i.key as issue_key',
      'c.long_id as comment_long_id',
      'a.path_id',
      'a.entity_id',
    ])
    .where('a.org_id', '=', orgId);
}

/** The rows of one page; the whole list without a page. */
export function paged<Q extends { limit(n: number): Q; offset(n: number): Q }>(query: Q, page: Page | undefined): Q {
  return page ? query.limit(page.limit).offset(page.offset) : query;
}

/** `column` contains `text`, any case; the text's own `%`, `_` and `\` are taken literally. */
export function containsText(column: string, text: string): RawBuilder<SqlBool> {
  const pattern = `%${text.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
  return sql<SqlBool>`lower(${sql.ref(column)}) like ${pattern} escape '\\'`;
}
