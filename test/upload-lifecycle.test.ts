import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { utimes, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileForm, json, multipartStream, rawRequest, repeatedChunks, startAffix, type TestServer, type TestUser } from './harness.js';
import { BACKEND } from './backends.js';

const BOUNDARY = 'affix-test-boundary';

describe('upload path: limits, aborts, dedup, expiry', () => {
  let affix: TestServer;
  let ivan: TestUser;
  let issueKey: string;

  const api = (path: string, init: RequestInit = {}) =>
    fetch(`${affix.url}${path}`, { ...init, headers: { ...ivan.headers, ...(init.headers as Record<string, string>) } });
  const listIssue = async () => json(await api(`/v2/issues/${issueKey}/attachments`));
  const nothingStored = async () => {
    const files = await affix.storedFiles();
    assert.deepEqual(files.staging, [], 'no staging file left');
    return files.blobs;
  };

  before(async () => {
    // 1 MiB limit and one-second temporary files keep these tests small and fast.
    affix = await startAffix({ 'max-file-size': '1MiB', 'temporary-ttl': '1s' });
    ivan = await affix.addUser('7', 'ivan');
    const issue = await json(await api('/v2/issues', { method: 'POST', body: JSON.stringify({ queue: 'LIM', summary: 'limits' }), headers: { 'content-type': 'application/json' } }));
    issueKey = issue.key;
  });
  after(() => affix.close());

  it('accepts a file of exactly the limit', async () => {
    const exact = new Uint8Array(1 << 20).fill(7);
    const response = await api(`/v2/issues/${issueKey}/attachments`, { method: 'POST', body: fileForm(exact) });
    assert.equal(response.status, 201);
    const file = await json(response);
    assert.equal(file.size, 1 << 20);
    await api(new URL(file.self).pathname, { method: 'DELETE' });
    assert.deepEqual(await nothingStored(), []);
  });

  it('refuses a declared Content-Length over the limit with 413 before reading the body', async () => {
    const response = await rawRequest(`${affix.url}/v2/issues/${issueKey}/attachments`, {
      method: 'POST',
      headers: { ...ivan.headers, 'content-type': `multipart/form-data; boundary=${BOUNDARY}`, 'content-length': 50 << 20 },
      // Only a few bytes of the declared 50 MiB are ever sent: the answer must not wait for the rest.
      body: (async function* () {
        yield Buffer.from(`--${BOUNDARY}\r\n`);
        await sleep(5_000);
      })(),
    }).catch((err: Error) => ({ status: -1, headers: {}, body: err.message }));
    assert.equal(response.status, 413);
    const body = JSON.parse(response.body);
    assert.equal(body.statusCode, 413);
    assert.equal(body.errorMessages[0], 'The file size exceeds 1 Mb.');
    assert.deepEqual(await listIssue(), []);
    assert.deepEqual(await nothingStored(), []);
  });

  it('cuts off a chunked body that grows past the limit, answers 413 and keeps nothing', async () => {
    const response = await rawRequest(`${affix.url}/v2/issues/${issueKey}/attachments?filename=big.bin`, {
      method: 'POST',
      headers: { ...ivan.headers, 'content-type': `multipart/form-data; boundary=${BOUNDARY}`, 'transfer-encoding': 'chunked' },
      body: multipartStream(BOUNDARY, repeatedChunks(3, 1 << 20)),
    }).catch((err: Error) => ({ status: -1, headers: {}, body: err.message }));
    assert.equal(response.status, 413, response.body);
    assert.equal(JSON.parse(response.body).statusCode, 413);
    await sleep(100);
    assert.deepEqual(await listIssue(), []);
    assert.deepEqual(await nothingStored(), []);
  });

  it('keeps nothing when the client hangs up mid-upload', async () => {
    await new Promise<void>((resolve) => {
      const request = httpRequest(`${affix.url}/v2/issues/${issueKey}/attachments`, {
        method: 'POST',
        headers: { ...ivan.headers, 'content-type': `multipart/form-data; boundary=${BOUNDARY}`, 'content-length': 900_000 },
      });
      request.on('error', () => resolve());
      request.write(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="half.bin"\r\n\r\n`);
      request.write(Buffer.alloc(300_000, 1), () => setTimeout(() => request.destroy(), 100));
    });
    // The server notices the closed socket asynchronously; give it a moment, then look.
    for (let i = 0; i < 50 && (await affix.storedFiles()).staging.length > 0; i++) await sleep(20);
    assert.deepEqual(await listIssue(), []);
    assert.deepEqual(await nothingStored(), []);
    assert.equal((await api('/healthz')).status, 200);
  });

  it('refuses a second file part with 400 and keeps neither file', async () => {
    const form = fileForm('first');
    form.append('file2', new Blob(['second']), 'second.txt');
    const response = await api(`/v2/issues/${issueKey}/attachments`, { method: 'POST', body: form });
    assert.equal(response.status, 400);
    assert.match((await json(response)).errorMessages[0], /one file/);
    assert.deepEqual(await listIssue(), []);
    assert.deepEqual(await nothingStored(), []);
  });

  it('answers 400 for a malformed multipart body without harming the server', async () => {
    const response = await rawRequest(`${affix.url}/v2/issues/${issueKey}/attachments`, {
      method: 'POST',
      headers: { ...ivan.headers, 'content-type': `multipart/form-data; boundary=${BOUNDARY}` },
      body: `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="x"\r\n\r\nno closing boundary`,
    });
    assert.equal(response.status, 400, response.body);
    assert.equal(JSON.parse(response.body).statusCode, 400);
    assert.deepEqual(await listIssue(), []);
    assert.deepEqual(await nothingStored(), []);
  });

  it('stores identical bytes once and removes the blob with its last attachment', async () => {
    const first = await json(await api(`/v2/issues/${issueKey}/attachments?filename=a.txt`, { method: 'POST', body: fileForm('same bytes') }));
    const second = await json(await api(`/v2/attachments?filename=b.txt`, { method: 'POST', body: fileForm('same bytes') }));
    const third = await json(await api(`/v2/issues/${issueKey}/attachments?filename=c.txt`, { method: 'POST', body: fileForm('other bytes') }));
    assert.equal((await nothingStored()).length, 2);
    assert.equal((await api(new URL(first.self).pathname, { method: 'DELETE' })).status, 204);
    assert.equal((await nothingStored()).length, 2, 'the shared blob stays while the second file uses it');
    assert.equal(await (await api(`/v2/attachments/${second.id}/b.txt`)).text(), 'same bytes');
    assert.equal((await api(`/v2/attachments/${second.id}`, { method: 'DELETE' })).status, 204);
    assert.equal((await nothingStored()).length, 1);
    assert.equal((await api(new URL(third.self).pathname, { method: 'DELETE' })).status, 204);
    assert.deepEqual(await nothingStored(), []);
  });

  it('expires unlinked temporary files: the collector removes them and they can no longer be linked', async () => {
    const temp = await json(await api('/v2/attachments?filename=late.txt', { method: 'POST', body: fileForm('too late') }));
    const kept = await json(await api('/v2/attachments?filename=kept.txt', { method: 'POST', body: fileForm('linked in time') }));
    const linked = await api(`/v2/issues/${issueKey}/comments`, {
      method: 'POST',
      body: JSON.stringify({ text: 'in time', attachmentIds: [kept.id] }),
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(linked.status, 201);
    await sleep(1_100);
    const late = await api(`/v2/issues/${issueKey}/comments`, {
      method: 'POST',
      body: JSON.stringify({ text: 'late', attachmentIds: [temp.id] }),
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(late.status, 422);
    assert.match((await json(late)).errorMessages[0], /expired/);

    const report = await affix.server.core.collector.collect();
    assert.equal(report.expired, 1);
    assert.equal(report.blobsDeleted, 1);
    assert.equal((await api(`/v2/attachments/${temp.id}`)).status, 404);
    assert.equal(await (await api(`/v2/issues/${issueKey}/attachments/${kept.id}/kept.txt`)).text(), 'linked in time');
    assert.equal((await affix.server.core.collector.collect()).expired, 0);
    await api(`/v2/issues/${issueKey}/attachments/${kept.id}`, { method: 'DELETE' });
  });

  // It fakes a crash by writing files with old times into the data directory; S3 objects cannot be backdated.
  it('sweeps staging files and orphan blobs a crash left, once they are old enough', { skip: BACKEND !== 'embedded' && 'fabricates local files' }, async () => {
    const old = (Date.now() - 2 * 3600_000) / 1000;
    const staging = join(affix.dataDir, 'tmp', 'crashed-upload');
    const orphanDir = join(affix.dataDir, 'blobs', 'ab', 'cd');
    const orphan = join(orphanDir, 'abcd0000000000000000000000000000');
    const young = join(orphanDir, 'abcd1111111111111111111111111111');
    await mkdir(orphanDir, { recursive: true });
    await Promise.all([writeFile(staging, 'half'), writeFile(orphan, 'lost'), writeFile(young, 'in flight')]);
    await utimes(staging, old, old);
    await utimes(orphan, old, old);
    // Attached, so that sweeping at a later time does not expire it; larger than a pack takes, so a file that can be backdated.
    const liveText = 'live'.repeat(20_000);
    const live = await json(await api(`/v2/issues/${issueKey}/attachments?filename=live.txt`, { method: 'POST', body: fileForm(liveText) }));
    const [liveBlob] = (await affix.storedFiles()).blobs.filter((f) => f.includes('/blobs/') && !f.includes('abcd'));
    await utimes(liveBlob!, old, old);

    const now = Date.now();
    const first = await affix.server.core.collector.collect(now);
    assert.equal(first.stagingRemoved, 1);
    assert.equal(first.orphansRemoved, 0, 'an unreferenced blob is only suspected on the first sweep');
    // Two hours later the young file is old enough to be suspected, but only now for the first time.
    const second = await affix.server.core.collector.collect(now + 2 * 3600_000);
    assert.equal(second.orphansRemoved, 1);
    const files = await affix.storedFiles();
    assert.deepEqual(files.staging, []);
    assert.deepEqual(files.blobs.sort(), [liveBlob, young].sort());
    assert.equal(await (await api(`/v2/attachments/${live.id}/live.txt`)).text(), liveText);
  });

  it('keeps the blob of an upload whose recording may have committed, and deletes one surely not recorded', async () => {
    const core = affix.server.core;
    const meta = core.meta as { insertAttachment: typeof core.meta.insertAttachment };
    const actor = await core.identity.authenticate(ivan.token, ivan.orgId);
    const real = core.meta.insertAttachment.bind(core.meta);
    try {
      // The row commits, then the answer is lost (a failed WAL sync, a connection dropped after COMMIT).
      meta.insertAttachment = async (...args) => {
        await real(...args);
        throw new Error('outcome unknown');
      };
      const committed = await core.attachments.stage(actor, Readable.from([Buffer.from('maybe recorded')]));
      await assert.rejects(core.attachments.commit(actor, committed, 'maybe.txt', { kind: 'temporary' }), /outcome unknown/);
      assert.equal(await core.blobs.size(committed.key), 14, 'a row uses it: kept');
      // Refused before anything was written.
      meta.insertAttachment = async () => {
        throw new Error('refused');
      };
      const refused = await core.attachments.stage(actor, Readable.from([Buffer.from('surely not recorded')]));
      await assert.rejects(core.attachments.commit(actor, refused, 'no.txt', { kind: 'temporary' }), /refused/);
      assert.equal(await core.blobs.size(refused.key), null, 'no row uses it: deleted');
    } finally {
      delete (meta as Partial<typeof meta>).insertAttachment;
    }
  });

  it('deletes an unreferenced blob only when two sweeps an hour apart find it so', async () => {
    const core = affix.server.core;
    const hour = 3600_000;
    const start = Date.now() + 2 * hour;
    // Settle what earlier tests left: two sweeps an hour apart.
    await core.collector.collect(start);
    await core.collector.collect(start + 2 * hour);
    const lost = await core.blobs.write(Readable.from([Buffer.from('lost in a crash')]));
    // Stored, not yet recorded: the same state as an upload whose transaction has not committed.
    const finishing = await core.blobs.write(Readable.from([Buffer.from('finishing now')]));
    assert.equal((await core.collector.collect(start + 4 * hour)).orphansRemoved, 0, 'first sighting');
    const { org, user } = await core.identity.authenticate(ivan.token, ivan.orgId);
    await core.meta.insertAttachment({
      orgId: org.id, ownerId: user.id, name: 'f.txt', mimetype: 'text/plain', size: 13, width: null, height: null,
      sha256: 'finishing-now', storageKey: finishing.key, createdAt: start, expiresAt: null, issueId: null, commentId: null,
      pathId: `${org.id}/ff/finishing/f.txt`, entityId: null,
    });
    assert.equal((await core.collector.collect(start + 6 * hour)).orphansRemoved, 1, 'only the blob still unreferenced');
    assert.equal(await core.blobs.size(lost.key), null);
    assert.equal(await core.blobs.size(finishing.key), 13);
  });
});

describe('file names', () => {
  let affix: TestServer;
  let ivan: TestUser;
  before(async () => {
    affix = await startAffix();
    ivan = await affix.addUser('8', 'ivan');
  });
  after(() => affix.close());

  const uploadNamed = async (name: string, content = 'x') => {
    const response = await fetch(`${affix.url}/v2/attachments?filename=${encodeURIComponent(name)}`, {
      method: 'POST',
      headers: ivan.headers,
      body: fileForm(content),
    });
    assert.equal(response.status, 201);
    return json(response);
  };

  it('keeps non-ASCII names for display and encodes them in Content-Disposition', async () => {
    const file = await uploadNamed('Отчёт за квартал 📎.pdf', '%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n');
    assert.equal(file.name, 'Отчёт за квартал 📎.pdf');
    assert.equal(file.mimetype, 'application/pdf');
    assert.ok(file.content.endsWith(`/${encodeURIComponent('Отчёт за квартал 📎.pdf')}`));
    const download = await fetch(file.content, { headers: ivan.headers });
    const disposition = download.headers.get('content-disposition')!;
    assert.ok(disposition.startsWith('inline; filename="'), disposition);
    assert.ok(disposition.includes(`filename*=UTF-8''${encodeURIComponent('Отчёт за квартал 📎.pdf')}`), disposition);
    assert.match(disposition, /^[\x20-\x7e]+$/, 'the header itself is ASCII');
  });

  it('cleans hostile names: separators, dot names, control and bidi characters', async () => {
    assert.equal((await uploadNamed('../../etc/passwd')).name, '....etcpasswd');
    assert.equal((await uploadNamed('..')).name, 'file');
    assert.equal((await uploadNamed('a\u0000b\r\nc\\d.txt')).name, 'abcd.txt');
    assert.equal((await uploadNamed('invoice\u202Etxt.exe')).name, 'invoicetxt.exe');
    const html = await uploadNamed('<script>alert(1)</script>.html');
    const download = await fetch(html.content, { headers: ivan.headers });
    assert.ok(download.headers.get('content-disposition')!.startsWith('attachment;'));
    assert.equal(download.headers.get('content-security-policy'), "default-src 'none'; sandbox");
  });

  it('caps very long names at 255 bytes, keeping the extension and whole characters', async () => {
    const file = await uploadNamed(`${'я'.repeat(400)}.docx`);
    assert.ok(Buffer.byteLength(file.name) <= 255, String(Buffer.byteLength(file.name)));
    assert.ok(file.name.endsWith('.docx'));
    assert.ok(!file.name.includes('\ufffd'));
  });
});
