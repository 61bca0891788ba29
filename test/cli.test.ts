import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CLI, json, runCli, startAffix, type CliRun, type TestServer } from './harness.js';
import { throttledProxy } from './proxies.js';

const MIB = 1 << 20;
const sha = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
const ANSI = /\x1b\[/;

/** The CLI as a script runs it: its own process, no terminal, the environment given (and no other AFFIX_* variable). */
function affixCli(args: string[], env: Record<string, string>): Promise<CliRun> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AFFIX_')));
  return runCli(args, { ...clean, ...env });
}

describe('the CLI for people and scripts (affix login, upload, ls, download, rm, usage)', () => {
  let affix: TestServer;
  let home: string;
  let env: Record<string, string>;
  let token: string;

  before(async () => {
    affix = await startAffix({ 'max-file-size': '64MiB' });
    home = await mkdtemp(join(tmpdir(), 'affix-cli-'));
    env = { HOME: home, XDG_CONFIG_HOME: join(home, 'config'), XDG_STATE_HOME: join(home, 'state') };
    token = (await affix.server.core.identity.addUser({ orgExtId: 'june', login: 'ivan', display: 'Ivan' })).token;
    await fetch(`${affix.url}/v2/issues`, { method: 'POST', headers: { authorization: `OAuth ${token}`, 'x-org-id': 'june', 'content-type': 'application/json' }, body: JSON.stringify({ queue: 'JUNE', summary: 'logs' }) });
  });
  after(async () => {
    await affix.close();
    await rm(home, { recursive: true, force: true });
  });

  const file = async (name: string, bytes: Buffer) => {
    const path = join(home, name);
    await writeFile(path, bytes);
    return path;
  };
  const configPath = () => join(home, 'config', 'affix', 'config.json');

  it('logs in only with working credentials, keeping them in a 0600 file under XDG_CONFIG_HOME', async () => {
    const wrong = await affixCli(['login', '--url', affix.url, '--token', 'nope', '--org', 'june'], env);
    assert.equal(wrong.code, 2);
    assert.deepEqual(wrong.stderr.trim().split('\n'), ['affix: the server refused (401): Invalid OAuth token']);
    await assert.rejects(stat(configPath()), 'a failed login stores nothing');
    assert.equal((await affixCli(['login', '--url', affix.url, '--token', token], env)).code, 1, 'a token without its org');
    const away = await affixCli(['login', '--url', 'http://127.0.0.1:9', '--token', token, '--org', 'june'], env);
    assert.equal(away.code, 3);
    assert.match(away.stderr, /could not be reached/);
    const ok = await affixCli(['login', '--url', affix.url, '--token', token, '--org', 'june', '--json'], env);
    assert.equal(ok.code, 0, ok.stderr);
    assert.deepEqual({ ...JSON.parse(ok.stdout), config: undefined }, { url: affix.url, user: 'ivan', org: 'june', config: undefined });
    assert.equal((await stat(configPath())).mode & 0o777, 0o600);
    assert.deepEqual(JSON.parse(await readFile(configPath(), 'utf8')).credentials, { token, org: 'june' });
  });

  it('uploads files with --json: stdout one JSON document per file with its id, progress as plain lines on stderr', async () => {
    const small = randomBytes(5000);
    const large = randomBytes(12 * MIB);
    const run = await affixCli(['upload', await file('small.log', small), await file('large.bin', large), '--issue', 'JUNE-1', '--json', '--resumable-from', '1', '--chunk-size', '2'], env);
    assert.equal(run.code, 0, run.stderr);
    const lines = run.stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(lines.map((l) => [l.name, l.size, l.resumed]), [['small.log', small.length, false], ['large.bin', large.length, false]]);
    assert.ok(lines.every((l) => /^\d+$/.test(l.id)));
    assert.doesNotMatch(run.stderr, ANSI, 'no terminal codes without a terminal');
    assert.match(run.stderr, /large\.bin: 50% \(/);
    const listed = await affixCli(['ls', 'JUNE-1', '--json'], env);
    assert.deepEqual(JSON.parse(listed.stdout).map((f: { id: string }) => f.id), lines.map((l) => l.id));
    const human = await affixCli(['ls', 'JUNE-1'], env);
    assert.match(human.stdout, /^ID\s+NAME\s+SIZE\s+UPLOADED\s+BY\n/);
    assert.match(human.stdout, /large\.bin\s+12\.0 MiB/);
  });

  it('draws progress bars on a terminal', { skip: spawnSync('script', ['--version']).status !== 0 ? 'no script(1)' : false }, async () => {
    const path = await file('tty.bin', randomBytes(10 * MIB));
    const command = `${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} upload ${JSON.stringify(path)} --temporary --resumable-from 1 --chunk-size 1`;
    // script(1) runs the command on a pseudo-terminal, as a person's shell would (not spawnSync: the server is in this process).
    const child = spawn('script', ['-qfec', command, '/dev/null'], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    const status = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.equal(status, 0, output);
    assert.match(output, ANSI);
    assert.match(output, /tty\.bin\s+\|█+/);
    assert.match(output, /100%/);
  });

  it('stops on Ctrl-C with exit 130 and, run again, resumes: only the missing bytes go, and there is one attachment', async () => {
    const bytes = randomBytes(24 * MIB);
    const path = await file('big.iso', bytes);
    const proxy = await throttledProxy(affix.url, 16 * MIB);
    try {
      const viaProxy = { ...env, AFFIX_URL: proxy.url, AFFIX_TOKEN: token, AFFIX_ORG: 'june' };
      const args = ['upload', path, '--issue', 'JUNE-1', '--json', '--chunk-size', '2'];
      const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AFFIX_')));
      const child = spawn(process.execPath, [CLI, ...args], { env: { ...clean, ...viaProxy }, stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      let stdout = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      const interrupted = new Promise<number | null>((resolve) => child.on('close', resolve));
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
        if (/big\.iso: 30%/.test(stderr) && child.exitCode === null) child.kill('SIGINT');
      });
      assert.equal(await interrupted, 130, stderr);
      assert.equal(stdout, '', 'nothing on stdout for an upload that did not finish');
      assert.match(stderr, /interrupted; run the same command again/);
      const before = proxy.sent();
      const again = await affixCli(args, viaProxy);
      assert.equal(again.code, 0, again.stderr);
      const result = JSON.parse(again.stdout);
      assert.equal(result.resumed, true);
      assert.ok(proxy.sent() - before < bytes.length - 4 * MIB, `the second run sent ${proxy.sent() - before} of ${bytes.length} bytes`);
      const files = await json(await fetch(`${affix.url}/v2/issues/JUNE-1/attachments`, { headers: { authorization: `OAuth ${token}`, 'x-org-id': 'june' } }));
      assert.equal(files.filter((f: { name: string }) => f.name === 'big.iso').length, 1, 'exactly one attachment');
      const out = join(home, 'big.back');
      const download = await affixCli(['download', result.id, '-o', out, '--json'], env);
      assert.equal(download.code, 0, download.stderr);
      assert.equal(JSON.parse(download.stdout).sha256, sha(bytes));
      assert.equal(sha(await readFile(out)), sha(bytes));
    } finally {
      await proxy.close();
    }
  });

  it('works from the environment alone, with no config file', async () => {
    const bare = { HOME: join(home, 'nobody'), XDG_CONFIG_HOME: join(home, 'nobody', 'c'), XDG_STATE_HOME: join(home, 'nobody', 's') };
    const none = await affixCli(['ls', 'JUNE-1'], bare);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /not signed in/);
    const run = await affixCli(['ls', 'JUNE-1', '--json'], { ...bare, AFFIX_URL: affix.url, AFFIX_TOKEN: token, AFFIX_ORG: 'june' });
    assert.equal(run.code, 0, run.stderr);
    assert.ok(JSON.parse(run.stdout).length >= 2);
  });

  it('says in one line what is wrong, with the exit code for it', async () => {
    const missing = await affixCli(['upload', join(home, 'absent.txt'), '--issue', 'JUNE-1'], env);
    assert.deepEqual([missing.code, missing.stderr.trim()], [1, `affix: ${join(home, 'absent.txt')}: no such file, or it cannot be read`]);
    const nowhere = await affixCli(['upload', await file('x.txt', Buffer.from('x'))], env);
    assert.equal(nowhere.code, 1);
    assert.match(nowhere.stderr, /say where the files go/);
    const over = await affixCli(['upload', await file('huge.bin', Buffer.alloc(65 * MIB)), '--issue', 'JUNE-1'], env);
    assert.equal(over.code, 2, over.stderr);
    assert.match(over.stderr, /affix: the server refused \(413\): .*exceeds/i);
    assert.doesNotMatch(over.stderr, /\n\s+at /, 'no stack trace');
    const unknown = await affixCli(['upload', await file('y.txt', Buffer.from('y')), '--issue', 'NOPE-1'], env);
    assert.equal(unknown.code, 2, unknown.stderr);
    assert.equal((await affixCli(['upload', '--bogus'], env)).code, 1);
    const help = await affixCli(['upload', '--help'], env);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /Usage: affix upload \[options\] <files\.\.\.>/);
  });

  it('deletes by attachment id alone (asking only on a terminal; --yes never asks), and reports usage', async () => {
    const up = JSON.parse((await affixCli(['upload', await file('gone.txt', Buffer.from('bye')), '--temporary', '--json'], env)).stdout);
    const removed = await affixCli(['rm', up.id], env);
    assert.equal(removed.code, 0, removed.stderr);
    assert.match(removed.stderr, /Deleted gone\.txt/);
    assert.equal((await affixCli(['rm', up.id, '--yes'], env)).code, 2, 'gone already: 404');
    const usage = await affixCli(['usage', '--json'], env);
    assert.equal(usage.code, 0);
    const report = JSON.parse(usage.stdout);
    assert.ok(report.usedBytes > 24 * MIB && report.files >= 3);
    const human = await affixCli(['usage'], env);
    assert.match(human.stdout, /^Space used: .* \(no quota\) in \d+ files/);
    const mine = await affixCli(['ls', '--mine', '--json'], env);
    assert.ok(JSON.parse(mine.stdout).some((f: { name: string }) => f.name === 'big.iso'));
  });
});
