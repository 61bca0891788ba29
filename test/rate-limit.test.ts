import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { json, startAffix, type TestServer, type TestUser } from './harness.js';

describe('rate limit per token', () => {
  let affix: TestServer;
  let ivan: TestUser;
  let maria: TestUser;
  before(async () => {
    affix = await startAffix({ 'rate-limit': '3' });
    ivan = await affix.addUser('5', 'ivan');
    maria = await affix.addUser('5', 'maria');
  });
  after(() => affix.close());

  it('answers 429 with Retry-After in the Tracker body once a token has used its minute, other tokens unaffected', async () => {
    for (let i = 0; i < 3; i++) assert.equal((await fetch(`${affix.url}/v2/myself`, { headers: ivan.headers })).status, 200);
    const limited = await fetch(`${affix.url}/v2/myself`, { headers: ivan.headers });
    assert.equal(limited.status, 429);
    const retryAfter = Number(limited.headers.get('retry-after'));
    assert.ok(retryAfter > 0 && retryAfter <= 60, String(retryAfter));
    const body = await json(limited);
    assert.equal(body.statusCode, 429);
    assert.match(body.errorMessages[0], /Too many requests/);
    assert.equal((await fetch(`${affix.url}/v2/myself`, { headers: maria.headers })).status, 200);
    assert.equal((await fetch(`${affix.url}/healthz`)).status, 200);
  });

  it('answers Zulip clients with RATE_LIMIT_HIT', async () => {
    const { user, apiKey } = await affix.server.core.identity.addUser({ orgExtId: '5', login: 'zed', display: 'Zed', email: 'zed@x.test' });
    const headers = { authorization: `Basic ${Buffer.from(`${user.email}:${apiKey}`).toString('base64')}` };
    for (let i = 0; i < 3; i++) await (await fetch(`${affix.url}/api/v1/attachments`, { headers })).arrayBuffer();
    const limited = await fetch(`${affix.url}/api/v1/attachments`, { headers });
    assert.equal(limited.status, 429);
    assert.ok(limited.headers.get('retry-after'));
    assert.deepEqual(await json(limited), { result: 'error', msg: 'API usage exceeded rate limit', code: 'RATE_LIMIT_HIT' });
  });
});
