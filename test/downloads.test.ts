import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fileForm, json, startAffix, type TestServer, type TestUser } from './harness.js';

describe('downloads: conditional requests, ranges, HEAD', () => {
  let affix: TestServer;
  let ivan: TestUser;
  let content: string;
  let etag: string;
  let lastModified: string;
  const body = Buffer.from(Array.from({ length: 10_000 }, (_, i) => 97 + (i % 26)));

  const get = (headers: Record<string, string> = {}, method = 'GET') => fetch(content, { method, headers: { ...ivan.headers, ...headers } });

  before(async () => {
    affix = await startAffix();
    ivan = await affix.addUser('11', 'ivan');
    const file = await json(await fetch(`${affix.url}/v2/attachments?filename=letters.txt`, { method: 'POST', headers: ivan.headers, body: fileForm(body) }));
    content = file.content;
    const first = await get();
    etag = first.headers.get('etag')!;
    lastModified = first.headers.get('last-modified')!;
    await first.arrayBuffer();
  });
  after(() => affix.close());

  it('sends the sha256 as ETag, Last-Modified, Accept-Ranges and private caching', async () => {
    const response = await get();
    assert.match(etag, /^"[0-9a-f]{64}"$/);
    assert.ok(!Number.isNaN(Date.parse(lastModified)));
    assert.equal(response.headers.get('accept-ranges'), 'bytes');
    assert.equal(response.headers.get('cache-control'), 'private');
    assert.deepEqual(Buffer.from(await response.arrayBuffer()), body);
  });

  it('answers 304 to a matching If-None-Match or an If-Modified-Since not before the upload', async () => {
    const conditional: Array<Record<string, string>> = [{ 'if-none-match': etag }, { 'if-none-match': `"other", W/${etag}` }, { 'if-none-match': '*' }, { 'if-modified-since': lastModified }];
    for (const headers of conditional) {
      const response = await get(headers);
      assert.equal(response.status, 304, JSON.stringify(headers));
      assert.equal(response.headers.get('etag'), etag);
      assert.equal(await response.text(), '');
    }
    assert.equal((await get({ 'if-none-match': '"other"' })).status, 200);
    assert.equal((await get({ 'if-modified-since': new Date(Date.parse(lastModified) - 60_000).toUTCString() })).status, 200);
    // If-None-Match decides when both are sent.
    assert.equal((await get({ 'if-none-match': '"other"', 'if-modified-since': lastModified })).status, 200);
  });

  it('serves one range with 206 and Content-Range: first-last, open-ended and suffix forms', async () => {
    const cases: Array<[string, number, number]> = [
      ['bytes=0-9', 0, 9],
      ['bytes=9990-', 9990, 9999],
      ['bytes=-5', 9995, 9999],
      ['bytes=5000-99999', 5000, 9999],
    ];
    for (const [range, start, end] of cases) {
      const response = await get({ range });
      assert.equal(response.status, 206, range);
      assert.equal(response.headers.get('content-range'), `bytes ${start}-${end}/10000`);
      assert.equal(response.headers.get('content-length'), String(end - start + 1));
      assert.deepEqual(Buffer.from(await response.arrayBuffer()), body.subarray(start, end + 1));
    }
  });

  it('answers 416 with Content-Range and the dialect’s error body for an unsatisfiable range', async () => {
    for (const range of ['bytes=10000-', 'bytes=20000-30000', 'bytes=-0']) {
      const response = await get({ range });
      assert.equal(response.status, 416, range);
      assert.equal(response.headers.get('content-range'), 'bytes */10000');
      assert.equal((await json(response)).statusCode, 416);
    }
  });

  it('ignores ranges it does not serve (several, other units) and a stale If-Range', async () => {
    const ignored: Array<Record<string, string>> = [{ range: 'bytes=0-1,5-6' }, { range: 'items=0-1' }, { range: 'bytes=0-9', 'if-range': '"stale"' }];
    for (const headers of ignored) {
      const response = await get(headers);
      assert.equal(response.status, 200, JSON.stringify(headers));
      assert.equal((await response.arrayBuffer()).byteLength, 10_000);
    }
    assert.equal((await get({ range: 'bytes=0-9', 'if-range': etag })).status, 206);
  });

  it('answers HEAD with the headers of GET and no body', async () => {
    const response = await get({}, 'HEAD');
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-length'), '10000');
    assert.equal(response.headers.get('etag'), etag);
    assert.equal(response.headers.get('content-type'), 'text/plain');
    assert.equal(await response.text(), '');
    const ranged = await get({ range: 'bytes=0-99' }, 'HEAD');
    assert.equal(ranged.status, 206);
    assert.equal(ranged.headers.get('content-length'), '100');
  });
});
