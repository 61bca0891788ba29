import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { backup } from '../src/cli/backup.js';
import { loadConfig } from '../src/config.js';
import { fileForm, json, runCli, spawnAffix, type SpawnedAffix } from './harness.js';

const sha = (bytes: Buffer | Uint8Array) => createHash('sha256').update(bytes).digest('hex');

const cli = (args: string[]) => runCli(args);

describe('affix backup and restore (the embedded default)', { skip: process.env.AFFIX_TEST_BACKEND === 'postgres-s3' ? 'the embedded default only' : false }, () => {
  let root: string;
  let dataDir: string;
  let server: SpawnedAffix;
  let headers: Record<string, string>;
  const kept = new Map<string, Buffer>();

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'affix-backup-'));
    dataDir = join(root, 'data');
    await mkdir(dataDir);
    const user = JSON.parse((await cli(['user', 'add', '--org', 'b', '--login', 'ivan', '--data-dir', dataDir])).stdout);
    headers = { authorization: `OAuth ${user.token}`, 'x-org-id': 'b' };
    server = await spawnAffix(['--data-dir', dataDir]);
    await fetch(`${server.url}/v2/issues`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify({ queue: 'B', summary: 's' }) });
    // Small files (in pack files) and large ones (files of their own).
    for (const [name, size] of [['small-1.txt', 300], ['small-2.txt', 4000], ['large-1.bin', 300_000], ['large-2.bin', 900_000]] as const) {
      const bytes = randomBytes(size);
      const made = await json(await fetch(`${server.url}/v2/issues/B-1/attachments`, { method: 'POST', headers, body: fileForm(new Uint8Array(bytes), name) }));
      kept.set(made.id, bytes);
    }
  });
  after(async () => {
    await server?.stop();
    await rm(root, { recursive: true, force: true });
  });

  const upload = async (name: string, bytes: Buffer) => json(await fetch(`${server.url}/v2/issues/B-1/attachments`, { method: 'POST', headers, body: fileForm(new Uint8Array(bytes), name) }));

  it('backs up while the server serves and uploads go on, and restores into a directory a server then serves the same', async () => {
    const target = join(root, 'backup-1');
    // Uploads and deletes keep coming while the backup runs.
    let busy = true;
    const traffic = (async () => {
      for (let i = 0; busy; i++) {
        const made = await upload(`during-${i}.bin`, randomBytes(50_000 + i));
        if (i % 2 === 0) await fetch(`${server.url}/v2/issues/B-1/attachments/${made.id}`, { method: 'DELETE', headers });
      }
    })();
    const run = await cli(['backup', '--to', target, '--data-dir', dataDir]);
    busy = false;
    await traffic;
    assert.equal(run.code, 0, run.stderr);
    const report = JSON.parse(run.stdout);
    assert.ok(report.blobs >= 4);
    assert.deepEqual(report.damaged, []);
    const manifest = JSON.parse(await readFile(join(target, 'affix-backup.json'), 'utf8'));
    assert.equal(manifest.blobs, report.blobs);
    const restored = join(root, 'restored');
    const back = await cli(['restore', '--from', target, '--data-dir', restored]);
    assert.equal(back.code, 0, back.stderr);
    const copy = await spawnAffix(['--data-dir', restored]);
    try {
      const listed = await json(await fetch(`${copy.url}/v2/issues/B-1/attachments`, { headers }));
      for (const [id, bytes] of kept) {
        const file = listed.find((f: { id: string }) => f.id === id);
        assert.ok(file, `attachment ${id} is in the backup`);
        const got = new Uint8Array(await (await fetch(file.content.replace(/^http:\/\/[^/]+/, copy.url), { headers })).arrayBuffer());
        assert.equal(sha(got), sha(bytes), `the same bytes for ${id}, the same token`);
      }
      for (const file of listed) assert.equal((await fetch(file.content.replace(/^http:\/\/[^/]+/, copy.url), { method: 'HEAD', headers })).status, 200, `every file listed is whole: ${file.name}`);
    } finally {
      await copy.stop();
    }
  });

  it('leaves out an attachment deleted after the snapshot, and fails when the live store is damaged', async () => {
    const doomed = await upload('doomed.bin', randomBytes(200_000));
    const target = join(root, 'backup-2');
    const report = await backup(loadConfig({ 'data-dir': dataDir }, {}), target, {
      afterSnapshot: async () => void (await fetch(`${server.url}/v2/issues/B-1/attachments/${doomed.id}`, { method: 'DELETE', headers })),
    });
    assert.deepEqual(report.deletedMeanwhile, [Number(doomed.id)]);
    assert.deepEqual(report.damaged, []);
    // A blob gone from the disk while the database still names it: damage, and the backup says so.
    const broken = await upload('broken.bin', randomBytes(200_000));
    const path = join(dataDir, 'blobs', ...(await blobPathOf(broken.id)));
    await unlink(path);
    const run = await cli(['backup', '--to', join(root, 'backup-3'), '--data-dir', dataDir]);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /1 blobs are missing or wrong in the live store \(run affix fsck\)/);
    await fetch(`${server.url}/v2/issues/B-1/attachments/${broken.id}`, { method: 'DELETE', headers });
  });

  it('refuses a target that holds anything, and the scale-out backends', async () => {
    const full = join(root, 'full');
    await mkdir(full);
    await writeFile(join(full, 'x'), 'x');
    const refused = await cli(['backup', '--to', full, '--data-dir', dataDir]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /is not empty/);
    assert.match((await cli(['restore', '--from', join(root, 'backup-1'), '--data-dir', full])).stderr, /is not empty/);
    assert.match((await cli(['restore', '--from', full, '--data-dir', join(root, 'nowhere')])).stderr, /is not a backup of affix/);
    assert.match((await cli(['backup', '--to', join(root, 'pg'), '--database-url', 'postgres://x@127.0.0.1/x'])).stderr, /embedded default/);
  });

  /** Where a blob file is below blobs/: `ab/cd/<key>` of the attachment's storage key (read from the database). */
  async function blobPathOf(id: string): Promise<string[]> {
    const { default: Database } = await import('better-sqlite3');
    const db = new Database(join(dataDir, 'affix.sqlite'), { readonly: true });
    try {
      const row = db.prepare('select b.storage_key as key from attachments a join blobs b on b.id = a.blob_id where a.id = ?').get(Number(id)) as { key: string };
      return [row.key.slice(0, 2), row.key.slice(2, 4), row.key];
    } finally {
      db.close();
    }
  }
});
