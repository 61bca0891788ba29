// `node dist/bench/memory.js`: resident memory of `affix serve` at idle, under big thumbnails and a hostile upload load, and back at idle.
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { loadConfig } from '../src/config.js';
import { openCore } from '../src/server.js';

const { values: flags } = parseArgs({ options: { env: { type: 'string', multiple: true, default: [] }, args: { type: 'string', default: '' } } });
const CLI = join(process.cwd(), 'dist/src/cli/main.js');

const rss = async (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(await readFile(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

async function main(): Promise<void> {
  const dataDir = await mkdtemp(join(tmpdir(), 'affix-memory-'));
  const core = await openCore(loadConfig({ 'data-dir': dataDir }, {}));
  const { token } = await core.identity.addUser({ orgExtId: '1', login: 'bench', display: 'bench' });
  await core.close();
  const headers = { authorization: `OAuth ${token}` };
  const env = Object.fromEntries(flags.env!.map((pair) => pair.split('=') as [string, string]));
  const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--data-dir', dataDir, '--rate-limit', '0', '--max-file-size', '200MiB', ...flags.args!.split(' ').filter(Boolean)], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, ...env },
  });
  const url = await new Promise<string>((resolve) => {
    let seen = '';
    child.stdout!.on('data', (c: Buffer) => {
      seen += c.toString();
      const match = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(seen);
      if (match) resolve(match[1]!);
    });
  });
  const pid = child.pid!;
  const report: Record<string, number> = {};
  const mark = async (label: string) => {
    report[label] = Math.round(await rss(pid));
  };
  try {
    await sleep(2000);
    await mark('idle at start');
    const upload = async (bytes: Buffer, name: string) => {
      const form = new FormData();
      form.append('file', new Blob([new Uint8Array(bytes)]), name);
      return (await (await fetch(`${url}/v2/attachments/?filename=${name}`, { method: 'POST', headers, body: form })).json()) as { id: string };
    };
    const images = await Promise.all(
      [0, 1].map(async (i) => upload(await sharp({ create: { width: 7000, height: 7000, channels: 3, background: { r: 40 * i, g: 90, b: 200 } } }).jpeg({ quality: 90 }).toBuffer(), `big${i}.jpg`)),
    );
    const thumbnail = (id: string, size: number, format: string) => fetch(`${url}/v2/attachments/${id}/thumbnail?size=${size}&format=${format}`, { headers }).then((r) => r.arrayBuffer());
    await thumbnail(images[0]!.id, 320, 'webp');
    await mark('after one 7000x7000 thumbnail');
    const jobs = images.flatMap((image) => [64, 128, 256, 512, 1024].flatMap((size) => ['webp', 'jpeg'].map((format) => thumbnail(image.id, size, format))));
    await Promise.all(jobs);
    await mark(`after ${jobs.length} concurrent 7000x7000 thumbnails`);
    // A hostile load: small uploads, uploads cut off mid-body, oversized chunked bodies, 32 at a time.
    const small = Buffer.alloc(16 << 10, 7);
    for (let round = 0; round < 40; round++) {
      await Promise.all(
        Array.from({ length: 32 }, async (_, i) => {
          if (i % 4 === 0) {
            const controller = new AbortController();
            const body = new ReadableStream({
              start(c) {
                c.enqueue(new TextEncoder().encode(`--b\r\nContent-Disposition: form-data; name="file"; filename="x"\r\n\r\n`));
                c.enqueue(new Uint8Array(256 << 10));
              },
            });
            const request = fetch(`${url}/v2/attachments/`, { method: 'POST', headers: { ...headers, 'content-type': 'multipart/form-data; boundary=b' }, body, signal: controller.signal, duplex: 'half' } as RequestInit);
            setTimeout(() => controller.abort(), 50);
            return request.catch(() => undefined);
          }
          const bytes = Buffer.concat([small, Buffer.from(`${round}-${i}`)]);
          return upload(bytes, `s${round}-${i}.bin`);
        }),
      );
    }
    await mark('right after 1,280 hostile and small uploads');
    await sleep(10_000);
    await mark('idle 10 s later');
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    await rm(dataDir, { recursive: true, force: true });
  }
  const width = Math.max(...Object.keys(report).map((k) => k.length));
  for (const [label, mib] of Object.entries(report)) console.log(`${label.padEnd(width)}  ${String(mib).padStart(5)} MiB`);
}

await main();
