import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { RecentLogins } from '../src/core/recent-logins.js';
import { fileForm, startAffix, type TestServer, type TestUser } from './harness.js';

describe('RecentLogins', () => {
  it('forgets an entry after its time, drops the oldest past its size, and keeps nothing with a time of 0', () => {
    let now = 0;
    const logins = new RecentLogins<string>(1000, 2, () => now);
    logins.set('a', 'A');
    now = 999;
    assert.equal(logins.get('a'), 'A');
    now = 1000;
    assert.equal(logins.get('a'), undefined);
    logins.set('b', 'B');
    logins.set('c', 'C');
    logins.set('d', 'D');
    assert.deepEqual(['b', 'c', 'd'].map((key) => logins.get(key)), [undefined, 'C', 'D']);
    const off = new RecentLogins<string>(0, 10, () => now);
    off.set('a', 'A');
    assert.equal(off.get('a'), undefined);
  });
});

describe('auth cache (--auth-cache): reads reuse a login for a moment, writes never', () => {
  let affix: TestServer;
  let ivan: TestUser;
  let lookups = 0;

  before(async () => {
    affix = await startAffix({ 'auth-cache': '1s' });
    ivan = await affix.addUser('777', 'ivan');
    const meta = affix.server.core.meta;
    const find = meta.findUserByTokenHash.bind(meta);
    meta.findUserByTokenHash = async (hash) => {
      lookups++;
      return find(hash);
    };
  });
  after(() => affix.close());

  const myself = (headers: Record<string, string>) => fetch(`${affix.url}/v2/myself`, { headers });
  const upload = (bytes: number) =>
    fetch(`${affix.url}/v2/attachments/`, { method: 'POST', headers: ivan.headers, body: fileForm(new Uint8Array(bytes), 'f.bin') });

  it('looks a token up once per second, and a wrong token every time', async () => {
    await sleep(1000);
    lookups = 0;
    for (let i = 0; i < 5; i++) assert.equal((await myself(ivan.headers)).status, 200);
    assert.equal(lookups, 1);
    for (let i = 0; i < 3; i++) assert.equal((await myself({ authorization: 'OAuth wrong' })).status, 401);
    assert.equal(lookups, 4);
    await sleep(1000);
    assert.equal((await myself(ivan.headers)).status, 200);
    assert.equal(lookups, 5);
  });

  it('never reuses a login for a write: a limit set elsewhere applies to the next upload', async () => {
    assert.equal((await myself(ivan.headers)).status, 200);
    assert.equal((await upload((1 << 20) + 1)).status, 201);
    // As `affix org set` in another process does: the store changes, and this node is not told.
    const org = await affix.server.core.meta.getOrgByExtId('777');
    await affix.server.core.meta.setOrgLimits(org!.id, { maxFileUploadSizeMib: 1 });
    lookups = 0;
    assert.equal((await upload((1 << 20) + 1)).status, 413);
    assert.equal((await myself(ivan.headers)).status, 200);
    assert.equal(lookups, 1);
  });
});
