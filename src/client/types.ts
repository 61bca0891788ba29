// The shapes the client reads, derived from the server's own renderers (type-only: nothing of the server is loaded at run time).
import type { attachmentJson, commentJson, entityJson, issueJson, queueJson } from '../http/tracker/render.js';
import type { foundFileJson, usageJson } from '../http/ui/routes.js';
import type { attachmentJson as zulipAttachmentJson } from '../http/zulip/render.js';

/** Tracker's attachment JSON. */
export type Attachment = ReturnType<typeof attachmentJson>;
export type Issue = ReturnType<typeof issueJson>;
export type Comment = ReturnType<typeof commentJson>;
export type Entity = ReturnType<typeof entityJson>;
export type Queue = ReturnType<typeof queueJson>;
/** Zulip's attachment JSON (`GET /api/v1/attachments`). */
export type ZulipAttachment = ReturnType<typeof zulipAttachmentJson>;
export type EntityType = 'project' | 'portfolio' | 'goal';

/** Zulip's answer to an upload, on its plain and its tus endpoint. */
export interface ZulipUpload {
  url: string;
  filename: string;
}

/** How the client signs in: a Tracker token and its organization, or a Zulip email and API key. */
export type Credentials = { token: string; org: string } | { email: string; apiKey: string };

/** Where an uploaded file goes. */
export type UploadTarget =
  | { issue: string }
  | { issue: string; comment: string }
  | { entity: `${EntityType}/${string}` }
  | { temporary: true }
  /** A Zulip upload (to link from a message). */
  | { zulip: true };

export interface Progress {
  /** Bytes the server has taken so far (for tus: what it acknowledged; before that, what was sent). */
  bytes: number;
  total: number;
}

/** The organization's usage (`GET /ui/api/usage`). */
export type Usage = ReturnType<typeof usageJson>;
/** A file the name search found (`GET /ui/api/files`). */
export type FoundFile = ReturnType<typeof foundFileJson>;
