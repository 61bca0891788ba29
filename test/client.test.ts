import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AffixClient, AffixClientError } from '../src/client/index.js';
import { loadConfig } from '../src/config.js';
import { openCore } from '../src/server.js';
import { provisionBackend, type Backend } from './backends.js';
import { spawnAffix, startAffix, type TestServer } from './harness.js';

const MIB = 1 << 20;
const sha = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

describe('the client (affix/client) against a real server', () => {
  let affix: TestServer;
  let dir: string;
  let tracker: AffixClient;
  let zulip: AffixClient;
  let creds: { token: string; apiKey: string; email: string };

  before(async () => {
    affix = await startAffix({ 'max-file-size': '64MiB' });
    dir = await mkdtemp(join(tmpdir(), 'affix-client-'));
    const made = await affix.server.core.identity.addUser({ orgExtId: 'cli', login: 'ivan', display: 'Ivan', email: 'ivan@cli.test' });
    creds = { token: made.token, apiKey: made.apiKey, email: made.user.email };
    tracker = new AffixClient({ url: affix.url, credentials: { token: made.token, org: 'cli' } });
    zulip = new AffixClient({ url: affix.url, credentials: { email: made.user.email, apiKey: made.apiKey } });
    await tracker.createIssue({ queue: 'JUNE', summary: 'logs' });
  });
  after(async () => {
    await affix.close();
    await rm(dir, { recursive: true, force: true });
  });

  const file = async (name: string, bytes: Buffer) => {
    const path = join(dir, name);
    await writeFile(path, bytes);
    return path;
  };

  it('uploads a small file in one request and a large one through tus, with progress, to every Tracker target, and downloads them back checked', async () => {
    const small = randomBytes(10_000);
    const large = randomBytes(6 * MIB + 17);
    const seen: number[] = [];
    const one = await tracker.upload(await file('small.bin', small), { target: { issue: 'JUNE-1' } });
    const two = await tracker.upload(await file('large.bin', large), { target: { issue: 'JUNE-1' }, resumableFrom: MIB, chunkSize: 2 * MIB, onProgress: (p) => seen.push(p.bytes) });
    assert.ok('attachment' in one && 'attachment' in two);
    assert.equal(one.attachment.size, small.length);
    assert.equal(two.attachment.name, 'large.bin');
    assert.ok(seen.length > 3 && seen.at(-1) === large.length, `progress to the end: ${seen.slice(-3)}`);
    assert.deepEqual((await tracker.issueAttachments('JUNE-1')).map((a) => a.name), ['small.bin', 'large.bin']);
    const comment = await tracker.addComment('JUNE-1', { text: 'see' });
    const onComment = await tracker.upload(small, { name: 'c.bin', target: { issue: 'JUNE-1', comment: String(comment.id) } });
    assert.ok('attachment' in onComment && onComment.attachment.commentId === comment.longId);
    const project = await tracker.createEntity('project', 'P');
    await tracker.upload(large, { name: 'e.bin', target: { entity: `project/${project.id}` }, resumableFrom: MIB });
    await tracker.upload(small, { name: 'e2.bin', target: { entity: `project/${project.id}` } });
    assert.deepEqual((await tracker.entityAttachments('project', project.id)).map((a) => a.name).sort(), ['e.bin', 'e2.bin']);
    const temporary = await tracker.upload(small, { name: 't.bin', target: { temporary: true } });
    assert.ok('attachment' in temporary);
    const issue = await tracker.createIssue({ queue: 'JUNE', summary: 'with it', attachmentIds: [temporary.attachment.id] });
    assert.equal(issue.attachments?.[0]?.id, temporary.attachment.id);
    // Down again, by id, checked against the sha256 the ETag carries.
    const out = join(dir, 'large.out');
    const got = await tracker.download(two.attachment.id, out);
    assert.deepEqual([got.name, got.sha256, got.resumedFrom], ['large.bin', sha(large), 0]);
    assert.equal(sha(await readFile(out)), sha(large));
  });

  it('uploads in parallel parts, and as Zulip uploads with Zulip credentials', async () => {
    const bytes = randomBytes(5 * MIB + 3);
    const parallel = await tracker.upload(bytes, { name: 'p.bin', target: { issue: 'JUNE-1' }, resumableFrom: MIB, parallel: 3 });
    assert.ok('attachment' in parallel);
    assert.equal(sha(await download(tracker, parallel.attachment.id)), sha(bytes));
    const small = await zulip.upload(Buffer.from('hello'), { name: 'hi.txt', target: { zulip: true } });
    const big = await zulip.upload(bytes, { name: 'big.bin', target: { zulip: true }, resumableFrom: MIB });
    assert.ok('zulip' in small && 'zulip' in big);
    assert.match(big.zulip.url, /^\/user_uploads\/\d+\//);
    const mine = await zulip.zulipAttachments();
    assert.deepEqual(mine.attachments.map((a) => a.name).slice(0, 2).sort(), ['big.bin', 'hi.txt']);
    const id = String(mine.attachments.find((a) => a.name === 'big.bin')!.id);
    assert.equal(sha(await download(zulip, id)), sha(bytes), 'by id, with Zulip credentials');
    await zulip.sendMessage({ type: 'stream', to: 'general', topic: 't', content: `[big](${big.zulip.url})` });
    assert.equal((await zulip.zulipAttachments()).attachments.find((a) => a.name === 'big.bin')!.messages.length, 1);
    await zulip.deleteAttachment(id);
    assert.ok(!(await zulip.zulipAttachments()).attachments.some((a) => a.name === 'big.bin'));
  });

  it('resumes a download a stopped run left, from its bytes, and refuses bytes that do not match', async () => {
    const bytes = randomBytes(3 * MIB);
    const up = await tracker.upload(bytes, { name: 'd.bin', target: { issue: 'JUNE-1' } });
    assert.ok('attachment' in up);
    const out = join(dir, 'd.out');
    const stop = new AbortController();
    await assert.rejects(tracker.download(up.attachment.id, out, { signal: stop.signal, onProgress: (p) => p.bytes > MIB && stop.abort() }));
    const parts = (await readdir(dir)).filter((n) => n.startsWith('d.out.') && n.endsWith('.part'));
    assert.equal(parts.length, 1, 'a part file named by the sha256');
    const kept = (await stat(join(dir, parts[0]!))).size;
    assert.ok(kept > 0 && kept < bytes.length);
    const again = await tracker.download(up.attachment.id, out);
    assert.equal(again.resumedFrom, kept);
    assert.equal(sha(await readFile(out)), sha(bytes));
    // A part of other bytes under the file's name: the check refuses the whole and keeps nothing.
    await writeFile(join(dir, `e.out.${sha(bytes)}.part`), randomBytes(MIB));
    await assert.rejects(tracker.download(up.attachment.id, join(dir, 'e.out')), /do not match the file's sha256/);
    assert.ok(!(await readdir(dir)).some((n) => n.startsWith('e.out')), 'nothing kept');
  });

  it('says what went wrong: wrong credentials, a missing file, a file over the limit, an unreachable server', async () => {
    const wrong = new AffixClient({ url: affix.url, credentials: { token: 'nope', org: 'cli' } });
    await assert.rejects(wrong.issue('JUNE-1'), (err: AffixClientError) => err instanceof AffixClientError && err.status === 401 && /token/i.test(err.message));
    await assert.rejects(tracker.upload(join(dir, 'absent.bin'), { target: { issue: 'JUNE-1' } }), (err: AffixClientError) => err.status === 0 && /no such file/.test(err.message));
    const huge = Buffer.alloc(65 * MIB);
    await assert.rejects(tracker.upload(huge, { name: 'huge.bin', target: { issue: 'JUNE-1' } }), (err: AffixClientError) => err.status === 413 && /exceeds/i.test(err.message));
    await assert.rejects(tracker.upload(huge.subarray(0, 100), { name: 'x', target: { issue: 'NOPE-9' } }), (err: AffixClientError) => err.status === 404);
    const away = new AffixClient({ url: 'http://127.0.0.1:9', credentials: { token: 't', org: 'o' }, retries: 1 });
    await assert.rejects(away.issue('X-1'), (err: AffixClientError) => err.status === 0 && /could not be reached/.test(err.message));
  });

  it('waits out 429 as Retry-After says, and retries a read after a 5xx, but not a write', async () => {
    let calls = 0;
    const flaky: typeof fetch = async (input, init) => {
      calls++;
      if (calls === 1) return new Response('{"errorMessages":["slow down"]}', { status: 429, headers: { 'retry-after': '0' } });
      if (calls === 2 && init?.method === 'GET') return new Response('', { status: 502 });
      return fetch(input, init);
    };
    const client = new AffixClient({ url: affix.url, credentials: { token: creds.token, org: 'cli' }, fetch: flaky });
    assert.equal((await client.issue('JUNE-1')).key, 'JUNE-1');
    assert.equal(calls, 3);
    let posts = 0;
    const failing: typeof fetch = async (input, init) => (init?.method === 'POST' ? (posts++, new Response('', { status: 500 })) : fetch(input, init));
    const writer = new AffixClient({ url: affix.url, credentials: { token: creds.token, org: 'cli' }, fetch: failing });
    await assert.rejects(writer.createIssue({ queue: 'JUNE', summary: 'once' }), (err: AffixClientError) => err.status === 500);
    assert.equal(posts, 1, 'a write that may have happened is not sent again');
  });

  async function download(client: AffixClient, id: string): Promise<Buffer> {
    const path = join(dir, `dl-${randomBytes(4).toString('hex')}`);
    await client.download(id, path);
    return readFile(path);
  }
});

describe('the client resumes an upload after the server is killed', () => {
  let backend: Backend;
  let dataDir: string;
  let token: string;
  before(async () => {
    backend = await provisionBackend();
    dataDir = await mkdtemp(join(tmpdir(), 'affix-client-kill-'));
    const core = await openCore(loadConfig({ 'data-dir': dataDir, ...backend.flags }, {}));
    token = (await core.identity.addUser({ orgExtId: 'k', login: 'ivan', display: 'ivan' })).token;
    await core.issues.create(await core.identity.authenticate(token, 'k'), { queue: 'KILL', summary: 's', attachmentIds: [] });
    await core.close();
  });
  after(async () => {
    await backend.dispose();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('goes on from the bytes the killed server kept, on a fresh one, and makes one attachment', async () => {
    const bytes = randomBytes(48 * MIB);
    const path = join(dataDir, 'big.iso');
    await writeFile(path, bytes);
    const store = join(dataDir, 'resume.json');
    const first = await spawnAffix(['--data-dir', dataDir], backend.env);
    const client = (url: string) => new AffixClient({ url, credentials: { token, org: 'k' } });
    const stop = new AbortController();
    let killedAt = 0;
    const interrupted = client(first.url).upload(path, {
      target: { issue: 'KILL-1' },
      resumeStore: store,
      chunkSize: 4 * MIB,
      signal: stop.signal,
      onProgress: (p) => {
        if (killedAt === 0 && p.bytes >= 16 * MIB) {
          killedAt = p.bytes;
          first.child.kill('SIGKILL');
          stop.abort();
        }
      },
    });
    await assert.rejects(interrupted);
    await first.exited;
    assert.ok(killedAt > 0, 'killed midway');
    // The same address again, as a restarted server has (the stored upload is keyed by the endpoint).
    const second = await spawnAffix(['--data-dir', dataDir, '--port', new URL(first.url).port], backend.env);
    try {
      let firstReported = -1;
      const done = await client(second.url).upload(path, { target: { issue: 'KILL-1' }, resumeStore: store, chunkSize: 4 * MIB, onProgress: (p) => firstReported < 0 && (firstReported = p.bytes) });
      assert.equal(done.resumed, true);
      assert.ok(firstReported >= 8 * MIB, `went on from the server's bytes, not from zero: ${firstReported}`);
      const files = await client(second.url).issueAttachments('KILL-1');
      assert.deepEqual(files.map((f) => f.name), ['big.iso'], 'exactly one attachment');
      const out = join(dataDir, 'back.iso');
      await client(second.url).download(files[0]!.id, out);
      assert.equal(sha(await readFile(out)), sha(bytes));
      assert.deepEqual(JSON.parse(await readFile(store, 'utf8')), {}, 'the stored URL goes once the upload is done');
    } finally {
      await second.stop();
    }
  });
});
