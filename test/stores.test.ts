import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { LocalBlobStore } from '../src/store/blob/local-blob-store.js';
import { S3BlobStore } from '../src/store/blob/s3-blob-store.js';
import { openPostgresMetaStore } from '../src/store/meta/postgres.js';
import { openSqliteMetaStore } from '../src/store/meta/sqlite.js';
import { TEST_DATABASE_URL, freshBucket, freshSchema } from './backends.js';
import { blobStoreConformance } from './conformance/blob-store.js';
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

blobStoreConformance('S3 protocol (s3rver on loopback)', async () => {
  const bucket = await freshBucket();
  const store = new S3BlobStore(bucket.config);
  cleanups.push(async () => {
    store.close();
    await bucket.drop();
  });
  return store;
});

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
