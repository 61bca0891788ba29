import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { fileForm, json, startAffix, type TestServer, type TestUser } from './harness.js';
import { makeImage, pngDeclaring } from './images.js';
import { squareThumbnail, Thumbnailer } from '../src/media/thumbnailer.js';

describe('thumbnails', () => {
  let affix: TestServer;
  let ivan: TestUser;
  let issueKey: string;
  before(async () => {
    affix = await startAffix();
    ivan = await affix.addUser('13', 'ivan');
    const issue = await json(await fetch(`${affix.url}/v2/issues`, { method: 'POST', headers: { ...ivan.headers, 'content-type': 'application/json' }, body: JSON.stringify({ queue: 'PIC', summary: 'photos' }) }));
    issueKey = issue.key;
  });
  after(() => affix.close());

  const attach = async (bytes: Buffer, name: string) => {
    const response = await fetch(`${affix.url}/v2/issues/${issueKey}/attachments?filename=${name}`, { method: 'POST', headers: ivan.headers, body: fileForm(new Uint8Array(bytes)) });
    assert.equal(response.status, 201);
    return json(response);
  };
  const get = (url: string) => fetch(url, { headers: ivan.headers });

  it('serves a small upright WebP of a photo, without its metadata, at the URL the object gives', async () => {
    const photo = await makeImage(1200, 800).jpeg().withMetadata({ orientation: 6, density: 300 }).toBuffer();
    const file = await attach(photo, 'photo.jpg');
    assert.deepEqual(file.metadata, { size: '800x1200' });
    assert.equal(file.thumbnail, `${affix.url}/v2/issues/${issueKey}/thumbnails/${file.id}`);

    const response = await get(file.thumbnail);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), 'image/webp');
    assert.equal(response.headers.get('x-content-type-options'), 'nosniff');
    const thumb = await sharp(Buffer.from(await response.arrayBuffer())).metadata();
    assert.equal(thumb.format, 'webp');
    assert.deepEqual([thumb.width, thumb.height], [213, 320], 'turned upright, longest side 320');
    assert.equal(thumb.exif, undefined);
    assert.equal(thumb.orientation, undefined);

    const small = await sharp(Buffer.from(await (await get(`${file.thumbnail}?size=64&format=jpeg`)).arrayBuffer())).metadata();
    assert.equal(small.format, 'jpeg');
    assert.equal(Math.max(small.width!, small.height!), 64);
  });

  it('never enlarges, and serves the stored thumbnail with its own ETag and 304', async () => {
    const file = await attach(await makeImage(40, 30).png().toBuffer(), 'tiny.png');
    const first = await get(file.thumbnail);
    const meta = await sharp(Buffer.from(await first.arrayBuffer())).metadata();
    assert.deepEqual([meta.width, meta.height], [40, 30]);
    const etag = first.headers.get('etag')!;
    const download = await get(file.content);
    assert.notEqual(etag, download.headers.get('etag'));
    await download.arrayBuffer();
    const again = await fetch(file.thumbnail, { headers: { ...ivan.headers, 'if-none-match': etag } });
    assert.equal(again.status, 304);
  });

  it('makes a thumbnail once when many first requests arrive together', async () => {
    const file = await attach(await makeImage(2000, 1500).jpeg().toBuffer(), 'big.jpg');
    const before = (await affix.storedFiles()).blobs.length;
    const responses = await Promise.all(Array.from({ length: 8 }, () => get(file.thumbnail)));
    const etags = new Set(responses.map((r) => r.headers.get('etag')));
    assert.deepEqual(responses.map((r) => r.status), Array(8).fill(200));
    await Promise.all(responses.map((r) => r.arrayBuffer()));
    assert.equal(etags.size, 1);
    assert.equal((await affix.storedFiles()).blobs.length, before + 1, 'one thumbnail blob');
  });

  it('answers 422 for a decompression bomb, which is still stored and downloadable', async () => {
    const bomb = pngDeclaring(30000, 30000);
    assert.ok(bomb.length < 100_000);
    const file = await attach(bomb, 'bomb.png');
    assert.equal(file.mimetype, 'image/png');
    assert.deepEqual(file.metadata, { size: '30000x30000' });
    const rssBefore = process.memoryUsage().rss;
    const response = await get(file.thumbnail);
    assert.equal(response.status, 422);
    const body = await json(response);
    assert.equal(body.statusCode, 422);
    assert.match(body.errorMessages[0], /30000x30000/);
    assert.ok(process.memoryUsage().rss - rssBefore < 64 * 2 ** 20, 'memory stays bounded');
    assert.equal((await (await get(file.content)).arrayBuffer()).byteLength, bomb.length);
  });

  it('answers 422 for an image libvips cannot decode, and 404 for files that are not images', async () => {
    const truncated = (await makeImage(300, 300).png().toBuffer()).subarray(0, 200);
    const broken = await attach(Buffer.from(truncated), 'broken.png');
    assert.equal((await get(broken.thumbnail)).status, 422);

    const text = await attach(Buffer.from('not an image'), 'notes.txt');
    assert.equal(text.thumbnail, undefined);
    const missing = await get(`${affix.url}/v2/issues/${issueKey}/thumbnails/${text.id}`);
    assert.equal(missing.status, 404);
    assert.equal((await json(missing)).statusCode, 404);
  });

  it('refuses sizes outside the allow-list with 400', async () => {
    const file = await attach(await makeImage(100, 100).png().toBuffer(), 'sq.png');
    for (const size of ['100', '99999', 'abc']) {
      const response = await get(`${file.thumbnail}?size=${size}`);
      assert.equal(response.status, 400, size);
    }
  });

  it('serves temporary files’ thumbnails under /v2/attachments/{id}/thumbnail, and a file named "thumbnail" itself', async () => {
    const upload = async (bytes: Buffer, name: string) =>
      json(await fetch(`${affix.url}/v2/attachments?filename=${name}`, { method: 'POST', headers: ivan.headers, body: fileForm(new Uint8Array(bytes)) }));
    const temp = await upload(await makeImage(500, 250).webp().toBuffer(), 'wide.webp');
    assert.equal(temp.thumbnail, `${affix.url}/v2/attachments/${temp.id}/thumbnail`);
    const meta = await sharp(Buffer.from(await (await get(temp.thumbnail)).arrayBuffer())).metadata();
    assert.deepEqual([meta.width, meta.height], [320, 160]);
    const plain = await upload(Buffer.from('plain text called thumbnail'), 'thumbnail');
    assert.equal(await (await get(plain.content)).text(), 'plain text called thumbnail');
  });

  it('has libvips refuse every loader but the six raster ones (SVG here), whatever reaches it', async () => {
    const thumbnailer = new Thumbnailer({ maxPixels: 50_000_000, timeoutSeconds: 5 });
    const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>');
    await assert.rejects(thumbnailer.make(svg, 100, squareThumbnail(64, 'webp')));
    assert.ok((await thumbnailer.make(await makeImage(10, 10).gif().toBuffer(), 100, squareThumbnail(64, 'webp'))).length > 0);
  });

  it('deletes thumbnails with the last attachment of their image', async () => {
    const file = await attach(await makeImage(600, 600).png().toBuffer(), 'gone.png');
    assert.equal((await get(file.thumbnail)).status, 200);
    const before = (await affix.storedFiles()).blobs.length;
    assert.equal((await fetch(file.self, { method: 'DELETE', headers: ivan.headers })).status, 204);
    assert.equal((await affix.storedFiles()).blobs.length, before - 2, 'the image and its thumbnail');
  });

  it('makes images together only while their decoded pixels fit the memory budget', async () => {
    const image = await makeImage(1000, 1000).png().toBuffer();
    const thumbnailer = new Thumbnailer({ maxPixels: 50_000_000, timeoutSeconds: 10, concurrency: 4, memoryBytes: 1000 * 1000 * 4 * 2 });
    const seen: number[] = [];
    const jobs = Array.from({ length: 6 }, () => thumbnailer.make(image, 1000 * 1000, squareThumbnail(64, 'webp')).then(() => seen.push(thumbnailer.inUse.images)));
    await new Promise((r) => setImmediate(r));
    assert.equal(thumbnailer.inUse.images, 2, 'two fit the budget, four slots or not');
    assert.equal(thumbnailer.inUse.bytes, 1000 * 1000 * 4 * 2);
    await Promise.all(jobs);
    assert.ok(seen.every((n) => n <= 2));
    assert.deepEqual(thumbnailer.inUse, { images: 0, bytes: 0 });
    // An image over the whole budget still gets made, alone.
    assert.ok((await thumbnailer.make(image, 10_000 * 10_000, squareThumbnail(64, 'webp'))).length > 0);
  });
});
