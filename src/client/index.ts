// Affix's client for both dialects (`affix/client`): typed calls, uploads (multipart or tus, resumable), downloads (resumed, checked).
import type { Writable } from 'node:stream';
import { download, type DownloadOptions, type DownloadResult } from './download.js';
import { AffixClientError } from './errors.js';
import { Http, type HttpOptions } from './http.js';
import type { Attachment, Comment, Credentials, Entity, EntityType, FoundFile, Issue, Queue, Usage, ZulipAttachment } from './types.js';
import { upload, type UploadOptions, type UploadResult, type UploadSource } from './upload.js';

export { AffixClientError, type FailureKind } from './errors.js';
export type * from './types.js';
export type { DownloadOptions, DownloadResult } from './download.js';
export type { UploadOptions, UploadResult, UploadSource } from './upload.js';

export interface AffixClientOptions {
  /** The server, e.g. `https://files.example.com`. */
  url: string;
  credentials: Credentials;
  /** Attempts after the first for 429 (its Retry-After), and 5xx or network failures of requests safe to repeat; default 4. */
  retries?: number;
  fetch?: typeof fetch;
}

/** A page of a list: its items and the total the server counted. */
export interface Page<T> {
  items: T[];
  total: number;
}

const enc = encodeURIComponent;

export class AffixClient {
  readonly http: Http;
  /** Zulip credentials (email and API key) rather than Tracker's. */
  readonly zulip: boolean;

  constructor(options: AffixClientOptions) {
    this.zulip = 'email' in options.credentials;
    const http: HttpOptions = { url: options.url, credentials: options.credentials };
    if (options.retries !== undefined) http.retries = options.retries;
    if (options.fetch) http.fetch = options.fetch;
    this.http = new Http(http);
  }

  // --- who, and how much ---

  /** The user the credentials name, with the organization's limits (any credentials). */
  session(): Promise<{ user: { id: number; login: string; display: string; email: string }; org: { id: string; realmId: number; name: string }; limits: { maxFileBytes: number; quotaBytes: number | null; usedBytes: number } }> {
    return this.http.json('GET', '/ui/api/session');
  }

  usage(): Promise<Usage> {
    return this.http.json('GET', '/ui/api/usage');
  }

  async searchFiles(text: string, page = 1, perPage = 50): Promise<Page<FoundFile>> {
    return this.paged<FoundFile>('GET', `/ui/api/files?q=${enc(text)}&page=${page}&perPage=${perPage}`);
  }

  /** The caller's own files, newest first (any credentials). */
  async myFiles(page = 1, perPage = 50): Promise<Page<FoundFile>> {
    return this.paged<FoundFile>('GET', `/ui/api/files?mine=true&page=${page}&perPage=${perPage}`);
  }

  // --- Tracker: issues, comments, entities ---

  queues(): Promise<Queue[]> {
    return this.http.json('GET', '/v2/queues');
  }

  issue(key: string): Promise<Issue> {
    return this.http.json('GET', `/v2/issues/${enc(key)}`);
  }

  createIssue(input: { queue: string; summary: string; description?: string; attachmentIds?: string[] }): Promise<Issue> {
    return this.http.json('POST', '/v2/issues', { json: input });
  }

  /** Tracker's search body (`queue`, `keys`, `filter`, `query`, `order`), one page. */
  searchIssues(body: Record<string, unknown>, page = 1, perPage = 50): Promise<Page<Issue>> {
    return this.paged('POST', `/v2/issues/_search?page=${page}&perPage=${perPage}`, body);
  }

  comments(issue: string): Promise<Comment[]> {
    return this.http.json('GET', `/v2/issues/${enc(issue)}/comments`);
  }

  addComment(issue: string, input: { text: string; attachmentIds?: string[] }): Promise<Comment> {
    return this.http.json('POST', `/v2/issues/${enc(issue)}/comments`, { json: input });
  }

  createEntity(type: EntityType, summary: string): Promise<Entity> {
    return this.http.json('POST', `/v2/entities/${type}`, { json: { fields: { summary } } });
  }

  entity(type: EntityType, id: string): Promise<Entity> {
    return this.http.json('GET', `/v2/entities/${type}/${enc(id)}`);
  }

  // --- files ---

  /** An issue's files and its comments'. */
  issueAttachments(issue: string): Promise<Attachment[]> {
    return this.http.json('GET', `/v2/issues/${enc(issue)}/attachments`);
  }

  entityAttachments(type: EntityType, id: string): Promise<Attachment[]> {
    return this.http.json('GET', `/v2/entities/${type}/${enc(id)}/attachments`);
  }

  /** Any file by id, wherever it is (Tracker credentials). */
  attachment(id: string): Promise<Attachment> {
    return this.http.json('GET', `/v2/attachments/${enc(id)}`);
  }

  /** Deletes a file by id: Tracker's route with Tracker credentials, Zulip's with Zulip's (the uploader's own). */
  async deleteAttachment(id: string): Promise<void> {
    await this.http.request('DELETE', this.zulip ? `/api/v1/attachments/${enc(id)}` : `/v2/attachments/${enc(id)}`);
  }

  /** Zulip's list of the caller's uploads, with the messages that link them, and the space used. */
  zulipAttachments(): Promise<{ attachments: ZulipAttachment[]; upload_space_used: number }> {
    return this.http.json('GET', '/api/v1/attachments');
  }

  /** Posts a Zulip message (which claims the uploads it links); its id. */
  async sendMessage(input: { type: 'stream' | 'direct' | 'private'; to: string; topic?: string; content: string }): Promise<number> {
    const form = new URLSearchParams(Object.entries(input).filter((e): e is [string, string] => e[1] !== undefined));
    const answer = await this.http.json<{ id: number }>('POST', '/api/v1/messages', { body: () => form });
    return answer.id;
  }

  /** See `UploadOptions`: multipart for small files, tus above, resumed from `resumeStore` when a run was stopped. */
  upload(source: UploadSource, options: UploadOptions): Promise<UploadResult> {
    return upload(this.http, source, options);
  }

  /** A file by id (any credentials) or by its content URL, to a path (resumed when a run was stopped) or a stream. */
  async download(ref: string, dest: string | Writable, options: DownloadOptions = {}): Promise<DownloadResult & { name: string }> {
    const { url, name } = await this.contentOf(ref);
    return { ...(await download(this.http, url, dest, options)), name };
  }

  /** Where a file's bytes are, and its name. */
  async contentOf(ref: string): Promise<{ url: string; name: string }> {
    if (!/^\d{1,15}$/.test(ref)) {
      const path = new URL(ref, this.http.baseUrl).pathname;
      return { url: this.http.url(ref), name: decodeURIComponent(path.split('/').pop() || 'file') };
    }
    if (!this.zulip) {
      const attachment = await this.attachment(ref);
      return { url: attachment.content, name: attachment.name };
    }
    const own = (await this.zulipAttachments()).attachments.find((a) => String(a.id) === ref);
    if (!own) throw new AffixClientError(404, `No upload ${ref} of yours`);
    return { url: `/user_uploads/${own.path_id}`, name: own.name };
  }

  private async paged<T>(method: string, path: string, body?: unknown): Promise<Page<T>> {
    const response = await this.http.request(method, path, body === undefined ? {} : { json: body });
    const items = (await response.json()) as T[];
    return { items, total: Number(response.headers.get('x-total-count') ?? items.length) };
  }
}
