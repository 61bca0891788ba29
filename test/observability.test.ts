import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { fileForm, json, spawnAffix, startAffix, type TestServer } from './harness.js';

/** One sample of a Prometheus text exposition: the value of `name{labels}` (labels in any order), or null. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | null {
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const got = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(match[3]);
  }
  return null;
}

describe('observability: /metrics after known traffic, /readyz, request ids', () => {
  let affix: TestServer;
  let headers: Record<string, string>;

  before(async () => {
    affix = await startAffix({ 'max-file-size': '1MiB', 'gc-interval': '1s' });
    const made = await affix.server.core.identity.addUser({ orgExtId: 'ops', login: 'ivan', display: 'Ivan' });
    headers = { authorization: `OAuth ${made.token}`, 'x-org-id': 'ops' };
    await fetch(`${affix.url}/v2/issues`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify({ queue: 'OPS', summary: 's' }) });
  });
  after(() => affix.close());

  const metrics = async () => (await fetch(`${affix.url}/metrics`)).text();

  it('counts requests by route template and status, bytes up and down, uploads, failures, thumbnails and the collector', async () => {
    const before = await metrics();
    const route = { method: 'POST', route: '/v2/issues/:issue/attachments', status: '201' };
    const sizes = [3000, 5000];
    for (const size of sizes) assert.equal((await fetch(`${affix.url}/v2/issues/OPS-1/attachments`, { method: 'POST', headers, body: fileForm(new Uint8Array(randomBytes(size)), 'f.bin') })).status, 201);
    const png = await sharp({ create: { width: 200, height: 100, channels: 3, background: '#08f' } }).png().toBuffer();
    const image = await json(await fetch(`${affix.url}/v2/issues/OPS-1/attachments`, { method: 'POST', headers, body: fileForm(new Uint8Array(png), 'p.png') }));
    const thumbnail = await fetch(image.thumbnail, { headers });
    assert.equal(thumbnail.status, 200);
    const thumbnailBytes = (await thumbnail.arrayBuffer()).byteLength;
    const tus = await fetch(`${affix.url}/v2/tus`, { method: 'POST', headers: { ...headers, 'tus-resumable': '1.0.0', 'upload-length': '4000', 'content-type': 'application/offset+octet-stream' }, body: new Uint8Array(4000) });
    assert.equal(tus.status, 201);
    const refused = await fetch(`${affix.url}/v2/issues/OPS-1/attachments`, { method: 'POST', headers, body: fileForm(new Uint8Array(2 << 20), 'big.bin') });
    assert.equal(refused.status, 413);
    const got = await fetch(image.content, { headers });
    const downloaded = (await got.arrayBuffer()).byteLength;
    await new Promise((r) => setTimeout(r, 1300));
    const now = await metrics();
    const delta = (name: string, labels: Record<string, string> = {}) => (sample(now, name, labels) ?? 0) - (sample(before, name, labels) ?? 0);
    assert.equal(delta('affix_http_requests_total', route), 3);
    assert.equal(delta('affix_http_request_duration_seconds_count', route), 3);
    assert.ok(delta('affix_upload_bytes_total', { kind: 'multipart' }) >= sizes[0]! + sizes[1]! + png.length, 'multipart bytes, whole bodies');
    assert.ok(delta('affix_upload_bytes_total', { kind: 'tus' }) >= 4000);
    assert.equal(delta('affix_download_bytes_total'), downloaded + thumbnailBytes, 'the file and its thumbnail');
    assert.equal(delta('affix_upload_failures_total', { kind: 'multipart', cause: 'too_large' }), 1);
    assert.equal(sample(now, 'affix_uploads_in_flight', { kind: 'multipart' }), 0);
    assert.equal(delta('affix_thumbnail_seconds_count'), 1);
    assert.ok(delta('affix_collector_runs_total', { outcome: 'ok' }) >= 1, 'the collector ran on its timer');
    for (const name of ['nodejs_eventloop_lag_seconds', 'process_resident_memory_bytes', 'nodejs_heap_size_used_bytes']) assert.notEqual(sample(now, name), null, name);
    assert.doesNotMatch(now, /OPS-1|route="\/v2\/issues\/OPS/, 'route templates, never raw URLs');
    assert.match(now, /# TYPE affix_upload_bytes_total counter/);
  });

  it('counts a store’s failures (not its refusals) and answers /readyz 503 while a store fails', async () => {
    const ready = await fetch(`${affix.url}/readyz`);
    assert.deepEqual([ready.status, await ready.json()], [200, { status: 'ready', meta: 'ok', blobs: 'ok' }]);
    assert.deepEqual(await json(await fetch(`${affix.url}/healthz`)), { status: 'ok' });
    const blobs = affix.server.core.blobs as { size: (key: string) => Promise<number | null> };
    const size = blobs.size;
    blobs.size = () => Promise.reject(new Error('the disk is gone'));
    try {
      const unready = await fetch(`${affix.url}/readyz`);
      assert.equal(unready.status, 503);
      assert.deepEqual(await unready.json(), { status: 'unready', meta: 'ok', blobs: 'failed: the disk is gone' });
      assert.ok((sample(await metrics(), 'affix_store_errors_total', { store: 'blob', method: 'size' }) ?? 0) >= 1);
      blobs.size = () => new Promise(() => undefined);
      const slow = await fetch(`${affix.url}/readyz`);
      assert.deepEqual([slow.status, (await slow.json()).blobs], [503, 'no answer within 2000 ms']);
    } finally {
      delete (blobs as Partial<typeof blobs>).size;
    }
    assert.equal(blobs.size, size);
    assert.equal((await fetch(`${affix.url}/readyz`)).status, 200);
    // A refusal (the quota) is the domain's, not a failing store.
    await affix.server.core.identity.setOrgLimits('ops', { uploadQuotaMib: 0 });
    await fetch(`${affix.url}/v2/issues/OPS-1/attachments`, { method: 'POST', headers, body: fileForm('x', 'x.txt') });
    await affix.server.core.identity.setOrgLimits('ops', { uploadQuotaMib: null });
    assert.equal(sample(await metrics(), 'affix_store_errors_total', { store: 'meta', method: 'insertAttachment' }), null);
  });

  it('answers every request with an X-Request-Id: the caller’s when sane, else a new one', async () => {
    const own = await fetch(`${affix.url}/healthz`, { headers: { 'x-request-id': 'trace-42.a_b' } });
    assert.equal(own.headers.get('x-request-id'), 'trace-42.a_b');
    const made = await fetch(`${affix.url}/v2/myself`);
    assert.match(made.headers.get('x-request-id')!, /^[0-9a-f-]{36}$/);
    for (const bad of ['x'.repeat(129), 'has space', 'semi;colon']) {
      const answer = await fetch(`${affix.url}/healthz`, { headers: { 'x-request-id': bad } });
      assert.match(answer.headers.get('x-request-id')!, /^[0-9a-f-]{36}$/, bad);
    }
  });
});

describe('observability: the metrics token and port, and request ids in the logs', () => {
  it('keeps /metrics behind --metrics-token, or on --metrics-port alone', async () => {
    const guarded = await startAffix({ 'metrics-token': 's3cret' });
    try {
      assert.equal((await fetch(`${guarded.url}/metrics`)).status, 401);
      assert.equal((await fetch(`${guarded.url}/metrics`, { headers: { authorization: 'Bearer wrong' } })).status, 401);
      const ok = await fetch(`${guarded.url}/metrics`, { headers: { authorization: 'Bearer s3cret' } });
      assert.equal(ok.status, 200);
      assert.match(ok.headers.get('content-type')!, /^text\/plain; version=0\.0\.4/);
    } finally {
      await guarded.close();
    }
    const apart = await startAffix({ 'metrics-port': '0' });
    try {
      assert.equal((await fetch(`${apart.url}/metrics`)).status, 404, 'not on the public port');
      assert.ok(apart.server.metricsUrl);
      assert.equal((await fetch(`${apart.server.metricsUrl}/metrics`)).status, 200);
    } finally {
      await apart.close();
    }
  });

  it('puts the request id on every log line of the request (JSON logs when not on a terminal)', async () => {
    const server = await spawnAffix(['--log-level', 'info']);
    try {
      await fetch(`${server.url}/v2/issues/NOPE-1`, { headers: { 'x-request-id': 'find-me-7', authorization: 'OAuth nope' } });
      await new Promise((r) => setTimeout(r, 200));
      const lines = server.output().split('\n').filter((l) => l.includes('find-me-7'));
      assert.ok(lines.length >= 2, `request and response lines: ${lines.length}`);
      for (const line of lines) assert.equal(JSON.parse(line).reqId, 'find-me-7');
    } finally {
      await server.stop();
    }
  });
});
