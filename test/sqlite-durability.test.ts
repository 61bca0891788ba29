import assert from 'node:assert/strict';
import { mkdtemp, open, readlink, writeFile, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openSqliteMetaStore } from '../src/store/meta/sqlite.js';
import { WalSync } from '../src/store/meta/wal-sync.js';

// Every fdatasync this process makes through a FileHandle, by file name, in order with the test's own events.
const events: string[] = [];
let restore: () => void;
before(async () => {
  const probe = await open(join(await mkdtemp(join(tmpdir(), 'affix-probe-')), 'probe'), 'w');
  const proto = Object.getPrototypeOf(probe) as FileHandle;
  await probe.close();
  const original = proto.datasync;
  proto.datasync = async function (this: FileHandle) {
    const name = basename(await readlink(`/proc/self/fd/${this.fd}`));
    events.push(`start ${name}`);
    await original.call(this);
    events.push(`synced ${name}`);
  };
  restore = () => (proto.datasync = original);
});
after(() => restore());

const count = (event: string) => events.filter((e) => e === event).length;

describe('SQLite commits are durable before they resolve', () => {
  it('a write resolves after an fdatasync of the WAL; a read syncs nothing', async () => {
    const store = openSqliteMetaStore(join(await mkdtemp(join(tmpdir(), 'affix-meta-')), 'meta.sqlite'));
    await store.migrate();
    events.length = 0;
    await store.ensureOrg('o1', 'Org one', Date.now());
    events.push('resolved');
    assert.deepEqual(events, ['start meta.sqlite-wal', 'synced meta.sqlite-wal', 'resolved']);

    events.length = 0;
    assert.equal((await store.getOrgByExtId('o1'))?.name, 'Org one');
    assert.deepEqual(events, []);
    await store.close();
  });

  it('writes that finish while a sync runs share the next one', async () => {
    const store = openSqliteMetaStore(join(await mkdtemp(join(tmpdir(), 'affix-meta-')), 'meta.sqlite'));
    await store.migrate();
    events.length = 0;
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        store.ensureOrg(`org${i}`, `Org ${i}`, Date.now()).then(() => events.push(`resolved ${i}`)),
      ),
    );
    const syncs = count('synced meta.sqlite-wal');
    assert.ok(syncs >= 1 && syncs <= 4, `20 writes took ${syncs} syncs`);
    // None resolved before the first sync was done.
    assert.ok(events.indexOf('synced meta.sqlite-wal') < events.findIndex((e) => e.startsWith('resolved')));
    await store.close();
  });
});

describe('WalSync', () => {
  it('a flush asked for while a sync runs resolves after a sync that started later', async () => {
    const file = join(await mkdtemp(join(tmpdir(), 'affix-wal-')), 'db-wal');
    await writeFile(file, 'frames');
    const wal = new WalSync(file);
    events.length = 0;
    const first = wal.flush().then(() => events.push('first'));
    const second = wal.flush().then(() => events.push('second'));
    const third = wal.flush().then(() => events.push('third'));
    await Promise.all([first, second, third]);
    assert.deepEqual(events, ['start db-wal', 'synced db-wal', 'first', 'start db-wal', 'synced db-wal', 'second', 'third']);
    await wal.close();
  });

  it('after a failed sync every later flush fails, even once the file is there', async () => {
    const file = join(await mkdtemp(join(tmpdir(), 'affix-wal-')), 'db-wal');
    const wal = new WalSync(file);
    await assert.rejects(wal.flush(), /fdatasync of .*db-wal failed; restart Affix/);
    await writeFile(file, 'frames');
    await assert.rejects(wal.flush(), /restart Affix/);
    await wal.close();
  });
});
