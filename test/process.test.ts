import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { provisionBackend, type Backend } from './backends.js';
import { listStoredFiles, multipartStream, rawRequest, repeatedChunks, spawnAffix, CLI, type SpawnedAffix } from './harness.js';

const execFileAsync = promisify(execFile);
// The stores (`AFFIX_TEST_BACKEND`) reach each `affix` command through its AFFIX_* variables.
let backendEnv: Record<string, string> = {};
const withoutAffixVariables = () => Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('AFFIX_')));
const run = (file: string, args: string[]) => execFileAsync(file, args, { env: { ...process.env, ...backendEnv } });
const BOUNDARY = 'affix-process-boundary';

async function rssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

const serve = (dataDir: string) => spawnAffix(['--data-dir', dataDir], backendEnv);

describe('the affix command', () => {
  let dataDir: string;
  let backend: Backend;
  let server: SpawnedAffix;
  let user: { orgId: string; realmId: number; userId: string; login: string; token: string; apiKey: string; email: string };

  before(async () => {
    backend = await provisionBackend();
    backendEnv = backend.env;
    dataDir = await mkdtemp(join(tmpdir(), 'affix-cli-'));
    const { stdout } = await run(process.execPath, [CLI, 'user', 'add', '--org', '31337', '--login', 'ivan', '--display', 'Ivan Ivanov', '--email', 'ivan@example.com', '--data-dir', dataDir]);
    const lines = stdout.trim().split('\n');
    assert.equal(lines.length, 1, 'one JSON line');
    user = JSON.parse(lines[0]!);
    server = await serve(dataDir);
  });
  after(async () => {
    await server?.stop();
    await backend.dispose();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('user add prints the org, user, login, secrets and email once, and stores only hashes', async () => {
    assert.deepEqual(Object.keys(user).sort(), ['apiKey', 'email', 'login', 'orgId', 'realmId', 'token', 'userId']);
    assert.equal(user.orgId, '31337');
    assert.ok(Number.isInteger(user.realmId) && user.realmId > 0, 'the realm id of Zulip paths');
    assert.equal(user.email, 'ivan@example.com');
    assert.ok(user.token.length >= 32 && user.apiKey.length >= 32);
    const stored = (await backend.rows('users')) ?? [(await readFile(join(dataDir, 'affix.sqlite'))).toString('latin1')];
    assert.equal(JSON.stringify(stored).includes(user.token), false, 'the token is not stored in clear');
    assert.equal(JSON.stringify(stored).includes(user.apiKey), false, 'nor the API key');
    const me = await fetch(`${server.url}/v2/myself`, { headers: { authorization: `OAuth ${user.token}`, 'x-org-id': '31337' } });
    assert.equal(me.status, 200);
  });

  it('uploads 1 GiB in one streaming pass with flat memory', async () => {
    const headers = { authorization: `OAuth ${user.token}`, 'x-org-id': user.orgId, 'content-type': `multipart/form-data; boundary=${BOUNDARY}` };
    // Warm up the upload path so the baseline includes what a first request loads.
    const warm = await rawRequest(`${server.url}/v2/attachments?filename=warm.bin`, {
      method: 'POST',
      headers,
      body: multipartStream(BOUNDARY, repeatedChunks(8)),
    });
    assert.equal(warm.status, 201, warm.body);
    const baseline = await rssBytes(server.child.pid!);
    let peak = baseline;
    const sampler = setInterval(() => {
      rssBytes(server.child.pid!).then((rss) => (peak = Math.max(peak, rss)), () => undefined);
    }, 20);
    const started = Date.now();
    const response = await rawRequest(`${server.url}/v2/attachments?filename=big.bin`, {
      method: 'POST',
      headers,
      body: multipartStream(BOUNDARY, repeatedChunks(1024)),
    });
    clearInterval(sampler);
    const seconds = (Date.now() - started) / 1000;
    assert.equal(response.status, 201, response.body);
    const file = JSON.parse(response.body);
    assert.equal(file.size, 1 << 30);
    const growth = peak - baseline;
    console.log(`1 GiB upload: ${(1024 / seconds).toFixed(0)} MiB/s, RSS baseline ${(baseline / 2 ** 20).toFixed(0)} MiB, growth ${(growth / 2 ** 20).toFixed(1)} MiB`);
    // S3: two 5 MiB parts in flight, plus each part's buffer left as garbage until V8 collects external
    // memory (it does so about every 64 MiB): bounded, whatever the file's size, but above the local path's.
    const allowed = (backend.kind === 'embedded' ? 64 : 128) * 2 ** 20;
    assert.ok(growth < allowed, `RSS grew by ${(growth / 2 ** 20).toFixed(1)} MiB`);
    assert.deepEqual((await listStoredFiles(dataDir)).staging, []);

    const deleted = await fetch(`${server.url}/v2/attachments/${file.id}`, { method: 'DELETE', headers: { authorization: headers.authorization } });
    assert.equal(deleted.status, 204);
  });

  it('org set changes and clears an organization’s limits', async () => {
    const set = await run(process.execPath, [CLI, 'org', 'set', '--org', '31337', '--max-file-upload-size-mib', '5', '--upload-quota-mib', '100', '--data-dir', dataDir]);
    assert.deepEqual(JSON.parse(set.stdout), { orgId: '31337', maxFileUploadSizeMib: 5, uploadQuotaMib: 100 });
    const cleared = await run(process.execPath, [CLI, 'org', 'set', '--org', '31337', '--upload-quota-mib', 'none', '--data-dir', dataDir]);
    assert.deepEqual(JSON.parse(cleared.stdout), { orgId: '31337', maxFileUploadSizeMib: 5, uploadQuotaMib: null });
    await run(process.execPath, [CLI, 'org', 'set', '--org', '31337', '--max-file-upload-size-mib', 'none', '--data-dir', dataDir]);
    await assert.rejects(run(process.execPath, [CLI, 'org', 'set', '--org', 'nope', '--data-dir', dataDir]), /not found/);
  });

  it('gc runs the collector once and prints its report', async () => {
    const { stdout } = await run(process.execPath, [CLI, 'gc', '--data-dir', dataDir]);
    assert.deepEqual(Object.keys(JSON.parse(stdout)).sort(), ['blobsDeleted', 'bytesReclaimed', 'expired', 'orphansRemoved', 'resumableExpired', 'sessionsExpired', 'stagingRemoved']);
  });

  it('refuses unknown commands and bad flags with usage and a non-zero exit', async () => {
    await assert.rejects(run(process.execPath, [CLI, 'frobnicate']), (err: { code: number; stderr: string }) => err.code === 2 && /Usage/.test(err.stderr));
    await assert.rejects(run(process.execPath, [CLI, 'serve', '--max-file-size', 'lots']), (err: { stderr: string }) => /--max-file-size/.test(err.stderr));
    await assert.rejects(run(process.execPath, [CLI, 'serve', '--pack-files-up-to', '1MiB']), (err: { stderr: string }) => /--pack-files-up-to .*at most 1048575 bytes/.test(err.stderr));
    await assert.rejects(execFileAsync(process.execPath, [CLI, 'serve', '--s3-endpoint', 'http://127.0.0.1:9'], { env: withoutAffixVariables() }), (err: { stderr: string }) => /--s3-bucket .* is required/.test(err.stderr));
    await assert.rejects(
      run(process.execPath, [CLI, 'serve', '--s3-bucket', 'b', '--accel-redirect', '/x']),
      (err: { stderr: string }) => /--accel-redirect .* cannot be used with S3/.test(err.stderr),
    );
    await assert.rejects(run(process.execPath, [CLI, 'serve', '--database-url', 'mysql://x']), (err: { stderr: string }) => /only postgres/.test(err.stderr));
  });
});
