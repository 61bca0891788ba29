// An organization's storage use as its admins read it (by kind of file, by month, largest files, top uploaders), and a search of its file names.
import type { MetaStore, Page, UsageRow } from '../store/meta/meta-store.js';
import type { Attachments } from './attachments.js';
import type { Actor } from './identity.js';
import type { Attachment, User } from './model.js';

/** Kinds of files, as people group them; `other` for the rest. */
export const FILE_KINDS = ['image', 'video', 'audio', 'pdf', 'text', 'archive', 'document', 'other'] as const;
export type FileKind = (typeof FILE_KINDS)[number];

export interface UsageReport {
  usedBytes: number;
  /** Null: no quota. */
  quotaBytes: number | null;
  /** The largest file the organization accepts. */
  maxFileBytes: number;
  files: number;
  byKind: Array<UsageRow & { kind: FileKind }>;
  /** Oldest first, `YYYY-MM` (UTC). */
  byMonth: Array<UsageRow & { month: string }>;
  largest: Attachment[];
  uploaders: Array<UsageRow & { user: User }>;
}

const ARCHIVES = /^application\/(zip|gzip|x-gzip|x-tar|x-7z-compressed|x-rar-compressed|vnd\.rar|x-bzip2|x-xz|zstd|x-zstd)$/;
const DOCUMENTS = /^application\/(msword|rtf|vnd\.ms-|vnd\.openxmlformats-officedocument\.|vnd\.oasis\.opendocument\.)/;

/** The kind of a MIME type. */
export function fileKind(mimetype: string): FileKind {
  const [type] = mimetype.split('/');
  if (type === 'image' || type === 'video' || type === 'audio' || type === 'text') return type;
  if (mimetype === 'application/pdf') return 'pdf';
  if (ARCHIVES.test(mimetype)) return 'archive';
  if (DOCUMENTS.test(mimetype)) return 'document';
  return 'other';
}

const LARGEST = 10;
const TOP_UPLOADERS = 10;
const MIB = 1 << 20;

export class Usage {
  constructor(
    private readonly meta: MetaStore,
    private readonly attachments: Attachments,
  ) {}

  async report(actor: Actor): Promise<UsageReport> {
    const orgId = actor.org.id;
    const [types, byMonth, largest, uploaders] = await Promise.all([
      this.meta.usageByType(orgId),
      this.meta.usageByMonth(orgId),
      this.meta.largestAttachments(orgId, LARGEST),
      this.meta.topUploaders(orgId, TOP_UPLOADERS),
    ]);
    const kinds = new Map<FileKind, UsageRow>();
    for (const row of types) {
      const kind = fileKind(row.mimetype);
      const sum = kinds.get(kind) ?? { files: 0, bytes: 0 };
      kinds.set(kind, { files: sum.files + row.files, bytes: sum.bytes + row.bytes });
    }
    return {
      usedBytes: types.reduce((n, r) => n + r.bytes, 0),
      quotaBytes: actor.org.uploadQuotaMib === null ? null : actor.org.uploadQuotaMib * MIB,
      maxFileBytes: this.attachments.uploadLimit(actor.org),
      files: types.reduce((n, r) => n + r.files, 0),
      byKind: FILE_KINDS.filter((k) => kinds.has(k)).map((kind) => ({ kind, ...kinds.get(kind)! })),
      byMonth,
      largest,
      uploaders,
    };
  }

  /** Files whose name contains `text` among those the caller sees: the organization's issue and entity files, and their own (`mine`: their own only). */
  searchFiles(actor: Actor, text: string, page?: Page, mine = false): Promise<Attachment[]> {
    return this.meta.searchAttachments(actor.org.id, actor.user.id, text, page, mine);
  }

  countFiles(actor: Actor, text: string, mine = false): Promise<number> {
    return this.meta.countSearchAttachments(actor.org.id, actor.user.id, text, mine);
  }
}
