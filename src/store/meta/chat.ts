// Queries of Zulip's channels and messages, and the claims a message's links make on uploads.
import { AffixError } from '../../core/errors.js';
import type { Message } from '../../core/model.js';
import type { ChatRecords, NewMessage } from './meta-store.js';
import type { QueryContext, Trx } from './query-context.js';
import { num, numOrNull, type Row } from './rows.js';

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
      .leftJoin('channels as ch', 'ch.id', 'm.channel_id')
      .select(['m.id', 'm.org_id', 'm.sender_id', 'm.type', 'ch.name as channel', 'm.recipients', 'm.topic', 'm.content', 'm.date_sent', 'm.edited_at'])
      .where('m.org_id', '=', orgId)
      .where('m.id', '=', id)
      .executeTakeFirst();
    return row ? toMessage(row) : null;
  }

  async updateMessage(orgId: number, id: number, content: string, linkedPathIds: string[], now: number): Promise<Message> {
    await this.q.transaction(async (trx) => {
      const message = await trx.selectFrom('messages').select('sender_id').where('org_id', '=', orgId).where('id', '=', id).executeTakeFirst();
      if (!message) throw new AffixError('not_found', 'Invalid message(s)');
      await trx.updateTable('messages').set({ content, edited_at: now }).where('id', '=', id).execute();
      await trx.deleteFrom('message_attachments').where('message_id', '=', id).execute();
      await claimForMessage(trx, orgId, id, num(message.sender_id), linkedPathIds);
    });
    const message = await this.getMessage(orgId, id);
    if (!message) throw new Error('message vanished after update');
    return message;
  }
}

/**
 * Links the message to the uploads its content names: the sender's own, or ones another message
 * already claimed (so anyone may forward a shared file). Claimed uploads stop being temporary.
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
        eb.exists(eb.selectFrom('message_attachments as ma').select('ma.message_id').whereRef('ma.attachment_id', '=', 'a.id')),
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

function toMessage(r: Row): Message {
  return {
    id: num(r.id),
    orgId: num(r.org_id),
    senderId: num(r.sender_id),
    type: r.type as Message['type'],
    channel: (r.channel as string | null) ?? null,
    recipients: r.recipients ? (JSON.parse(r.recipients as string) as string[]) : [],
    topic: (r.topic as string | null) ?? null,
    content: r.content as string,
    dateSent: num(r.date_sent),
    editedAt: numOrNull(r.edited_at),
  };
}
