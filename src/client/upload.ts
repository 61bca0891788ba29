// Uploads from a path, a Buffer or a stream: one multipart request for small files, tus (resumable, chunked, optionally parallel) for the rest.
import { createReadStream, openAsBlob } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Readable } from 'node:stream';
import * as tus from 'tus-js-client';
import { AffixClientError, errorOf } from './errors.js';
import type { Http } from './http.js';
import type { Attachment, Progress, UploadTarget, ZulipUpload } from './types.js';
import { JsonUrlStorage } from './url-store.js';

/** A file by its path, bytes in memory, or a stream (of `size` bytes if known). */
export type UploadSource = string | Uint8Array | { stream: Readable; size?: number };

export interface UploadOptions {
  target: UploadTarget;
  /** The file's name; default the path's last part, or `file`. */
  name?: string;
  onProgress?: (progress: Progress) => void;
  signal?: AbortSignal;
  /** Files of at least this many bytes go through tus, resumable; smaller ones in one multipart request (default 8 MiB). */
  resumableFrom?: number;
  /** Bytes per tus PATCH (default: the whole file in one; a stream of unknown size: 8 MiB). */
  chunkSize?: number;
  /** tus uploads of this many parts at once, joined on the server (concatenation); default 1. */
  parallel?: number;
  /**
   * A JSON file keeping the URLs of unfinished tus uploads of files given by path, so the same upload
   * started again (after a crash or Ctrl-C) goes on where the server's bytes end.
   */
  resumeStore?: string;
}

/** Tracker's attachment, or Zulip's `{url, filename}`; `resumed`: the server had some of the bytes already. */
export type UploadResult = ({ attachment: Attachment } | { zulip: ZulipUpload }) & { resumed: boolean; bytes: number };

const DEFAULT_RESUMABLE_FROM = 8 << 20;
const STREAM_CHUNK = 8 << 20;

export async function upload(http: Http, source: UploadSource, options: UploadOptions): Promise<UploadResult> {
  const name = options.name ?? (typeof source === 'string' ? basename(source) : 'file');
  const size = typeof source === 'string' ? await fileSize(source) : source instanceof Uint8Array ? source.byteLength : source.size;
  const resumable = size === undefined || size >= (options.resumableFrom ?? DEFAULT_RESUMABLE_FROM) || 'stream' in Object(source);
  if (!resumable) return multipart(http, source as string | Uint8Array, size!, name, options);
  return viaTus(http, source, size, name, options);
}

async function fileSize(path: string): Promise<number> {
  await access(path).catch(() => {
    throw new AffixClientError(0, `${path}: no such file, or it cannot be read`, { kind: 'input' });
  });
  const info = await stat(path);
  if (!info.isFile()) throw new AffixClientError(0, `${path}: not a file`, { kind: 'input' });
  return info.size;
}

/** One request; Tracker's targets each have their route (an entity's: a temporary file, then attached). */
async function multipart(http: Http, source: string | Uint8Array, size: number, name: string, options: UploadOptions): Promise<UploadResult> {
  const form = async () => {
    const data = new FormData();
    const blob = typeof source === 'string' ? await openAsBlob(source) : new Blob([new Uint8Array(source)]);
    data.append('file', blob, name);
    return data;
  };
  const target = options.target;
  const q = `?filename=${encodeURIComponent(name)}`;
  const request = { body: form, ...(options.signal ? { signal: options.signal } : {}) };
  options.onProgress?.({ bytes: 0, total: size });
  let result: UploadResult;
  if ('zulip' in target) {
    const answer = await http.json<{ url: string; filename?: string }>('POST', '/api/v1/user_uploads', request);
    result = { zulip: { url: answer.url, filename: answer.filename ?? name }, resumed: false, bytes: size };
  } else if ('entity' in target) {
    const temporary = await http.json<Attachment>('POST', `/v2/attachments/${q}`, request);
    const [type, id] = target.entity.split('/');
    await http.json('POST', `/v2/entities/${type}/${encodeURIComponent(id!)}/attachments/${temporary.id}`, { ...(options.signal ? { signal: options.signal } : {}) });
    result = { attachment: temporary, resumed: false, bytes: size };
  } else {
    const path =
      'temporary' in target
        ? '/v2/attachments/'
        : 'comment' in target
          ? `/v2/issues/${encodeURIComponent(target.issue)}/comments/${encodeURIComponent(target.comment)}/attachments`
          : `/v2/issues/${encodeURIComponent(target.issue)}/attachments/`;
    result = { attachment: await http.json<Attachment>('POST', `${path}${q}`, request), resumed: false, bytes: size };
  }
  options.onProgress?.({ bytes: size, total: size });
  return result;
}

/** tus: resumed from the store when this file's upload was under way, else created; the final PATCH's answer is the result. */
async function viaTus(http: Http, source: UploadSource, size: number | undefined, name: string, options: UploadOptions): Promise<UploadResult> {
  const zulip = 'zulip' in options.target;
  const endpoint = http.url(zulip ? '/api/v1/tus/' : '/v2/tus/');
  const input = typeof source === 'string' ? createReadStream(source) : source instanceof Uint8Array ? Buffer.from(source) : source.stream;
  let resumed = false;
  const storage = options.resumeStore && typeof source === 'string' ? new JsonUrlStorage(options.resumeStore) : null;
  const lastBody = await new Promise<{ body: string; url: string }>((resolve, reject) => {
    const upload = new tus.Upload(input as never, {
      endpoint,
      headers: http.authHeaders(),
      metadata: { filename: name, ...tusTarget(options.target) },
      // tus-js-client knows the size of a path or a Buffer itself (and refuses to be told with parallel parts).
      ...(size === undefined ? { uploadLengthDeferred: true } : typeof source === 'object' && 'stream' in source ? { uploadSize: size } : {}),
      ...(options.chunkSize || size === undefined || typeof source !== 'string' ? { chunkSize: options.chunkSize ?? STREAM_CHUNK } : {}),
      ...(options.parallel && options.parallel > 1 ? { parallelUploads: options.parallel } : {}),
      retryDelays: [0, 1000, 3000, 5000, 10000],
      ...(storage ? { urlStorage: storage, storeFingerprintForResuming: true } : { storeFingerprintForResuming: false }),
      removeFingerprintOnSuccess: true,
      onProgress: (bytes, total) => options.onProgress?.({ bytes, total: total || size || bytes }),
      onError: (err) => {
        const response = (err as tus.DetailedError).originalResponse;
        reject(response ? errorOf(response.getStatus(), response.getBody() ?? '') : new AffixClientError(0, err.message.split('\n')[0] ?? err.message));
      },
      onSuccess: ({ lastResponse }) => resolve({ body: lastResponse.getBody() ?? '', url: upload.url ?? '' }),
    });
    options.signal?.addEventListener('abort', () => {
      // Stopped, not terminated: the server keeps what it has, and the store the URL (once written), for the next run to go on from.
      void Promise.resolve(upload.abort(false))
        .catch(() => undefined)
        .then(() => storage?.settled())
        .then(() => reject(new AffixClientError(0, 'Cancelled', { kind: 'cancelled' })));
    });
    const start = async () => {
      if (storage) {
        const previous = await upload.findPreviousUploads();
        const [latest] = previous.sort((a, b) => Date.parse(b.creationTime) - Date.parse(a.creationTime));
        if (latest) {
          resumed = true;
          upload.resumeFromPreviousUpload(latest);
        }
      }
      upload.start();
    };
    start().catch(reject);
  });
  // Complete already when resumed: tus-js-client ends on its HEAD; an empty PATCH at the end asks for the final answer again.
  const body = lastBody.body || (await finalAnswer(http, lastBody.url, size ?? 0, options.signal));
  // The stored URL's removal is under way (removeFingerprintOnSuccess): done before this resolves, so a process may exit at once.
  await storage?.settled();
  const answer = JSON.parse(body) as Attachment | ZulipUpload;
  return { ...(zulip ? { zulip: answer as ZulipUpload } : { attachment: answer as Attachment }), resumed, bytes: size ?? 0 };
}

async function finalAnswer(http: Http, url: string, length: number, signal?: AbortSignal): Promise<string> {
  const response = await http.request('PATCH', url, {
    headers: { 'tus-resumable': '1.0.0', 'upload-offset': String(length), 'content-type': 'application/offset+octet-stream' },
    body: () => new Uint8Array(0),
    idempotent: true,
    ...(signal ? { signal } : {}),
  });
  return response.text();
}

/** Where the file goes, as the tus endpoints' metadata says it. */
function tusTarget(target: UploadTarget): Record<string, string> {
  if ('comment' in target) return { issue: target.issue, comment: target.comment };
  if ('issue' in target) return { issue: target.issue };
  if ('entity' in target) return { entity: target.entity };
  return {};
}
