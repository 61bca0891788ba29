// Zulip's messages: sent, read, edited and deleted, each claiming the uploads its content links to.
import type { MetaStore } from '../store/meta/meta-store.js';
import { MAX_LINKED_PER_REQUEST } from './claims.js';
import { AffixError } from './errors.js';
import type { Actor } from './identity.js';
import { linkedPathIds } from './links.js';
import type { Attachment, Message } from './model.js';

export interface NewChatMessage {
  type: Message['type'];
  /** Stream messages: the channel's name; private: the recipients (emails or user ids). */
  to: string[];
  topic: string | null;
  content: string;
}

/** Recipients one direct message may name. */
const MAX_RECIPIENTS = 1000;

export class Chat {
  constructor(
    private readonly meta: MetaStore,
    /** How long an upload no message links any more waits to be linked again before the collector removes it. */
    private readonly temporaryTtlMs: number,
    private readonly clock: () => number,
  ) {}

  /** `origins`: this server's own scheme://host values, under which absolute upload links count. */
  async send(actor: Actor, input: NewChatMessage, origins: string[]): Promise<Message> {
    const to = input.to.map((t) => t.trim()).filter(Boolean);
    if (to.length === 0) throw new AffixError('bad_request', 'Missing \'to\' argument');
    if (!input.content.trim()) throw new AffixError('bad_request', 'Message must not be empty');
    if (input.type === 'stream' && !input.topic?.trim()) throw new AffixError('bad_request', 'Missing topic');
    return this.meta.createMessage({
      orgId: actor.org.id,
      senderId: actor.user.id,
      type: input.type,
      channel: input.type === 'stream' ? to[0]! : null,
      recipients: input.type === 'private' ? to : [],
      participantIds: input.type === 'private' ? await this.recipientIds(actor, to) : [],
      topic: input.type === 'stream' ? input.topic!.trim() : null,
      content: input.content,
      dateSent: this.clock(),
      linkedPathIds: messageLinks(input.content, actor.org.id, origins),
    });
  }

  /** A message the actor can see: any stream message of the org, or a direct message they take part in. */
  async get(actor: Actor, id: number): Promise<Message> {
    const message = await this.meta.getMessage(actor.org.id, id);
    const visible = message && (message.type === 'stream' || message.senderId === actor.user.id || message.participants.some((p) => p.id === actor.user.id));
    if (!visible) throw new AffixError('bad_request', 'Invalid message(s)');
    return message;
  }

  /** New content; the message's claims follow its new links. `detached`: the sender's uploads no message links any more. */
  async edit(actor: Actor, id: number, content: string, origins: string[]): Promise<{ message: Message; detached: Attachment[] }> {
    const message = await this.get(actor, id);
    if (message.senderId !== actor.user.id) throw new AffixError('bad_request', "You don't have permission to edit this message");
    if (!content.trim()) throw new AffixError('bad_request', 'Message must not be empty');
    return this.meta.updateMessage(actor.org.id, id, content, messageLinks(content, actor.org.id, origins), this.clock());
  }

  /** Only the sender deletes a message; uploads it alone linked become temporary again, and expire unless linked anew. */
  async delete(actor: Actor, id: number): Promise<void> {
    const message = await this.get(actor, id);
    if (message.senderId !== actor.user.id) throw new AffixError('bad_request', "You don't have permission to delete this message");
    if (!(await this.meta.deleteMessage(actor.org.id, id, this.clock() + this.temporaryTtlMs))) throw new AffixError('bad_request', 'Invalid message(s)');
  }

  /** A direct message's recipients as users of the org, named by email (any case) or id; an unknown one refuses the message. */
  private async recipientIds(actor: Actor, refs: string[]): Promise<number[]> {
    if (refs.length > MAX_RECIPIENTS) throw new AffixError('bad_request', `A message may name at most ${MAX_RECIPIENTS} recipients`);
    const users = await this.meta.findUsers(actor.org.id, refs);
    for (const ref of refs) {
      const known = /^\d+$/.test(ref) ? users.some((u) => String(u.id) === ref) : users.some((u) => u.email.toLowerCase() === ref.toLowerCase());
      if (!known) throw new AffixError('bad_request', /^\d+$/.test(ref) ? `Invalid user ID ${ref}` : `Invalid email '${ref}'`);
    }
    return users.map((u) => u.id);
  }
}

/** The uploads a message's content links to, at most MAX_LINKED_PER_REQUEST of them. */
function messageLinks(content: string, realmId: number, origins: string[]): string[] {
  const linked = linkedPathIds(content, realmId, origins);
  if (linked.length > MAX_LINKED_PER_REQUEST) {
    throw new AffixError('bad_request', `A message may link at most ${MAX_LINKED_PER_REQUEST} uploads, not ${linked.length}`);
  }
  return linked;
}
