import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as tus from 'tus-js-client';
import { loadConfig } from '../src/config.js';
import { openCore } from '../src/server.js';
import { provisionBackend, type Backend } from './backends.js';
import { cuttingProxy } from './proxies.js';
import { json, spawnAffix, startAffix, type TestServer } from './harness.js';

const MIB = 1 << 20;
const sha = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
const b64 = (text: string) => Buffer.from(text).toString('base64');

/** tus-js-client's upload, to completion; `onResponse` sees every answer (HEAD offsets, say). */
function tusUpload(file: Buffer, options: tus.UploadOptions & { onResponse?: (method: string, offset: string | undefined) => void }): Promise<{ status: number; body: any; url: string }> {
  return new Promise((resolve, reject) => {
    const upload = new tus.Upload(file, {
      retryDelays: [0, 100, 300, 1000],
      ...options,
      onAfterResponse: (req, res) => options.onResponse?.(req.getMethod(), res.getHeader('Upload-Offset')),
      onError: (err) => reject(new Error(String(err.message).slice(0, 500))),
      onSuccess: ({ lastResponse }) => {
        const text = lastResponse.getBody();
        resolve({ status: lastResponse.getStatus(), body: text ? JSON.parse(text) : null, url: upload.url! });
      },
    });
    upload.start();
  });
}

describe('resumable uploads (tus 1.0) in both dialects', () => {
  let affix: TestServer;
  const affixHasInPlaceBytes = () => process.env.AFFIX_TEST_BACKEND !== 'postgres-s3';
  let zulip: Record<string, string>;
  let tracker: Record<string, string>;
  let other: Record<string, string>;

  before(async () => {
    affix = await startAffix({ 'max-file-size': '16MiB' });
    const made = await affix.server.core.identity.addUser({ orgExtId: 'tus', login: 'ivan', display: 'Ivan', email: 'ivan@tus.test' });
    zulip = { authorization: `Basic ${Buffer.from(`${made.user.email}:${made.apiKey}`).toString('base64')}` };
    tracker = { authorization: `OAuth ${made.token}`, 'x-org-id': 'tus' };
    const eve = await affix.server.core.identity.addUser({ orgExtId: 'tus', login: 'eve', display: 'Eve', email: 'eve@tus.test' });
    other = { authorization: `OAuth ${eve.token}`, 'x-org-id': 'tus' };
  });
  after(() => affix.close());

  const raw = (method: string, path: string, headers: Record<string, string>, body?: Buffer | string) =>
    fetch(path.startsWith('http') ? path : `${affix.url}${path}`, {
      method,
      headers: { 'tus-resumable': '1.0.0', ...headers },
      ...(body !== undefined ? { body: typeof body === 'string' ? body : new Uint8Array(body) } : {}),
    });
  const create = async (endpoint: string, headers: Record<string, string>, length: number | null, metadata = `filename ${b64('f.bin')}`) => {
    const response = await raw('POST', endpoint, { ...headers, ...(length === null ? { 'upload-defer-length': '1' } : { 'upload-length': String(length) }), 'upload-metadata': metadata });
    assert.equal(response.status, 201, await response.clone().text());
    return response.headers.get('location')!;
  };
  const patch = (location: string, headers: Record<string, string>, offset: number, body: Buffer, extra: Record<string, string> = {}) =>
    raw('PATCH', location, { ...headers, 'content-type': 'application/offset+octet-stream', 'upload-offset': String(offset), ...extra }, body);
  const download = async (path: string, headers: Record<string, string>) => Buffer.from(await (await fetch(new URL(path, affix.url), { headers })).arrayBuffer());

  it('uploads through tus-js-client to Zulip’s endpoint: the final PATCH answers {url, filename}, and the file is a Zulip upload', async () => {
    const file = randomBytes(2 * MIB + 123);
    const done = await tusUpload(file, { endpoint: `${affix.url}/api/v1/tus/`, headers: zulip, chunkSize: MIB, metadata: { filename: 'scan.pdf', filetype: 'application/pdf' } });
    assert.equal(done.status, 200);
    assert.deepEqual(Object.keys(done.body).sort(), ['filename', 'url']);
    assert.equal(done.body.filename, 'scan.pdf');
    assert.ok(sha(await download(done.body.url, zulip)).startsWith(sha(file).slice(0, 16)));
    const listed = await json(await fetch(`${affix.url}/api/v1/attachments`, { headers: zulip }));
    const entry = listed.attachments.find((a: any) => done.body.url.endsWith(a.path_id));
    assert.equal(entry.size, file.length);
    // The bytes decide the type, not `filetype`.
    const viaTracker = await json(await fetch(`${affix.url}/v2/attachments/${entry.id}`, { headers: tracker }));
    assert.equal(viaTracker.mimetype, 'application/octet-stream');
  });

  it('uploads through tus-js-client to Tracker’s endpoint: to an issue, a comment, an entity, or as a temporary file', async () => {
    const json2 = { ...tracker, 'content-type': 'application/json' };
    const issue = await json(await fetch(`${affix.url}/v2/issues`, { method: 'POST', headers: json2, body: JSON.stringify({ queue: 'TUS', summary: 'big logs' }) }));
    const comment = await json(await fetch(`${affix.url}/v2/issues/${issue.key}/comments`, { method: 'POST', headers: json2, body: JSON.stringify({ text: 'logs below' }) }));
    const project = await json(await fetch(`${affix.url}/v2/entities/project`, { method: 'POST', headers: json2, body: JSON.stringify({ fields: { summary: 'P' } }) }));
    const file = Buffer.from('log line\n'.repeat(20_000));
    const up = (metadata: Record<string, string>) => tusUpload(file, { endpoint: `${affix.url}/v2/tus/`, headers: tracker, chunkSize: 64 * 1024, metadata: { filename: 'app.log', ...metadata } });
    const onIssue = await up({ issue: issue.key });
    assert.equal(onIssue.status, 200);
    assert.equal(onIssue.body.name, 'app.log');
    assert.equal(onIssue.body.size, file.length);
    assert.equal(onIssue.body.mimetype, 'text/plain');
    const onComment = await up({ issue: issue.id, comment: String(comment.id) });
    const attached = await json(await fetch(`${affix.url}/v2/issues/${issue.key}/attachments`, { headers: tracker }));
    assert.deepEqual(attached.map((a: any) => a.id), [onIssue.body.id, onComment.body.id]);
    assert.equal(attached[1].commentId, comment.longId);
    assert.deepEqual(await download(attached[0].content, tracker), file);
    const onEntity = await up({ entity: `project/${project.id}` });
    const files = await json(await fetch(`${affix.url}/v2/entities/project/${project.id}/attachments`, { headers: tracker }));
    assert.deepEqual(files.map((a: any) => a.id), [onEntity.body.id]);
    const temporary = await up({});
    const withIt = await json(await fetch(`${affix.url}/v2/issues`, { method: 'POST', headers: json2, body: JSON.stringify({ queue: 'TUS', summary: 'later', attachmentIds: [temporary.body.id] }) }));
    assert.deepEqual(withIt.attachments.map((a: any) => a.id), [temporary.body.id]);
    // A target that does not exist is refused at creation.
    const bad = await raw('POST', '/v2/tus/', { ...tracker, 'upload-length': '10', 'upload-metadata': `filename ${b64('x')},issue ${b64('NOPE-1')}` });
    assert.equal(bad.status, 404);
  });

  it('concatenates tus-js-client’s parallelUploads: partial uploads become one file, and never files of their own', async () => {
    const file = randomBytes(3 * MIB + 5);
    for (const [endpoint, headers] of [[`${affix.url}/api/v1/tus/`, zulip], [`${affix.url}/v2/tus/`, tracker]] as const) {
      const before = (await json(await fetch(`${affix.url}/api/v1/attachments`, { headers: zulip }))).attachments.length;
      const done = await tusUpload(file, { endpoint, headers, parallelUploads: 4, chunkSize: 512 * 1024, metadata: { filename: 'parallel.bin' } });
      assert.equal(done.status, 201);
      // The final upload has a URL of its own, complete at the file's length.
      const final = await raw('HEAD', done.url, headers);
      assert.deepEqual([final.status, final.headers.get('upload-offset'), final.headers.get('upload-length')], [200, String(file.length), String(file.length)]);
      const content = done.body.url ?? done.body.content;
      assert.equal(sha(await download(content, headers)), sha(file));
      const listed = (await json(await fetch(`${affix.url}/api/v1/attachments`, { headers: zulip }))).attachments;
      assert.equal(listed.length, before + 1, 'one file, no partial ones');
    }
    // A final upload naming an unfinished partial, or another endpoint's path, is refused.
    const partial = await raw('POST', '/v2/tus', { ...tracker, 'upload-length': '10', 'upload-concat': 'partial' });
    assert.equal(partial.headers.get('upload-concat'), 'partial');
    const unfinished = await raw('POST', '/v2/tus', { ...tracker, 'upload-concat': `final;${partial.headers.get('location')}` });
    assert.equal(unfinished.status, 400);
    assert.equal((await raw('POST', '/v2/tus', { ...tracker, 'upload-concat': 'final;/v2/attachments/1' })).status, 400);
  });

  it('remembers a completed upload until it expires: HEAD at its length, the final answer again for a client that lost it', async () => {
    const file = randomBytes(100_000);
    for (const [endpoint, headers] of [['/api/v1/tus', zulip], ['/v2/tus', tracker]] as const) {
      const location = await create(endpoint, headers, file.length);
      const done = await patch(location, headers, 0, file);
      assert.equal(done.status, 200);
      const answer = await json(done);
      const head = await raw('HEAD', location, headers);
      assert.deepEqual([head.status, head.headers.get('upload-offset'), head.headers.get('upload-length')], [200, String(file.length), String(file.length)]);
      const again = await patch(location, headers, file.length, Buffer.alloc(0));
      assert.equal(again.status, 200, 'an empty PATCH at the end answers the final answer again');
      assert.deepEqual(await json(again), answer);
      assert.equal((await patch(location, headers, 0, file)).status, 409, 'no bytes go to a complete upload');
      assert.equal((await patch(location, headers, file.length, Buffer.from('x'))).status, 413);
      if (endpoint === '/v2/tus') assert.equal((await raw('HEAD', location, other)).status, 404, 'still the uploader’s alone');
    }
    // Once the file is deleted, asking again finds nothing; expiry removes the record.
    const location = await create('/v2/tus', tracker, 3);
    const attachment = await json(await patch(location, tracker, 0, Buffer.from('abc')));
    assert.equal((await fetch(`${affix.url}/v2/attachments/${attachment.id}`, { method: 'DELETE', headers: tracker })).status, 204);
    assert.equal((await patch(location, tracker, 3, Buffer.alloc(0))).status, 404);
    await affix.server.core.collector.collect(Date.now() + 25 * 3600_000);
    assert.equal((await raw('HEAD', location, tracker)).status, 404);
  });

  it('keeps the bytes of a PATCH cut midway, and tus-js-client resumes from the durable offset', async () => {
    const file = randomBytes(3 * MIB);
    const proxy = await cuttingProxy(affix.url, MIB + 4321);
    const offsets: number[] = [];
    try {
      const done = await tusUpload(file, {
        endpoint: `${proxy.url}/api/v1/tus/`,
        headers: zulip,
        metadata: { filename: 'cut.bin' },
        onResponse: (method, offset) => method === 'HEAD' && offsets.push(Number(offset)),
      });
      assert.equal(proxy.cuts(), 1);
      // A HEAD right after the cut may come before the server has recorded the cut PATCH's bytes (0, or
      // a 423 while it finishes); the client then asks again and resumes above zero.
      assert.ok(offsets.some((o) => o > 0 && o < file.length), `resumed above zero: ${offsets}`);
      assert.equal(sha(await download(done.body.url, zulip)), sha(file));
      // The recorded digest (dedup goes by it) is the whole file's, though it arrived in two PATCHes.
      const actor = await affix.server.core.identity.authenticate(tracker.authorization!.slice('OAuth '.length), 'tus');
      const pathId = done.body.url.replace('/user_uploads/', '');
      assert.equal((await affix.server.core.attachments.getByPath(actor, pathId)).sha256, sha(file));
    } finally {
      await proxy.close();
    }
  });

  it('answers every status the protocol names: OPTIONS, 412, 415, 409, 460, 413 at creation, 401, 423, and termination', async () => {
    const options = await raw('OPTIONS', '/v2/tus', tracker);
    assert.equal(options.status, 204);
    assert.match(options.headers.get('tus-version')!, /1\.0\.0/);
    for (const ext of ['creation', 'creation-with-upload', 'creation-defer-length', 'expiration', 'checksum', 'termination', 'concatenation']) assert.ok(options.headers.get('tus-extension')!.split(',').includes(ext), ext);
    assert.deepEqual(options.headers.get('tus-checksum-algorithm')!.split(',').sort(), ['md5', 'sha1', 'sha256']);
    assert.equal(options.headers.get('tus-max-size'), String(16 * MIB));
    assert.equal((await fetch(`${affix.url}/v2/tus`, { method: 'POST', headers: { ...tracker, 'tus-resumable': '0.2.2', 'upload-length': '1' } })).status, 412);
    for (const [endpoint, headers] of [['/v2/tus', tracker], ['/api/v1/tus', zulip]] as const) {
      assert.equal((await raw('POST', endpoint, { ...headers, 'upload-length': String(16 * MIB + 1) })).status, 413, `${endpoint} over the size limit`);
      assert.equal((await raw('POST', endpoint, { authorization: 'Basic bm9ib2R5Om5vcGU=', 'upload-length': '1' })).status, 401);
    }
    const location = await create('/v2/tus', tracker, 10);
    assert.equal((await raw('PATCH', location, { ...tracker, 'content-type': 'text/plain', 'upload-offset': '0' }, 'abc')).status, 415);
    assert.equal((await patch(location, tracker, 3, Buffer.from('abc'))).status, 409);
    const wrong = await patch(location, tracker, 0, Buffer.from('abcde'), { 'upload-checksum': `sha1 ${createHash('sha1').update('other').digest('base64')}` });
    assert.equal(wrong.status, 460);
    assert.equal((await raw('HEAD', location, tracker)).headers.get('upload-offset'), '0', 'the mismatched chunk is discarded');
    const right = await patch(location, tracker, 0, Buffer.from('abcde'), { 'upload-checksum': `sha256 ${createHash('sha256').update('abcde').digest('base64')}` });
    assert.equal(right.status, 204);
    assert.equal(right.headers.get('upload-offset'), '5');
    const head = await raw('HEAD', location, tracker);
    assert.deepEqual([head.status, head.headers.get('upload-length'), head.headers.get('cache-control')], [200, '10', 'no-store']);
    assert.equal(head.headers.get('upload-metadata'), `filename ${b64('f.bin')}`, 'the creation’s metadata, as tus says a HEAD must answer it');
    assert.ok(Date.parse(head.headers.get('upload-expires')!) > Date.now());
    assert.equal((await raw('HEAD', location, other)).status, 404, 'another user’s upload does not exist for them');
    // Another request holds the upload while a slow PATCH runs.
    const slow = new ReadableStream({ async start(controller) { controller.enqueue(new Uint8Array([1])); await new Promise((r) => setTimeout(r, 600)); controller.close(); } });
    const holding = fetch(location, { method: 'PATCH', headers: { ...tracker, 'tus-resumable': '1.0.0', 'content-type': 'application/offset+octet-stream', 'upload-offset': '5' }, body: slow, duplex: 'half' } as RequestInit);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal((await patch(location, tracker, 5, Buffer.from('x'))).status, 423);
    assert.equal((await holding).status, 204);
    assert.equal((await raw('DELETE', location, tracker)).status, 204);
    assert.equal((await raw('HEAD', location, tracker)).status, 404);
  });

  it('reserves the declared length against the quota: concurrent creations never pass it, termination and expiry give it back', async () => {
    const used = (await json(await fetch(`${affix.url}/api/v1/attachments`, { headers: zulip }))).upload_space_used as number;
    // Room for between 30 and 31 MiB more: two 12 MiB reservations fit, a third would not.
    await affix.server.core.identity.setOrgLimits('tus', { uploadQuotaMib: Math.ceil(used / MIB) + 30 });
    const each = 12 * MIB;
    const attempts = await Promise.all(Array.from({ length: 5 }, () => raw('POST', '/api/v1/tus', { ...zulip, 'upload-length': String(each) })));
    const made = attempts.filter((r) => r.status === 201);
    const refused = attempts.filter((r) => r.status === 413);
    assert.deepEqual([made.length, refused.length], [2, 3], 'two reservations fit, the others would pass the quota');
    assert.equal((await json(refused[0]!)).code, 'REALM_UPLOAD_QUOTA');
    // A multipart upload meets the same reservations.
    const form = new FormData();
    form.append('file', new Blob([new Uint8Array(8 * MIB)]), 'big.bin');
    assert.equal((await fetch(`${affix.url}/api/v1/user_uploads`, { method: 'POST', headers: zulip, body: form })).status, 400);
    assert.equal((await raw('DELETE', made[0]!.headers.get('location')!, zulip)).status, 204);
    assert.equal((await raw('POST', '/api/v1/tus', { ...zulip, 'upload-length': String(each) })).status, 201, 'termination gave its reservation back');
    const report = await affix.server.core.collector.collect(Date.now() + 25 * 3600_000);
    assert.ok(report.resumableExpired >= 2);
    assert.equal((await raw('HEAD', made[1]!.headers.get('location')!, zulip)).status, 404);
    const afterExpiry = await Promise.all([1, 2].map(() => raw('POST', '/api/v1/tus', { ...zulip, 'upload-length': String(each) })));
    assert.deepEqual(afterExpiry.map((r) => r.status), [201, 201], 'expiry gave them back');
    await affix.server.core.identity.setOrgLimits('tus', { uploadQuotaMib: null });
  });

  it('refuses hostile headers and bodies with 400/404/413, keeping nothing past the declared length', async () => {
    const post = (extra: Record<string, string>) => raw('POST', '/v2/tus', { ...tracker, ...extra });
    for (const length of ['-1', 'abc', '1e3', '99999999999999999999', '']) assert.equal((await post({ 'upload-length': length })).status, 400, `Upload-Length ${length}`);
    assert.equal((await post({})).status, 400, 'neither Upload-Length nor Upload-Defer-Length');
    assert.equal((await post({ 'upload-defer-length': '2' })).status, 400);
    assert.equal((await post({ 'upload-length': '1', 'upload-metadata': `filename ${'A'.repeat(10_000)}` })).status, 400, 'metadata over 8 KiB');
    assert.equal((await post({ 'upload-length': '1', 'upload-metadata': 'filename !!!' })).status, 400, 'value not base64');
    assert.equal((await post({ 'upload-length': '1', 'upload-metadata': 'a YQ==,a Yg==' })).status, 400, 'a key twice');
    assert.equal((await post({ 'upload-length': '1', 'upload-metadata': Array.from({ length: 40 }, (_, i) => `k${i} YQ==`).join(',') })).status, 400, 'too many pairs');
    assert.equal((await post({ 'upload-length': '1', 'upload-concat': 'sideways' })).status, 400);
    assert.equal((await post({ 'upload-length': '1', 'upload-metadata': `entity ${b64('project')}` })).status, 400, 'entity without an id');
    const location = await create('/v2/tus', tracker, 4);
    for (const offset of ['-1', 'x', '']) assert.equal((await raw('PATCH', location, { ...tracker, 'content-type': 'application/offset+octet-stream', 'upload-offset': offset }, 'ab')).status, 400, `Upload-Offset ${offset}`);
    assert.equal((await patch(location, tracker, 0, Buffer.from('ab'), { 'upload-checksum': 'crc32 AAAA' })).status, 400);
    assert.equal((await patch(location, tracker, 0, Buffer.from('abcdefgh'))).status, 413, 'more than the declared length');
    assert.equal((await raw('HEAD', location, tracker)).headers.get('upload-offset'), '0', 'nothing of it kept');
    assert.equal((await patch(`${affix.url}/v2/tus/${'0'.repeat(32)}`, tracker, 0, Buffer.from('a'))).status, 404);
    assert.equal((await raw('HEAD', `${affix.url}/v2/tus/..%2F..%2Fetc`, tracker)).status, 404);
    assert.equal((await patch(location, tracker, 0, Buffer.from('abcd'))).status, 200);
  });

  it('sweeps bytes kept in place whose upload a crash removed, once they are an hour old', { skip: !affixHasInPlaceBytes() }, async () => {
    const location = await create('/v2/tus', tracker, 10);
    assert.equal((await patch(location, tracker, 0, Buffer.from('abc'))).status, 204);
    const id = location.split('/').pop()!;
    const { org } = await affix.server.core.identity.authenticate(tracker.authorization!.slice('OAuth '.length), 'tus');
    // The row goes and the file stays: what a crash between the two removals leaves.
    await affix.server.core.meta.deleteResumable(org.id, id);
    const storage = affix.server.core.blobs.resumable;
    assert.equal(storage.kind, 'in-place');
    const bytes = storage.kind === 'in-place' ? storage.bytes : assert.fail();
    assert.ok(await bytes.read(id));
    await affix.server.core.collector.collect(Date.now());
    assert.ok(await bytes.read(id), 'too young to be swept');
    await affix.server.core.collector.collect(Date.now() + 2 * 3600_000);
    assert.equal(await bytes.read(id), null);
  });

  it('takes a deferred length, and creation-with-upload completes a small file in one request', async () => {
    const location = await create('/v2/tus', tracker, null);
    assert.equal((await raw('HEAD', location, tracker)).headers.get('upload-defer-length'), '1');
    assert.equal((await patch(location, tracker, 0, Buffer.from('hello '))).status, 204);
    const last = await patch(location, tracker, 6, Buffer.from('world'), { 'upload-length': '11' });
    assert.equal(last.status, 200);
    const attachment = await json(last);
    assert.deepEqual(await download(attachment.content, tracker), Buffer.from('hello world'));
    const once = await raw('POST', '/api/v1/tus', { ...zulip, 'upload-length': '4', 'upload-metadata': `filename ${b64('tiny.txt')}`, 'content-type': 'application/offset+octet-stream' }, 'tiny');
    assert.equal(once.status, 201);
    assert.equal((await json(once)).filename, 'tiny.txt');
  });
});

describe('resumable uploads survive SIGKILL and continue on another node', () => {
  let backend: Backend;
  let dataDir: string;
  let zulip: Record<string, string>;
  before(async () => {
    backend = await provisionBackend();
    dataDir = await mkdtemp(join(tmpdir(), 'affix-tus-'));
    const core = await openCore(loadConfig({ 'data-dir': dataDir, ...backend.flags }, {}));
    const made = await core.identity.addUser({ orgExtId: 'k', login: 'ivan', display: 'ivan' });
    await core.close();
    zulip = { authorization: `Basic ${Buffer.from(`${made.user.email}:${made.apiKey}`).toString('base64')}`, 'tus-resumable': '1.0.0' };
  });
  after(async () => {
    await backend.dispose();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('resumes from the offset the killed node acknowledged, on a freshly started node, with no gap and no duplicate', async () => {
    // Past one 5 MiB part, so on S3 the second node sends more parts to the multipart upload the first began.
    const file = randomBytes(9 * MIB + 99);
    const first = await spawnAffix(['--data-dir', dataDir], backend.env);
    const created = await fetch(`${first.url}/api/v1/tus`, { method: 'POST', headers: { ...zulip, 'upload-length': String(file.length), 'upload-metadata': `filename ${b64('killed.bin')}` } });
    const path = new URL(created.headers.get('location')!).pathname;
    const chunk = (url: string, offset: number, bytes: Buffer) =>
      fetch(`${url}${path}`, { method: 'PATCH', headers: { ...zulip, 'content-type': 'application/offset+octet-stream', 'upload-offset': String(offset) }, body: new Uint8Array(bytes) });
    const acknowledged = await chunk(first.url, 0, file.subarray(0, 6 * MIB));
    assert.equal(acknowledged.status, 204);
    // A second PATCH is under way when the node dies: a megabyte sent, the rest held back, so the kill
    // always lands mid-body (a body sent whole in 50 ms could complete the upload first).
    const slow = new ReadableStream({
      async start(controller) {
        controller.enqueue(new Uint8Array(file.subarray(6 * MIB, 7 * MIB)));
        await new Promise((r) => setTimeout(r, 3000));
        controller.close();
      },
    });
    const dying = fetch(`${first.url}${path}`, {
      method: 'PATCH',
      headers: { ...zulip, 'content-type': 'application/offset+octet-stream', 'upload-offset': String(6 * MIB) },
      body: slow,
      duplex: 'half',
    } as RequestInit).catch(() => null);
    await new Promise((r) => setTimeout(r, 300));
    first.child.kill('SIGKILL');
    await first.exited;
    await dying;
    const second = await spawnAffix(['--data-dir', dataDir], backend.env);
    try {
      const head = await fetch(`${second.url}${path}`, { method: 'HEAD', headers: zulip });
      const offset = Number(head.headers.get('upload-offset'));
      assert.ok(offset >= 6 * MIB && offset <= file.length, `the acknowledged 6 MiB at least: ${offset}`);
      const rest = await chunk(second.url, offset, file.subarray(offset));
      assert.equal(rest.status, 200, `${await rest.clone().text()} ${second.output().split('\n').filter((l) => l.includes('"level":50')).join('\n').slice(0, 2000)}`);
      const { url } = await json(rest);
      const got = Buffer.from(await (await fetch(`${second.url}${url}`, { headers: zulip })).arrayBuffer());
      assert.equal(got.length, file.length);
      assert.equal(sha(got), sha(file));
    } finally {
      await second.stop();
    }
  });
});

describe('CORS for browser clients on other origins (--cors-origins)', () => {
  let affix: TestServer;
  let zulip: Record<string, string>;
  const allowed = 'https://chat.example.com';
  before(async () => {
    affix = await startAffix({ 'cors-origins': `${allowed}, http://localhost:5173` });
    const made = await affix.server.core.identity.addUser({ orgExtId: 'c', login: 'ivan', display: 'ivan' });
    zulip = { authorization: `Basic ${Buffer.from(`${made.user.email}:${made.apiKey}`).toString('base64')}` };
  });
  after(() => affix.close());

  it('answers preflights before auth, exposes tus headers on real answers, and gives unlisted origins nothing', async () => {
    for (const path of ['/api/v1/tus', '/v2/issues/X-1/attachments']) {
      const preflight = await fetch(`${affix.url}${path}`, {
        method: 'OPTIONS',
        headers: { origin: allowed, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,tus-resumable,upload-length,upload-metadata' },
      });
      assert.equal(preflight.status, 204, path);
      assert.equal(preflight.headers.get('access-control-allow-origin'), allowed);
      assert.match(preflight.headers.get('access-control-allow-headers')!.toLowerCase(), /upload-length/);
      assert.match(preflight.headers.get('access-control-allow-methods')!, /PATCH/);
    }
    const created = await fetch(`${affix.url}/api/v1/tus`, { method: 'POST', headers: { ...zulip, origin: allowed, 'tus-resumable': '1.0.0', 'upload-length': '3' } });
    assert.equal(created.status, 201);
    assert.equal(created.headers.get('access-control-allow-origin'), allowed);
    const exposed = created.headers.get('access-control-expose-headers')!.toLowerCase().split(',').map((h) => h.trim());
    for (const header of ['location', 'upload-offset', 'upload-length', 'upload-metadata', 'upload-expires', 'tus-resumable']) assert.ok(exposed.includes(header), header);
    const head = await fetch(created.headers.get('location')!, { method: 'HEAD', headers: { ...zulip, origin: allowed, 'tus-resumable': '1.0.0' } });
    assert.equal(head.headers.get('access-control-allow-origin'), allowed);
    const stranger = await fetch(`${affix.url}/api/v1/tus`, { method: 'POST', headers: { ...zulip, origin: 'https://evil.example', 'tus-resumable': '1.0.0', 'upload-length': '3' } });
    assert.equal(stranger.headers.get('access-control-allow-origin'), null);
    assert.equal(stranger.headers.get('access-control-expose-headers'), null);
  });
});
