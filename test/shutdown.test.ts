// Graceful shutdown and client aborts: running uploads finish or leave nothing, stores close last, hang-ups are not errors.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig } from '../src/config.js';
import { openCore } from '../src/server.js';
import { provisionBackend, type Backend } from './backends.js';
import { listStoredFiles, spawnAffix, type SpawnedAffix } from './harness.js';
import { chunk, exchange, head } from './hostile/wire.js';

const B = 'shutdownBoundary';
const partHead = (name: string) => `--${B}\r\nContent-Disposition: form-data; name="file"; filename="${name}"\r\n\r\n`;

/** JSON log lines at `level` or above (pino: 40 warn, 50 error). */
const logLines = (affix: SpawnedAffix, minLevel: number) =>
  affix
    .output()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as { level: number; msg: string })
    .filter((entry) => entry.level >= minLevel);

describe('shutdown and client aborts', () => {
  let backend: Backend;
  let dataDir: string;
  let token: string;

  before(async () => {
    backend = await provisionBackend();
    dataDir = await mkdtemp(join(tmpdir(), 'affix-shutdown-'));
    const core = await openCore(loadConfig({ 'data-dir': dataDir, ...backend.flags }, {}));
    token = (await core.identity.addUser({ orgExtId: '5', login: 'ivan', display: 'ivan' })).token;
    await core.close();
  });
  after(async () => {
    await backend.dispose();
    await rm(dataDir, { recursive: true, force: true });
  });

  const start = (...args: string[]) => spawnAffix(['--data-dir', dataDir, '--log-level', 'info', ...args], backend.env);
  const auth = () => ({ authorization: `OAuth ${token}`, 'x-org-id': '5' });

  it('lets an upload running at SIGTERM finish, then exits 0', async () => {
    const affix = await start('--shutdown-grace', '10s');
    const upload = exchange(
      affix.url,
      [head('POST', '/v2/attachments?filename=slow.bin', { ...auth(), 'content-type': `multipart/form-data; boundary=${B}`, 'transfer-encoding': 'chunked' }),
        chunk(partHead('slow.bin')),
        ...Array.from({ length: 10 }, () => [chunk(Buffer.alloc(10_000, 7)), { pause: 100 }]).flat(),
        chunk(`\r\n--${B}--\r\n`), chunk('')],
      15_000,
    );
    await sleep(300);
    affix.child.kill('SIGTERM');
    const answer = await upload;
    assert.equal(answer.status, 201, answer.body);
    assert.equal(await affix.exited, 0);
    const again = await start();
    try {
      const file = JSON.parse(answer.body) as { id: string; size: number };
      const stored = await fetch(`${again.url}/v2/attachments/${file.id}/slow.bin`, { headers: auth() });
      assert.equal(stored.status, 200);
      assert.equal((await stored.arrayBuffer()).byteLength, 100_000);
      assert.equal(file.size, 100_000);
    } finally {
      await again.stop();
    }
  });

  it('cuts an upload still running when the grace is over, keeps nothing of it, and exits 0', async () => {
    const affix = await start('--shutdown-grace', '1s');
    const before = backend.kind === 'embedded' ? await listStoredFiles(dataDir) : null;
    const upload = exchange(
      affix.url,
      [head('POST', '/v2/attachments?filename=endless.bin', { ...auth(), 'content-type': `multipart/form-data; boundary=${B}`, 'transfer-encoding': 'chunked' }),
        chunk(partHead('endless.bin')),
        ...Array.from({ length: 100 }, () => [chunk(Buffer.alloc(10_000, 9)), { pause: 100 }]).flat()],
      15_000,
    ).catch(() => null);
    await sleep(300);
    const stopped = Date.now();
    affix.child.kill('SIGTERM');
    assert.equal(await affix.exited, 0);
    assert.ok(Date.now() - stopped < 5000, 'the grace bounds the shutdown');
    await upload;
    assert.deepEqual(logLines(affix, 50), [], 'no error logged');
    if (before) assert.deepEqual(await listStoredFiles(dataDir), before, 'no blob or staging file left');
  });

  it('closes the stores only after handlers of clients that hung up at once have finished', async () => {
    const affix = await start('--shutdown-grace', '10s');
    const body = Buffer.concat([Buffer.from(partHead('gone.txt')), Buffer.alloc(50_000, 3), Buffer.from(`\r\n--${B}--\r\n`)]);
    const request = Buffer.concat([Buffer.from(head('POST', '/v2/attachments?filename=gone.txt', { ...auth(), 'content-type': `multipart/form-data; boundary=${B}`, 'content-length': body.length })), body]);
    const { port } = new URL(affix.url);
    const uploads = 20;
    // Whole uploads whose clients hang up as soon as the last byte is out; SIGTERM as soon as Affix has seen them all arrive.
    await Promise.all(
      Array.from({ length: uploads }, () =>
        new Promise<void>((resolve) => {
          const socket = connect({ host: '127.0.0.1', port: Number(port) }, () => socket.end(request, () => (socket.destroy(), resolve())));
          socket.on('error', () => resolve());
        }),
      ),
    );
    const arrived = () => affix.output().split('\n').filter((line) => line.includes('incoming request')).length;
    for (let i = 0; i < 500 && arrived() < uploads; i++) await sleep(2);
    assert.equal(arrived(), uploads);
    const stopped = Date.now();
    affix.child.kill('SIGTERM');
    assert.equal(await affix.exited, 0);
    assert.deepEqual(logLines(affix, 50), [], 'no errors logged');
    assert.ok(Date.now() - stopped < 5000, `shut down in ${Date.now() - stopped} ms`);
    // Every handler ran to its end before the stores closed. On the embedded default each whole body
    // had been read before its client went, so each became a temporary file; on PostgreSQL the
    // credential lookup takes long enough for some clients to be gone before their body is read.
    const again = await start();
    try {
      const found = await Promise.all(Array.from({ length: uploads + 5 }, (_, i) => fetch(`${again.url}/v2/attachments/${i + 1}`, { headers: auth() }).then((r) => r.status)));
      if (backend.kind === 'embedded') assert.ok(found.filter((status) => status === 200).length >= uploads, `stored: ${JSON.stringify(found)}`);
    } finally {
      await again.stop();
    }
    if (backend.kind === 'embedded') assert.deepEqual((await listStoredFiles(dataDir)).staging, [], 'no staging file left');
  });

  it('logs a client that hangs up mid-upload at info, not as an error', async () => {
    const affix = await start();
    try {
      await exchange(
        affix.url,
        [head('POST', '/v2/attachments?filename=half.bin', { ...auth(), 'content-type': `multipart/form-data; boundary=${B}`, 'content-length': 1_000_000 }), chunk(partHead('half.bin')), Buffer.alloc(200_000, 1)],
        500,
      ).catch(() => null);
      for (let i = 0; i < 50 && !/client went away/.test(affix.output()); i++) await sleep(20);
      const gone = affix.output().split('\n').filter((line) => line.includes('client went away'));
      assert.equal(gone.length, 1, affix.output().slice(-2000));
      const entry = JSON.parse(gone[0]!) as { level: number; reqId: string };
      assert.equal(entry.level, 30, 'info');
      assert.ok(entry.reqId, 'with the request id');
      assert.deepEqual(logLines(affix, 50), []);
    } finally {
      await affix.stop();
    }
  });
});
