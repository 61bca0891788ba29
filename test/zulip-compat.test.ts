import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { json, NativeFormData, startAffix, type TestServer } from './harness.js';
import { assertZulipSchema } from './zulip-schema.js';

interface Person {
  id: number;
  email: string;
  /** Headers the official Python client sends on every request: Basic auth and its User-Agent. */
  headers: Record<string, string>;
}

/**
 * Zulip compatibility beyond zulip-js: the official Python client's calls as its source makes them
 * (python-zulip-api, `zulip/__init__.py`: every request carries Basic auth; POST and PATCH send
 * form fields with non-string values JSON-encoded; `upload_file` names the part after the file's
 * path), every answer checked against Zulip's OpenAPI schema, and Zulip's rule for who sees a file.
 */
describe('Zulip compatibility: the Python client, Zulip’s schema, and who sees a file', () => {
  let affix: TestServer;
  let iago: Person;
  let hamlet: Person;
  let othello: Person;
  let realm: number;

  const person = async (login: string): Promise<Person> => {
    const { user, apiKey, org } = await affix.server.core.identity.addUser({ orgExtId: 'zulip', login, display: `${login} name`, email: `${login}@zulip.test` });
    realm = org.id;
    const basic = Buffer.from(`${user.email}:${apiKey}`).toString('base64');
    return { id: user.id, email: user.email, headers: { authorization: `Basic ${basic}`, 'user-agent': 'ZulipPython/0.9.0 (Debian; 13)' } };
  };
  /** `client.call_endpoint(url, method, request)`: the form as the Python client encodes it. */
  const call = async (who: Person | null, method: string, url: string, request: Record<string, unknown> = {}, schemaPath?: string, expected = 200) => {
    const fields = new URLSearchParams(Object.entries(request).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]));
    const target = new URL(`/api/v1/${url}`, affix.url);
    if (method === 'GET') target.search = fields.toString();
    const response = await fetch(target, {
      method,
      headers: who?.headers ?? {},
      ...(method === 'GET' ? {} : { body: fields }),
    });
    const body = await json(response);
    assert.equal(response.status, expected, `${method} ${url}: ${JSON.stringify(body)}`);
    if (schemaPath) assertZulipSchema(method, schemaPath, expected, body);
    return body;
  };
  /** `client.upload_file(fp)`: one part, named after the file's path, with its base name. */
  const uploadFile = async (who: Person, path: string, content: Buffer | string) => {
    const form = new NativeFormData();
    form.append(path, new Blob([typeof content === 'string' ? content : new Uint8Array(content)]), path.split('/').pop());
    const response = await fetch(new URL('/api/v1/user_uploads', affix.url), { method: 'POST', headers: who.headers, body: form });
    const body = await json(response);
    assert.equal(response.status, 200, JSON.stringify(body));
    assertZulipSchema('POST', '/user_uploads', 200, body);
    return body as { url: string; filename: string };
  };
  const fetchFile = (who: Person | null, path: string) => fetch(new URL(path, affix.url), { headers: who?.headers ?? {} });
  const attachmentId = async (who: Person, url: string): Promise<number> =>
    (await call(who, 'GET', 'attachments', {}, '/attachments')).attachments.find((a: { path_id: string }) => url.endsWith(a.path_id)).id;

  before(async () => {
    affix = await startAffix({ 'temporary-ttl': '1h' });
    iago = await person('iago');
    hamlet = await person('hamlet');
    othello = await person('othello');
  });
  after(() => affix.close());

  it('checks answers against a schema that refuses what Zulip’s refuses', () => {
    assertZulipSchema('GET', '/attachments', 200, { result: 'success', msg: '', attachments: [], upload_space_used: 0 });
    assert.throws(() => assertZulipSchema('GET', '/attachments', 200, { result: 'success', msg: '', attachments: [], upload_space_used: 0, extra: 1 }));
    assert.throws(() => assertZulipSchema('GET', '/attachments', 200, { result: 'success', attachments: [] }), /msg/);
    assert.throws(() => assertZulipSchema('DELETE', '/attachments/{attachment_id}', 400, { result: 'error', msg: 'x' }), /code/);
  });

  it('lets zulip.Client() start: server_settings answers anyone, with the realm only to valid credentials', async () => {
    // Client.__init__ -> get_server_settings(): GET with the client's Basic auth; it asserts zulip_version.
    const settings = await call(iago, 'GET', 'server_settings', {}, '/server_settings');
    assert.equal(typeof settings.zulip_version, 'string');
    assert.equal(settings.zulip_feature_level, 296);
    assert.equal(settings.realm_url, affix.url);
    assert.equal(settings.realm_name, 'zulip');
    for (const anonymous of [null, { ...iago, headers: { authorization: `Basic ${Buffer.from('iago@zulip.test:wrong').toString('base64')}` } }]) {
      const open = await call(anonymous, 'GET', 'server_settings', {}, '/server_settings');
      assert.equal(open.zulip_feature_level, 296);
      assert.equal(open.realm_url, undefined, 'no realm without valid credentials');
      assert.deepEqual(open.external_authentication_methods, []);
    }
  });

  it('answers register with the upload limits when realm is fetched, and only the versions otherwise', async () => {
    await affix.server.core.identity.setOrgLimits('zulip', { maxFileUploadSizeMib: 7, uploadQuotaMib: 100 });
    for (const request of [{ event_types: ['realm'] }, { fetch_event_types: ['realm', 'message'] }, {}]) {
      const registered = await call(iago, 'POST', 'register', { narrow: [], ...request }, '/register');
      assert.equal(registered.queue_id, null);
      assert.equal(registered.max_file_upload_size_mib, 7);
      assert.equal(registered.realm_upload_quota_mib, 100);
      assert.deepEqual(registered.server_thumbnail_formats.map((f: { name: string }) => f.name), ['840x560.webp', '840x560-anim.webp']);
    }
    const messagesOnly = await call(iago, 'POST', 'register', { event_types: ['message'], narrow: [] }, '/register');
    assert.equal(messagesOnly.max_file_upload_size_mib, undefined);
    assert.equal(messagesOnly.zulip_feature_level, 296);
    await affix.server.core.identity.setOrgLimits('zulip', { maxFileUploadSizeMib: null, uploadQuotaMib: null });
    assert.equal((await call(iago, 'POST', 'register', {}, '/register')).realm_upload_quota_mib, null);
  });

  it('runs the Python client’s upload, attachment and message calls unchanged, every answer in Zulip’s schema', async () => {
    const report = await uploadFile(iago, '/tmp/reports/q3 report.txt', 'quarterly numbers');
    assert.equal(report.filename, 'q3 report.txt');
    const chart = await uploadFile(iago, 'chart.txt', 'a chart');
    // client.send_message({'type': 'stream', 'to': 'general', 'topic': ..., 'content': ...})
    const sent = await call(iago, 'POST', 'messages', { type: 'stream', to: 'general', topic: 'q3', content: `[q3](${report.url}) and [chart](${chart.url})` }, '/messages');
    // client.get_raw_message(id): GET messages/{id}?apply_markdown=true
    const fetched = await call(hamlet, 'GET', `messages/${sent.id}`, { apply_markdown: true }, '/messages/{message_id}');
    assert.equal(fetched.raw_content, `[q3](${report.url}) and [chart](${chart.url})`);
    assert.equal(fetched.message.display_recipient, 'general');
    assert.equal(fetched.message.sender_email, iago.email);
    // client.update_message({'message_id': id, 'content': ...}): the id in the body too.
    const edited = await call(iago, 'PATCH', `messages/${sent.id}`, { message_id: sent.id, content: `only [chart](${chart.url})` }, '/messages/{message_id}');
    assert.deepEqual(edited.detached_uploads.map((a: { name: string }) => a.name), ['q3 report.txt']);
    assert.deepEqual(edited.detached_uploads[0].messages, []);
    // client.get_attachments()
    const listed = await call(iago, 'GET', 'attachments', {}, '/attachments');
    assert.ok(listed.attachments.length >= 2);
    // client.call_endpoint('user_uploads/...', method='GET'): a temporary URL.
    const signed = await call(iago, 'GET', chart.url.replace('/user_uploads/', 'user_uploads/'), {}, '/user_uploads/{realm_id_str}/{filename}');
    assert.equal(await (await fetchFile(null, signed.url)).text(), 'a chart');
    // client.delete_message(id), then client.call_endpoint('attachments/ID', method='DELETE').
    await call(iago, 'DELETE', `messages/${sent.id}`, {}, '/messages/{message_id}');
    await call(iago, 'DELETE', `attachments/${await attachmentId(iago, report.url)}`, {}, '/attachments/{attachment_id}');
    await call(iago, 'GET', `messages/${sent.id}`, {}, undefined, 400);
  });

  it('answers errors as Zulip’s schema has them: bad keys 401 INVALID_API_KEY, unknown attachments and messages 400', async () => {
    const wrong = { ...iago, headers: { authorization: `Basic ${Buffer.from(`${iago.email}:not-the-key`).toString('base64')}` } };
    const refused = await call(wrong, 'GET', 'attachments', {}, undefined, 401);
    assert.equal(refused.code, 'INVALID_API_KEY');
    assertZulipSchema('POST', '/rest-error-handling', 400, refused);
    assertZulipSchema('DELETE', '/attachments/{attachment_id}', 401, await call(null, 'DELETE', 'attachments/1', {}, undefined, 401));
    const unknown = await call(iago, 'DELETE', 'attachments/999999', {}, '/attachments/{attachment_id}', 400);
    assert.equal(unknown.msg, 'Invalid attachment');
    assert.equal((await call(iago, 'DELETE', 'messages/999999', {}, '/messages/{message_id}', 400)).msg, 'Invalid message(s)');
    assert.equal((await call(iago, 'PATCH', 'messages/999999', { content: 'x' }, '/messages/{message_id}', 400)).msg, 'Invalid message(s)');
    const stranger = await call(iago, 'POST', 'messages', { type: 'private', to: ['nobody@zulip.test'], content: 'hi' }, '/messages', 400);
    assert.equal(stranger.msg, "Invalid email 'nobody@zulip.test'");
    for (const path of ['/api/v1/no-such-endpoint', '/json/no-such-endpoint']) {
      const response = await fetchFile(iago, path);
      assert.equal(response.status, 404);
      assertZulipSchema('DELETE', '/attachments/{attachment_id}', 401, await json(response));
    }
  });

  it('shows a file linked only in a direct message to its participants and uploader, and to the org once a stream message links it', async () => {
    const secret = await uploadFile(iago, 'secret.txt', 'for hamlet only');
    const id = await attachmentId(iago, secret.url);
    const dm = await call(iago, 'POST', 'messages', { type: 'private', to: [hamlet.email.toUpperCase()], content: `psst ${secret.url}` }, '/messages');
    const dmSeen = await call(hamlet, 'GET', `messages/${dm.id}`, {}, '/messages/{message_id}');
    assert.deepEqual(dmSeen.message.display_recipient.map((r: { email: string }) => r.email), [iago.email, hamlet.email]);
    assert.equal(await (await fetchFile(hamlet, secret.url)).text(), 'for hamlet only');
    // Othello, of the same org, takes no part: the bytes, the signed URL, the Tracker view and the message are all closed to him.
    assert.equal((await fetchFile(othello, secret.url)).status, 404);
    assert.equal((await fetchFile(othello, secret.url.replace('/user_uploads/', '/user_uploads/download/'))).status, 404);
    await call(othello, 'GET', secret.url.replace('/user_uploads/', 'user_uploads/'), {}, undefined, 404);
    await call(othello, 'GET', `messages/${dm.id}`, {}, undefined, 400);
    const { token } = await affix.server.core.identity.addUser({ orgExtId: 'zulip', login: 'othello-tracker', display: 'o' });
    assert.equal((await fetch(`${affix.url}/v2/attachments/${id}`, { headers: { authorization: `OAuth ${token}` } })).status, 404);
    // Knowing the path is not enough to claim it: his stream message does not link it.
    const guess = await call(othello, 'POST', 'messages', { type: 'stream', to: 'general', topic: 'leak', content: secret.url }, '/messages');
    assert.equal((await fetchFile(othello, secret.url)).status, 404);
    const entry = (await call(iago, 'GET', 'attachments', {}, '/attachments')).attachments.find((a: { id: number }) => a.id === id);
    assert.deepEqual(entry.messages.map((m: { id: number }) => m.id), [dm.id]);
    assert.ok(guess.id > dm.id);
    // Hamlet, who can see it, may share it with everyone.
    await call(hamlet, 'POST', 'messages', { type: 'stream', to: 'general', topic: 'shared', content: `fwd ${secret.url}` }, '/messages');
    assert.equal(await (await fetchFile(othello, secret.url)).text(), 'for hamlet only');
  });

  it('lets only the sender delete a message; an upload no message links any more expires like a temporary one', async () => {
    const lone = await uploadFile(iago, 'lone.txt', 'linked once');
    const sent = await call(iago, 'POST', 'messages', { type: 'stream', to: 'general', topic: 'once', content: lone.url }, '/messages');
    const denied = await call(hamlet, 'DELETE', `messages/${sent.id}`, {}, '/messages/{message_id}', 400);
    assert.equal(denied.msg, "You don't have permission to delete this message");
    await call(iago, 'DELETE', `messages/${sent.id}`, {}, '/messages/{message_id}');
    assert.equal((await fetchFile(hamlet, lone.url)).status, 404, 'no message links it: its uploader’s alone again');
    assert.equal(await (await fetchFile(iago, lone.url)).text(), 'linked once');
    const report = await affix.server.core.collector.collect(Date.now() + 2 * 3600_000);
    assert.ok(report.expired >= 1);
    assert.equal((await fetchFile(iago, lone.url)).status, 404);
  });

  it('serves Zulip’s thumbnail URLs: 840x560 WebP, and the animated variant of animated images only', async () => {
    const still = await uploadFile(iago, 'photo.png', await sharp({ create: { width: 1200, height: 900, channels: 3, background: '#a33' } }).png().toBuffer());
    const frames = await Promise.all(['#f00', '#0f0', '#00f', '#ff0'].map((c) => sharp({ create: { width: 1000, height: 600, channels: 3, background: c } }).png().toBuffer()));
    const moving = await uploadFile(iago, 'moving.gif', await sharp(frames, { join: { animated: true } }).gif().toBuffer());
    await call(iago, 'POST', 'messages', { type: 'stream', to: 'general', topic: 'pictures', content: `${still.url} ${moving.url}` }, '/messages');
    const thumbnail = (url: string, format: string) => fetchFile(hamlet, `/user_uploads/thumbnail/${url.slice('/user_uploads/'.length)}/${format}`);
    const small = await thumbnail(still.url, '840x560.webp');
    assert.equal(small.status, 200);
    assert.equal(small.headers.get('content-type'), 'image/webp');
    const smallMeta = await sharp(Buffer.from(await small.arrayBuffer())).metadata();
    assert.deepEqual([smallMeta.width, smallMeta.height, smallMeta.pages ?? 1], [747, 560, 1]);
    assert.equal((await thumbnail(still.url, '840x560-anim.webp')).status, 404, 'a still image has no animated thumbnail');
    const animated = await thumbnail(moving.url, '840x560-anim.webp');
    assert.equal(animated.status, 200);
    const animatedMeta = await sharp(Buffer.from(await animated.arrayBuffer()), { animated: true }).metadata();
    assert.deepEqual([animatedMeta.width, animatedMeta.pages], [840, 4], 'still animated, every frame kept');
    assert.equal((await sharp(Buffer.from(await (await thumbnail(moving.url, '840x560.webp')).arrayBuffer())).metadata()).pages ?? 1, 1);
    assert.equal((await thumbnail(still.url, '100x100.webp')).status, 404, 'only the advertised formats');
    assert.equal((await fetchFile(othello, `/user_uploads/thumbnail/${realm + 1}/${still.url.split('/').slice(3).join('/')}/840x560.webp`)).status, 404);
  });
});
