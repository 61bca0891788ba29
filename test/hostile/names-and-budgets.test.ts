// Every URL Affix hands out works for the longest names in any script, and every spelling of a credential shares one rate budget.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fileForm, json, startAffix, type TestServer, type TestUser } from '../harness.js';

/** Names of 251–255 UTF-8 bytes: one per script, each with an extension. */
const LONG_NAMES: Record<string, string> = {
  latin: `${'a'.repeat(251)}.txt`,
  cyrillic: `${'я'.repeat(125)}.txt`,
  cjk: `${'文'.repeat(83)}.txt`,
  emoji: `${'😀'.repeat(62)}.txt`,
  arabic: `${'ب'.repeat(125)}.txt`,
  'spaces and signs': `${'% ?#&+ '.repeat(35)}.txt`,
};

describe('long names: every URL handed out works', () => {
  let affix: TestServer;
  let ivan: TestUser;
  let zulip: Record<string, string>;

  before(async () => {
    affix = await startAffix();
    ivan = await affix.addUser('3', 'ivan');
    const { user, apiKey } = await affix.server.core.identity.addUser({ orgExtId: '3', login: 'ivan-z', display: 'ivan' });
    zulip = { authorization: `Basic ${Buffer.from(`${user.email}:${apiKey}`).toString('base64')}` };
  });
  after(() => affix.close());

  for (const [script, name] of Object.entries(LONG_NAMES)) {
    it(`${script}: ${Buffer.byteLength(name)} bytes`, async () => {
      assert.ok(Buffer.byteLength(name) <= 255 && Buffer.byteLength(name) > 245);
      const bytes = `contents of ${script}`;
      const tracker = await fetch(`${affix.url}/v2/attachments/?filename=${encodeURIComponent(name)}`, { method: 'POST', headers: ivan.headers, body: fileForm(bytes) });
      assert.equal(tracker.status, 201);
      const file = await json(tracker);
      assert.equal(file.name, name.trim());
      for (const url of [file.self, file.content]) {
        const response = await fetch(url, { headers: ivan.headers });
        assert.equal(response.status, 200, `${url}: ${await response.clone().text()}`);
      }
      assert.equal(await (await fetch(file.content, { headers: ivan.headers })).text(), bytes);

      const uploaded = await json(await fetch(`${affix.url}/api/v1/user_uploads`, { method: 'POST', headers: zulip, body: fileForm(bytes, name) }));
      assert.equal(uploaded.result, 'success');
      for (const path of [uploaded.url, uploaded.url.replace('/user_uploads/', '/user_uploads/download/')]) {
        const response = await fetch(`${affix.url}${path}`, { headers: zulip });
        assert.equal(response.status, 200, `${path}: ${await response.clone().text()}`);
        assert.equal(await response.text(), bytes);
      }
      const signed = await json(await fetch(`${affix.url}/api/v1${uploaded.url}`, { headers: zulip }));
      const anonymous = await fetch(`${affix.url}${signed.url}`);
      assert.equal(anonymous.status, 200, signed.url);
      assert.equal(await anonymous.text(), bytes);
    });
  }
});

describe('rate limit: one budget per credential, however it is spelled', () => {
  let affix: TestServer;
  let token: string;
  let email: string;
  let apiKey: string;
  const BUDGET = 4;

  before(async () => {
    affix = await startAffix({ 'rate-limit': String(BUDGET) });
    const made = await affix.server.core.identity.addUser({ orgExtId: '4', login: 'ivan', display: 'ivan' });
    token = made.token;
    email = made.user.email;
    apiKey = made.apiKey;
  });
  after(() => affix.close());

  it('Tracker: OAuth, Bearer, any case, two spaces or a tab share one token budget', async () => {
    const spellings = [`OAuth ${token}`, `Bearer ${token}`, `oauth  ${token}`, `OAUTH\t${token}`, `bearer ${token} `, `OAuth ${token}`];
    const statuses = [];
    for (const authorization of spellings) statuses.push((await fetch(`${affix.url}/v2/myself`, { headers: { authorization } })).status);
    assert.deepEqual(statuses, [200, 200, 200, 200, 429, 429]);
    const refused = await json(await fetch(`${affix.url}/v2/myself`, { headers: { authorization: `Bearer ${token}` } }));
    assert.equal(refused.statusCode, 429);
    assert.ok(Array.isArray(refused.errorMessages));
  });

  it('Zulip: Basic in any case or spacing, any case of the email, share one key budget', async () => {
    const pair = (e: string) => Buffer.from(`${e}:${apiKey}`).toString('base64');
    const spellings = [`Basic ${pair(email)}`, `basic ${pair(email)}`, `Basic  ${pair(email.toUpperCase())}`, `BASIC\t${pair(` ${email}`)}`, `Basic ${pair(email)}`];
    const statuses = [];
    for (const authorization of spellings) statuses.push((await fetch(`${affix.url}/api/v1/attachments`, { headers: { authorization } })).status);
    assert.deepEqual(statuses, [200, 200, 200, 200, 429]);
    const refused = await json(await fetch(`${affix.url}/api/v1/attachments`, { headers: { authorization: `Basic ${pair(email)}` } }));
    assert.equal(refused.result, 'error');
    assert.equal(refused.code, 'RATE_LIMIT_HIT');
  });
});
