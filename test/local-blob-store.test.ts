import assert from 'node:assert/strict';
import { appendFile, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { describe, it } from 'node:test';
import { LocalBlobStore } from '../src/store/blob/local-blob-store.js';
import { SharedRun } from '../src/util/shared-run.js';

describe('SharedRun', () => {
  it('answers a request only with a run that started after it, and shares runs among concurrent requests', async () => {
    const started: number[] = [];
    let finish: Array<() => void> = [];
    const run = new SharedRun(
      () =>
        new Promise<void>((resolve) => {
          started.push(performance.now());
          finish.push(resolve);
        }),
    );
    const settle = async () => {
      await new Promise((resolve) => setImmediate(resolve));
      const pending = finish;
      finish = [];
      for (const resolve of pending) resolve();
      await new Promise((resolve) => setImmediate(resolve));
    };
    const first = run.request();
    const asked = performance.now();
    const later = Array.from({ length: 20 }, () => run.request());
    let laterDone = false;
    void Promise.all(later).then(() => (laterDone = true));
    await settle();
    await first;
    assert.equal(laterDone, false, 'requests made during the first run wait for a run of their own');
    await settle();
    await Promise.all(later);
    assert.equal(started.length, 2, '21 requests cost two runs');
    assert.ok(started[1]! >= asked, 'the second run started after the requests it answers');
    assert.equal(run.idle, true);
  });

  it('gives a failure to everyone sharing the run, and runs again for the next request', async () => {
    let calls = 0;
    const run = new SharedRun(async () => {
      calls++;
      if (calls === 1) throw new Error('EIO');
    });
    const results = await Promise.allSettled([run.request(), run.request()]);
    assert.equal(results[0]!.status, 'rejected');
    await run.request();
    assert.ok(calls >= 2);
  });
});

describe('LocalBlobStore layout of blob files', () => {
  it('puts blobs written in the same second in one directory, each under its own key', async () => {
    const root = await mkdtemp(join(tmpdir(), 'affix-layout-'));
    const store = new LocalBlobStore(root, { packUpTo: 0 });
    await store.init();
    const blobs = await Promise.all(Array.from({ length: 40 }, (_, i) => store.write(Readable.from([Buffer.from(`blob ${i}`)]))));
    assert.equal(new Set(blobs.map((b) => b.key)).size, 40);
    const dirs = new Set(blobs.map((b) => store.relativePath(b.key)!.split('/').slice(0, 2).join('/')));
    assert.ok(dirs.size <= 2, `40 blobs in one second (or across one second's edge) used ${dirs.size} directories`);
    for (const [i, blob] of blobs.entries()) assert.equal((await buffer((await store.read(blob.key))!)).toString(), `blob ${i}`);
    assert.deepEqual(await readdir(join(root, 'tmp')), [], 'nothing is left in staging');
  });

  it('makes a blob directory again when it was removed after the store made it', async () => {
    const root = await mkdtemp(join(tmpdir(), 'affix-layout-'));
    const store = new LocalBlobStore(root, { packUpTo: 0 });
    await store.init();
    const first = await store.write(Readable.from([Buffer.from('first')]));
    await rm(join(root, 'blobs'), { recursive: true });
    const second = await store.write(Readable.from([Buffer.from('second')]));
    assert.equal((await buffer((await store.read(second.key))!)).toString(), 'second');
    assert.equal(await store.read(first.key), null);
  });
});

describe('LocalBlobStore packs of small blobs', () => {
  const blob = (i: number, length = 16 << 10) => Buffer.alloc(length, `blob ${i};`);
  const packFiles = async (root: string) => readdir(join(root, 'packs'));
  const listAll = async (store: LocalBlobStore) => {
    const keys: string[] = [];
    for await (const key of store.listOlderThan(Date.now() + 60_000)) keys.push(key);
    return keys.sort();
  };
  // Past the age at which no process appends to a pack any more (10 minutes).
  const later = () => Date.now() + 11 * 60_000;

  it('appends concurrent small writes to one pack, durable and readable, and gives larger blobs files', async () => {
    const root = await mkdtemp(join(tmpdir(), 'affix-packs-'));
    const store = new LocalBlobStore(root, { packUpTo: 4096 });
    await store.init();
    const stored = await Promise.all(Array.from({ length: 50 }, (_, i) => store.write(Readable.from([blob(i, 4096)]))));
    assert.equal(new Set(stored.map((s) => s.key)).size, 50);
    for (const [i, { key, size }] of stored.entries()) {
      assert.match(key, /^p[0-9a-f]{31}$/);
      assert.equal(size, 4096);
      assert.equal(store.relativePath(key), null, 'nginx has no file of its own to send');
      assert.equal(store.localPath(key), null);
      assert.deepEqual(await buffer((await store.read(key))!), blob(i, 4096));
    }
    assert.deepEqual(await buffer((await store.read(stored[3]!.key, { start: 10, end: 19 }))!), blob(3, 4096).subarray(10, 20));
    assert.equal((await packFiles(root)).length, 1);
    const large = await store.write(Readable.from([blob(0, 4097)]));
    assert.match(large.key, /^[0-9a-f]{32}$/, 'one byte over the limit: a file of its own');
    assert.deepEqual(await buffer((await store.read(large.key))!), blob(0, 4097));
    assert.deepEqual(await readdir(join(root, 'tmp')), []);
    store.close();
  });

  it('deletes a packed blob by overwriting it, and another process on the same directory reads and appends', async () => {
    const root = await mkdtemp(join(tmpdir(), 'affix-packs-'));
    const first = new LocalBlobStore(root);
    await first.init();
    const secret = Buffer.from('the secret bytes of a deleted file');
    const [gone, kept] = await Promise.all([first.write(Readable.from([secret])), first.write(Readable.from([Buffer.from('kept')]))]);
    const second = new LocalBlobStore(root);
    await second.init();
    await second.delete(gone!.key);
    await second.delete(gone!.key);
    assert.equal(await first.read(gone!.key), null);
    assert.equal(await first.size(gone!.key), null);
    const [pack] = await packFiles(root);
    assert.equal((await readFile(join(root, 'packs', pack!))).includes(secret), false, 'the bytes are gone from the pack');
    assert.equal((await buffer((await second.read(kept!.key))!)).toString(), 'kept');
    const third = await second.write(Readable.from([Buffer.from('third')]));
    assert.equal((await packFiles(root)).length, 2, 'each process appends to a pack of its own');
    assert.deepEqual(await listAll(first), [kept!.key, third.key].sort());
    first.close();
    second.close();
  });

  it('lists the whole blobs of a pack whose tail a crash left torn', async () => {
    const root = await mkdtemp(join(tmpdir(), 'affix-packs-'));
    const store = new LocalBlobStore(root);
    await store.init();
    const stored = await Promise.all(Array.from({ length: 5 }, (_, i) => store.write(Readable.from([blob(i, 1000)]))));
    store.close();
    const [pack] = await packFiles(root);
    await appendFile(join(root, 'packs', pack!), Buffer.concat([Buffer.from('AFXN'), Buffer.alloc(20, 0xff)]));
    const after = new LocalBlobStore(root);
    await after.init();
    assert.deepEqual(await listAll(after), stored.map((s) => s.key).sort());
    assert.deepEqual(await buffer((await after.read(stored[4]!.key))!), blob(4, 1000));
    for (const { key } of stored) await after.delete(key);
    await after.reclaim(later());
    assert.deepEqual(await packFiles(root), [pack], 'bytes it cannot account for keep the pack');
  });

  it('gives back the space of deleted blobs: a mostly dead pack is copied sparsely, a dead one removed', async () => {
    const root = await mkdtemp(join(tmpdir(), 'affix-packs-'));
    const writer = new LocalBlobStore(root);
    await writer.init();
    const stored = await Promise.all(Array.from({ length: 200 }, (_, i) => writer.write(Readable.from([blob(i)]))));
    writer.close();
    const [pack] = await packFiles(root);
    const allocated = async () => (await stat(join(root, 'packs', pack!))).blocks * 512;
    const before = await allocated();
    const store = new LocalBlobStore(root);
    await store.init();
    assert.equal(await store.reclaim(later()), 0, 'nothing deleted yet');
    await writeFile(join(root, 'packs', `${pack}.compacting`), 'left by a crash');
    const kept = stored.filter((_, i) => i % 4 === 0);
    for (const [i, s] of stored.entries()) if (i % 4 !== 0) await store.delete(s.key);
    assert.equal(await store.reclaim(Date.now() - 11 * 60_000), 0, 'a pack that may still take appends is left alone');
    const freed = await store.reclaim(later());
    assert.ok(freed >= 150 * (12 << 10), `freed ${freed} bytes of 150 deleted blobs of 16 KiB`);
    assert.ok((await allocated()) <= before - freed + 4096);
    assert.deepEqual(await packFiles(root), [pack], 'the copy replaced the pack');
    for (const s of stored) {
      const i = stored.indexOf(s);
      const read = await store.read(s.key);
      if (i % 4 === 0) assert.deepEqual(await buffer(read!), blob(i), `blob ${i} kept`);
      else assert.equal(read, null, `blob ${i} deleted`);
    }
    assert.deepEqual(await listAll(store), kept.map((s) => s.key).sort());
    assert.equal(await store.reclaim(later()), 0, 'a compacted pack is not copied again');
    for (const s of kept) await store.delete(s.key);
    assert.ok((await store.reclaim(later())) > 0);
    assert.deepEqual(await packFiles(root), [], 'a pack with no live blob is removed');
  });
});

describe('LocalBlobStore resumable bytes (tus uploads kept in place)', () => {
  const id = 'ab'.repeat(16);
  const open = async (packUpTo = 0) => {
    const root = await mkdtemp(join(tmpdir(), 'affix-resumable-'));
    const store = new LocalBlobStore(root, { packUpTo });
    await store.init();
    return { root, store, bytes: store.inPlace };
  };

  it('appends at the offset, drops an unrecorded tail first, and keeps its own file until removed', async () => {
    const { root, store, bytes } = await open();
    try {
      assert.equal(await bytes.append(id, 0, Readable.from([Buffer.from('hello ')])), 6);
      // A killed process wrote past the recorded offset: the next append at 6 drops it.
      await appendFile(join(root, 'resumable', id), 'GARBAGE');
      assert.equal(await bytes.append(id, 6, Readable.from([Buffer.from('world')])), 5);
      assert.equal((await buffer((await bytes.read(id))!)).toString(), 'hello world');
      await assert.rejects(bytes.append(id, 50, Readable.from([Buffer.from('x')])), /fewer than its recorded offset/);
      await bytes.truncate(id, 5);
      assert.equal((await buffer((await bytes.read(id))!)).toString(), 'hello');
      const blob = await bytes.complete(id);
      assert.equal(blob.size, 5);
      assert.equal((await buffer((await store.read(blob.key))!)).toString(), 'hello');
      assert.equal((await buffer((await bytes.read(id))!)).toString(), 'hello', 'still the upload’s until released');
      await bytes.remove(id);
      await bytes.remove(id);
      assert.equal(await bytes.read(id), null);
      assert.equal((await buffer((await store.read(blob.key))!)).toString(), 'hello', 'the blob outlives the upload’s name');
      await assert.rejects(bytes.append('../../etc/passwd', 0, Readable.from([])), /invalid upload id/);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it('makes a small complete upload a pack entry', async () => {
    const { root, store, bytes } = await open(64 << 10);
    try {
      await bytes.append(id, 0, Readable.from([Buffer.from('tiny')]));
      const blob = await bytes.complete(id);
      assert.equal(store.localPath(blob.key), null, 'packed, not a file of its own');
      assert.equal((await buffer((await store.read(blob.key))!)).toString(), 'tiny');
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
