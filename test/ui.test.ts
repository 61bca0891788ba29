import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { BrowserContext, Page } from 'playwright-core';
import sharp from 'sharp';
import { launchChromium } from './browser/chromium.js';
import { cuttingProxy } from './proxies.js';
import { json, startAffix, type TestServer } from './harness.js';

const MIB = 1 << 20;
const SHOTS = join(process.cwd(), 'test-output', 'screenshots', process.env.AFFIX_TEST_BACKEND ?? 'embedded');
const sha = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

/** The web UI end to end in Chromium, as people use it: every stable name the issue lists is what the test looks for. */
describe('web UI in Chromium', () => {
  let affix: TestServer;
  let chromium: Awaited<ReturnType<typeof launchChromium>>;
  let ivan: { token: string; apiKey: string; email: string };
  let photo: Buffer;
  let sketch: Buffer;
  const problems: string[] = [];

  before(async () => {
    await mkdir(SHOTS, { recursive: true });
    affix = await startAffix({ 'max-file-size': '8MiB' });
    const made = await affix.server.core.identity.addUser({ orgExtId: 'acme', login: 'ivan', display: 'Ivan Petrov', email: 'ivan@acme.test' });
    ivan = { token: made.token, apiKey: made.apiKey, email: made.user.email };
    photo = await sharp({ create: { width: 640, height: 480, channels: 3, background: { r: 40, g: 110, b: 200 } } }).png().toBuffer();
    sketch = await sharp({ create: { width: 300, height: 500, channels: 3, background: { r: 230, g: 120, b: 30 } } }).jpeg().toBuffer();
    chromium = await launchChromium();
  });
  after(async () => {
    await chromium?.close();
    await affix?.close();
  });

  /** A page of its own (cookies shared within the browser), recording script errors and CSP refusals. */
  const open = async (context: BrowserContext = chromium.browser): Promise<Page> => {
    const page = await context.newPage();
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    page.on('console', (message) => {
      if (/Content Security Policy|Refused to/.test(message.text())) problems.push(`CSP: ${message.text()}`);
    });
    return page;
  };
  const shot = (page: Page, name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  const signInWithToken = async (page: Page, base = affix.url) => {
    await page.goto(`${base}/`);
    await page.getByLabel('Token').fill(ivan.token);
    await page.getByLabel('Organization').fill('acme');
    await page.getByRole('button', { name: 'Sign in' }).first().click();
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
  };
  const fileCard = (page: Page, name: string) => page.getByRole('list', { name: 'Files', exact: true }).getByRole('listitem', { name });
  const progressOf = (page: Page, name: string) => page.getByRole('progressbar', { name: `Uploading ${name}` });
  const waitForFull = (page: Page, name: string) =>
    page.waitForFunction((n) => document.querySelector(`[role=progressbar][aria-label="Uploading ${n}"]`)?.getAttribute('aria-valuenow') === '100', name, { timeout: 30_000 });

  it('signs in with a Tracker token into an HttpOnly, SameSite=Strict cookie; the secret is in no script’s reach', async () => {
    const page = await open();
    await page.goto(`${affix.url}/`);
    assert.equal(new URL(page.url()).pathname, '/ui/', '/ redirects to /ui/');
    await shot(page, '01-sign-in');
    await signInWithToken(page);
    const [cookie] = await chromium.browser.cookies(affix.url);
    assert.equal(cookie?.name, 'affix_session');
    assert.equal(cookie?.httpOnly, true);
    assert.equal(cookie?.sameSite, 'Strict');
    assert.equal(await page.evaluate(() => document.cookie), '', 'HttpOnly: not readable by scripts');
    const stored = await page.evaluate((token) => JSON.stringify({ ...localStorage }).includes(token) || JSON.stringify({ ...sessionStorage }).includes(token), ivan.token);
    assert.equal(stored, false, 'the token is kept in no storage a script reads');
    await page.close();
  });

  it('opens an issue by its deep link, uploads by picker and by drag-and-drop with progress to 100, and shows the thumbnail', async () => {
    const issue = await json(
      await fetch(`${affix.url}/v2/issues`, { method: 'POST', headers: { authorization: `OAuth ${ivan.token}`, 'x-org-id': 'acme', 'content-type': 'application/json' }, body: JSON.stringify({ queue: 'DEMO', summary: 'Printer on fire' }) }),
    );
    const page = await open();
    await page.goto(`${affix.url}/ui/issues/${issue.key}`);
    await page.getByRole('heading', { name: /Printer on fire/ }).waitFor();
    await page.goto(`${affix.url}/ui/`);
    await page.getByRole('list', { name: 'Issues' }).getByRole('link', { name: /DEMO-1/ }).click();
    await page.getByRole('heading', { name: /Printer on fire/ }).waitFor();
    // By the picker, a 6 MiB file: the bar moves and reaches 100.
    const big = randomBytes(6 * MIB);
    await page.getByLabel('Upload files').setInputFiles([{ name: 'trace.bin', mimeType: 'application/octet-stream', buffer: big }]);
    await progressOf(page, 'trace.bin').waitFor();
    assert.equal(await progressOf(page, 'trace.bin').getAttribute('aria-valuemin'), '0');
    assert.equal(await progressOf(page, 'trace.bin').getAttribute('aria-valuemax'), '100');
    await waitForFull(page, 'trace.bin');
    await fileCard(page, 'trace.bin').waitFor();
    // By drag-and-drop: a real DataTransfer dropped on the page, away from the drop zone (the whole page takes them).
    await page.evaluate(
      async ({ files }) => {
        const transfer = new DataTransfer();
        for (const f of files) transfer.items.add(new File([Uint8Array.from(atob(f.b64), (c) => c.charCodeAt(0))], f.name, { type: f.type }));
        const zone = document.querySelector('main h1')!;
        zone.dispatchEvent(new DragEvent('dragover', { dataTransfer: transfer, bubbles: true, cancelable: true }));
        zone.dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true }));
      },
      { files: [{ name: 'photo.png', type: 'image/png', b64: photo.toString('base64') }, { name: 'sketch.jpg', type: 'image/jpeg', b64: sketch.toString('base64') }] },
    );
    await waitForFull(page, 'photo.png');
    await fileCard(page, 'sketch.jpg').waitFor();
    const thumbnail = fileCard(page, 'photo.png').getByRole('img', { name: 'photo.png' });
    await thumbnail.waitFor();
    await page.waitForFunction(() => [...document.querySelectorAll<HTMLImageElement>('img[alt="photo.png"]')].some((img) => img.complete && img.naturalWidth > 0));
    assert.match((await thumbnail.getAttribute('src'))!, /thumbnails/);
    assert.equal(await thumbnail.getAttribute('loading'), 'lazy');
    await shot(page, '03-issue');
    // What the server holds is what was sent.
    const files = await json(await fetch(`${affix.url}/v2/issues/${issue.key}/attachments`, { headers: { authorization: `OAuth ${ivan.token}`, 'x-org-id': 'acme' } }));
    assert.deepEqual(files.map((f: { name: string }) => f.name).sort(), ['photo.png', 'sketch.jpg', 'trace.bin']);
    await page.close();
  });

  it('previews images full size with next and previous, closes on Escape, downloads byte-identical, and deletes after a dialog', async () => {
    const page = await open();
    await page.goto(`${affix.url}/ui/issues/DEMO-1`);
    await fileCard(page, 'photo.png').getByRole('button', { name: 'Preview photo.png' }).click();
    const preview = page.getByRole('dialog', { name: 'Preview of photo.png' });
    await preview.waitFor();
    await page.waitForFunction(() => {
      const img = document.querySelector<HTMLImageElement>('dialog img[alt="photo.png"]');
      return img?.complete && img.naturalWidth === 640;
    });
    await shot(page, '04-preview');
    await preview.getByRole('button', { name: 'Next' }).click();
    await page.getByRole('dialog', { name: 'Preview of sketch.jpg' }).waitFor();
    await page.getByRole('dialog', { name: 'Preview of sketch.jpg' }).getByRole('button', { name: 'Previous' }).click();
    await preview.waitFor();
    await page.keyboard.press('Escape');
    await preview.waitFor({ state: 'detached' });
    // A PDF is drawn by pdf.js into the page; text is shown as text.
    await page.getByLabel('Upload files').setInputFiles([
      { name: 'letter.pdf', mimeType: 'application/pdf', buffer: minimalPdf('Hello from a PDF') },
      { name: 'readme.txt', mimeType: 'text/plain', buffer: Buffer.from('plain words <b>not bold</b>\n') },
    ]);
    await fileCard(page, 'letter.pdf').getByRole('button', { name: 'Preview letter.pdf' }).click();
    await page.getByRole('dialog', { name: 'Preview of letter.pdf' }).locator('canvas[aria-label="Page 1"]').waitFor({ timeout: 15_000 });
    await page.waitForFunction(() => (document.querySelector<HTMLCanvasElement>('dialog canvas')?.width ?? 0) > 0);
    await page.keyboard.press('Escape');
    await fileCard(page, 'readme.txt').getByRole('button', { name: 'Preview readme.txt' }).click();
    await page.getByRole('dialog', { name: 'Preview of readme.txt' }).getByText('plain words <b>not bold</b>').waitFor();
    await page.keyboard.press('Escape');
    // Download: the browser saves the file (never shows it in place), byte for byte.
    const [download] = await Promise.all([page.waitForEvent('download'), fileCard(page, 'photo.png').getByRole('link', { name: /^Download/ }).click()]);
    assert.equal(download.suggestedFilename(), 'photo.png');
    assert.equal(sha(await readFile((await download.path())!)), sha(photo));
    // Delete asks in an alert dialog, whose button is Delete.
    await fileCard(page, 'sketch.jpg').getByRole('button', { name: /^Delete/ }).click();
    const confirm = page.getByRole('alertdialog', { name: /Delete sketch\.jpg/ });
    await confirm.waitFor();
    await confirm.getByRole('button', { name: 'Delete', exact: true }).click();
    await fileCard(page, 'sketch.jpg').waitFor({ state: 'detached' });
    assert.equal(await fileCard(page, 'photo.png').count(), 1);
    await page.close();
  });

  it('refuses a file over the size limit or the quota in the page before a byte is sent, and shows the server’s refusal', async () => {
    const page = await open();
    const tusRequests: string[] = [];
    page.on('request', (request) => request.url().includes('/tus') && tusRequests.push(request.method()));
    await page.goto(`${affix.url}/ui/issues/DEMO-1`);
    await page.getByLabel('Upload files').setInputFiles([{ name: 'huge.bin', mimeType: 'application/octet-stream', buffer: Buffer.alloc(9 * MIB) }]);
    const alert = page.getByRole('alert').filter({ hasText: 'huge.bin' });
    await alert.waitFor();
    assert.match(await alert.innerText(), /exceeds maximum allowed size/i);
    assert.deepEqual(tusRequests, [], 'nothing sent');
    // Over the quota, as the page knows it: refused before sending too.
    const used = (await (await page.request.get(`${affix.url}/ui/api/session`)).json()).limits.usedBytes as number;
    await affix.server.core.identity.setOrgLimits('acme', { uploadQuotaMib: Math.ceil(used / MIB) + 1 });
    await page.reload();
    await page.getByLabel('Upload files').setInputFiles([{ name: 'quota.bin', mimeType: 'application/octet-stream', buffer: Buffer.alloc(2 * MIB) }]);
    await page.getByRole('alert').filter({ hasText: 'quota.bin' }).getByText(/over your organization's quota/).waitFor();
    assert.deepEqual(tusRequests, [], 'still nothing sent');
    // The quota shrinks after the page loaded: the server refuses, and the page says what it said.
    await affix.server.core.identity.setOrgLimits('acme', { uploadQuotaMib: 0 });
    await page.getByLabel('Upload files').setInputFiles([{ name: 'late.bin', mimeType: 'application/octet-stream', buffer: Buffer.alloc(1000) }]);
    await page.getByText("Upload would exceed your organization's upload quota.").waitFor();
    await affix.server.core.identity.setOrgLimits('acme', { uploadQuotaMib: null });
    await page.close();
  });

  it('goes on after the connection drops midway, resuming through tus, and the file is whole', async () => {
    const proxy = await cuttingProxy(affix.url, 2 * MIB);
    const context = await chromium.browser.browser()?.newContext();
    const page = context ? await open(context) : await open();
    try {
      // Through the proxy the page is of another origin: sign in there too.
      await signInWithToken(page, proxy.url);
      await page.goto(`${proxy.url}/ui/issues/DEMO-1`);
      const file = randomBytes(5 * MIB + 123);
      await page.getByLabel('Upload files').setInputFiles([{ name: 'resumed.bin', mimeType: 'application/octet-stream', buffer: file }]);
      await waitForFull(page, 'resumed.bin');
      assert.equal(proxy.cuts(), 1, 'the connection was cut under the upload');
      const files = await json(await fetch(`${affix.url}/v2/issues/DEMO-1/attachments`, { headers: { authorization: `OAuth ${ivan.token}`, 'x-org-id': 'acme' } }));
      const resumed = files.find((f: { name: string }) => f.name === 'resumed.bin');
      assert.ok(resumed, `resumed.bin among ${files.map((f: { name: string }) => f.name)}`);
      const bytes = Buffer.from(await (await fetch(resumed.content, { headers: { authorization: `OAuth ${ivan.token}`, 'x-org-id': 'acme' } })).arrayBuffer());
      assert.equal(sha(bytes), sha(file));
    } finally {
      await page.close();
      await context?.close();
      await proxy.close();
    }
  });

  it('shows usage with the numbers the API has, in charts, and is usable on a phone and in the dark', async () => {
    const page = await open();
    await page.goto(`${affix.url}/ui/usage`);
    await page.getByText('Space used').first().waitFor();
    const api = await (await page.request.get(`${affix.url}/ui/api/usage`)).json();
    assert.equal(Number(await page.locator('dd[data-bytes]').first().getAttribute('data-bytes')), api.usedBytes);
    assert.equal(Number(await page.locator('dd[data-count]').getAttribute('data-count')), api.files);
    assert.equal(await page.locator('canvas').count(), 2, 'two charts');
    await page.waitForFunction(() => [...document.querySelectorAll('canvas')].every((c) => c.width > 0));
    await shot(page, '06-usage');
    await page.goto(`${affix.url}/ui/`);
    await page.getByRole('list', { name: 'Issues' }).waitFor();
    await shot(page, '02-issues');
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${affix.url}/ui/issues/DEMO-1`);
    await fileCard(page, 'photo.png').waitFor();
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1), 'no sideways scrolling at a phone’s width');
    await shot(page, '07-issue-phone');
    await page.emulateMedia({ colorScheme: 'dark' });
    const background = await page.evaluate(() => getComputedStyle(document.documentElement).backgroundColor);
    const [r, g, b] = background.match(/\d+/g)!.map(Number);
    assert.ok(r! + g! + b! < 150, `dark background in the dark: ${background}`);
    await shot(page, '08-issue-dark');
    await page.close();
  });

  it('finds files by name from the header, and keeps an entity’s files on its page', async () => {
    const page = await open();
    await page.goto(`${affix.url}/ui/`);
    await page.getByRole('searchbox', { name: 'Search files' }).fill('PHOTO');
    await page.keyboard.press('Enter');
    await page.getByRole('list', { name: 'Files found' }).getByRole('listitem', { name: 'photo.png' }).waitFor();
    await page.getByRole('link', { name: 'Entities' }).click();
    await page.getByRole('textbox', { name: 'Summary', exact: true }).fill('Launch plan');
    await page.getByRole('button', { name: 'Create project' }).click();
    await page.getByRole('heading', { name: /Launch plan/ }).waitFor();
    assert.match(new URL(page.url()).pathname, /^\/ui\/entities\/project\/[0-9a-f]{24}$/, 'a deep link of its own');
    await page.getByLabel('Upload files').setInputFiles([{ name: 'plan.txt', mimeType: 'text/plain', buffer: Buffer.from('step one\n') }]);
    await fileCard(page, 'plan.txt').waitFor();
    await page.reload();
    await fileCard(page, 'plan.txt').waitFor();
    await page.close();
  });

  it('reaches Upload files by keyboard alone, which opens the file chooser', async () => {
    const page = await open();
    await page.goto(`${affix.url}/ui/issues/DEMO-1`);
    await page.getByRole('heading', { name: /Printer on fire/ }).waitFor();
    // Listening first: Playwright turns on its file-chooser interception only once asked, asynchronously.
    const chooser = page.waitForEvent('filechooser');
    let reached = false;
    for (let i = 0; i < 40 && !reached; i++) {
      await page.keyboard.press('Tab');
      reached = await page.evaluate(() => document.activeElement?.textContent?.trim() === 'Upload files');
    }
    assert.ok(reached, 'Tab reaches the Upload files button');
    await page.keyboard.press('Enter');
    assert.ok((await chooser).isMultiple());
    await page.close();
  });

  it('signs in with a Zulip email and API key: my uploads with the space used, an upload there; sign out ends the session', async () => {
    const context = await chromium.browser.browser()?.newContext();
    const page = context ? await open(context) : await open();
    try {
      await page.goto(`${affix.url}/`);
      await page.getByLabel('Email').fill(ivan.email);
      await page.getByLabel('API key').fill(ivan.apiKey);
      await page.getByRole('button', { name: 'Sign in' }).last().click();
      await page.getByRole('link', { name: 'My uploads' }).click();
      await page.getByText('Space used').waitFor();
      await page.getByLabel('Upload files').setInputFiles([{ name: 'chat.txt', mimeType: 'text/plain', buffer: Buffer.from('hello from the chat\n') }]);
      await page.getByRole('list', { name: 'My uploads' }).getByRole('listitem', { name: 'chat.txt' }).waitFor();
      const listed = await (await page.request.get(`${affix.url}/api/v1/attachments`)).json();
      assert.ok(listed.attachments.some((a: { name: string }) => a.name === 'chat.txt'));
      await shot(page, '05-my-uploads');
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.getByRole('button', { name: 'Sign in' }).first().waitFor();
      assert.equal((await page.request.get(`${affix.url}/ui/api/session`)).status(), 401, 'ended on the server');
    } finally {
      await page.close();
      await context?.close();
    }
  });

  it('ran without script errors or CSP refusals', () => {
    assert.deepEqual(problems, []);
  });
});

/** A one-page PDF saying `text`, its cross-reference table at the right offsets. */
function minimalPdf(text: string): Buffer {
  const objects = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 144] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>',
    `<< /Length ${`BT /F1 18 Tf 20 70 Td (${text}) Tj ET`.length} >>\nstream\nBT /F1 18 Tf 20 70 Td (${text}) Tj ET\nendstream`,
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>',
  ];
  let body = '%PDF-1.4\n';
  const offsets: number[] = [];
  objects.forEach((object, i) => {
    offsets.push(body.length);
    body += `${i + 1} 0 obj\n${object}\nendobj\n`;
  });
  const xref = body.length;
  body += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n${offsets.map((o) => `${String(o).padStart(10, '0')} 00000 n \n`).join('')}`;
  body += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(body, 'latin1');
}
