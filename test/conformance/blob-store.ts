import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { buffer } from 'node:stream/consumers';
import type { BlobStore } from '../../src/store/blob/blob-store.js';

/** The BlobStore contract, one test per guarantee in blob-store.ts; every backend runs it. */
export function blobStoreConformance(name: string, open: () => Promise<BlobStore>): void {
  // A local store keeps the small blob in a shared pack and the large one in a file of its own.
  for (const length of [300_000, 5_000]) describeWith(`${name}, ${length} bytes`, Buffer.from(Array.from({ length }, (_, i) => (i * 7) & 0xff)), open);
}

function describeWith(name: string, bytes: Buffer, open: () => Promise<BlobStore>): void {
  describe(`BlobStore conformance: ${name}`, () => {

    it('write resolves with a generated key and the size, and read returns exactly the bytes', async () => {
      const store = await open();
      const stored = await store.write(Readable.from([bytes.subarray(0, 1000), bytes.subarray(1000)]));
      assert.equal(await store.reclaim(Date.now()), 0, 'nothing deleted, nothing to give back');
      assert.match(stored.key, /^[0-9a-z]{32}$/);
      assert.equal(stored.size, bytes.length);
      assert.equal(await store.size(stored.key), bytes.length);
      assert.deepEqual(await buffer((await store.read(stored.key))!), bytes);
      const other = await store.write(Readable.from([bytes]));
      assert.notEqual(other.key, stored.key, 'keys are never reused, even for identical bytes');
    });

    it('read returns an inclusive byte range', async () => {
      const store = await open();
      const { key } = await store.write(Readable.from([bytes]));
      assert.deepEqual(await buffer((await store.read(key, { start: 10, end: 19 }))!), bytes.subarray(10, 20));
      assert.deepEqual(await buffer((await store.read(key, { start: bytes.length - 1, end: bytes.length - 1 }))!), bytes.subarray(-1));
    });

    it('a write whose source fails rejects with its error and leaves nothing behind', async () => {
      const store = await open();
      const failing = new Readable({
        read() {
          this.push(bytes.subarray(0, bytes.length / 2));
          this.destroy(new Error('source broke'));
        },
      });
      await assert.rejects(store.write(failing), /source broke/);
      let left = 0;
      for await (const _ of store.listOlderThan(Date.now() + 60_000)) left++;
      assert.equal(left, 0, 'no committed blob');
      assert.equal(await store.sweepStaging(Date.now() + 60_000, async () => new Set()), 0, 'no staging leftovers');
    });

    it('read and size of a missing key answer null; delete is idempotent', async () => {
      const store = await open();
      const { key } = await store.write(Readable.from([bytes]));
      await store.delete(key);
      await store.delete(key);
      assert.equal(await store.read(key), null);
      assert.equal(await store.size(key), null);
      assert.equal(await store.read('0'.repeat(32)), null);
    });

    it('refuses keys it did not generate, so no input reaches outside the store', async () => {
      const store = await open();
      for (const key of ['../../etc/passwd', 'ABC', '', '0'.repeat(31) + '/']) {
        await assert.rejects(store.read(key));
        await assert.rejects(store.delete(key));
      }
    });

    it('lists committed blobs older than a moment, for the orphan sweep', async () => {
      const store = await open();
      const { key } = await store.write(Readable.from([bytes]));
      const listed: string[] = [];
      for await (const k of store.listOlderThan(Date.now() + 1000)) listed.push(k);
      assert.ok(listed.includes(key));
      const none: string[] = [];
      for await (const k of store.listOlderThan(Date.now() - 3_600_000)) none.push(k);
      assert.deepEqual(none, []);
    });
  });
}

/** The MultipartBlobs contract (stores whose resumable uploads join parts), one test per promise in blob-store.ts. */
export function multipartBlobsConformance(name: string, open: () => Promise<BlobStore>): void {
  const openParts = async () => {
    const store = await open();
    assert.equal(store.resumable.kind, 'parts');
    return { store, parts: store.resumable.kind === 'parts' ? store.resumable.parts : assert.fail() };
  };
  const filled = (size: number, seed: number) => Buffer.alloc(size, seed);

  describe(`MultipartBlobs conformance: ${name}`, () => {
    it('joins parts sent in any order, the last copy of a part counting, into a blob of exactly their bytes; completing again resolves', async () => {
      const { store, parts } = await openParts();
      const { key, session } = await parts.begin();
      assert.match(key, /^[0-9a-f]{32}$/);
      assert.equal(await store.size(key), null, 'nothing visible before completion');
      const first = filled(parts.minPartSize, 1);
      const last = filled(1000, 3);
      const tagLast = await parts.putPart(key, session, 2, last);
      await parts.putPart(key, session, 1, filled(parts.minPartSize, 9));
      const tagFirst = await parts.putPart(key, session, 1, first);
      const size = first.length + last.length;
      assert.deepEqual(await parts.complete(key, session, [tagFirst, tagLast], size), { key, size });
      assert.deepEqual(await buffer((await store.read(key))!), Buffer.concat([first, last]));
      assert.deepEqual(await parts.complete(key, session, [tagFirst, tagLast], size), { key, size }, 'a retry after a crash');
      await parts.abort(key, session);
      assert.equal(await store.size(key), size, 'aborting a completed upload keeps its blob');
    });

    it('refuses a completion whose stored size is not the one expected, keeping nothing under the key', async () => {
      const { store, parts } = await openParts();
      const { key, session } = await parts.begin();
      const tag = await parts.putPart(key, session, 1, filled(10, 5));
      await assert.rejects(parts.complete(key, session, [tag], 11), /holds 10 bytes, not 11/);
      assert.equal(await store.size(key), null);
    });

    it('aborts idempotently; the staging sweep aborts old multipart uploads, but for those in use', async () => {
      const { store, parts } = await openParts();
      const gone = await parts.begin();
      await parts.putPart(gone.key, gone.session, 1, filled(10, 1));
      await parts.abort(gone.key, gone.session);
      await parts.abort(gone.key, gone.session);
      await assert.rejects(parts.putPart(gone.key, gone.session, 1, filled(10, 1)), 'no parts once aborted');
      await assert.rejects(parts.putPart(gone.key, gone.session, parts.maxParts + 1, filled(10, 1)), /outside/);
      const used = await parts.begin();
      const stray = await parts.begin();
      const asked: string[] = [];
      const inUse = async (keys: string[]) => (asked.push(...keys), new Set(keys.filter((k) => k === used.key)));
      assert.equal(await store.sweepStaging(Date.now() - 60_000, inUse), 0, 'none is old enough');
      assert.equal(await store.sweepStaging(Date.now() + 60_000, inUse), 1);
      assert.ok(asked.includes(used.key) && asked.includes(stray.key));
      await assert.rejects(parts.putPart(stray.key, stray.session, 1, filled(10, 1)), 'the stray one was aborted');
      await parts.putPart(used.key, used.session, 1, filled(10, 1));
      await parts.abort(used.key, used.session);
    });
  });
}
