// What the Tracker route files share: their options, the common parameter schemas, and lookups of the records they name.
import type { FastifyRequest } from 'fastify';
import type { Origins } from '../session.js';
import { Type } from '@sinclair/typebox';
import type { Affix } from '../../core/affix.js';
import { AffixError, notFound } from '../../core/errors.js';
import type { Actor } from '../../core/identity.js';
import { parseId } from '../../core/ids.js';
import type { Comment, Issue } from '../../core/model.js';
import type { ContentSender } from '../content.js';
import type { BodyTimeouts } from '../upload.js';

export interface TrackerOptions {
  core: Affix;
  /** Absolute base of response URLs for this request. */
  baseUrl: (request: FastifyRequest) => string;
  /** Answers downloads (bytes, ranges, 304s, or an X-Accel-Redirect). */
  send: ContentSender;
  timeouts: BodyTimeouts;
  /** This server's own origins, for writes made with the web UI's session cookie. */
  origins: Origins;
}

export const IssueParams = Type.Object({ issue: Type.String({ description: 'Issue key (QUEUE-1) or 24-hex id' }) });
export const CommentParams = Type.Object({ issue: Type.String(), commentId: Type.String() });
export const IdParams = Type.Object({ id: Type.String({ description: 'Attachment id' }) });
export const AttachmentIds = Type.Optional(Type.Array(Type.Union([Type.String(), Type.Integer()])));

type Authed<P> = { actor: Actor; params: P };

export const issueOf = (core: Affix, request: Authed<{ issue: string }>): Promise<Issue> =>
  core.issues.get(request.actor, request.params.issue);

export async function commentOf(core: Affix, request: Authed<{ issue: string; commentId: string }>): Promise<{ issue: Issue; comment: Comment }> {
  const issue = await issueOf(core, request);
  return { issue, comment: await core.issues.getComment(request.actor, issue, request.params.commentId) };
}

/** An attachment id from the path; one that cannot be an id names no attachment (404). */
export function attachmentIdOf(raw: string): number {
  const id = parseId(raw);
  if (id === null) throw notFound('Attachment');
  return id;
}

/** A `filename` query parameter: none when empty; over 255 characters a 422, never silently cut. */
export function queryFileName(raw: string | undefined): string | undefined {
  if (raw === undefined || raw.trim() === '') return undefined;
  if (raw.length > 255) throw new AffixError('unprocessable', 'filename must be at most 255 characters', { filename: 'too long' });
  return raw;
}
