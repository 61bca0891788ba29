// Affix's API as the pages call it: same origin, the session cookie, and each dialect's error body turned into its message.

export interface User {
  id: string;
  display: string;
}

/** Tracker's attachment JSON, with what the UI's own endpoints add. */
export interface FileJson {
  id: string;
  name: string;
  content: string;
  thumbnail?: string;
  createdBy: User;
  createdAt: string;
  mimetype: string;
  size: number;
  metadata?: { size: string };
  commentId?: string;
  issueKey?: string | null;
  entityId?: string | null;
  temporary?: boolean;
}

export interface Session {
  user: { id: number; login: string; display: string; email: string };
  org: { id: string; realmId: number; name: string };
  limits: { maxFileBytes: number; quotaBytes: number | null; usedBytes: number };
}

export interface Queue {
  key: string;
  id: string;
}

export interface IssueJson {
  id: string;
  key: string;
  summary: string;
  description?: string;
  queue: { key: string };
  createdBy: User;
  createdAt: string;
  updatedAt: string;
}

export interface CommentJson {
  id: number;
  longId: string;
  text: string;
  createdBy: User;
  createdAt: string;
}

export const ENTITY_TYPES = ['project', 'portfolio', 'goal'] as const;
export type EntityType = (typeof ENTITY_TYPES)[number];

export interface EntityJson {
  id: string;
  shortId: number;
  entityType: EntityType;
  createdBy: User;
  createdAt: string;
  fields: { summary: string };
  attachments?: FileJson[];
}

/** Zulip's attachment JSON (`GET /api/v1/attachments`). */
export interface ZulipUpload {
  id: number;
  name: string;
  path_id: string;
  size: number;
  create_time: number;
  messages: Array<{ id: number; date_sent: number }>;
}

export interface UsageJson {
  usedBytes: number;
  quotaBytes: number | null;
  maxFileBytes: number;
  files: number;
  byKind: Array<{ kind: string; files: number; bytes: number }>;
  byMonth: Array<{ month: string; files: number; bytes: number }>;
  largest: FileJson[];
  uploaders: Array<{ user: User & { login: string }; files: number; bytes: number }>;
}

export interface Paged<T> {
  items: T[];
  total: number;
  pages: number;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** The message in any of Affix's error bodies: Tracker's `errorMessages`, Zulip's `msg`. */
export function errorMessage(status: number, text: string): string {
  try {
    const body = JSON.parse(text) as { errorMessages?: string[]; msg?: string };
    if (body.errorMessages?.[0]) return body.errorMessages[0];
    if (body.msg) return body.msg;
  } catch {
    // not JSON: the status says it
  }
  return `The server answered ${status}`;
}

async function call<T>(method: string, path: string, body?: unknown): Promise<{ data: T; headers: Headers }> {
  const response = await fetch(path, {
    method,
    credentials: 'same-origin',
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  if (!response.ok) throw new ApiError(response.status, errorMessage(response.status, text));
  return { data: (text ? JSON.parse(text) : undefined) as T, headers: response.headers };
}

const get = async <T>(path: string) => (await call<T>('GET', path)).data;
const post = async <T>(path: string, body: unknown) => (await call<T>('POST', path, body)).data;
const remove = async (path: string) => void (await call('DELETE', path));

async function paged<T>(method: string, path: string, body?: unknown): Promise<Paged<T>> {
  const { data, headers } = await call<T[]>(method, path, body);
  return { items: data, total: Number(headers.get('x-total-count') ?? data.length), pages: Number(headers.get('x-total-pages') ?? 1) };
}

const enc = encodeURIComponent;
export const PER_PAGE = 20;

export const api = {
  session: () => get<Session>('/ui/api/session'),
  signIn: (credentials: { token: string; org: string } | { email: string; apiKey: string }) => post<Session>('/ui/api/session', credentials),
  signOut: () => remove('/ui/api/session'),

  queues: () => get<Queue[]>('/v2/queues'),
  /** Newest first; `text` searches summaries and keys. */
  issues: (options: { queue?: string; text?: string; page: number }) =>
    paged<IssueJson>('POST', `/v2/issues/_search?perPage=${PER_PAGE}&page=${options.page}`, {
      ...(options.text ? { query: `${options.queue ? `Queue: ${options.queue} ` : ''}${JSON.stringify(options.text)} "Sort By": Created DESC` } : { filter: options.queue ? { queue: options.queue } : {}, order: '-createdAt' }),
    }),
  issue: (key: string) => get<IssueJson>(`/v2/issues/${enc(key)}`),
  createIssue: (queue: string, summary: string) => post<IssueJson>('/v2/issues', { queue, summary }),
  comments: (key: string) => get<CommentJson[]>(`/v2/issues/${enc(key)}/comments`),
  createComment: (key: string, text: string, attachmentIds: string[]) => post<CommentJson>(`/v2/issues/${enc(key)}/comments`, { text, attachmentIds }),
  issueFiles: (key: string) => get<FileJson[]>(`/v2/issues/${enc(key)}/attachments`),
  deleteIssueFile: (key: string, id: string) => remove(`/v2/issues/${enc(key)}/attachments/${enc(id)}`),

  entities: async (type: EntityType, text: string, page: number): Promise<Paged<EntityJson>> => {
    const found = await post<{ hits: number; pages: number; values: EntityJson[] }>(`/v2/entities/${type}/_search?perPage=${PER_PAGE}&page=${page}`, {
      ...(text ? { input: text } : {}),
      orderBy: 'createdAt',
      orderAsc: false,
    });
    return { items: found.values, total: found.hits, pages: found.pages };
  },
  entity: (type: EntityType, id: string) => get<EntityJson>(`/v2/entities/${type}/${enc(id)}?expand=attachments`),
  createEntity: (type: EntityType, summary: string) => post<EntityJson>(`/v2/entities/${type}`, { fields: { summary } }),
  deleteEntityFile: (type: EntityType, id: string, fileId: string) => remove(`/v2/entities/${type}/${enc(id)}/attachments/${enc(fileId)}`),

  deleteTemporary: (id: string) => remove(`/v2/attachments/${enc(id)}`),
  myUploads: () => get<{ attachments: ZulipUpload[]; upload_space_used: number }>('/api/v1/attachments'),
  deleteUpload: (id: number) => remove(`/api/v1/attachments/${id}`),

  searchFiles: (q: string, page: number) => paged<FileJson>('GET', `/ui/api/files?q=${enc(q)}&perPage=${PER_PAGE}&page=${page}`),
  usage: () => get<UsageJson>('/ui/api/usage'),
};
