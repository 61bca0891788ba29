// Zulip's JSON shapes: the success envelope, upload URLs, and attachments as `GET /api/v1/attachments` lists them.
import type { ClaimedAttachment, Message } from '../../core/model.js';
import type { Problem } from '../problem.js';

export const success = <T extends object>(fields: T) => ({ result: 'success' as const, msg: '', ...fields });

export const uploadUrl = (pathId: string): string => `/user_uploads/${pathId}`;

/** One entry of `GET /api/v1/attachments`, in the shape of the source document. */
export function attachmentJson({ attachment, messages }: ClaimedAttachment) {
  return {
    id: attachment.id,
    name: attachment.name,
    path_id: attachment.pathId,
    size: attachment.size,
    create_time: attachment.createdAt,
    messages: messages.map((m) => ({ id: m.id, date_sent: m.dateSent })),
  };
}

/**
 * A message as `GET /api/v1/messages/{id}` answers it. Affix keeps no rendered HTML: `content` is
 * the Markdown as sent, with `content_type` saying so (Zulip's answer to `apply_markdown=false`).
 */
export function messageJson(message: Message, realm: string) {
  const seconds = (ms: number) => Math.floor(ms / 1000);
  return {
    id: message.id,
    type: message.type,
    content: message.content,
    content_type: 'text/x-markdown',
    client: 'Affix',
    avatar_url: null,
    sender_id: message.senderId,
    sender_email: message.senderEmail,
    sender_full_name: message.senderName,
    sender_realm_str: realm,
    timestamp: seconds(message.dateSent),
    ...(message.editedAt !== null ? { last_edit_timestamp: seconds(message.editedAt) } : {}),
    ...(message.type === 'stream'
      ? { display_recipient: message.channel ?? '', stream_id: message.channelId ?? 0, recipient_id: message.channelId ?? 0, subject: message.topic ?? '' }
      : {
          display_recipient: message.participants.map((p) => ({ id: p.id, email: p.email, full_name: p.name, is_mirror_dummy: false })),
          recipient_id: conversationId(message.participants.map((p) => p.id)),
          subject: '',
        }),
    is_me_message: message.content.startsWith('/me '),
    reactions: [],
    submessages: [],
    topic_links: [],
    flags: ['read'],
  };
}

/** A stable number for a set of users (Zulip's `recipient_id` of a direct conversation); never a channel's, which count up from 1. */
function conversationId(userIds: number[]): number {
  let hash = 2166136261;
  for (const id of [...userIds].sort((a, b) => a - b)) hash = Math.imul(hash ^ id, 16777619) >>> 0;
  return 1_000_000_000 + (hash % 1_000_000_000);
}

/** Zulip's error body and status for a problem; Zulip answers most client errors with 400. */
export function errorReply(problem: Problem): { status: number; body: { result: 'error'; msg: string; code: string } } {
  const body = (status: number, code: string, msg = problem.message) => ({ status, body: { result: 'error' as const, msg, code } });
  switch (problem.code) {
    case 'unauthenticated':
      return body(401, 'UNAUTHORIZED');
    case 'bad_credentials':
      return body(401, 'INVALID_API_KEY');
    case 'too_large': {
      const mib = problem.limitBytes === undefined ? undefined : Math.floor(problem.limitBytes / (1 << 20));
      return body(400, 'BAD_REQUEST', mib === undefined ? problem.message : `Uploaded file is larger than the allowed limit of ${mib} MiB`);
    }
    case 'quota_exceeded':
      return body(400, 'REALM_UPLOAD_QUOTA');
    case 'rate_limited':
      return body(429, 'RATE_LIMIT_HIT', 'API usage exceeded rate limit');
    case 'not_found':
      return body(404, 'BAD_REQUEST');
    case 'forbidden':
      return body(403, 'BAD_REQUEST');
    case 'range_not_satisfiable':
      return body(416, 'BAD_REQUEST');
    case 'internal':
      return body(problem.status, 'INTERNAL_SERVER_ERROR');
    case 'unprocessable':
    case 'conflict':
      return body(400, 'BAD_REQUEST');
    default:
      // 400 for ours; Fastify's own keep their status (413 for a JSON body over the limit, say).
      return body(problem.status, 'BAD_REQUEST');
  }
}
