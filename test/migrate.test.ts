import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { migrate } from '../src/cli/migrate.js';
import { loadConfig } from '../src/config.js';
import { openCore } from '../src/server.js';
import { provisionBackend, type Backend } from './backends.js';
import { fileForm, json, runCli, spawnAffix } from './harness.js';

const sha = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

const cli = (args: string[], env: Record<string, string> = {}) => runCli(args, { ...process.env, ...env });

/** The `--to-...` flags naming a provisioned PostgreSQL schema and bucket. */
const toFlags = (target: Backend) => Object.entries(target.flags).flatMap(([flag, value]) => [`--to-${flag}`, value]);

describe('affix migrate: the embedded default to PostgreSQL + S3, resumable, checked', () => {
  let root: string;
  let source: string;
  let target: Backend;
  let token: string;
  let zulip: Record<string, string>;
  const headers = () => ({ authorization: `OAuth ${token}`, 'x-org-id': 'm' });
  const files = new Map<string, Uint8Array>();
  let zulipPath = '';
  let signed = '';

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'affix-migrate-'));
    source = join(root, 'source');
    target = await provisionBackend('postgres-s3');
    const user = JSON.parse((await cli(['user', 'add', '--org', 'm', '--login', 'ivan', '--email', 'ivan@m.test', '--data-dir', source])).stdout);
    token = user.token;
    zulip = { authorization: `Basic ${Buffer.from(`ivan@m.test:${user.apiKey}`).toString('base64')}` };
    const server = await spawnAffix(['--data-dir', source]);
    try {
      const post = (path: string, body: object) => fetch(`${server.url}${path}`, { method: 'POST', headers: { ...headers(), 'content-type': 'application/json' }, body: JSON.stringify(body) });
      await post('/v2/issues', { queue: 'MIG', summary: 'moving day' });
      await post('/v2/issues/MIG-1/comments', { text: 'see the files' });
      await post('/v2/entities/project', { fields: { summary: 'P' } });
      // Small files (packed on the source) and large ones, twenty-four blobs in all.
      for (let i = 0; i < 24; i++) {
        const bytes = new Uint8Array(randomBytes(i % 2 ? 150_000 + i : 2000 + i));
        const made = await json(await fetch(`${server.url}/v2/issues/MIG-1/attachments`, { method: 'POST', headers: headers(), body: fileForm(bytes, `f${i}.bin`) }));
        files.set(made.id, bytes);
      }
      const upload = await json(await fetch(`${server.url}/api/v1/user_uploads`, { method: 'POST', headers: zulip, body: fileForm('chat bytes', 'chat.txt') }));
      zulipPath = upload.url;
      await fetch(`${server.url}/api/v1/messages`, { method: 'POST', headers: zulip, body: new URLSearchParams({ type: 'stream', to: 'general', topic: 't', content: `[chat](${zulipPath})` }) });
      // A signed URL made on the source: it opens on the target too when the signing secret moved with the data.
      signed = (await json(await fetch(`${server.url}/api/v1${zulipPath}`, { headers: zulip }))).url;
    } finally {
      await server.stop();
    }
  });
  after(async () => {
    await target.dispose();
    await rm(root, { recursive: true, force: true });
  });

  it('goes on after being stopped halfway, and the new backend serves the same ids, URLs, tokens and bytes', async () => {
    const from = loadConfig({ 'data-dir': source }, {});
    const to = loadConfig({ 'data-dir': join(root, 'scratch'), ...target.flags }, {});
    // Stopped in the middle of the blobs: the next run goes on from there.
    await assert.rejects(
      migrate(from, to, (line) => {
        if (/^blobs: \d+ of/.test(line) && Number(/(\d+) bytes copied/.exec(line)![1]) > 0) throw new Error('stopped halfway');
      }),
      /stopped halfway/,
    );
    const run = await cli(['migrate', '--data-dir', source, ...toFlags(target)]);
    assert.equal(run.code, 0, run.stderr);
    const report = JSON.parse(run.stdout);
    assert.deepEqual(report.failures, []);
    assert.ok(report.blobsAlreadyThere > 0 && report.blobsCopied > 0, `resumed: ${report.blobsAlreadyThere} there, ${report.blobsCopied} copied`);
    assert.equal(report.blobsAlreadyThere + report.blobsCopied, 25);
    assert.equal(report.rows.attachments, 25);
    const moved = await spawnAffix([], target.env);
    try {
      const listed = await json(await fetch(`${moved.url}/v2/issues/MIG-1/attachments`, { headers: headers() }));
      assert.deepEqual(listed.map((f: { id: string }) => f.id).sort(), [...files.keys()].sort(), 'the same ids, the same token');
      for (const file of listed) {
        const bytes = new Uint8Array(await (await fetch(file.content.replace(/^http:\/\/[^/]+/, moved.url), { headers: headers() })).arrayBuffer());
        assert.equal(sha(bytes), sha(files.get(file.id)!), file.name);
      }
      assert.equal(await (await fetch(`${moved.url}${zulipPath}`, { headers: zulip })).text(), 'chat bytes', 'the same Zulip path, the same API key');
      assert.equal((await json(await fetch(`${moved.url}/api/v1/attachments`, { headers: zulip }))).attachments[0].messages.length, 1, 'the message that claims it');
      assert.equal(await (await fetch(signed.replace(/^http:\/\/[^/]+/, moved.url).replace(/^\//, `${moved.url}/`))).text(), 'chat bytes', 'the same signing secret');
      // New rows go on after the copied ids.
      const fresh = await json(await fetch(`${moved.url}/v2/issues/MIG-1/attachments`, { method: 'POST', headers: headers(), body: fileForm('new', 'new.txt') }));
      assert.ok(Number(fresh.id) > Math.max(...[...files.keys()].map(Number)));
      assert.equal((await json(await fetch(`${moved.url}/v2/issues`, { method: 'POST', headers: { ...headers(), 'content-type': 'application/json' }, body: JSON.stringify({ queue: 'MIG', summary: 'next' }) }))).key, 'MIG-2');
    } finally {
      await moved.stop();
    }
    const again = JSON.parse((await cli(['migrate', '--data-dir', source, ...toFlags(target)])).stdout);
    assert.equal(again.blobsCopied, 0, 'a third run finds everything there');
    // And back: PostgreSQL + S3 (the source, from AFFIX_* variables) to a new embedded data directory.
    const back = join(root, 'back');
    const home = await cli(['migrate', '--data-dir', join(root, 'scratch-2'), '--to-data-dir', back], target.env);
    assert.equal(home.code, 0, home.stderr);
    const returned = await spawnAffix(['--data-dir', back]);
    try {
      const listed = await json(await fetch(`${returned.url}/v2/issues/MIG-1/attachments`, { headers: headers() }));
      assert.equal(listed.length, files.size + 1, 'every file, the one made on PostgreSQL + S3 too');
      const first = listed.find((f: { id: string }) => files.has(f.id));
      assert.equal(sha(new Uint8Array(await (await fetch(first.content.replace(/^http:\/\/[^/]+/, returned.url), { headers: headers() })).arrayBuffer())), sha(files.get(first.id)!));
    } finally {
      await returned.stop();
    }
  });

  it('refuses to copy a store onto itself, and fails on bytes that are not their sha256', async () => {
    const same = await cli(['migrate', '--data-dir', source, '--to-data-dir', source]);
    assert.equal(same.code, 1);
    assert.match(same.stderr, /the target is the source/);
    // A source blob damaged behind its back: the copy says which, and exits 1.
    const core = await openCore(loadConfig({ 'data-dir': source }, {}));
    const [blob] = (await core.meta.blobsAfter(0, 100)).filter((b) => core.blobs.localPath(b.storageKey) !== null);
    await writeFile(core.blobs.localPath(blob!.storageKey)!, randomBytes(blob!.size));
    await core.close();
    const other = await provisionBackend('postgres-s3');
    try {
      const run = await cli(['migrate', '--data-dir', source, ...toFlags(other)]);
      assert.equal(run.code, 1);
      assert.match(run.stderr, new RegExp(`affix migrate: blob ${blob!.id} \\(${blob!.storageKey}\\): ${blob!.size} bytes of sha256`));
    } finally {
      await other.dispose();
    }
  });
});
