// What one request may link: the temporary uploads a Tracker issue, comment or entity claims, bounded in number.
import type { AttachmentClaim } from '../store/meta/meta-store.js';
import { AffixError } from './errors.js';
import type { Actor } from './identity.js';
import { parseId } from './ids.js';

/** Attachments one request may link (Tracker's attachmentIds), or uploads one message may claim. */
export const MAX_LINKED_PER_REQUEST = 1000;

/** What a request links, bounded: past MAX_LINKED_PER_REQUEST ids it is refused whole. */
export function claimOf(actor: Actor, ids: number[], now: number): AttachmentClaim {
  if (ids.length > MAX_LINKED_PER_REQUEST) {
    throw new AffixError('unprocessable', `At most ${MAX_LINKED_PER_REQUEST} attachments can be linked in one request, not ${ids.length}`, {
      attachmentIds: `at most ${MAX_LINKED_PER_REQUEST}`,
    });
  }
  return { ownerId: actor.user.id, ids, now };
}

/** Attachment ids arrive as strings or numbers; anything else is the caller's mistake. */
export function parseAttachmentIds(value: unknown): number[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new AffixError('bad_request', 'attachmentIds must be an array', { attachmentIds: 'must be an array' });
  return value.map((item) => {
    const id = parseId(item);
    if (id === null) throw new AffixError('bad_request', `Invalid attachment id ${JSON.stringify(item)}`, { attachmentIds: 'invalid id' });
    return id;
  });
}

/** A comment (on an issue or an entity) says something or carries files. */
export function requireCommentContent(input: { text: string; attachmentIds: number[] }): void {
  if (!input.text.trim() && input.attachmentIds.length === 0) {
    throw new AffixError('unprocessable', 'Comment text or attachments are required', { text: 'required' });
  }
}
