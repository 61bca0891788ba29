// SIGKILL of `affix serve` during concurrent uploads and deletes: after restart every acknowledged write holds, nothing partial shows.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig } from '../src/config.js';
import { openCore } from '../src/server.js';
import { provisionBackend, type Backend } from './backends.js';
import { fileForm, spawnAffix } from './harness.js';

const WORKERS = 12;
const KILL_AFTER_MS = 1500;
const ROUNDS = 2;

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

describe('crash: SIGKILL under concurrent uploads and deletes', () => {
  let backend: Backend;
  let dataDir: string;
  let headers: Record<string, string>;
  let zulip: Record<string, string>;

  before(async () => {
    backend = await provisionBackend();
    dataDir = await mkdtemp(join(tmpdir(), 'affix-crash-'));
    const core = await openCore(loadConfig({ 'data-dir': dataDir, ...backend.flags }, {}));
    const made = await core.identity.addUser({ orgExtId: '77', login: 'ivan', display: 'ivan' });
    await core.close();
    headers = { authorization: `OAuth ${made.token}`, 'x-org-id': '77' };
    zulip = { authorization: `Basic ${Buffer.from(`${made.user.email}:${made.apiKey}`).toString('base64')}` };
  });
  after(async () => {
    await backend.dispose();
    await rm(dataDir, { recursive: true, force: true });
  });

  it(`keeps every acknowledged upload and delete over ${ROUNDS} kills`, async () => {
    /** id -> sha256 of what was acknowledged (201) and not since deleted. */
    const live = new Map<string, { sha: string; size: number }>();
    const deleted = new Set<string>();
    for (let round = 0; round < ROUNDS; round++) {
      const affix = await spawnAffix(['--data-dir', dataDir, '--log-level', 'info'], backend.env);
      let stop = false;
      const inFlightDeletes = new Set<string>();
      const worker = async (n: number) => {
        for (let i = 0; !stop; i++) {
          try {
            const mine = [...live.keys()].filter((id) => !inFlightDeletes.has(id));
            if (i % 3 === 2 && mine.length > 0) {
              const id = mine[(n * 7 + i) % mine.length]!;
              inFlightDeletes.add(id);
              const response = await fetch(`${affix.url}/v2/attachments/${id}`, { method: 'DELETE', headers });
              if (response.status === 204) {
                live.delete(id);
                deleted.add(id);
              }
              continue;
            }
            // Sizes on both sides of the pack-file limit (64 KiB), all distinct content.
            const bytes = new Uint8Array(randomBytes(i % 2 === 0 ? 1000 + ((n * 997 + i * 131) % 60_000) : 70_000 + ((n * 7919 + i) % 200_000)));
            const response = await fetch(`${affix.url}/v2/attachments/?filename=c${round}-${n}-${i}.bin`, { method: 'POST', headers, body: fileForm(bytes) });
            if (response.status === 201) {
              const file = (await response.json()) as { id: string; size: number };
              assert.equal(file.size, bytes.length);
              live.set(file.id, { sha: sha256(bytes), size: bytes.length });
            }
          } catch {
            // The server is gone: the kill.
            if (stop) return;
          }
        }
      };
      const workers = Array.from({ length: WORKERS }, (_, n) => worker(n));
      await sleep(KILL_AFTER_MS);
      affix.child.kill('SIGKILL');
      stop = true;
      await affix.exited;
      await Promise.all(workers);
      // Deletes in flight at the kill may or may not have happened: neither outcome is wrong.
      for (const id of inFlightDeletes) if (live.has(id)) live.set(id, { ...live.get(id)!, sha: `maybe:${live.get(id)!.sha}` });

      const after = await spawnAffix(['--data-dir', dataDir, '--log-level', 'info'], backend.env);
      try {
        assert.ok(live.size + deleted.size > 20, `enough work happened before the kill (${live.size} live, ${deleted.size} deleted)`);
        for (const [id, { sha, size }] of live) {
          const response = await fetch(`${after.url}/v2/attachments/${id}/f.bin`, { headers });
          if (sha.startsWith('maybe:') && response.status === 404) {
            live.delete(id);
            continue;
          }
          assert.equal(response.status, 200, `acknowledged upload ${id} is there`);
          const bytes = new Uint8Array(await response.arrayBuffer());
          assert.equal(bytes.length, size);
          assert.equal(sha256(bytes), sha.replace(/^maybe:/, ''), `upload ${id} is byte-identical`);
          live.set(id, { sha: sha.replace(/^maybe:/, ''), size });
        }
        for (const id of deleted) {
          assert.equal((await fetch(`${after.url}/v2/attachments/${id}`, { headers })).status, 404, `acknowledged delete ${id} stays deleted`);
        }
        // Whatever else is listed (uploads in flight at the kill) is whole: its bytes download at its full size.
        const listed = ((await (await fetch(`${after.url}/api/v1/attachments`, { headers: zulip })).json()) as { attachments: Array<{ id: number; size: number }> }).attachments;
        for (const entry of listed) {
          const response = await fetch(`${after.url}/v2/attachments/${entry.id}/f.bin`, { headers });
          assert.equal(response.status, 200, `listed attachment ${entry.id} downloads`);
          assert.equal((await response.arrayBuffer()).byteLength, entry.size, `listed attachment ${entry.id} is whole`);
          if (!live.has(String(entry.id))) assert.ok(!deleted.has(String(entry.id)), 'no acknowledged delete comes back');
        }
      } finally {
        await after.stop();
      }
    }
  });
});
