import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI } from '../test/harness.js';

/** A server under test, in a process of its own on loopback. */
export interface System {
  name: string;
  url: string;
  pid: number;
  dir: string;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function waitForUrl(child: ChildProcess, pattern: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    let seen = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      const match = pattern.exec(seen);
      if (match) resolve(match[1]!);
    });
    child.once('exit', (code) => reject(new Error(`exited with ${code}: ${seen}`)));
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

type AffixSystem = System & { headers: Record<string, string>; startupMs: number };

/**
 * Affix on the embedded default, with its own data directory and a user; `startupMs` is the time from
 * spawning the process to its first 200 on /healthz. Request logs are off (warn), as for the peers.
 * With `sharing`, a second process on that Affix's data directory and user, which it leaves in place.
 * One process (`--workers 1`) unless `extra` says otherwise, as nginx runs one worker here.
 */
export async function startAffix(extra: string[] = [], sharing?: AffixSystem): Promise<AffixSystem> {
  const dir = sharing?.dir ?? (await mkdtemp(join(tmpdir(), 'affix-bench-')));
  const headers = sharing?.headers ?? benchUser(dir);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const started = performance.now();
  // AFFIX_BENCH_PROFILE=<dir>: Affix writes a V8 CPU profile there when it stops (open it in Chrome's DevTools).
  const profile = process.env.AFFIX_BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.AFFIX_BENCH_PROFILE}`] : [];
  const child = spawn(
    process.execPath,
    [...profile, CLI, 'serve', '--port', String(port), '--data-dir', dir, '--rate-limit', '0', '--gc-interval', '0', '--log-level', 'warn', '--workers', '1', ...extra],
    { stdio: ['ignore', 'inherit', 'inherit'] },
  );
  for (;;) {
    if (child.exitCode !== null) throw new Error(`affix exited with ${child.exitCode}`);
    const ok = await fetch(`${url}/healthz`, { headers: { connection: 'close' } }).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  const startupMs = performance.now() - started;
  return {
    name: 'affix',
    url,
    pid: child.pid!,
    dir,
    startupMs,
    headers,
    async stop() {
      await stopChild(child);
      if (!sharing) await rm(dir, { recursive: true, force: true });
    },
  };
}

function benchUser(dir: string): Record<string, string> {
  const user = JSON.parse(
    execFileSync(process.execPath, [CLI, 'user', 'add', '--org', '1', '--login', 'bench', '--data-dir', dir], { encoding: 'utf8' }),
  ) as { token: string };
  return { authorization: `OAuth ${user.token}`, 'x-org-id': '1' };
}

/** A Node peer from bench/peers/, compiled to dist/bench/peers/. */
export async function startPeer(name: 'fastify-plain' | 'tus-server'): Promise<System> {
  const dir = await mkdtemp(join(tmpdir(), `bench-${name}-`));
  const child = spawn(process.execPath, [join(process.cwd(), 'dist/bench/peers', `${name}.js`), dir, '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await waitForUrl(child, /listening (http:\/\/127\.0\.0\.1:\d+)/);
  return {
    name,
    url,
    pid: child.pid!,
    dir,
    async stop() {
      await stopChild(child);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * nginx (Debian's) with one worker, like Affix's one process: WebDAV PUT under /dav/, static files with
 * sendfile under /files/. With `affix`, a second server proxies to it and serves X-Accel-Redirect.
 */
export async function startNginx(affix?: System): Promise<System & { accelUrl: string | null; www: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-nginx-'));
  const www = join(dir, 'www');
  await Promise.all(['www/dav', 'www/files', 'tmp'].map((d) => mkdir(join(dir, d), { recursive: true })));
  const port = await freePort();
  const accelPort = affix ? await freePort() : null;
  const conf = `
user root;
worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000;
  client_max_body_size 0;
  client_body_temp_path ${dir}/tmp/body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
  server {
    listen 127.0.0.1:${port};
    root ${www};
    location /dav/ { dav_methods PUT; create_full_put_path on; client_body_buffer_size 1m; }
    location /files/ { }
  }
  ${
    affix && accelPort
      ? `server {
    listen 127.0.0.1:${accelPort};
    location / { proxy_pass ${affix.url}; proxy_request_buffering off; proxy_http_version 1.1; proxy_set_header Connection ""; }
    location /_affix_blobs/ { internal; alias ${affix.dir}/blobs/; }
  }`
      : ''
  }
}
`;
  await writeFile(join(dir, 'nginx.conf'), conf);
  const child = spawn('nginx', ['-c', join(dir, 'nginx.conf')], { stdio: ['ignore', 'ignore', 'inherit'] });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    const up = await fetch(`${url}/files/`).then(
      (r) => r.status > 0,
      () => false,
    );
    if (up) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    name: 'nginx',
    url,
    accelUrl: accelPort ? `http://127.0.0.1:${accelPort}` : null,
    www,
    pid: child.pid!,
    dir,
    async stop() {
      await stopChild(child);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
