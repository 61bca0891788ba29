/** Records of the domain, as the core sees them. Times are milliseconds since the epoch. */

export interface Org {
  id: number;
  /** The organization id clients send (Tracker `X-Org-ID` / `X-Cloud-Org-ID`). */
  extId: string;
  name: string;
  createdAt: number;
  /** Largest upload for this organization, in MiB; null: the server's limit. */
  maxFileUploadSizeMib: number | null;
  /** Total upload space of the organization, in MiB; null: no quota. */
  uploadQuotaMib: number | null;
}

export interface User {
  id: number;
  orgId: number;
  login: string;
  display: string;
  email: string;
  cloudUid: string;
  passportUid: number;
  createdAt: number;
}

export interface Issue {
  /** 24 hex characters. */
  id: string;
  orgId: number;
  queueKey: string;
  /** `QUEUE-N` */
  key: string;
  summary: string;
  description: string | null;
  createdBy: User;
  createdAt: number;
  updatedAt: number;
}

/** A Tracker queue: made with its first issue. */
export interface Queue {
  id: number;
  key: string;
  createdAt: number;
  /** Issues in it. */
  issues: number;
}

export interface Comment {
  id: number;
  /** 24 hex characters; what Tracker shows as an attachment's `commentId`. */
  longId: string;
  orgId: number;
  issueId: string;
  issueKey: string;
  text: string;
  createdBy: User;
  createdAt: number;
  updatedAt: number;
}

export interface Attachment {
  id: number;
  orgId: number;
  owner: User;
  name: string;
  mimetype: string;
  size: number;
  /** Display dimensions of a raster image, from its header; null for anything else. */
  width: number | null;
  height: number | null;
  sha256: string;
  storageKey: string;
  createdAt: number;
  /** Set while the file is a temporary upload not yet attached to anything. */
  expiresAt: number | null;
  issueId: string | null;
  issueKey: string | null;
  commentId: number | null;
  commentLongId: string | null;
  /** Zulip's `path_id`: `<realm_id>/<two hex>/<token>/<sanitized name>`; every attachment has one. */
  pathId: string;
  /** The Tracker entity (project, portfolio, goal) the file is attached to, if any. */
  entityId: string | null;
}

export type EntityType = 'project' | 'portfolio' | 'goal';
export const ENTITY_TYPES: readonly EntityType[] = ['project', 'portfolio', 'goal'];

/** A Tracker entity: project, portfolio or goal. */
export interface Entity {
  /** 24 hex characters. */
  id: string;
  orgId: number;
  type: EntityType;
  /** Numeric id, per organization and type. */
  shortId: number;
  summary: string;
  version: number;
  createdBy: User;
  createdAt: number;
  updatedAt: number;
}

export interface EntityComment {
  id: number;
  longId: string;
  orgId: number;
  entityId: string;
  text: string;
  createdBy: User;
  createdAt: number;
}

/** A direct message's participant, as Zulip's `display_recipient` lists them. */
export interface MessageParticipant {
  id: number;
  email: string;
  name: string;
}

/** A chat message (Zulip dialect): what claims uploads by linking them. */
export interface Message {
  id: number;
  orgId: number;
  senderId: number;
  senderEmail: string;
  senderName: string;
  type: 'stream' | 'private';
  channel: string | null;
  /** Private messages: the recipients as given (emails or ids). */
  recipients: string[];
  /** Private messages: the participants as users, the sender among them (by id); stream messages: none. */
  participants: MessageParticipant[];
  channelId: number | null;
  topic: string | null;
  content: string;
  dateSent: number;
  editedAt: number | null;
}

/** An upload with the messages that reference it, as Zulip lists a user's attachments. */
export interface ClaimedAttachment {
  attachment: Attachment;
  messages: Array<{ id: number; dateSent: number }>;
}

/** A preview made from a blob's bytes; shared by every attachment with those bytes. */
export interface Thumbnail {
  sourceSha256: string;
  /** Width bound, in pixels (the longest side's, for a square box). */
  size: number;
  /** The variant: `webp` or `jpeg` (a square box of `size`), or a Zulip format name such as `840x560-anim.webp`. */
  format: string;
  storageKey: string;
  bytes: number;
  sha256: string;
  createdAt: number;
}

/** The bytes one PATCH of a resumable upload added, as the store keeps them. */
export interface ResumableSegment {
  start: number;
  size: number;
  /**
   * The sha256 of the upload's bytes from the first to this segment's last, when the process that
   * received the segment had them all in order; '' otherwise.
   */
  sha256: string;
  /**
   * The blob holding the bytes this segment leaves waiting: all of its own, or (when `parts` is set)
   * those past its last whole part; `<upload id>@<end>` when it leaves none, or when the store keeps
   * the upload's bytes in place.
   */
  storageKey: string;
  /**
   * On stores that join parts (S3): the tags of the parts this segment completed, having taken in the
   * bytes earlier segments left waiting; null when its bytes wait whole in `storageKey`.
   */
  parts: string[] | null;
}

/** The multipart upload (S3) a resumable upload's bytes go to, part by part, completing into the blob `key`. */
export interface ResumableMultipart {
  key: string;
  /** The store's id of the multipart upload. */
  session: string;
  /** Every part but the last has exactly this many bytes. */
  partSize: number;
}

/** An unfinished resumable (tus) upload. */
export interface ResumableUpload {
  /** 32 hex characters: the last segment of its URL. */
  id: string;
  orgId: number;
  ownerId: number;
  /** The declared `Upload-Length`; null until a deferred length is declared. */
  length: number | null;
  /** A partial upload (tus concatenation): part of a final upload, never a file of its own. */
  partial: boolean;
  /** Bytes received and durable. */
  offset: number;
  /** Bytes held against the organization's quota until the upload completes or goes. */
  reserved: number;
  /** `Upload-Metadata`, decoded. */
  metadata: Record<string, string>;
  /** Where the file goes on completion, as the dialect described it (opaque to the store). */
  target: string;
  createdAt: number;
  expiresAt: number;
  segments: ResumableSegment[];
  /** Where the bytes go on stores that join parts, once the first whole part has arrived; else null. */
  multipart: ResumableMultipart | null;
  /**
   * Once complete, the attachment it became: the record stays (at its length, with no bytes and no
   * reservation) until it expires, so a client that lost the final answer can ask for it again.
   */
  attachmentId: number | null;
}
