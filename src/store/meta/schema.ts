// Table shapes for Kysely.
import type { Generated } from 'kysely';

/** Table shapes for Kysely. Times are integer milliseconds since the epoch. */
export interface Database {
  orgs: {
    id: Generated<number>;
    ext_id: string;
    name: string;
    created_at: number;
    max_file_upload_size_mib: number | null;
    upload_quota_mib: number | null;
  };
  users: {
    id: Generated<number>;
    org_id: number;
    login: string;
    display: string;
    email: string;
    cloud_uid: string;
    passport_uid: number;
    token_hash: string;
    api_key_hash: string;
    created_at: number;
  };
  queues: { id: Generated<number>; org_id: number; key: string; next_number: number; created_at: number };
  issues: {
    id: string;
    org_id: number;
    queue_id: number;
    key: string;
    summary: string;
    description: string | null;
    created_by: number;
    created_at: number;
    updated_at: number;
  };
  comments: {
    id: Generated<number>;
    long_id: string;
    org_id: number;
    issue_id: string;
    text: string;
    created_by: number;
    created_at: number;
    updated_at: number;
  };
  blobs: { id: Generated<number>; sha256: string; size: number; storage_key: string; ref_count: number; created_at: number };
  thumbnails: {
    source_sha256: string;
    size: number;
    format: string;
    storage_key: string;
    bytes: number;
    sha256: string;
    created_at: number;
  };
  attachments: {
    id: Generated<number>;
    org_id: number;
    owner_id: number;
    blob_id: number;
    name: string;
    mimetype: string;
    size: number;
    width: number | null;
    height: number | null;
    created_at: number;
    expires_at: number | null;
    issue_id: string | null;
    comment_id: number | null;
    path_id: string | null;
    entity_id: string | null;
  };
  entities: {
    id: string;
    org_id: number;
    type: string;
    short_id: number;
    summary: string;
    version: number;
    created_by: number;
    created_at: number;
    updated_at: number;
  };
  entity_comments: {
    id: Generated<number>;
    long_id: string;
    org_id: number;
    entity_id: string;
    text: string;
    created_by: number;
    created_at: number;
  };
  channels: { id: Generated<number>; org_id: number; name: string; created_at: number };
  messages: {
    id: Generated<number>;
    org_id: number;
    sender_id: number;
    type: string;
    channel_id: number | null;
    recipients: string | null;
    topic: string | null;
    content: string;
    date_sent: number;
    edited_at: number | null;
  };
  message_attachments: { message_id: number; attachment_id: number };
  /** A direct message's participants, its sender among them. */
  message_recipients: { message_id: number; user_id: number };
  settings: { key: string; value: string };
  resumable_uploads: {
    id: string;
    org_id: number;
    owner_id: number;
    length: number | null;
    partial: number;
    offset: number;
    reserved: number;
    metadata: string;
    target: string;
    created_at: number;
    expires_at: number;
    multipart_key: string | null;
    multipart_session: string | null;
    part_size: number | null;
    attachment_id: number | null;
  };
  /** `parts`: a JSON array of part tags, or null. */
  resumable_segments: { upload_id: string; start: number; size: number; sha256: string; storage_key: string; parts: string | null };
  orphan_suspects: { storage_key: string; first_seen: number };
  sessions: { token_hash: string; user_id: number; created_at: number; expires_at: number };
}
