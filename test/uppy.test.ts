import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { build } from 'esbuild';
import type { Page } from 'playwright-core';
import { launchChromium } from './browser/chromium.js';
import { json, startAffix, type TestServer } from './harness.js';

const MIB = 1 << 20;

/** The bytes the page generates from `seed` (the same generator as test/fixtures/uppy-page.js). */
function generated(size: number, seed: number): Buffer {
  const bytes = Buffer.alloc(size);
  let x = seed >>> 0;
  for (let i = 0; i < size; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    bytes[i] = x >>> 24;
  }
  return bytes;
}

/** A static site on its own loopback port (so its own origin) serving the bundled Uppy page. */
async function pageServer(script: string): Promise<{ origin: string; close(): Promise<void> }> {
  const server: Server = createServer((request, response) => {
    if (request.url === '/page.js') {
      response.writeHead(200, { 'content-type': 'text/javascript' }).end(script);
      return;
    }
    response.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>uploads</title><script type="module" src="/page.js"></script>');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

interface UppyResult {
  successful: Array<{ name: string; uploadURL: string }>;
  failed: string[];
  answers: Array<{ method: string; status: number; body: string | null }>;
  progressEvents: number;
}

describe('Uppy’s tus plugin in Chromium, from a web app on another origin', () => {
  let affix: TestServer;
  let site: Awaited<ReturnType<typeof pageServer>>;
  let stranger: Awaited<ReturnType<typeof pageServer>>;
  let chromium: Awaited<ReturnType<typeof launchChromium>>;
  let zulip: Record<string, string>;
  let tracker: Record<string, string>;

  before(async () => {
    const bundle = await build({
      entryPoints: [join(process.cwd(), 'test/fixtures/uppy-page.js')],
      bundle: true,
      format: 'esm',
      platform: 'browser',
      write: false,
      logLevel: 'silent',
    });
    const script = bundle.outputFiles[0]!.text;
    [site, stranger] = await Promise.all([pageServer(script), pageServer(script)]);
    affix = await startAffix({ 'cors-origins': site.origin, 'max-file-size': '64MiB' });
    const made = await affix.server.core.identity.addUser({ orgExtId: 'web', login: 'ivan', display: 'Ivan', email: 'ivan@web.test' });
    zulip = { authorization: `Basic ${Buffer.from(`${made.user.email}:${made.apiKey}`).toString('base64')}` };
    tracker = { authorization: `OAuth ${made.token}`, 'x-org-id': 'web' };
    chromium = await launchChromium();
  });
  after(async () => {
    await chromium?.close();
    await affix?.close();
    await Promise.all([site?.close(), stranger?.close()]);
  });

  const openPage = async (origin: string): Promise<Page> => {
    const page = await chromium.browser.newPage();
    await page.goto(`${origin}/`);
    await page.waitForFunction(() => 'uploadWithUppy' in window);
    return page;
  };
  const upload = (page: Page, options: { endpoint: string; headers: Record<string, string>; size: number; seed: number; name: string; chunkSize?: number; meta?: Record<string, string>; pauseAfter?: number }) =>
    page.evaluate((o) => (window as unknown as { uploadWithUppy(o: unknown): Promise<UppyResult> }).uploadWithUppy(o), options);
  const download = async (path: string, headers: Record<string, string>) => Buffer.from(await (await fetch(new URL(path, affix.url), { headers })).arrayBuffer());

  it('uploads to Zulip’s endpoint in one PATCH: the final answer is Zulip’s {url, filename}, the bytes identical', async () => {
    const page = await openPage(site.origin);
    try {
      const result = await upload(page, { endpoint: `${affix.url}/api/v1/tus/`, headers: zulip, size: 3 * MIB + 7, seed: 1, name: 'report.bin' });
      assert.deepEqual(result.failed, []);
      assert.equal(result.successful.length, 1);
      assert.match(result.successful[0]!.uploadURL, new RegExp(`^${affix.url}/api/v1/tus/[0-9a-f]{32}$`));
      const last = result.answers.at(-1)!;
      assert.deepEqual([last.method, last.status], ['PATCH', 200]);
      const body = JSON.parse(last.body!);
      assert.equal(body.filename, 'report.bin');
      assert.ok((await download(body.url, zulip)).equals(generated(3 * MIB + 7, 1)));
    } finally {
      await page.close();
    }
  });

  it('uploads to Tracker’s endpoint in 1 MiB chunks, onto an issue named in the metadata, with progress, paused and resumed', async () => {
    const issue = await json(await fetch(`${affix.url}/v2/issues`, { method: 'POST', headers: { ...tracker, 'content-type': 'application/json' }, body: JSON.stringify({ queue: 'WEB', summary: 'from the browser' }) }));
    const page = await openPage(site.origin);
    try {
      // Past a 5 MiB part, so on S3 the chunks are joined into parts of a multipart upload.
      const size = 7 * MIB + 3;
      const result = await upload(page, { endpoint: `${affix.url}/v2/tus/`, headers: tracker, size, seed: 2, name: 'trace.bin', chunkSize: MIB, meta: { issue: issue.key }, pauseAfter: 2 * MIB });
      assert.deepEqual(result.failed, []);
      const head = result.answers.find((a) => a.method === 'HEAD');
      assert.equal(head?.status, 200, 'resumed after the pause by asking the offset');
      // Eight chunks, less the one the pause cut off (its bytes kept or sent again), the last answered 200.
      assert.ok(result.answers.filter((a) => a.method === 'PATCH' && a.status === 204).length >= 6, JSON.stringify(result.answers.map((a) => [a.method, a.status])));
      assert.ok(result.progressEvents >= 8, `progress reported: ${result.progressEvents}`);
      const attachment = JSON.parse(result.answers.at(-1)!.body!);
      assert.equal(attachment.name, 'trace.bin');
      const files = await json(await fetch(`${affix.url}/v2/issues/${issue.key}/attachments`, { headers: tracker }));
      assert.deepEqual(files.map((f: { id: string }) => f.id), [attachment.id]);
      assert.ok((await download(attachment.content, tracker)).equals(generated(size, 2)));
    } finally {
      await page.close();
    }
  });

  it('fails from an origin not listed in --cors-origins, and nothing is created', async () => {
    const before = (await json(await fetch(`${affix.url}/api/v1/attachments`, { headers: zulip }))).attachments.length;
    const page = await openPage(stranger.origin);
    try {
      const result = await upload(page, { endpoint: `${affix.url}/api/v1/tus/`, headers: zulip, size: 1000, seed: 3, name: 'blocked.bin' });
      assert.equal(result.successful.length, 0);
      assert.equal(result.failed.length, 1);
    } finally {
      await page.close();
    }
    const after = (await json(await fetch(`${affix.url}/api/v1/attachments`, { headers: zulip }))).attachments.length;
    assert.equal(after, before);
  });
});
