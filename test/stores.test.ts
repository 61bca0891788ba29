import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { LocalBlobStore } from '../src/store/blob/local-blob-store.js';
import { S3BlobStore } from '../src/store/blob/s3-blob-store.js';
import { migrationNames } from '../src/store/meta/migrations.js';
import { openPostgresMetaStore } from '../src/store/meta/postgres.js';
import { openSqliteMetaStore } from '../src/store/meta/sqlite.js';
import { TEST_DATABASE_URL, freshBucket, freshSchema } from './backends.js';
import { blobStoreConformance, multipartBlobsConformance } from './conformance/blob-store.js';
import { metaStoreConformance } from './conformance/meta-store.js';

// Every backend passes the same suites, whichever backend the HTTP suites run on.
const cleanups: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

blobStoreConformance('local filesystem', async () => {
  const store = new LocalBlobStore(await mkdtemp(join(tmpdir(), 'affix-blobs-')));
  await store.init();
  return store;
});

const openS3 = async () => {
  const bucket = await freshBucket();
  const store = new S3BlobStore(bucket.config);
  cleanups.push(async () => {
    store.close();
    await bucket.drop();
  });
  return store;
};
blobStoreConformance('S3 protocol (s3rver on loopback)', openS3);
multipartBlobsConformance('S3 protocol (s3rver on loopback)', openS3);

metaStoreConformance('SQLite', async () => {
  const store = openSqliteMetaStore(join(await mkdtemp(join(tmpdir(), 'affix-meta-')), 'meta.sqlite'));
  await store.migrate();
  return store;
});

metaStoreConformance('PostgreSQL', async () => {
  const schema = await freshSchema();
  const store = openPostgresMetaStore({ url: TEST_DATABASE_URL, schema: schema.name });
  cleanups.push(async () => {
    await store.close();
    await schema.drop();
  });
  await store.migrate();
  return store;
});

describe('S3BlobStore on the wire', () => {
  it('aborts the multipart upload when the source fails midway, and leaves no object', async () => {
    const bucket = await freshBucket();
    // A loopback proxy in front of the S3 server records what the store asks for.
    const seen: string[] = [];
    const target = new URL(bucket.config.endpoint!);
    const proxy = createServer((req, res) => {
      seen.push(`${req.method} ${new URL(req.url!, 'http://x').searchParams.has('uploadId') ? 'uploadId' : ''}${new URL(req.url!, 'http://x').searchParams.has('uploads') ? 'uploads' : ''}`);
      const upstream = httpRequest({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode!, answer.headers);
        answer.pipe(res);
      });
      req.pipe(upstream);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const store = new S3BlobStore({ ...bucket.config, endpoint: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}` });
    try {
      let sent = 0;
      const failing = new Readable({
        read() {
          if (sent >= 12 << 20) return void this.destroy(new Error('client went away'));
          sent += 1 << 20;
          this.push(Buffer.alloc(1 << 20, 1));
        },
      });
      await assert.rejects(store.write(failing), /client went away/);
      assert.ok(seen.includes('POST uploads'), `a multipart upload was started: ${seen.join(', ')}`);
      assert.ok(seen.includes('DELETE uploadId'), `and aborted: ${seen.join(', ')}`);
      assert.deepEqual(await bucket.keys(), []);
    } finally {
      store.close();
      proxy.closeAllConnections();
      await new Promise((resolve) => proxy.close(resolve));
      await bucket.drop();
    }
  });
});

it('runs the PostgreSQL migrations once when several nodes start together', async () => {
  const schema = await freshSchema();
  const stores = Array.from({ length: 4 }, () => openPostgresMetaStore({ url: TEST_DATABASE_URL, schema: schema.name }));
  try {
    await Promise.all(stores.map((store) => store.migrate()));
    const applied = (await schema.rows('kysely_migration')) as Array<{ name: string }>;
    assert.deepEqual(applied.map((m) => m.name).sort(), migrationNames(), 'each migration applied once');
    const org = await stores[3]!.ensureOrg('x', 'X', 1);
    assert.equal((await stores[0]!.getOrgByExtId('x'))?.id, org.id);
  } finally {
    await Promise.all(stores.map((store) => store.close()));
    await schema.drop();
  }
});
