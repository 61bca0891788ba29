// The core's one entry point: wires the domain services over the two stores; knows nothing of HTTP.
import type { BlobStore } from '../store/blob/blob-store.js';
import type { MetaStore } from '../store/meta/meta-store.js';
import type { Thumbnailer } from '../media/thumbnailer.js';
import { Attachments, type UploadLimits } from './attachments.js';
import { Chat } from './chat.js';
import { Collector } from './collector.js';
import { Entities } from './entities.js';
import { Identity } from './identity.js';
import { Integrity } from './integrity.js';
import { Issues } from './issues.js';
import { UNOBSERVED, type Observer } from './observer.js';
import { Resumable } from './resumable.js';
import { Sessions } from './sessions.js';
import { Thumbnails } from './thumbnails.js';
import { Usage } from './usage.js';

export interface CoreLimits extends UploadLimits {
  /** A local directory for short-lived files: images copied out of a remote BlobStore for libvips. */
  scratchDir: string;
  /** How long a successful token or API-key lookup may be reused by this process (see `Identity.authenticate`). */
  authCacheMs?: number;
  /** How long an unfinished resumable upload lives. */
  resumableTtlMs: number;
  /** How long a web UI session lives after sign-in. */
  sessionTtlMs: number;
}

/** Everything Affix does, one service per domain; the HTTP layer holds one of these. */
export class Affix {
  readonly identity: Identity;
  readonly attachments: Attachments;
  readonly issues: Issues;
  readonly entities: Entities;
  readonly chat: Chat;
  readonly thumbnails: Thumbnails;
  readonly resumable: Resumable;
  readonly sessions: Sessions;
  readonly usage: Usage;
  readonly integrity: Integrity;
  readonly collector: Collector;

  constructor(
    readonly meta: MetaStore,
    readonly blobs: BlobStore,
    thumbnailer: Thumbnailer,
    limits: CoreLimits,
    clock: () => number = Date.now,
    observer: Observer = UNOBSERVED,
  ) {
    this.identity = new Identity(meta, limits.authCacheMs ?? 0, clock);
    this.attachments = new Attachments(meta, blobs, limits, clock);
    this.issues = new Issues(meta, clock);
    this.entities = new Entities(meta, this.attachments, clock);
    this.chat = new Chat(meta, limits.temporaryTtlMs, clock);
    this.thumbnails = new Thumbnails(meta, blobs, this.attachments, thumbnailer, limits.scratchDir, clock, observer);
    this.resumable = new Resumable(meta, blobs, this.attachments, limits.resumableTtlMs, clock);
    this.sessions = new Sessions(meta, this.identity, limits.sessionTtlMs, clock);
    this.usage = new Usage(meta, this.attachments);
    this.integrity = new Integrity(meta, blobs, clock);
    this.collector = new Collector(meta, blobs, limits.scratchDir, this.resumable, this.sessions, clock);
  }

  /**
   * Whether each store answers a real round trip (a query; a stat or an S3 HEAD) within `timeoutMs`:
   * `ok`, or what went wrong.
   */
  async readiness(timeoutMs: number): Promise<{ meta: string; blobs: string }> {
    const check = async (probe: () => Promise<unknown>): Promise<string> => {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<string>((resolve) => (timer = setTimeout(() => resolve(`no answer within ${timeoutMs} ms`), timeoutMs)));
      try {
        return await Promise.race([probe().then(() => 'ok', (err: unknown) => `failed: ${err instanceof Error ? err.message : String(err)}`.slice(0, 300)), late]);
      } finally {
        clearTimeout(timer);
      }
    };
    const [meta, blobs] = await Promise.all([check(() => this.meta.getOrgByExtId('')), check(() => this.blobs.size('0'.repeat(32)))]);
    return { meta, blobs };
  }

  async close(): Promise<void> {
    await this.meta.close();
    this.blobs.close();
  }
}
