import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalBlobStore } from '../src/store/blob/local-blob-store.js';
import { openSqliteMetaStore } from '../src/store/meta/sqlite.js';
import { blobStoreConformance } from './conformance/blob-store.js';
import { metaStoreConformance } from './conformance/meta-store.js';

blobStoreConformance('local filesystem', async () => {
  const store = new LocalBlobStore(await mkdtemp(join(tmpdir(), 'affix-blobs-')));
  await store.init();
  return store;
});

metaStoreConformance('SQLite', async () => {
  const store = openSqliteMetaStore(join(await mkdtemp(join(tmpdir(), 'affix-meta-')), 'meta.sqlite'));
  await store.migrate();
  return store;
});
