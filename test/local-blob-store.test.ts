import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { describe, it } from 'node:test';
import { LocalBlobStore } from '../src/store/blob/local-blob-store.js';
import { SharedRun } from '../src/store/blob/shared-run.js';

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

describe('LocalBlobStore layout', () => {
  it('puts blobs written in the same second in one directory, each under its own key', async () => {
    const root = await mkdtemp(join(tmpdir(), 'affix-layout-'));
    const store = new LocalBlobStore(root);
    await store.init();
    const blobs = await Promise.all(Array.from({ length: 40 }, (_, i) => store.write(Readable.from([Buffer.from(`blob ${i}`)]))));
    assert.equal(new Set(blobs.map((b) => b.key)).size, 40);
    const dirs = new Set(blobs.map((b) => store.relativePath(b.key).split('/').slice(0, 2).join('/')));
    assert.ok(dirs.size <= 2, `40 blobs in one second (or across one second's edge) used ${dirs.size} directories`);
    for (const [i, blob] of blobs.entries()) assert.equal((await buffer((await store.read(blob.key))!)).toString(), `blob ${i}`);
    assert.deepEqual(await readdir(join(root, 'tmp')), [], 'nothing is left in staging');
  });

  it('makes a blob directory again when it was removed after the store made it', async () => {
    const root = await mkdtemp(join(tmpdir(), 'affix-layout-'));
    const store = new LocalBlobStore(root);
    await store.init();
    const first = await store.write(Readable.from([Buffer.from('first')]));
    await rm(join(root, 'blobs'), { recursive: true });
    const second = await store.write(Readable.from([Buffer.from('second')]));
    assert.equal((await buffer((await store.read(second.key))!)).toString(), 'second');
    assert.equal(await store.read(first.key), null);
  });
});
