// Downloads to a path (resumed with Range where a run stopped) or to a stream, checked against the sha256 the ETag carries.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AffixClientError } from './errors.js';
import type { Http } from './http.js';
import type { Progress } from './types.js';

export interface DownloadOptions {
  onProgress?: (progress: Progress) => void;
  signal?: AbortSignal;
}

export interface DownloadResult {
  bytes: number;
  /** The sha256 of what was written; checked against Affix's ETag. */
  sha256: string;
  /** Bytes an earlier, stopped run had already fetched. */
  resumedFrom: number;
}

const SHA256 = /^"?([0-9a-f]{64})"?$/;

/**
 * `url` (a content URL) into `dest`. To a path, the bytes go to `<dest>.<sha256>.part` first: a run
 * stopped midway is resumed by the next (`Range` with `If-Range`, so a file changed meanwhile starts
 * over), and the file takes its name only once its sha256 matches the ETag (Affix's ETag is the
 * sha256; behind a presigned S3 redirect there is none to check, and it is not).
 */
export async function download(http: Http, url: string, dest: string | Writable, options: DownloadOptions = {}): Promise<DownloadResult> {
  const signal = options.signal ? { signal: options.signal } : {};
  const earlier = typeof dest === 'string' ? await partOf(dest) : null;
  const response = await http.request('GET', url, {
    headers: earlier ? { range: `bytes=${earlier.size}-`, 'if-range': `"${earlier.sha256}"` } : {},
    ...signal,
  });
  const resumed = earlier !== null && response.status === 206;
  // If-Range failed (the file changed since the part was fetched): the whole file came; the old part goes.
  if (earlier && !resumed) await rm(earlier.path, { force: true });
  const expected = SHA256.exec(response.headers.get('etag') ?? '')?.[1] ?? (resumed ? earlier.sha256 : null);
  const have = resumed ? earlier.size : 0;
  const total = have + Number(response.headers.get('content-length') ?? 0);
  const hash = createHash('sha256');
  if (resumed) for await (const chunk of createReadStream(earlier.path) as AsyncIterable<Buffer>) hash.update(chunk);
  const partial = typeof dest === 'string' ? `${dest}.${expected ?? 'unchecked'}.part` : null;
  let done = have;
  options.onProgress?.({ bytes: done, total });
  if (response.body) {
    await pipeline(
      Readable.fromWeb(response.body as never),
      async function* (source) {
        for await (const chunk of source as AsyncIterable<Buffer>) {
          hash.update(chunk);
          done += chunk.length;
          options.onProgress?.({ bytes: done, total });
          yield chunk;
        }
      },
      partial ? createWriteStream(partial, { flags: resumed ? 'a' : 'w' }) : (dest as Writable),
      signal,
    );
  }
  const sha256 = hash.digest('hex');
  if (expected && sha256 !== expected) {
    if (partial) await rm(partial, { force: true });
    throw new AffixClientError(0, `The bytes received do not match the file's sha256 (${expected.slice(0, 12)}…); nothing kept`, { kind: 'integrity' });
  }
  if (partial) await rename(partial, dest as string);
  return { bytes: done, sha256, resumedFrom: have };
}

/** What a stopped run left for `dest`: its `.part` file, named by the sha256 it was fetching. */
async function partOf(dest: string): Promise<{ path: string; size: number; sha256: string } | null> {
  const prefix = `${basename(dest)}.`;
  const names = await readdir(dirname(dest)).catch(() => [] as string[]);
  for (const name of names) {
    const sha256 = name.startsWith(prefix) && name.endsWith('.part') ? name.slice(prefix.length, -'.part'.length) : '';
    if (!/^[0-9a-f]{64}$/.test(sha256)) continue;
    const path = join(dirname(dest), name);
    const size = (await stat(path).catch(() => null))?.size ?? 0;
    if (size > 0) return { path, size, sha256 };
  }
  return null;
}
