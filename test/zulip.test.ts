import assert from 'node:assert/strict';
import { createReadStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
// The harness first: it keeps Node's FormData before zulip-js replaces the global one.
import { fileForm, json, NativeFormData, startAffix, type TestServer } from './harness.js';
import zulip from 'zulip-js';
import { UrlSigner } from '../src/core/signed-urls.js';

globalThis.FormData = NativeFormData;

interface ZulipUser {
  email: string;
  apiKey: string;
  basic: string;
  client: Awaited<ReturnType<typeof zulip>>;
  trackerHeaders: Record<string, string>;
}

describe('Zulip dialect', () => {
  let affix: TestServer;
  let iago: ZulipUser;
  let hamlet: ZulipUser;
  let outsider: ZulipUser;
  let realmId: number;

  const makeUser = async (org: string, login: string): Promise<ZulipUser> => {
    const { user, apiKey, token, org: o } = await affix.server.core.identity.addUser({ orgExtId: org, login, display: login, email: `${login}@${org}.test` });
    realmId = org === 'zulip' ? o.id : realmId;
    return {
      email: user.email,
      apiKey,
      basic: `Basic ${Buffer.from(`${user.email}:${apiKey}`).toString('base64')}`,
      client: await zulip({ username: user.email, apiKey, realm: affix.url }),
      trackerHeaders: { authorization: `OAuth ${token}` },
    };
  };
  const raw = (user: ZulipUser | null, path: string, init: RequestInit = {}) =>
    fetch(`${affix.url}${path}`, { ...init, headers: { ...(user ? { authorization: user.basic } : {}), ...(init.headers as Record<string, string>) } });
  const uploadFile = async (user: ZulipUser, name: string, content: string | Buffer) => {
    const path = join(affix.dataDir, name);
    await writeFile(path, content);
    return user.client.callEndpoint('/user_uploads', 'POST', { file: createReadStream(path) });
  };

  before(async () => {
    affix = await startAffix({ 'temporary-ttl': '1h' });
    iago = await makeUser('zulip', 'iago');
    hamlet = await makeUser('zulip', 'hamlet');
    outsider = await makeUser('lear', 'cordelia');
  });
  after(() => affix.close());

  it('uploads through zulip-js and answers with uri, url and filename', async () => {
    const result = await uploadFile(iago, 'notes 2024.txt', 'meeting notes');
    assert.equal(result.result, 'success');
    assert.equal(result.msg, '');
    assert.equal(result.filename, 'notes 2024.txt');
    assert.equal(result.uri, result.url);
    assert.match(result.url, new RegExp(`^/user_uploads/${realmId}/[0-9a-f]{2}/[A-Za-z0-9_-]{24}/notes-2024\\.txt$`));
    const download = await raw(iago, result.url);
    assert.equal(download.status, 200);
    assert.equal(await download.text(), 'meeting notes');
  });

  it('lists the caller’s uploads with the messages that claim them, in the source document’s shape', async () => {
    const upload = await uploadFile(iago, 'diagram.png.txt', 'a'.repeat(1234));
    const sent = await iago.client.messages.send({ type: 'stream', to: 'design', topic: 'diagrams', content: `See [the diagram](${upload.url})` });
    assert.equal(sent.result, 'success');
    assert.equal(typeof sent.id, 'number');
    const sent2 = await iago.client.messages.send({ type: 'channel', to: 'design', topic: 'again', content: `Absolute: ${affix.url}${upload.url}` });

    const listed = await iago.client.callEndpoint('/attachments', 'GET');
    assert.equal(listed.result, 'success');
    assert.equal(listed.msg, '');
    assert.deepEqual(Object.keys(listed).sort(), ['attachments', 'msg', 'result', 'upload_space_used']);
    const entry = listed.attachments.find((a: any) => upload.url.endsWith(a.path_id));
    assert.deepEqual(Object.keys(entry).sort(), ['create_time', 'id', 'messages', 'name', 'path_id', 'size']);
    assert.equal(typeof entry.id, 'number');
    assert.equal(entry.name, 'diagram.png.txt');
    assert.equal(entry.size, 1234);
    assert.ok(Number.isInteger(entry.create_time) && Math.abs(entry.create_time - Date.now()) < 60_000);
    assert.deepEqual(entry.messages.map((m: any) => m.id), [sent.id, sent2.id]);
    for (const m of entry.messages) assert.ok(Number.isInteger(m.date_sent) && Math.abs(m.date_sent - Date.now()) < 60_000);
    const total = listed.attachments.reduce((sum: number, a: any) => sum + a.size, 0);
    assert.equal(listed.upload_space_used, total);

    // Hamlet sees only his own uploads, but the organization's space used.
    const his = await hamlet.client.callEndpoint('/attachments', 'GET');
    assert.deepEqual(his.attachments, []);
    assert.equal(his.upload_space_used, total);
  });

  it('re-claims on edit: links removed from the content let go, links added claim', async () => {
    const a = await uploadFile(iago, 'a.txt', 'first');
    const b = await uploadFile(iago, 'b.txt', 'second');
    const sent = await iago.client.messages.send({ type: 'private', to: JSON.stringify([hamlet.email]), content: `[a](${a.url})` });
    const edited = await iago.client.messages.update({ message_id: sent.id, content: `now [b](${b.url})` });
    assert.equal(edited.result, 'success');
    const listed = (await iago.client.callEndpoint('/attachments', 'GET')).attachments;
    const byUrl = (u: string) => listed.find((x: any) => u.endsWith(x.path_id));
    assert.deepEqual(byUrl(a.url).messages, []);
    assert.deepEqual(byUrl(b.url).messages.map((m: any) => m.id), [sent.id]);
    const notMine = await hamlet.client.messages.update({ message_id: sent.id, content: 'hijack' });
    assert.equal(notMine.result, 'error');
  });

  it('claims only the sender’s own uploads, or ones a message already claimed', async () => {
    const hamlets = await uploadFile(hamlet, 'private.txt', 'hamlet only');
    const stolen = await iago.client.messages.send({ type: 'stream', to: 'general', topic: 't', content: `mine now? ${hamlets.url}` });
    const entry = () => hamlet.client.callEndpoint('/attachments', 'GET').then((r) => r.attachments.find((x: any) => hamlets.url.endsWith(x.path_id)));
    assert.deepEqual((await entry()).messages, []);
    const shared = await hamlet.client.messages.send({ type: 'stream', to: 'general', topic: 't', content: hamlets.url });
    const forwarded = await iago.client.messages.send({ type: 'stream', to: 'general', topic: 't', content: `forwarding ${hamlets.url}` });
    assert.deepEqual((await entry()).messages.map((m: any) => m.id), [shared.id, forwarded.id]);
    assert.ok(stolen.id < shared.id);
  });

  it('deletes the caller’s own upload; another’s or an unknown id is a 400 Invalid attachment, as Zulip’s schema says', async () => {
    const upload = await uploadFile(iago, 'gone.txt', 'bye');
    const id = (await iago.client.callEndpoint('/attachments', 'GET')).attachments.find((x: any) => upload.url.endsWith(x.path_id)).id;
    const refused = await hamlet.client.callEndpoint(`/attachments/${id}`, 'DELETE');
    assert.deepEqual(refused, { result: 'error', msg: 'Invalid attachment', code: 'BAD_REQUEST' });
    assert.equal((await raw(hamlet, `/api/v1/attachments/${id}`, { method: 'DELETE' })).status, 400);
    assert.equal((await raw(hamlet, '/api/v1/attachments/not-an-id', { method: 'DELETE' })).status, 400);
    assert.deepEqual(await iago.client.callEndpoint(`/attachments/${id}`, 'DELETE'), { result: 'success', msg: '' });
    assert.equal((await iago.client.callEndpoint(`/attachments/${id}`, 'DELETE')).result, 'error');
    assert.equal((await raw(iago, upload.url)).status, 404);
  });

  it('answers errors as Zulip does, every one of them JSON', async () => {
    const check = async (response: Response, status: number, code: string, msg?: string | RegExp) => {
      assert.equal(response.status, status, response.url);
      const body = await json(response);
      assert.equal(body.result, 'error');
      assert.equal(body.code, code);
      if (typeof msg === 'string') assert.equal(body.msg, msg);
      else if (msg) assert.match(body.msg, msg);
    };
    await check(await raw(null, '/api/v1/attachments'), 401, 'UNAUTHORIZED');
    const wrongKey = { ...iago, basic: `Basic ${Buffer.from(`${iago.email}:nope`).toString('base64')}` };
    await check(await raw(wrongKey, '/api/v1/attachments'), 401, 'INVALID_API_KEY', 'Invalid API key');
    const wrongEmail = { ...iago, basic: `Basic ${Buffer.from(`${hamlet.email}:${iago.apiKey}`).toString('base64')}` };
    await check(await raw(wrongEmail, '/api/v1/attachments'), 401, 'INVALID_API_KEY');
    await check(await raw(iago, '/api/v1/user_uploads', { method: 'POST', body: new NativeFormData() }), 400, 'BAD_REQUEST', 'You must specify a file to upload');
    const two = fileForm('one');
    two.append('second', new Blob(['two']), 'two.txt');
    await check(await raw(iago, '/api/v1/user_uploads', { method: 'POST', body: two }), 400, 'BAD_REQUEST', 'You may only upload one file at a time');
    await check(await raw(iago, '/api/v1/no-such-endpoint'), 404, 'BAD_REQUEST');
    await check(await raw(iago, '/api/v1/messages', { method: 'POST', body: new URLSearchParams({ type: 'smoke', to: 'x', content: 'y' }) }), 400, 'BAD_REQUEST');
    await check(await raw(iago, '/api/v1/messages', { method: 'POST', body: new URLSearchParams({ type: 'stream', to: 'x', topic: 't', content: '' }) }), 400, 'BAD_REQUEST');
  });

  it('accepts urlencoded messages as the Python client sends them', async () => {
    const response = await raw(iago, '/api/v1/messages', {
      method: 'POST',
      body: new URLSearchParams({ type: 'direct', to: `${hamlet.email},${iago.email}`, content: 'hello' }),
    });
    assert.equal(response.status, 200);
    assert.equal((await json(response)).result, 'success');
  });

  it('serves uploads to the realm only, as attachment under download/, and through 60-second signed URLs', async () => {
    const upload = await uploadFile(iago, 'photo.txt', 'realm only');
    const pathId = upload.url.slice('/user_uploads/'.length);
    assert.equal(await (await raw(hamlet, upload.url)).status, 404, 'not yet claimed: only its owner sees it');
    await iago.client.messages.send({ type: 'stream', to: 'general', topic: 't', content: upload.url });
    const asHamlet = await raw(hamlet, upload.url);
    assert.equal(await asHamlet.text(), 'realm only');
    assert.ok(asHamlet.headers.get('content-disposition')!.startsWith('inline;'));
    assert.equal((await raw(outsider, upload.url)).status, 404);
    assert.equal((await raw(outsider, `/user_uploads/${(await affix.server.core.meta.getOrgByExtId('lear'))!.id}/${pathId.split('/').slice(1).join('/')}`)).status, 404);
    assert.equal((await raw(null, upload.url)).status, 401);
    const download = await raw(hamlet, `/user_uploads/download/${pathId}`);
    assert.ok(download.headers.get('content-disposition')!.startsWith('attachment;'));

    const signed = await iago.client.callEndpoint(`/user_uploads/${pathId}`, 'GET');
    assert.equal(signed.result, 'success');
    assert.match(signed.url, /^\/user_uploads\/temporary\/[^/]+\/photo\.txt$/);
    const anonymous = await fetch(`${affix.url}${signed.url}`);
    assert.equal(anonymous.status, 200);
    assert.equal(await anonymous.text(), 'realm only');

    const token = signed.url.split('/')[3];
    const tampered = await fetch(`${affix.url}/user_uploads/temporary/${token.slice(0, -2)}xx/photo.txt`);
    assert.equal(tampered.status, 400);
    assert.deepEqual(await json(tampered), { result: 'error', msg: 'Invalid token', code: 'BAD_REQUEST' });
    // A token signed with the server's own secret but past its 60 s: refused the same way.
    const secret = await affix.server.core.meta.setting('url_signing_secret', () => 'unused');
    const attachmentId = (await iago.client.callEndpoint('/attachments', 'GET')).attachments.find((x: any) => x.path_id === pathId).id;
    const expired = new UrlSigner(secret).sign(realmId, attachmentId, Date.now() - 1);
    assert.equal((await fetch(`${affix.url}/user_uploads/temporary/${expired}/photo.txt`)).status, 400);
    const fresh = new UrlSigner(secret).sign(realmId, attachmentId, Date.now() + 60_000);
    assert.equal((await fetch(`${affix.url}/user_uploads/temporary/${fresh}/photo.txt`)).status, 200);
  });

  it('shows one core record through both dialects', async () => {
    const viaTracker = await json(await fetch(`${affix.url}/v2/attachments?filename=tracker.txt`, { method: 'POST', headers: iago.trackerHeaders, body: fileForm('from tracker') }));
    const listed = (await iago.client.callEndpoint('/attachments', 'GET')).attachments;
    const entry = listed.find((a: any) => String(a.id) === viaTracker.id);
    assert.equal(entry.name, 'tracker.txt');
    assert.equal(await (await raw(iago, `/user_uploads/${entry.path_id}`)).text(), 'from tracker');

    const viaZulip = await uploadFile(iago, 'zulip.txt', 'from zulip');
    const zid = (await iago.client.callEndpoint('/attachments', 'GET')).attachments.find((a: any) => viaZulip.url.endsWith(a.path_id)).id;
    const trackerView = await json(await fetch(`${affix.url}/v2/attachments/${zid}`, { headers: iago.trackerHeaders }));
    assert.equal(trackerView.name, 'zulip.txt');
    assert.equal(await (await fetch(trackerView.content, { headers: iago.trackerHeaders })).text(), 'from zulip');
  });
});
