import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { provisionBackend, type Backend } from './backends.js';
import { CLI, fileForm, json, spawnAffix, type SpawnedAffix } from './harness.js';
import { makeImage } from './images.js';

const execFileAsync = promisify(execFile);
const REDIS_URL = process.env.AFFIX_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/**
 * Two `affix serve` processes, each with a data directory of its own, on one PostgreSQL schema and
 * one bucket: what one node does, the other sees, and races between them resolve exactly once.
 * Node B redirects downloads to presigned URLs; both count rate limits in one Redis.
 */
describe('several nodes on one PostgreSQL and one bucket', () => {
  let backend: Backend;
  const dirs: string[] = [];
  let a: SpawnedAffix;
  let b: SpawnedAffix;
  let headers: Record<string, string>;
  const cli = async (args: string[]) => {
    const dir = await mkdtemp(join(tmpdir(), 'affix-node-cli-'));
    dirs.push(dir);
    const { stdout } = await execFileAsync(process.execPath, [CLI, ...args, '--data-dir', dir], { env: { ...process.env, ...backend.env } });
    return JSON.parse(stdout);
  };

  before(async () => {
    backend = await provisionBackend('postgres-s3');
    const node = async (extra: string[]) => {
      const dir = await mkdtemp(join(tmpdir(), 'affix-node-'));
      dirs.push(dir);
      return spawnAffix(['--data-dir', dir, '--temporary-ttl', '2s', '--rate-limit', '40', '--redis-url', REDIS_URL, ...extra], backend.env);
    };
    // Both start at once on an empty schema: the migrations must run exactly once.
    [a, b] = await Promise.all([node([]), node(['--s3-presign-downloads', 'true'])]);
    const user = await cli(['user', 'add', '--org', '777', '--login', 'ivan']);
    headers = { authorization: `OAuth ${user.token}`, 'x-org-id': '777' };
  });
  after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await backend.dispose();
    await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
  });

  const upload = (node: SpawnedAffix, name: string, content: string | Uint8Array<ArrayBuffer>) =>
    fetch(`${node.url}/v2/attachments?filename=${name}`, { method: 'POST', headers, body: fileForm(content) });
  const on = (node: SpawnedAffix, url: string) => node.url + new URL(url).pathname + new URL(url).search;

  it('serves on one node what the other took: list, download (streamed and presigned), thumbnail, delete', async () => {
    const created = await upload(a, 'notes.txt', 'taken by node A');
    assert.equal(created.status, 201);
    const file = await json(created);
    const issue = await json(await fetch(`${b.url}/v2/issues/`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify({ queue: 'NODE', summary: 'x', attachmentIds: [file.id] }) }));
    const listed = await json(await fetch(`${b.url}/v2/issues/${issue.key}/attachments`, { headers }));
    assert.deepEqual(listed.map((f: { id: string }) => f.id), [file.id]);

    const streamed = await fetch(on(a, file.content), { headers });
    assert.equal(await streamed.text(), 'taken by node A');
    const redirect = await fetch(on(b, file.content), { headers, redirect: 'manual' });
    assert.equal(redirect.status, 302);
    assert.equal(redirect.headers.get('cache-control'), 'no-store');
    const presigned = redirect.headers.get('location')!;
    assert.ok(presigned.startsWith(backend.flags['s3-endpoint']!), presigned);
    const direct = await fetch(presigned, { headers: { range: 'bytes=9-12' } });
    assert.equal(direct.status, 206);
    assert.equal(await direct.text(), 'node');
    assert.equal(direct.headers.get('content-type'), 'text/plain');
    assert.match(direct.headers.get('content-disposition')!, /^inline; filename="notes.txt"/);
    const unauthenticated = await fetch(on(b, file.content), { redirect: 'manual' });
    assert.equal(unauthenticated.status, 401, 'no URL without credentials');

    const image = await json(await upload(b, 'photo.png', new Uint8Array(await makeImage(400, 300).png().toBuffer())));
    // Both nodes make the same thumbnail at once: both answer it, and one copy is kept.
    const before = (await backend.storedBlobKeys())!.length;
    const thumbs = await Promise.all([a, a, b].map((node) => fetch(on(node, image.thumbnail), { headers })));
    assert.deepEqual(thumbs.map((t) => t.status), [200, 200, 200], 'B redirects, and fetch follows to the bucket');
    const bodies = await Promise.all(thumbs.map(async (t) => Buffer.from(await t.arrayBuffer()).toString('base64')));
    assert.equal(new Set(bodies).size, 1, 'the same thumbnail from every node');
    assert.equal((await backend.storedBlobKeys())!.length, before + 1, 'one thumbnail object');

    assert.equal((await fetch(`${a.url}/v2/attachments/${image.id}`, { method: 'DELETE', headers })).status, 204);
    assert.equal((await fetch(`${b.url}/v2/attachments/${image.id}`, { headers })).status, 404);
    assert.equal((await backend.storedBlobKeys())!.length, before - 1, 'the image and its thumbnail are gone');
  });

  it('links a temporary file exactly once when both nodes race for it', async () => {
    const file = await json(await upload(a, 'contested.txt', 'only once'));
    const attempts = await Promise.all(
      [a, b, a, b, a, b].map((node, i) =>
        fetch(`${node.url}/v2/issues/`, {
          method: 'POST',
          headers: { ...headers, 'content-type': 'application/json' },
          body: JSON.stringify({ queue: 'RACE', summary: `attempt ${i}`, attachmentIds: [file.id] }),
        }),
      ),
    );
    assert.deepEqual(attempts.map((r) => r.status).sort(), [201, 422, 422, 422, 422, 422]);
    const winner = await json(attempts.find((r) => r.status === 201)!);
    assert.deepEqual((await json(await fetch(`${b.url}/v2/issues/${winner.key}/attachments`, { headers }))).map((f: { id: string }) => f.id), [file.id]);
  });

  it('never passes the quota with uploads spread over both nodes', async () => {
    await cli(['org', 'set', '--org', '777', '--upload-quota-mib', '3']);
    try {
      // 3 MiB quota, ten 700 KiB uploads at once over both nodes: four fit (the org holds only a few bytes so far).
      const size = 700 * 1024;
      const responses = await Promise.all(Array.from({ length: 10 }, (_, i) => upload(i % 2 ? a : b, `q${i}.bin`, new Uint8Array(randomBytes(size)))));
      assert.deepEqual(responses.map((r) => r.status).sort(), [201, 201, 201, 201, 422, 422, 422, 422, 422, 422]);
      const rows = (await backend.rows('attachments')) as Array<{ size: string }>;
      const total = rows.reduce((sum, row) => sum + Number(row.size), 0);
      assert.ok(total <= 3 * 2 ** 20, `${total} bytes stored under a 3 MiB quota`);
    } finally {
      await cli(['org', 'set', '--org', '777', '--upload-quota-mib', 'none']);
    }
  });

  it('collects expired temporary files once, with collectors started on two nodes at the same time (one at a time runs)', async () => {
    const files = await Promise.all([1, 2, 3, 4].map((i) => upload(i % 2 ? a : b, `temp${i}.txt`, `temporary ${i} ${randomBytes(8).toString('hex')}`).then(json)));
    await new Promise((resolve) => setTimeout(resolve, 2100));
    const before = (await backend.storedBlobKeys())!.length;
    const reports = await Promise.all([cli(['gc']), cli(['gc'])]);
    // The collector's advisory lock: a run that finds another under way does nothing and says so.
    const ran = reports.filter((r) => r.skipped === undefined);
    assert.ok(ran.length >= 1);
    for (const skipped of reports.filter((r) => r.skipped !== undefined)) assert.equal(skipped.skipped, 'another collector run is under way');
    const expired = ran.reduce((n, r) => n + r.expired, 0);
    const blobsDeleted = ran.reduce((n, r) => n + r.blobsDeleted, 0);
    assert.ok(expired >= 4, `expired ${expired}`);
    assert.equal(blobsDeleted, before - (await backend.storedBlobKeys())!.length, 'each released blob deleted once');
    for (const file of files) assert.equal((await fetch(`${a.url}/v2/attachments/${file.id}`, { headers })).status, 404);
  });

  it('counts one rate limit across both nodes (Redis)', async () => {
    const user = await cli(['user', 'add', '--org', '777', '--login', 'busy']);
    const busy = { authorization: `OAuth ${user.token}`, 'x-org-id': '777' };
    const statuses: number[] = [];
    for (let i = 0; i < 42; i++) statuses.push((await fetch(`${(i % 2 ? a : b).url}/v2/myself`, { headers: busy })).status);
    assert.deepEqual(statuses.slice(0, 40), Array(40).fill(200), 'forty a minute, wherever they land');
    assert.deepEqual(statuses.slice(40), [429, 429]);
  });

  it('lets a tus upload go on on the other node, and never two PATCHes of one upload at once across nodes', async () => {
    // Over one 5 MiB part: on S3, node B sends its parts to the multipart upload node A began.
    const file = randomBytes(9 << 20);
    // A user of its own: the rate-limit budget of the one above is spent.
    const uploader = await cli(['user', 'add', '--org', '777', '--login', 'tus-uploader']);
    const own = { authorization: `OAuth ${uploader.token}`, 'x-org-id': '777' };
    const tus = { ...own, 'tus-resumable': '1.0.0' };
    const created = await fetch(`${a.url}/v2/tus`, { method: 'POST', headers: { ...tus, 'upload-length': String(file.length), 'upload-metadata': `filename ${Buffer.from('two-nodes.bin').toString('base64')}` } });
    assert.equal(created.status, 201);
    const path = new URL(created.headers.get('location')!).pathname;
    const patch = (node: SpawnedAffix, offset: number, body: BodyInit, extra: RequestInit = {}) =>
      fetch(`${node.url}${path}`, { method: 'PATCH', headers: { ...tus, 'content-type': 'application/offset+octet-stream', 'upload-offset': String(offset) }, body, ...extra } as RequestInit);
    assert.equal((await patch(a, 0, new Uint8Array(file.subarray(0, 6 << 20)))).status, 204);
    // Node A is writing (a slow body) while node B is asked to write the same upload: B refuses.
    const slow = new ReadableStream({ async start(c) { c.enqueue(new Uint8Array(file.subarray(6 << 20, (6 << 20) + 10))); await new Promise((r) => setTimeout(r, 800)); c.close(); } });
    const holding = patch(a, 6 << 20, slow, { duplex: 'half' } as RequestInit);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await patch(b, 6 << 20, new Uint8Array(file.subarray(6 << 20)))).status, 423);
    assert.equal((await holding).status, 204);
    const head = await fetch(`${b.url}${path}`, { method: 'HEAD', headers: tus });
    const offset = Number(head.headers.get('upload-offset'));
    assert.equal(offset, (6 << 20) + 10);
    const done = await patch(b, offset, new Uint8Array(file.subarray(offset)));
    assert.equal(done.status, 200);
    const attachment = await json(done);
    const got = Buffer.from(await (await fetch(on(a, attachment.content), { headers: own })).arrayBuffer());
    assert.ok(got.equals(file), 'byte-identical, whichever node took which part');
  });
});
