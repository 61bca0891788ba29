// Queries of Zulip's channels and messages: the claims a message's links make on uploads, and who may see what they link.
import { sql } from 'kysely';
import { AffixError } from '../../core/errors.js';
import type { Attachment, Message } from '../../core/model.js';
import type { ChatRecords, NewMessage } from './meta-store.js';
import type { QueryContext, Trx } from './query-context.js';
import { attachmentQuery, num, numOrNull, toAttachment, type Row } from './rows.js';

export class ChatQueries implements ChatRecords {
  constructor(private readonly q: QueryContext) {}

  async createMessage(m: NewMessage): Promise<Message> {
    const id = await this.q.transaction(async (trx) => {
      let channelId: number | null = null;
      if (m.channel !== null) {
        await trx
          .insertInto('channels')
          .values({ org_id: m.orgId, name: m.channel, created_at: m.dateSent })
          .onConflict((oc) => oc.columns(['org_id', 'name']).doNothing())
          .execute();
        const channel = await trx.selectFrom('channels').select('id').where('org_id', '=', m.orgId).where('name', '=', m.channel).executeTakeFirstOrThrow();
        channelId = num(channel.id);
      }
      const { id } = await trx
        .insertInto('messages')
        .values({
          org_id: m.orgId,
          sender_id: m.senderId,
          type: m.type,
          channel_id: channelId,
          recipients: m.type === 'private' ? JSON.stringify(m.recipients) : null,
          topic: m.topic,
          content: m.content,
          date_sent: m.dateSent,
          edited_at: null,
        })
        .returning('id')
        .executeTakeFirstOrThrow();
      const participants = [...new Set(m.type === 'private' ? [m.senderId, ...m.participantIds] : [])];
      if (participants.length > 0) {
        await trx.insertInto('message_recipients').values(participants.map((user_id) => ({ message_id: num(id), user_id }))).execute();
      }
      await claimForMessage(trx, m.orgId, num(id), m.senderId, m.linkedPathIds);
      return num(id);
    });
    const message = await this.getMessage(m.orgId, id);
    if (!message) throw new Error('message vanished after insert');
    return message;
  }

  async getMessage(orgId: number, id: number): Promise<Message | null> {
    const row = await this.q.db
      .selectFrom('messages as m')
      .innerJoin('users as s', 's.id', 'm.sender_id')
      .leftJoin('channels as ch', 'ch.id', 'm.channel_id')
      .select([
        'm.id',
        'm.org_id',
        'm.sender_id',
        's.email as sender_email',
        's.display as sender_name',
        'm.type',
        'm.channel_id',
        'ch.name as channel',
        'm.recipients',
        'm.topic',
        'm.content',
        'm.date_sent',
        'm.edited_at',
      ])
      .where('m.org_id', '=', orgId)
      .where('m.id', '=', id)
      .executeTakeFirst();
    if (!row) return null;
    const participants = await this.q.db
      .selectFrom('message_recipients as r')
      .innerJoin('users as u', 'u.id', 'r.user_id')
      .select(['u.id', 'u.email', 'u.display'])
      .where('r.message_id', '=', id)
      .orderBy('u.id')
      .execute();
    return toMessage(row, participants.map((p) => ({ id: num(p.id), email: p.email, name: p.display })));
  }

  async updateMessage(orgId: number, id: number, content: string, linkedPathIds: string[], now: number): Promise<{ message: Message; detached: Attachment[] }> {
    const detachedIds = await this.q.transaction(async (trx) => {
      const message = await trx.selectFrom('messages').select('sender_id').where('org_id', '=', orgId).where('id', '=', id).executeTakeFirst();
      if (!message) throw new AffixError('not_found', 'Invalid message(s)');
      const before = await linkedBy(trx, id);
      await trx.updateTable('messages').set({ content, edited_at: now }).where('id', '=', id).execute();
      await trx.deleteFrom('message_attachments').where('message_id', '=', id).execute();
      await claimForMessage(trx, orgId, id, num(message.sender_id), linkedPathIds);
      const unlinked = await unlinkedOf(trx, before);
      return unlinked.filter((a) => a.ownerId === num(message.sender_id)).map((a) => a.id);
    });
    const message = await this.getMessage(orgId, id);
    if (!message) throw new Error('message vanished after update');
    const detached = detachedIds.length === 0 ? [] : await attachmentQuery(this.q.db, orgId).where('a.id', 'in', detachedIds).orderBy('a.id').execute();
    return { message, detached: detached.map(toAttachment) };
  }

  async deleteMessage(orgId: number, id: number, expiresAt: number): Promise<boolean> {
    return this.q.transaction(async (trx) => {
      const found = await trx.selectFrom('messages').select('id').where('org_id', '=', orgId).where('id', '=', id).executeTakeFirst();
      if (!found) return false;
      const before = await linkedBy(trx, id);
      await trx.deleteFrom('message_attachments').where('message_id', '=', id).execute();
      await trx.deleteFrom('message_recipients').where('message_id', '=', id).execute();
      await trx.deleteFrom('messages').where('id', '=', id).execute();
      const orphaned = (await unlinkedOf(trx, before)).filter((a) => !a.heldElsewhere).map((a) => a.id);
      if (orphaned.length > 0) await trx.updateTable('attachments').set({ expires_at: expiresAt }).where('id', 'in', orphaned).execute();
      return true;
    });
  }

  async canSeeLinkedUpload(orgId: number, attachmentId: number, userId: number): Promise<boolean> {
    const row = await this.q.db
      .selectFrom('message_attachments as ma')
      .innerJoin('messages as m', 'm.id', 'ma.message_id')
      .select('m.id')
      .where('ma.attachment_id', '=', attachmentId)
      .where('m.org_id', '=', orgId)
      .where(visibleMessage(userId))
      .limit(1)
      .executeTakeFirst();
    return row !== undefined;
  }
}

/**
 * Whether the message aliased `m` is one the user can see: any stream message (Affix has no private
 * streams), or a direct message they take part in.
 */
const visibleMessage = (userId: number) =>
  sql<boolean>`(m.type = 'stream' or exists (select 1 from message_recipients r where r.message_id = m.id and r.user_id = ${userId}))`;

/** The attachments a message links now. */
async function linkedBy(trx: Trx, messageId: number): Promise<number[]> {
  const rows = await trx.selectFrom('message_attachments').select('attachment_id').where('message_id', '=', messageId).execute();
  return rows.map((r) => num(r.attachment_id));
}

/** Of these attachments, those no message links any more, with their owner and whether an issue or entity holds them. */
async function unlinkedOf(trx: Trx, ids: number[]): Promise<Array<{ id: number; ownerId: number; heldElsewhere: boolean }>> {
  if (ids.length === 0) return [];
  const rows = await trx
    .selectFrom('attachments as a')
    .select(['a.id', 'a.owner_id', 'a.issue_id', 'a.entity_id'])
    .where('a.id', 'in', ids)
    .where((eb) => eb.not(eb.exists(eb.selectFrom('message_attachments as ma').select('ma.message_id').whereRef('ma.attachment_id', '=', 'a.id'))))
    .execute();
  return rows.map((r) => ({ id: num(r.id), ownerId: num(r.owner_id), heldElsewhere: r.issue_id !== null || r.entity_id !== null }));
}

/**
 * Links the message to the uploads its content names that the sender may share: their own, or ones
 * a message the sender can see already links (so anyone who sees a file may forward it, and nobody
 * else can claim it by guessing its path). Claimed uploads stop being temporary.
 */
async function claimForMessage(trx: Trx, orgId: number, messageId: number, senderId: number, pathIds: string[]): Promise<void> {
  const unique = [...new Set(pathIds)];
  if (unique.length === 0) return;
  const claimable = await trx
    .selectFrom('attachments as a')
    .select('a.id')
    .where('a.org_id', '=', orgId)
    .where('a.path_id', 'in', unique)
    .where((eb) =>
      eb.or([
        eb('a.owner_id', '=', senderId),
        eb.exists(
          eb
            .selectFrom('message_attachments as ma')
            .innerJoin('messages as m', 'm.id', 'ma.message_id')
            .select('ma.message_id')
            .whereRef('ma.attachment_id', '=', 'a.id')
            .where('ma.message_id', '!=', messageId)
            .where(visibleMessage(senderId)),
        ),
      ]),
    )
    .execute();
  const ids = claimable.map((r) => num(r.id));
  if (ids.length === 0) return;
  await trx
    .insertInto('message_attachments')
    .values(ids.map((attachmentId) => ({ message_id: messageId, attachment_id: attachmentId })))
    .onConflict((oc) => oc.columns(['attachment_id', 'message_id']).doNothing())
    .execute();
  await trx.updateTable('attachments').set({ expires_at: null }).where('id', 'in', ids).execute();
}

function toMessage(r: Row, participants: Message['participants']): Message {
  return {
    id: num(r.id),
    orgId: num(r.org_id),
    senderId: num(r.sender_id),
    senderEmail: r.sender_email as string,
    senderName: r.sender_name as string,
    type: r.type as Message['type'],
    channelId: numOrNull(r.channel_id),
    channel: (r.channel as string | null) ?? null,
    recipients: r.recipients ? (JSON.parse(r.recipients as string) as string[]) : [],
    participants,
    topic: (r.topic as string | null) ?? null,
    content: r.content as string,
    dateSent: num(r.date_sent),
    editedAt: numOrNull(r.edited_at),
  };
}
