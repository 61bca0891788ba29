// What counts against an organization's upload quota: its attachments' bytes and its unfinished resumable uploads' reservations.
import type { Kysely } from 'kysely';
import { AffixError } from '../../core/errors.js';
import type { QueryContext, Trx } from './query-context.js';
import { num } from './rows.js';
import type { Database } from './schema.js';

/** Bytes of all the org's attachments (Zulip's `upload_space_used`). */
export async function attachmentBytes(db: Kysely<Database>, orgId: number): Promise<number> {
  const row = await db
    .selectFrom('attachments')
    .select((eb) => eb.fn.coalesce(eb.fn.sum<number>('size'), eb.lit(0)).as('used'))
    .where('org_id', '=', orgId)
    .executeTakeFirstOrThrow();
  return num(row.used);
}

/**
 * Refuses `more` bytes that would take the org past its quota: its attachments and the reservations
 * of its unfinished uploads (except those `excluding` names), under the org's lock, in the caller's transaction.
 */
export async function checkQuota(q: QueryContext, trx: Trx, orgId: number, more: number, quotaBytes: number | null, excluding: string[] = []): Promise<void> {
  if (quotaBytes === null) return;
  await q.lockOrg(trx, orgId);
  const reserved = await trx
    .selectFrom('resumable_uploads')
    .select((eb) => eb.fn.coalesce(eb.fn.sum<number>('reserved'), eb.lit(0)).as('used'))
    .where('org_id', '=', orgId)
    .$if(excluding.length > 0, (query) => query.where('id', 'not in', excluding))
    .executeTakeFirstOrThrow();
  if ((await attachmentBytes(trx, orgId)) + num(reserved.used) + more > quotaBytes) {
    throw new AffixError('quota_exceeded', "Upload would exceed your organization's upload quota.");
  }
}
