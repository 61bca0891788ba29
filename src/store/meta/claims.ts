// Claiming temporary uploads for an issue, comment or entity inside the transaction that creates or changes it.
import { AffixError } from '../../core/errors.js';
import type { AttachmentClaim, ClaimTarget } from './meta-store.js';
import type { Trx } from './query-context.js';
import { num } from './rows.js';

/**
 * Attaches the owner's unexpired temporary uploads to an issue (and comment) or an entity, or throws
 * without changing anything. The conditional UPDATE is what makes a second claim of the same id fail.
 */
export async function claimUploads(trx: Trx, orgId: number, claim: AttachmentClaim, target: ClaimTarget): Promise<void> {
  const ids = [...new Set(claim.ids)];
  if (ids.length === 0) return;
  const rows = await trx
    .selectFrom('attachments')
    .select(['id', 'owner_id', 'expires_at'])
    .where('org_id', '=', orgId)
    .where('id', 'in', ids)
    .execute();
  const byId = new Map(rows.map((r) => [num(r.id), r]));
  for (const id of ids) {
    const row = byId.get(id);
    const problem =
      !row || num(row.owner_id) !== claim.ownerId
        ? `Attachment ${id} not found`
        : row.expires_at === null
          ? `Attachment ${id} is already attached`
          : num(row.expires_at) <= claim.now
            ? `Attachment ${id} has expired`
            : null;
    if (problem) throw new AffixError('unprocessable', problem, { attachmentIds: problem });
  }
  const result = await trx
    .updateTable('attachments')
    .set('entityId' in target ? { entity_id: target.entityId, expires_at: null } : { issue_id: target.issueId, comment_id: target.commentId, expires_at: null })
    .where('org_id', '=', orgId)
    .where('id', 'in', ids)
    .where('expires_at', 'is not', null)
    .executeTakeFirst();
  if (Number(result.numUpdatedRows) !== ids.length) {
    throw new AffixError('unprocessable', 'Some attachments were attached concurrently', { attachmentIds: 'already attached' });
  }
}
