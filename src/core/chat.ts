// Zulip's messages: sent and edited, each claiming the uploads its content links to.
import type { MetaStore } from '../store/meta/meta-store.js';
import { MAX_LINKED_PER_REQUEST } from './claims.js';
import { AffixError } from './errors.js';
import type { Actor } from './identity.js';
import { linkedPathIds } from './links.js';
import type { Message } from './model.js';

export interface NewChatMessage {
  type: Message['type'];
  /** Stream messages: the channel's name; private: the recipients. */
  to: string[];
  topic: string | null;
  content: string;
}

export class Chat {
  constructor(
    private readonly meta: MetaStore,
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
      topic: input.type === 'stream' ? input.topic!.trim() : null,
      content: input.content,
      dateSent: this.clock(),
      linkedPathIds: messageLinks(input.content, actor.org.id, origins),
    });
  }

  /** New content; the message's claims follow its new links. */
  async edit(actor: Actor, id: number, content: string, origins: string[]): Promise<Message> {
    const message = await this.meta.getMessage(actor.org.id, id);
    if (!message) throw new AffixError('bad_request', 'Invalid message(s)');
    if (message.senderId !== actor.user.id) throw new AffixError('bad_request', "You don't have permission to edit this message");
    if (!content.trim()) throw new AffixError('bad_request', 'Message must not be empty');
    return this.meta.updateMessage(actor.org.id, id, content, messageLinks(content, actor.org.id, origins), this.clock());
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
