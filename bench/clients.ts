import autocannon from 'autocannon';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Agent, request } from 'node:http';
import { promisify } from 'node:util';
import { multipartStream, rawRequest } from '../test/harness.js';

export const BOUNDARY = 'affix-bench-boundary';
const agent = new Agent({ keepAlive: true, maxSockets: 64 });
const execFileAsync = promisify(execFile);

/** `count` MiB of random bytes: one random MiB repeated, its first bytes changed per upload so no two uploads are equal. */
export function* randomMiB(count: number): Iterable<Buffer> {
  const chunk = randomBytes(1 << 20);
  for (let i = 0; i < count; i++) yield i === 0 ? Buffer.concat([randomBytes(64), chunk.subarray(64)]) : chunk;
}

export type UploadTarget = 'affix' | 'nginx' | 'fastify-plain' | 'tus-server';

/** Uploads `mib` MiB to a system the way its clients do; resolves with where to download it, if anywhere. */
export async function uploadLarge(target: UploadTarget, url: string, mib: number, headers: Record<string, string> = {}): Promise<string | null> {
  const body = randomMiB(mib);
  const multipart = { ...headers, 'content-type': `multipart/form-data; boundary=${BOUNDARY}` };
  switch (target) {
    case 'affix': {
      const r = await rawRequest(`${url}/v2/attachments?filename=big.bin`, { method: 'POST', headers: multipart, body: multipartStream(BOUNDARY, body) });
      if (r.status !== 201) throw new Error(`affix upload: ${r.status} ${r.body}`);
      return JSON.parse(r.body).content as string;
    }
    case 'nginx': {
      const path = `/dav/big-${randomBytes(4).toString('hex')}.bin`;
      const r = await rawRequest(`${url}${path}`, { method: 'PUT', headers: { 'content-length': mib << 20 }, body: toAsync(body) });
      if (r.status !== 201 && r.status !== 204) throw new Error(`nginx PUT: ${r.status}`);
      return `${url}${path}`;
    }
    case 'fastify-plain': {
      const r = await rawRequest(`${url}/upload`, { method: 'POST', headers: multipart, body: multipartStream(BOUNDARY, body) });
      if (r.status !== 201) throw new Error(`fastify-plain upload: ${r.status} ${r.body}`);
      return `${url}/files/${JSON.parse(r.body).id}`;
    }
    case 'tus-server': {
      const created = await rawRequest(`${url}/files`, { method: 'POST', headers: { 'tus-resumable': '1.0.0', 'upload-length': mib << 20 } });
      const location = created.headers.location as string;
      if (created.status !== 201 || !location) throw new Error(`tus create: ${created.status}`);
      const patched = await rawRequest(new URL(location, url).toString(), {
        method: 'PATCH',
        headers: { 'tus-resumable': '1.0.0', 'upload-offset': 0, 'content-type': 'application/offset+octet-stream', 'content-length': mib << 20 },
        body: toAsync(body),
      });
      if (patched.status !== 204) throw new Error(`tus PATCH: ${patched.status} ${patched.body}`);
      return null;
    }
  }
}

async function* toAsync(chunks: Iterable<Buffer>): AsyncIterable<Buffer> {
  yield* chunks;
}

/** GETs a URL, discarding the bytes; resolves with how many arrived (following one redirect is not needed: none here). */
export function download(url: string, headers: Record<string, string> = {}): Promise<{ status: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    request(url, { agent, headers }, (response) => {
      let bytes = 0;
      response.on('data', (chunk: Buffer) => (bytes += chunk.length));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, bytes }));
      response.on('error', reject);
    })
      .on('error', reject)
      .end();
  });
}

/**
 * GETs a URL with curl, discarding the bytes. For whole large files: Node's own client tops out near
 * 450 MiB/s on this machine, below what the servers send (curl reads 1.3-2.8 GiB/s of the same files),
 * so with it every system measured about the same.
 */
export async function downloadWithCurl(url: string, headers: Record<string, string> = {}): Promise<{ status: number; bytes: number }> {
  const headerArgs = Object.entries(headers).flatMap(([name, value]) => ['-H', `${name}: ${value}`]);
  const { stdout } = await execFileAsync('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code} %{size_download}', ...headerArgs, url]);
  const [status, bytes] = stdout.split(' ').map(Number);
  return { status: status!, bytes: bytes! };
}

/** `count` reads of 1 MiB at random offsets of a `size`-byte file, one after another; resolves with MiB/s. */
export async function randomRangeReads(url: string, size: number, count: number, headers: Record<string, string> = {}): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < count; i++) {
    const start = Math.floor(Math.random() * (size - (1 << 20)));
    const { status, bytes } = await download(url, { ...headers, range: `bytes=${start}-${start + (1 << 20) - 1}` });
    if (status !== 206 || bytes !== 1 << 20) throw new Error(`range read: ${status}, ${bytes} bytes`);
  }
  return count / ((performance.now() - started) / 1000);
}

export interface LoadResult {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
}

/** A fixed number of connections sending requests for `seconds`; each request's body may be changed first. */
export async function load(options: {
  url: string;
  connections: number;
  seconds: number;
  method?: 'GET' | 'POST' | 'PUT';
  headers?: Record<string, string>;
  body?: Buffer;
  /** Changes the request before it goes: a unique body or path, from a counter. */
  vary?: (n: number, request: { path: string; body?: Buffer }) => void;
}): Promise<LoadResult> {
  let n = 0;
  const vary = (req: autocannon.Request): autocannon.Request => {
    const changed = { path: req.path ?? '/', body: req.body as Buffer | undefined };
    options.vary!(n++, changed);
    return { ...req, path: changed.path, body: changed.body };
  };
  const result = await autocannon({
    url: options.url,
    connections: options.connections,
    duration: options.seconds,
    requests: [
      {
        method: options.method ?? 'GET',
        headers: options.headers,
        ...(options.body ? { body: options.body } : {}),
        ...(options.vary ? { setupRequest: (req: autocannon.Request) => vary(req) } : {}),
      },
    ],
  });
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, errors: result.errors + result.non2xx };
}

/** A multipart body around `data`, as Affix and the plain Fastify app take it. */
export function multipartBody(data: Buffer, filename = 'small.bin'): { body: Buffer; dataOffset: number } {
  const head = Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="${filename}"\r\nContent-Type: application/octet-stream\r\n\r\n`);
  return { body: Buffer.concat([head, data, Buffer.from(`\r\n--${BOUNDARY}--\r\n`)]), dataOffset: head.length };
}

/**
 * `mib` MiB through tus to a creation endpoint (Affix's `/v2/tus`, @tus/server's `/files`): one PATCH,
 * or PATCHes of `chunkMiB`. With `cutAtHalf`, the first PATCH is cut off halfway (the socket destroyed)
 * and the upload resumed from the offset a HEAD reports; resolves with the seconds the resume took.
 */
export async function uploadTus(
  endpoint: string,
  mib: number,
  headers: Record<string, string>,
  options: { chunkMiB?: number; cutAtHalf?: boolean } = {},
): Promise<{ resumeSeconds: number | null }> {
  const tusHeaders = { ...headers, 'tus-resumable': '1.0.0' };
  const created = await rawRequest(endpoint, { method: 'POST', headers: { ...tusHeaders, 'upload-length': mib << 20, 'upload-metadata': `filename ${Buffer.from('big.bin').toString('base64')}` } });
  const location = new URL(created.headers.location as string, endpoint).toString();
  if (created.status !== 201) throw new Error(`tus create: ${created.status} ${created.body}`);
  /** `bytes` bytes from `offset` (the content does not matter here, only its length). */
  const patch = (offset: number, bytes: number) =>
    rawRequest(location, {
      method: 'PATCH',
      headers: { ...tusHeaders, 'upload-offset': offset, 'content-type': 'application/offset+octet-stream', 'content-length': bytes },
      body: toAsync(bytesOf(bytes)),
    });
  if (options.cutAtHalf) {
    const half = Math.floor(mib / 2);
    // Half the bytes, then the connection dies: the server keeps what arrived.
    await cutRequest(location, { ...tusHeaders, 'upload-offset': '0', 'content-type': 'application/offset+octet-stream', 'content-length': String(mib << 20) }, half);
    const t0 = performance.now();
    let head = await rawRequest(location, { method: 'HEAD', headers: tusHeaders });
    // The server may still be making the cut bytes durable: ask again, as clients do.
    for (let i = 0; i < 50 && (head.status !== 200 || Number(head.headers['upload-offset']) === 0); i++) {
      await new Promise((r) => setTimeout(r, 100));
      head = await rawRequest(location, { method: 'HEAD', headers: tusHeaders });
    }
    const offset = Number(head.headers['upload-offset']);
    const done = await patch(offset, (mib << 20) - offset);
    if (done.status !== 200 && done.status !== 204) throw new Error(`tus resume PATCH: ${done.status} ${done.body}`);
    return { resumeSeconds: (performance.now() - t0) / 1000 };
  }
  const step = options.chunkMiB ?? mib;
  for (let at = 0; at < mib; at += step) {
    const r = await patch(at << 20, Math.min(step, mib - at) << 20);
    if (r.status !== 200 && r.status !== 204) throw new Error(`tus PATCH: ${r.status} ${r.body}`);
  }
  return { resumeSeconds: null };
}

/** `bytes` random bytes, in MiB chunks (the last one shorter). */
function* bytesOf(bytes: number): Iterable<Buffer> {
  const whole = Math.floor(bytes / (1 << 20));
  yield* randomMiB(whole);
  if (bytes % (1 << 20) > 0) yield randomBytes(bytes % (1 << 20));
}

/** Sends the headers and `mib` MiB of a body that declared more, then destroys the socket. */
function cutRequest(url: string, headers: Record<string, string>, mib: number): Promise<void> {
  return new Promise((resolve) => {
    const req = request(url, { method: 'PATCH', headers });
    req.on('error', () => resolve());
    let sent = 0;
    const chunks = [...randomMiB(mib)];
    const next = () => {
      while (sent < chunks.length) if (!req.write(chunks[sent++])) return void req.once('drain', next);
      // Let the last bytes reach the server before the reset.
      setTimeout(() => (req.destroy(), resolve()), 300);
    };
    next();
  });
}
