// A full disk under the embedded default: uploads answer 507 in the dialect's body, leave nothing, and reads go on.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileForm, json, listStoredFiles, startAffix, type TestServer, type TestUser } from './harness.js';

/** A small tmpfs of our own (root only): the data directory on a disk that really fills up. */
function mountSmallDisk(dir: string, size: string): boolean {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const canMount = process.getuid?.() === 0;

describe('disk full (embedded default)', { skip: process.env.AFFIX_TEST_BACKEND === 'postgres-s3' ? 'a full disk is the local stores\' case' : !canMount && 'needs root to mount a small tmpfs' }, () => {
  let disk: string;
  let affix: TestServer;
  let ivan: TestUser;
  let zulip: Record<string, string>;

  before(async () => {
    disk = await mkdtemp(join(tmpdir(), 'affix-full-'));
    assert.ok(mountSmallDisk(disk, '6m'), 'tmpfs mounted');
    affix = await startAffix({ 'data-dir': disk, 'max-file-size': '4MiB', 'log-level': process.env.DEBUG_LOG ?? 'silent' });
    ivan = await affix.addUser('9', 'ivan');
    const { user, apiKey } = await affix.server.core.identity.addUser({ orgExtId: '9', login: 'ivan-z', display: 'ivan' });
    zulip = { authorization: `Basic ${Buffer.from(`${user.email}:${apiKey}`).toString('base64')}` };
  });
  after(async () => {
    await affix?.close();
    execFileSync('umount', ['-l', disk], { stdio: 'ignore' });
    await rm(disk, { recursive: true, force: true });
  });

  const upload = (bytes: Uint8Array<ArrayBuffer>, name: string) =>
    fetch(`${affix.url}/v2/attachments/?filename=${name}`, { method: 'POST', headers: ivan.headers, body: fileForm(bytes) });
  const distinct = (size: number, seed: number) => {
    const bytes = new Uint8Array(size);
    for (let i = 0; i < size; i++) bytes[i] = (i * seed + seed) & 0xff;
    return bytes;
  };

  it('answers 507 to uploads that do not fit, keeps nothing of them, and goes on serving', async () => {
    const kept = await json(await upload(distinct(1 << 20, 3), 'first.bin'));
    let refused: Response | null = null;
    for (let i = 0; i < 8 && !refused; i++) {
      const response = await upload(distinct(1 << 20, 5 + i), `fill-${i}.bin`);
      if (response.status !== 201) refused = response;
    }
    assert.ok(refused, 'the disk filled up');
    assert.equal(refused.status, 507);
    const body = await json(refused);
    assert.equal(body.statusCode, 507);
    assert.match(body.errorMessages[0], /no room/);
    const files = await listStoredFiles(disk);
    assert.deepEqual(files.staging, [], 'no staging file left');

    // Small files go into pack files: with the disk filled to the last byte, a pack append is refused the same way.
    const filler = await open(join(disk, 'filler'), 'w');
    try {
      for (;;) await filler.write(Buffer.alloc(16 << 10));
    } catch {
      // ENOSPC: full.
    } finally {
      await filler.close();
    }
    const small = await fetch(`${affix.url}/api/v1/user_uploads`, { method: 'POST', headers: zulip, body: fileForm(distinct(10_000, 11), 'small.bin') });
    assert.equal(small.status, 507);
    assert.equal((await json(small)).result, 'error');
    assert.equal((await listStoredFiles(disk)).blobs.length, files.blobs.length, 'no blob file added');
    await rm(join(disk, 'filler'));

    // Reads still work, and a delete gives room back for the next upload.
    const read = await fetch(kept.content, { headers: ivan.headers });
    assert.equal(read.status, 200);
    assert.equal((await read.arrayBuffer()).byteLength, 1 << 20);
    assert.equal((await fetch(`${affix.url}/healthz`)).status, 200);
    assert.equal((await fetch(kept.self, { method: 'DELETE', headers: ivan.headers })).status, 204);
    assert.equal((await upload(distinct(1000, 7), 'after.bin')).status, 201);
  });
});
