import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { loadConfig } from '../src/config.js';
import type { Affix } from '../src/core/affix.js';
import type { Actor } from '../src/core/identity.js';
import type { Attachment } from '../src/core/model.js';
import { openCore } from '../src/server.js';
import { provisionBackend, type Backend } from './backends.js';
import { runCli, spawnAffix } from './harness.js';

/** `affix fsck` on the stores of the test's backend, its exit code and output. */
const fsckCli = (args: string[], dataDir: string, backend: Backend) => runCli(['fsck', '--data-dir', dataDir, ...args], { ...process.env, ...backend.env });

describe('affix fsck: every attachment’s bytes present and whole, counts right, orphans found', () => {
  let backend: Backend;
  let dataDir: string;
  let core: Affix;
  let actor: Actor;
  const files: Attachment[] = [];

  before(async () => {
    backend = await provisionBackend();
    dataDir = await mkdtemp(join(tmpdir(), 'affix-fsck-'));
    core = await openCore(loadConfig({ 'data-dir': dataDir, ...backend.flags }, {}));
    const made = await core.identity.addUser({ orgExtId: 'f', login: 'ivan', display: 'ivan' });
    actor = await core.identity.authenticate(made.token, 'f');
    const issue = await core.issues.create(actor, { queue: 'F', summary: 's', attachmentIds: [] });
    // Large enough to be files of their own (not packed), so a test can reach their bytes.
    for (const name of ['a.bin', 'b.bin', 'c.bin', 'd.bin']) {
      const staged = await core.attachments.stage(actor, Readable.from([randomBytes(200_000)]));
      files.push(await core.attachments.commit(actor, staged, name, { kind: 'issue', issue }));
    }
  });
  after(async () => {
    await core.close();
    await backend.dispose();
    await rm(dataDir, { recursive: true, force: true });
  });

  /** Puts other bytes under a blob's key, behind the store's back. */
  const overwrite = async (key: string, bytes: Buffer) => {
    const path = core.blobs.localPath(key);
    if (path) return writeFile(path, bytes);
    const s3 = new S3Client({ endpoint: backend.flags['s3-endpoint']!, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: backend.flags['s3-access-key']!, secretAccessKey: backend.flags['s3-secret-key']! } });
    await s3.send(new PutObjectCommand({ Bucket: backend.flags['s3-bucket']!, Key: `blobs/${key}`, Body: bytes }));
    s3.destroy();
  };

  it('passes a sound store with exit 0, while a server serves it', async () => {
    const server = await spawnAffix(['--data-dir', dataDir], backend.env);
    try {
      const run = await fsckCli(['--full'], dataDir, backend);
      assert.equal(run.code, 0, run.stdout + run.stderr);
      assert.equal(run.stdout, '');
      assert.match(run.stderr, /fsck: 4 blobs, 4 re-hashed; 0 attachments damaged/);
    } finally {
      await server.stop();
    }
  });

  it('names each attachment whose blob is corrupt, short or missing, one line each, and exits 1', async () => {
    const [a, b, c] = files;
    await overwrite(a!.storageKey, randomBytes(200_000));
    await overwrite(b!.storageKey, randomBytes(1000));
    await core.blobs.delete(c!.storageKey);
    const run = await fsckCli(['--full'], dataDir, backend);
    assert.equal(run.code, 1);
    const lines = run.stdout.trim().split('\n').sort();
    assert.deepEqual(lines, [
      `attachment ${a!.id} "a.bin": corrupt, blob ${a!.storageKey}: ${lines[0]!.split(': ').slice(2).join(': ')}`,
      `attachment ${b!.id} "b.bin": short, blob ${b!.storageKey}: 1000 bytes, not 200000`,
      `attachment ${c!.id} "c.bin": missing, blob ${c!.storageKey}: no bytes in the store`,
    ]);
    assert.match(lines[0]!, /sha256 [0-9a-f]{12}…, not the recorded [0-9a-f]{12}…$/);
    // Without --full a sample is re-hashed: on four blobs, all of them still.
    assert.equal((await fsckCli([], dataDir, backend)).code, 1);
    const json = JSON.parse((await fsckCli(['--json'], dataDir, backend)).stdout);
    assert.equal(json.damaged, 3);
  });

  it('repairs wrong reference counts, unused blob rows and orphans, and reports what it cannot repair', async () => {
    const [, , , d] = files;
    const [blob] = await core.meta.blobsAfter(0, 1000).then((rows) => rows.filter((r) => r.storageKey === d!.storageKey));
    await core.meta.setBlobRefCount(blob!.id, 7);
    const orphan = await core.blobs.write(Readable.from([randomBytes(100_000)]));
    const seen: string[] = [];
    const report = await core.integrity.check({ orphanGraceMs: 0, repair: true, onProblem: (p) => seen.push(p.kind) });
    assert.equal(report.refCountsWrong, 1);
    assert.equal(report.orphans, 1);
    assert.equal(report.damaged, 3, 'damaged bytes are reported, not repaired: there is nothing to repair them from');
    assert.ok(seen.includes('ref_count') && seen.includes('orphan'));
    assert.equal(await core.blobs.size(orphan.key), null, 'the orphan is gone');
    const again = await core.integrity.check({ orphanGraceMs: 0 });
    assert.deepEqual([again.refCountsWrong, again.orphans, again.damaged], [0, 0, 3]);
    // A young orphan (its upload may be committing) is left alone.
    const young = await core.blobs.write(Readable.from([randomBytes(100_000)]));
    assert.equal((await core.integrity.check({ repair: true })).orphans, 0);
    assert.notEqual(await core.blobs.size(young.key), null);
  });
});
