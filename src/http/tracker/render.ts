// Tracker's JSON shapes: users, issues, comments, entities and attachments, with its date format.
import type { Attachment, Comment, Entity, EntityComment, Issue, Queue, User } from '../../core/model.js';
import { hasThumbnail } from '../../media/thumbnailer.js';
import type { Problem } from '../problem.js';

/** Tracker's time format: `2024-11-17T19:18:36.433+0000` (UTC, milliseconds, offset without a colon). */
export const trackerDate = (ms: number): string => new Date(ms).toISOString().replace('Z', '+0000');

export function userRef(base: string, user: User) {
  return {
    self: `${base}/v2/users/${user.id}`,
    id: String(user.id),
    display: user.display,
    cloudUid: user.cloudUid,
    passportUid: user.passportUid,
  };
}

export function userJson(base: string, user: User) {
  return {
    ...userRef(base, user),
    uid: user.passportUid,
    login: user.login,
    trackerUid: user.id,
    email: user.email,
    external: false,
    dismissed: false,
  };
}

/** Issue files live under their issue; temporary (and entity) files under `/v2/attachments`. */
function attachmentPath(a: Attachment): string {
  return a.issueKey ? `/v2/issues/${a.issueKey}/attachments/${a.id}` : `/v2/attachments/${a.id}`;
}

export function attachmentJson(base: string, a: Attachment) {
  const self = `${base}${attachmentPath(a)}`;
  const image = a.width !== null && a.height !== null;
  const thumbnail = image && hasThumbnail(a.mimetype);
  return {
    self,
    id: String(a.id),
    name: a.name,
    content: `${self}/${encodeURIComponent(a.name)}`,
    ...(thumbnail ? { thumbnail: `${base}${thumbnailPath(a)}` } : {}),
    createdBy: userRef(base, a.owner),
    createdAt: trackerDate(a.createdAt),
    mimetype: a.mimetype,
    size: a.size,
    ...(image ? { metadata: { size: `${a.width}x${a.height}` } } : {}),
    ...(a.commentLongId ? { commentId: a.commentLongId } : {}),
  };
}

/** Issue files: `/v2/issues/{key}/thumbnails/{id}`; temporary and entity files: `/v2/attachments/{id}/thumbnail`. */
function thumbnailPath(a: Attachment): string {
  return a.issueKey ? `/v2/issues/${a.issueKey}/thumbnails/${a.id}` : `/v2/attachments/${a.id}/thumbnail`;
}

export function attachmentRef(base: string, a: Attachment) {
  return { self: `${base}${attachmentPath(a)}`, id: String(a.id), display: a.name };
}

export function issueJson(base: string, issue: Issue, attachments: Attachment[]) {
  return {
    self: `${base}/v2/issues/${issue.key}`,
    id: issue.id,
    key: issue.key,
    version: 1,
    summary: issue.summary,
    ...(issue.description !== null ? { description: issue.description } : {}),
    queue: { self: `${base}/v2/queues/${issue.queueKey}`, key: issue.queueKey, display: issue.queueKey },
    createdBy: userRef(base, issue.createdBy),
    createdAt: trackerDate(issue.createdAt),
    updatedAt: trackerDate(issue.updatedAt),
    ...(attachments.length > 0 ? { attachments: attachments.map((a) => attachmentRef(base, a)) } : {}),
  };
}

/** Tracker's queue object, as far as Affix keeps queues (made by their first issue, named by their key). */
export function queueJson(base: string, queue: Queue) {
  return {
    self: `${base}/v2/queues/${queue.key}`,
    id: String(queue.id),
    key: queue.key,
    version: 1,
    name: queue.key,
    description: '',
    assignAuto: false,
    denyVoting: false,
  };
}

export function commentJson(base: string, comment: Comment, attachments: Attachment[]) {
  const mine = attachments.filter((a) => a.commentId === comment.id);
  return {
    self: `${base}/v2/issues/${comment.issueKey}/comments/${comment.id}`,
    id: comment.id,
    longId: comment.longId,
    text: comment.text,
    version: 1,
    type: 'standard',
    transport: 'internal',
    createdBy: userRef(base, comment.createdBy),
    updatedBy: userRef(base, comment.createdBy),
    createdAt: trackerDate(comment.createdAt),
    updatedAt: trackerDate(comment.updatedAt),
    ...(mine.length > 0 ? { attachments: mine.map((a) => attachmentRef(base, a)) } : {}),
  };
}

export function entityJson(base: string, entity: Entity, attachments?: Attachment[]) {
  return {
    self: `${base}/v2/entities/${entity.type}/${entity.id}`,
    id: entity.id,
    version: entity.version,
    shortId: entity.shortId,
    entityType: entity.type,
    createdBy: userRef(base, entity.createdBy),
    createdAt: trackerDate(entity.createdAt),
    updatedAt: trackerDate(entity.updatedAt),
    fields: { summary: entity.summary },
    ...(attachments ? { attachments: attachments.map((a) => attachmentJson(base, a)) } : {}),
  };
}

export function entityCommentJson(base: string, entityType: string, comment: EntityComment, attachments: Attachment[]) {
  return {
    self: `${base}/v2/entities/${entityType}/${comment.entityId}/comments/${comment.id}`,
    id: comment.id,
    longId: comment.longId,
    text: comment.text,
    createdBy: userRef(base, comment.createdBy),
    createdAt: trackerDate(comment.createdAt),
    ...(attachments.length > 0 ? { attachments: attachments.map((a) => attachmentRef(base, a)) } : {}),
  };
}

/** The fields an issue of Affix has, in the shape of `GET /v2/fields` (the Python client reads it). */
export function fieldsJson(base: string) {
  const fields: Array<[string, string, string, boolean]> = [
    ['key', 'Key', 'string', true],
    ['summary', 'Summary', 'string', false],
    ['description', 'Description', 'string', false],
    ['queue', 'Queue', 'queue', false],
    ['attachments', 'Attachments', 'array', true],
    ['createdBy', 'Created by', 'user', true],
    ['createdAt', 'Created', 'date', true],
    ['updatedAt', 'Updated', 'date', true],
  ];
  return fields.map(([id, name, type, readonly]) => ({
    self: `${base}/v2/fields/${id}`,
    id,
    key: id,
    version: 1,
    name,
    schema: { type, required: id === 'summary' || id === 'queue' },
    readonly,
    options: false,
    suggest: false,
  }));
}

export function errorJson(problem: Problem) {
  return { errors: problem.details, errorsData: {}, errorMessages: [problem.message], statusCode: problem.status };
}
