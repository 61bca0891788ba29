import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fileForm, json, startAffix, type TestServer, type TestUser } from './harness.js';

describe('--public-url', () => {
  let affix: TestServer;
  let ivan: TestUser;
  before(async () => {
    affix = await startAffix({ 'public-url': 'https://files.example.com/' });
    ivan = await affix.addUser('9', 'ivan');
  });
  after(() => affix.close());

  it('is the base of every URL in responses, whatever the request host', async () => {
    const file = await json(await fetch(`${affix.url}/v2/attachments?filename=a.txt`, { method: 'POST', headers: ivan.headers, body: fileForm('a') }));
    assert.equal(file.self, `https://files.example.com/v2/attachments/${file.id}`);
    assert.equal(file.content, `https://files.example.com/v2/attachments/${file.id}/a.txt`);
    assert.equal(file.createdBy.self, `https://files.example.com/v2/users/${ivan.userId}`);
  });
});
