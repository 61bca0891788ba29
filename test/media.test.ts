import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { json, startAffix, type TestServer, type TestUser } from './harness.js';
import { makeBmp, makeImage } from './images.js';

describe('media: content sniffing and image metadata', () => {
  let affix: TestServer;
  let ivan: TestUser;
  before(async () => {
    affix = await startAffix();
    ivan = await affix.addUser('12', 'ivan');
  });
  after(() => affix.close());

  /** Uploads with a part Content-Type of the client's choosing, which Affix must ignore. */
  const upload = async (bytes: Buffer, name: string, claimedType = 'application/octet-stream') => {
    const form = new FormData();
    form.append('file', new Blob([new Uint8Array(bytes)], { type: claimedType }), name);
    const response = await fetch(`${affix.url}/v2/attachments/`, { method: 'POST', headers: ivan.headers, body: form });
    assert.equal(response.status, 201);
    return json(response);
  };

  it('records width and height for every raster format, and a thumbnail URL', async () => {
    const formats: Array<[string, Promise<Buffer>, string, string]> = [
      ['a.jpg', makeImage(348, 348).jpeg().toBuffer(), 'image/jpeg', '348x348'],
      ['a.png', makeImage(300, 200).png().toBuffer(), 'image/png', '300x200'],
      ['a.gif', makeImage(64, 48).gif().toBuffer(), 'image/gif', '64x48'],
      ['a.webp', makeImage(120, 90).webp().toBuffer(), 'image/webp', '120x90'],
      ['a.avif', makeImage(96, 64).avif().toBuffer(), 'image/avif', '96x64'],
      ['a.tiff', makeImage(50, 70).tiff().toBuffer(), 'image/tiff', '50x70'],
      ['a.bmp', Promise.resolve(makeBmp(33, 17)), 'image/bmp', '33x17'],
    ];
    for (const [name, pending, type, size] of formats) {
      const file = await upload(await pending, name);
      assert.equal(file.mimetype, type, name);
      assert.deepEqual(file.metadata, { size }, name);
      // libvips has no BMP loader: dimensions yes, but no thumbnail is offered.
      assert.equal(file.thumbnail, type === 'image/bmp' ? undefined : `${affix.url}/v2/attachments/${file.id}/thumbnail`, name);
    }
  });

  it('reports what people see for a JPEG with an EXIF quarter turn', async () => {
    const rotated = await makeImage(400, 100).jpeg().withMetadata({ orientation: 6 }).toBuffer();
    assert.deepEqual((await upload(rotated, 'turned.jpg')).metadata, { size: '100x400' });
  });

  it('believes the bytes over the part header and the name', async () => {
    const png = await makeImage(10, 10).png().toBuffer();
    const liar = await upload(png, 'notes.txt', 'text/plain');
    assert.equal(liar.mimetype, 'image/png');
    assert.deepEqual(liar.metadata, { size: '10x10' });

    const html = Buffer.from('<!doctype html><html><body><script>alert(document.cookie)</script></body></html>');
    const asPng = await upload(html, 'cat.png', 'image/png');
    assert.equal(asPng.mimetype, 'text/plain', 'a name claiming PNG does not make HTML an image');
    assert.equal(asPng.metadata, undefined);
    assert.equal(asPng.thumbnail, undefined);
    const asHtml = await upload(html, 'page.html', 'image/png');
    assert.equal(asHtml.mimetype, 'text/html');
    const download = await fetch(asHtml.content, { headers: ivan.headers });
    assert.ok(download.headers.get('content-disposition')!.startsWith('attachment;'));
    assert.equal(download.headers.get('content-type'), 'text/html');
  });

  it('names text text/plain, unknown binary application/octet-stream, and leaves metadata out', async () => {
    const text = await upload(Buffer.from('just some words\nи немного кириллицы\n'), 'README');
    assert.equal(text.mimetype, 'text/plain');
    assert.equal('metadata' in text || 'thumbnail' in text, false);
    const binary = await upload(Buffer.concat([Buffer.from([0, 1, 2, 0]), randomBytes(2000)]), 'blob');
    assert.equal(binary.mimetype, 'application/octet-stream');
    const csv = await upload(Buffer.from('a,b\n1,2\n'), 'table.csv');
    assert.equal(csv.mimetype, 'text/csv');
  });

  it('sends the full safety header set for HTML, SVG, PDF and JPEG, inline only for PDF and JPEG', async () => {
    const cases: Array<[Buffer, string, string, 'inline' | 'attachment']> = [
      [Buffer.from('<html><script>alert(1)</script></html>'), 'evil.html', 'text/html', 'attachment'],
      [Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'), 'evil.svg', 'image/svg+xml', 'attachment'],
      [Buffer.from('%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n'), 'doc.pdf', 'application/pdf', 'inline'],
      [await makeImage(20, 20).jpeg().toBuffer(), 'photo.jpg', 'image/jpeg', 'inline'],
    ];
    for (const [bytes, name, type, disposition] of cases) {
      const file = await upload(bytes, name, 'text/plain');
      const response = await fetch(file.content, { headers: ivan.headers });
      const h = (header: string) => response.headers.get(header);
      assert.equal(h('content-type'), type, name);
      assert.ok(h('content-disposition')!.startsWith(`${disposition}; filename="${name}"; filename*=UTF-8''`), `${name}: ${h('content-disposition')}`);
      assert.equal(h('x-content-type-options'), 'nosniff', name);
      assert.equal(h('content-security-policy'), "default-src 'none'; sandbox", name);
      assert.equal(h('x-frame-options'), 'DENY', name);
      assert.equal(h('cache-control'), 'private', name);
      await response.arrayBuffer();
    }
    // JSON answers and errors carry nosniff too.
    assert.equal((await fetch(`${affix.url}/v2/myself`, { headers: ivan.headers })).headers.get('x-content-type-options'), 'nosniff');
    assert.equal((await fetch(`${affix.url}/v2/nowhere`)).headers.get('x-content-type-options'), 'nosniff');
  });

  it('keeps SVG and XML out of the image path: no dimensions, never inline', async () => {
    const svg = Buffer.from('<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>alert(1)</script></svg>');
    const file = await upload(svg, 'logo.svg', 'image/svg+xml');
    assert.equal(file.mimetype, 'image/svg+xml');
    assert.equal(file.metadata, undefined);
    assert.equal(file.thumbnail, undefined);
    const download = await fetch(file.content, { headers: ivan.headers });
    assert.ok(download.headers.get('content-disposition')!.startsWith('attachment;'));
    assert.equal(download.headers.get('content-security-policy'), "default-src 'none'; sandbox");
  });
});
