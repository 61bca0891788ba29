import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileForm, json, multipartStream, rawRequest, repeatedChunks, startAffix, type TestServer } from './harness.js';

describe('Zulip limits: file size, organization quota, expiry', () => {
  let affix: TestServer;
  let basic: string;
  let otherBasic: string;

  before(async () => {
    affix = await startAffix({ 'temporary-ttl': '1s' });
    const core = affix.server.core;
    const user = await core.identity.addUser({ orgExtId: 'small', login: 'iago', display: 'Iago', email: 'iago@small.test' });
    const other = await core.identity.addUser({ orgExtId: 'other', login: 'eve', display: 'Eve', email: 'eve@other.test' });
    basic = `Basic ${Buffer.from(`iago@small.test:${user.apiKey}`).toString('base64')}`;
    otherBasic = `Basic ${Buffer.from(`eve@other.test:${other.apiKey}`).toString('base64')}`;
    await core.identity.setOrgLimits('small', { maxFileUploadSizeMib: 1, uploadQuotaMib: 2 });
  });
  after(() => affix.close());

  const upload = (bytes: Uint8Array<ArrayBuffer>, auth = basic) =>
    fetch(`${affix.url}/api/v1/user_uploads`, { method: 'POST', headers: { authorization: auth }, body: fileForm(bytes, 'f.bin') });
  const used = async (auth = basic) => (await json(await fetch(`${affix.url}/api/v1/attachments`, { headers: { authorization: auth } }))).upload_space_used;

  it('refuses a file over the organization’s max_file_upload_size_mib with Zulip’s message', async () => {
    const response = await upload(new Uint8Array(randomBytes((1 << 20) + 1)));
    assert.equal(response.status, 400);
    assert.deepEqual(await json(response), { result: 'error', msg: 'Uploaded file is larger than the allowed limit of 1 MiB', code: 'BAD_REQUEST' });
    // Streamed without a length, it is cut off the same way.
    const boundary = 'zulip-limit';
    const streamed = await rawRequest(`${affix.url}/api/v1/user_uploads`, {
      method: 'POST',
      headers: { authorization: basic, 'content-type': `multipart/form-data; boundary=${boundary}`, 'transfer-encoding': 'chunked' },
      body: multipartStream(boundary, repeatedChunks(3, 1 << 20)),
    });
    assert.equal(streamed.status, 400);
    assert.equal(JSON.parse(streamed.body).code, 'BAD_REQUEST');
    // A declared length far over the limit is refused before the body is read.
    const declared = await rawRequest(`${affix.url}/api/v1/user_uploads`, {
      method: 'POST',
      headers: { authorization: basic, 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': 500 << 20 },
      body: (async function* () {
        yield Buffer.from(`--${boundary}\r\n`);
        await sleep(5_000);
      })(),
    });
    assert.equal(declared.status, 400);
    assert.match(JSON.parse(declared.body).msg, /allowed limit of 1 MiB/);
    assert.equal(await used(), 0);
    assert.deepEqual((await affix.storedFiles()).staging, []);
  });

  it('lets concurrent uploads fill the quota exactly, and refuses the rest with REALM_UPLOAD_QUOTA', async () => {
    // 2 MiB quota, 10 uploads of 600 KiB at once: exactly 3 fit.
    const size = 600 << 10;
    const responses = await Promise.all(Array.from({ length: 10 }, () => upload(new Uint8Array(randomBytes(size)))));
    const bodies = await Promise.all(responses.map(json));
    const ok = bodies.filter((b) => b.result === 'success');
    const refused = responses.filter((r) => r.status === 400);
    assert.equal(ok.length, 3);
    assert.equal(refused.length, 7);
    for (const body of bodies.filter((b) => b.result === 'error')) {
      assert.deepEqual(body, { result: 'error', msg: "Upload would exceed your organization's upload quota.", code: 'REALM_UPLOAD_QUOTA' });
    }
    assert.equal(await used(), 3 * size);
    assert.ok((await used()) <= 2 << 20);
    // Another organization's quota is its own.
    assert.equal((await upload(new Uint8Array(randomBytes(size)), otherBasic)).status, 200);
    assert.equal(await used(otherBasic), size);
    // Refused uploads left nothing: 3 + 1 blobs.
    assert.equal((await affix.storedFiles()).blobs.length, 4);
  });

  it('expires unclaimed uploads through the same collector as Tracker’s temporary files', async () => {
    await sleep(1_100);
    const report = await affix.server.core.collector.collect();
    assert.equal(report.expired, 4);
    assert.equal(await used(), 0);
    assert.deepEqual((await affix.storedFiles()).blobs, []);
  });
});
