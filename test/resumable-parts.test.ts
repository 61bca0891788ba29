import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { after, before, describe, it } from 'node:test';
import { ListMultipartUploadsCommand, S3Client } from '@aws-sdk/client-s3';
import { loadConfig } from '../src/config.js';
import type { Affix } from '../src/core/affix.js';
import type { Actor } from '../src/core/identity.js';
import type { Attachment } from '../src/core/model.js';
import { openCore } from '../src/server.js';
import { completedMultipartUploads, provisionBackend, type Backend } from './backends.js';

const MIB = 1 << 20;
const sha = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

/** A resumable upload's bytes on S3: whole parts of one multipart upload, checked by an S3 server as strict as S3 about parts. */
describe('resumable uploads on a store that joins parts (S3)', () => {
  let backend: Backend;
  let dataDir: string;
  let core: Affix;
  let actor: Actor;
  let s3: S3Client;

  before(async () => {
    backend = await provisionBackend('postgres-s3');
    dataDir = await mkdtemp(join(tmpdir(), 'affix-parts-'));
    core = await openCore(loadConfig({ 'data-dir': dataDir, ...backend.flags }, {}));
    const made = await core.identity.addUser({ orgExtId: 'parts', login: 'ivan', display: 'Ivan' });
    actor = await core.identity.authenticate(made.token, 'parts');
    s3 = new S3Client({
      endpoint: backend.flags['s3-endpoint']!,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: backend.flags['s3-access-key']!, secretAccessKey: backend.flags['s3-secret-key']! },
    });
  });
  after(async () => {
    s3.destroy();
    await core.close();
    await backend.dispose();
    await rm(dataDir, { recursive: true, force: true });
  });

  const openMultipartUploads = async () =>
    ((await s3.send(new ListMultipartUploadsCommand({ Bucket: backend.flags['s3-bucket']! }))).Uploads ?? []).map((u) => u.Key);
  const create = async (length: number | null) => (await core.resumable.create(actor, { length, metadata: {}, target: 'temporary' })).id;
  /** One PATCH: `bytes` sent, `announced` as its Content-Length (the client may be cut off before it). */
  const send = async (on: Affix, id: string, offset: number, bytes: Buffer, options: { announced?: number | null; length?: number; checksum?: { algorithm: 'sha256'; digest: string } } = {}) => {
    const announced = options.announced === undefined ? bytes.length : options.announced;
    const { upload, staged } = await on.resumable.append(actor, id, offset, Readable.from(chunks(bytes)), {
      ...(announced === null ? {} : { announced }),
      ...(options.length !== undefined ? { length: options.length } : {}),
      ...(options.checksum ? { checksum: options.checksum } : {}),
    });
    const attachment = staged ? await on.resumable.complete(actor, [upload], staged, { kind: 'temporary' }, 'f.bin') : null;
    return { upload, attachment };
  };
  const bytesOf = async (attachment: Attachment) => buffer(await core.attachments.openContent(attachment.storageKey));

  it('joins 1 MiB PATCHes into 5 MiB parts of one multipart upload, the rest its last part, and leaves nothing else behind', async () => {
    const file = randomBytes(12 * MIB + 3);
    const id = await create(file.length);
    let attachment: Attachment | null = null;
    for (let offset = 0; offset < file.length; offset += MIB) {
      ({ attachment } = await send(core, id, offset, file.subarray(offset, offset + MIB)));
      if (offset === 5 * MIB) {
        // Part 1 is in the multipart upload since the fifth PATCH; the sixth MiB waits alone for part 2.
        assert.equal((await openMultipartUploads()).length, 1, 'the parts go to S3 as they fill, not at the end');
        assert.equal((await backend.storedBlobKeys())!.length, 1, 'the MiBs joined into part 1 no longer wait');
      }
    }
    assert.ok(attachment);
    assert.equal(attachment.size, file.length);
    assert.equal(attachment.sha256, sha(file));
    assert.ok((await bytesOf(attachment)).equals(file));
    const made = (await completedMultipartUploads()).find((u) => u.key === `blobs/${attachment!.storageKey}`);
    assert.deepEqual(made?.partSizes, [5 * MIB, 5 * MIB, 2 * MIB + 3]);
    assert.deepEqual(await openMultipartUploads(), []);
    assert.deepEqual(await backend.storedBlobKeys(), [`blobs/${attachment.storageKey}`], 'the bytes that waited for their parts are gone');
  });

  it('keeps cut and irregular chunks of a deferred length across two nodes, sends what waits as the last part, and hashes the file', async () => {
    const file = randomBytes(11 * MIB + 12345);
    const id = await create(null);
    const other = await openCore(loadConfig({ 'data-dir': dataDir, ...backend.flags }, {}));
    let offset = 0;
    const step = async (on: Affix, size: number, options: Parameters<typeof send>[4] = {}) => {
      const { upload, attachment } = await send(on, id, offset, file.subarray(offset, offset + size), options);
      offset = upload.offset;
      return { upload, attachment };
    };
    try {
      await step(core, 700 * 1024); // waits whole
      await step(core, 3 * MIB); // waits whole: 3.7 MiB, still short of a part
      const joined = await step(core, 6 * MIB); // joins: one part, 4.7 MiB wait
      assert.equal(joined.upload.multipart?.partSize, 5 * MIB);
      // On the other node, which has not seen the first bytes: a PATCH announced at 4 MiB, cut after
      // 1 MiB (what arrived is kept, as a part and the rest waiting), then the rest.
      await step(other, MIB, { announced: 4 * MIB });
      await step(other, file.length - offset, { announced: null });
      assert.equal(offset, file.length);
      // The first node declares the length with an empty PATCH: neither node knows the whole hash, so completion reads the file once.
      const { attachment } = await send(core, id, offset, Buffer.alloc(0), { length: file.length });
      assert.ok(attachment);
      assert.equal(attachment.sha256, sha(file));
      assert.ok((await bytesOf(attachment)).equals(file));
      const made = (await completedMultipartUploads()).find((u) => u.key === `blobs/${attachment.storageKey}`);
      assert.deepEqual(made?.partSizes.slice(0, -1), [5 * MIB, 5 * MIB]);
      assert.equal(made?.partSizes.reduce((a, b) => a + b, 0), file.length);
    } finally {
      await other.close();
    }
    assert.deepEqual(await openMultipartUploads(), []);
  });

  it('refuses a chunk whose checksum differs, aborting the multipart upload it began and keeping nothing of it', async () => {
    const file = randomBytes(7 * MIB);
    const id = await create(file.length);
    const wrong = { algorithm: 'sha256' as const, digest: createHash('sha256').update('other').digest('base64') };
    await assert.rejects(send(core, id, 0, file, { checksum: wrong }), (err: { code?: string }) => err.code === 'checksum_mismatch');
    assert.equal((await core.resumable.get(actor, id)).offset, 0);
    assert.deepEqual(await openMultipartUploads(), [], 'the multipart upload the refused chunk began is aborted');
    const right = { algorithm: 'sha256' as const, digest: createHash('sha256').update(file).digest('base64') };
    const { attachment } = await send(core, id, 0, file, { checksum: right });
    assert.ok(attachment && (await bytesOf(attachment)).equals(file));
  });

  it('terminates an upload: its multipart upload aborted, its waiting blobs deleted', async () => {
    const keysBefore = (await backend.storedBlobKeys())!.length;
    const id = await create(20 * MIB);
    await send(core, id, 0, randomBytes(6 * MIB));
    assert.equal((await openMultipartUploads()).length, 1);
    assert.equal((await backend.storedBlobKeys())!.length, keysBefore + 1, 'the MiB past the first part waits as a blob');
    await core.resumable.terminate(actor, id);
    assert.deepEqual(await openMultipartUploads(), []);
    assert.equal((await backend.storedBlobKeys())!.length, keysBefore);
  });

  it('completes again when the file was joined but not recorded (a crash between the two), from the joined blob', async () => {
    const file = randomBytes(6 * MIB + 1);
    const id = await create(file.length);
    const insert = core.meta.insertAttachment;
    core.meta.insertAttachment = async () => {
      throw new Error('the process died here');
    };
    try {
      await assert.rejects(send(core, id, 0, file), /died here/);
    } finally {
      delete (core.meta as Partial<typeof core.meta>).insertAttachment;
    }
    assert.equal(core.meta.insertAttachment, insert);
    const { attachment } = await send(core, id, file.length, Buffer.alloc(0));
    assert.ok(attachment && (await bytesOf(attachment)).equals(file));
    assert.deepEqual(await openMultipartUploads(), []);
  });

  it('has the collector abort multipart uploads no upload records, and spare those of unfinished uploads', async () => {
    const id = await create(10 * MIB);
    await send(core, id, 0, randomBytes(5 * MIB));
    const blobs = core.blobs.resumable;
    assert.equal(blobs.kind, 'parts');
    const stray = blobs.kind === 'parts' ? await blobs.parts.begin() : assert.fail();
    assert.equal((await openMultipartUploads()).length, 2);
    const young = await core.collector.collect(Date.now());
    assert.equal(young.stagingRemoved, 0, 'nothing is swept within the hour');
    const report = await core.collector.collect(Date.now() + 2 * 3600_000);
    assert.equal(report.stagingRemoved, 1);
    assert.deepEqual(await openMultipartUploads(), [(await core.resumable.get(actor, id)).multipart!.key].map((k) => `blobs/${k}`));
    assert.notEqual(stray.key, (await core.resumable.get(actor, id)).multipart!.key);
    await core.resumable.terminate(actor, id);
  });
});

/** `bytes` as a client's body arrives: in 64 KiB pieces. */
function* chunks(bytes: Buffer): Iterable<Buffer> {
  for (let at = 0; at < bytes.length; at += 64 * 1024) yield bytes.subarray(at, at + 64 * 1024);
}
