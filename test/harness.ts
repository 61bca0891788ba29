import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { spawn, type ChildProcess } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { loadConfig, type Config } from '../src/config.js';
import type { Affix } from '../src/core/affix.js';
import { openCore, startServer } from '../src/server.js';
import { isPackedKey } from '../src/store/blob/blob-packs.js';
import { provisionBackend, type Backend } from './backends.js';

export interface TestUser {
  token: string;
  orgId: string;
  userId: string;
  /** Headers a Tracker client sends for this user. */
  headers: Record<string, string>;
}

/**
 * `AFFIX_TEST_WORKERS=N` (N > 1): servers run as `affix serve --workers N` in a process of their own
 * (the crash and hostile suites run so too); otherwise in this process, or one worker when spawned.
 */
export const TEST_WORKERS = Number(process.env.AFFIX_TEST_WORKERS ?? '1');

export interface TestServer {
  url: string;
  dataDir: string;
  /** The core over the same stores (in this process even when the server runs as a cluster), and where /metrics is when moved. */
  server: { core: Affix; metricsUrl: string | null };
  /** The stores under this server (`AFFIX_TEST_BACKEND` chooses them). */
  backend: Backend;
  addUser(orgId: string, login: string, display?: string): Promise<TestUser>;
  /** Blobs stored (files under the data directory's blobs/ and keys of packed blobs, or object keys) and staging files left. */
  storedFiles(): Promise<{ blobs: string[]; staging: string[] }>;
  close(): Promise<void>;
}

/** The real server on a free loopback port, with a data directory (and a database schema and bucket) of its own. */
export async function startAffix(flags: Record<string, string> = {}): Promise<TestServer> {
  const dataDir = await mkdtemp(join(tmpdir(), 'affix-test-'));
  const backend = await provisionBackend();
  const all = { port: '0', 'data-dir': dataDir, 'log-level': 'silent', 'gc-interval': '0', 'rate-limit': '0', ...backend.flags, ...flags };
  const config: Config = loadConfig(all, {});
  let core: Affix;
  let url: string;
  let metricsUrl: string | null = null;
  let stop: () => Promise<void>;
  if (TEST_WORKERS > 1) {
    // A cluster in a process of its own; the test's own core over the same stores adds users and lists blobs.
    const spawned = await spawnAffix(Object.entries({ ...all, 'log-level': 'info', workers: String(TEST_WORKERS) }).flatMap(([flag, value]) => [`--${flag}`, value]));
    core = await openCore(config);
    url = spawned.url;
    stop = async () => {
      await spawned.stop();
      await core.close();
    };
  } else {
    const server = await startServer(config);
    ({ core, url, metricsUrl } = server);
    stop = async () => {
      // A test may leave a keep-alive connection with an unread body; don't wait out its timeout.
      const closing = server.close();
      server.app.server.closeAllConnections();
      await closing;
    };
  }
  return {
    url,
    dataDir,
    server: { core, metricsUrl },
    backend,
    async addUser(orgId, login, display = login) {
      const { user, token } = await core.identity.addUser({ orgExtId: orgId, login, display });
      return {
        token,
        orgId,
        userId: String(user.id),
        headers: { authorization: `OAuth ${token}`, 'x-org-id': orgId },
      };
    },
    async storedFiles() {
      const keys = await backend.storedBlobKeys();
      if (keys) return { blobs: keys, staging: [] };
      const files = await listStoredFiles(dataDir);
      for await (const key of core.blobs.listOlderThan(Number.POSITIVE_INFINITY)) if (isPackedKey(key)) files.blobs.push(key);
      return files;
    },
    async close() {
      await stop();
      await backend.dispose();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export const CLI = join(process.cwd(), 'dist/src/cli/main.js');

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `affix ARGS` in a process of its own, with `env` as its whole environment: its exit code and output. */
export function runCli(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<CliRun> {
  const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

export interface SpawnedAffix {
  child: ChildProcess;
  url: string;
  /** Everything the process has written to stdout so far (its log lines). */
  output(): string;
  /** The exit code, once it has exited. */
  exited: Promise<number | null>;
  /** SIGTERM, and wait for the process to exit. */
  stop(): Promise<void>;
}

/** `affix serve` as its own process on a free loopback port; resolves once it listens. */
export function spawnAffix(args: string[], env: Record<string, string> = {}): Promise<SpawnedAffix> {
  const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--gc-interval', '0', '--workers', String(TEST_WORKERS), ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, ...env },
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    let seen = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      const match = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(seen);
      if (match) {
        resolve({
          child,
          url: match[1]!,
          output: () => seen,
          exited,
          async stop() {
            if (child.exitCode === null) child.kill('SIGTERM');
            await exited;
          },
        });
      }
    });
    child.on('exit', (code) => reject(new Error(`affix serve exited with ${code}: ${seen}`)));
  });
}

export async function listStoredFiles(dataDir: string): Promise<{ blobs: string[]; staging: string[] }> {
  const walk = async (dir: string): Promise<string[]> => {
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    const nested = await Promise.all(entries.map((e) => (e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)])));
    return nested.flat();
  };
  return { blobs: await walk(join(dataDir, 'blobs')), staging: await walk(join(dataDir, 'tmp')) };
}

/**
 * Node's own FormData, captured before anything replaces it: zulip-js (through isomorphic-form-data)
 * sets the global to the `form-data` package, which Node's fetch cannot send.
 */
export const NativeFormData = globalThis.FormData;

/** A multipart body the way the Python client builds it: part `file` named `file`, real name in the query. */
export function fileForm(content: string | Uint8Array<ArrayBuffer>, partFilename = 'file', type = 'application/octet-stream'): FormData {
  const form = new NativeFormData();
  form.append('file', new Blob([content], { type }), partFilename);
  return form;
}

export async function json(response: Response): Promise<any> {
  const text = await response.text();
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`expected JSON, got ${response.status}: ${text.slice(0, 200)}`);
  }
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A plain node:http request, for what fetch will not do: set Host, stream a body, or hang up midway. */
export function rawRequest(
  url: string,
  options: { method?: string; headers?: Record<string, string | number>; body?: Buffer | string | AsyncIterable<Buffer> } = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(url, { method: options.method ?? 'GET', headers: options.headers }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (c: Buffer) => chunks.push(c));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks).toString() }));
      response.on('error', reject);
    });
    request.on('error', reject);
    const body = options.body;
    if (body === undefined || typeof body === 'string' || Buffer.isBuffer(body)) {
      request.end(body);
      return;
    }
    (async () => {
      for await (const chunk of body) {
        if (request.destroyed) return;
        if (!request.write(chunk)) await new Promise((r) => request.once('drain', r));
      }
      request.end();
    })().catch(reject);
  });
}

/** A multipart envelope around a streamed file part, for bodies too large to build in memory. */
export function multipartStream(boundary: string, chunks: AsyncIterable<Buffer> | Iterable<Buffer>, partFilename = 'file'): AsyncIterable<Buffer> {
  return (async function* () {
    yield Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${partFilename}"\r\nContent-Type: application/octet-stream\r\n\r\n`,
    );
    for await (const chunk of chunks) yield chunk;
    yield Buffer.from(`\r\n--${boundary}--\r\n`);
  })();
}

/** `count` chunks of `size` bytes each, all the same pattern (cheap to make, and not all zeros). */
export function* repeatedChunks(count: number, size = 1 << 20): Iterable<Buffer> {
  const chunk = Buffer.alloc(size);
  for (let i = 0; i < size; i++) chunk[i] = (i * 31 + 7) & 0xff;
  for (let i = 0; i < count; i++) yield chunk;
}
