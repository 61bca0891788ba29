import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BACKEND } from './backends.js';
import { fileForm, json, startAffix, type TestServer, type TestUser } from './harness.js';
import { makeImage } from './images.js';

// nginx serves files from the data directory: there is nothing to redirect to when blobs live in S3.
describe('--accel-redirect: nginx serves the bytes', { skip: BACKEND !== 'embedded' && 'local disk only (refused with S3)' }, () => {
  let affix: TestServer;
  let ivan: TestUser;
  before(async () => {
    // Every blob a file of its own, as nginx's alias needs; packed blobs are below.
    affix = await startAffix({ 'accel-redirect': '/_affix_blobs/', 'pack-files-up-to': '0' });
    ivan = await affix.addUser('14', 'ivan');
  });
  after(() => affix.close());

  it('answers downloads with X-Accel-Redirect to the blob under the internal prefix, headers set, no body', async () => {
    const file = await json(await fetch(`${affix.url}/v2/attachments?filename=report.html`, { method: 'POST', headers: ivan.headers, body: fileForm('<h1>hi</h1>') }));
    const response = await fetch(file.content, { headers: ivan.headers });
    assert.equal(response.status, 200);
    const target = response.headers.get('x-accel-redirect')!;
    assert.match(target, /^\/_affix_blobs\/[0-9a-f]{2}\/[0-9a-f]{2}\/[0-9a-f]{32}$/);
    assert.equal(await response.text(), '');
    // The path below the prefix is the file nginx's `alias <data-dir>/blobs/` will find.
    assert.equal(await readFile(join(affix.dataDir, 'blobs', target.slice('/_affix_blobs/'.length)), 'utf8'), '<h1>hi</h1>');
    assert.equal(response.headers.get('content-type'), 'text/html');
    assert.ok(response.headers.get('content-disposition')!.startsWith('attachment;'));
    assert.equal(response.headers.get('x-content-type-options'), 'nosniff');
    // Access control and revalidation stay Affix's.
    assert.equal((await fetch(file.content)).status, 401);
    assert.equal((await fetch(file.content, { headers: { ...ivan.headers, 'if-none-match': response.headers.get('etag')! } })).status, 304);
  });

  it('redirects thumbnails too', async () => {
    const image = await json(await fetch(`${affix.url}/v2/attachments?filename=a.png`, { method: 'POST', headers: ivan.headers, body: fileForm(new Uint8Array(await makeImage(500, 500).png().toBuffer())) }));
    const response = await fetch(image.thumbnail, { headers: ivan.headers });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), 'image/webp');
    assert.match(response.headers.get('x-accel-redirect')!, /^\/_affix_blobs\//);
  });
});

describe('--accel-redirect with small files packed', { skip: BACKEND !== 'embedded' && 'local disk only (refused with S3)' }, () => {
  let affix: TestServer;
  let ivan: TestUser;
  before(async () => {
    affix = await startAffix({ 'accel-redirect': '/_affix_blobs/', 'pack-files-up-to': '16KiB' });
    ivan = await affix.addUser('14', 'ivan');
  });
  after(() => affix.close());

  it('streams a packed file itself (nginx has no file to send) and redirects a larger one', async () => {
    const upload = async (body: string) =>
      json(await fetch(`${affix.url}/v2/attachments?filename=a.txt`, { method: 'POST', headers: ivan.headers, body: fileForm(body) }));
    const small = await fetch((await upload('packed')).content, { headers: ivan.headers });
    assert.equal(small.headers.get('x-accel-redirect'), null);
    assert.equal(await small.text(), 'packed');
    const large = await fetch((await upload('x'.repeat(16 * 1024 + 1))).content, { headers: ivan.headers });
    assert.match(large.headers.get('x-accel-redirect')!, /^\/_affix_blobs\/[0-9a-f]{2}\/[0-9a-f]{2}\/[0-9a-f]{32}$/);
  });
});
