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
    affix = await startAffix({ 'accel-redirect': '/_affix_blobs/' });
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
