import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request as httpRequest, type ClientRequest } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../src/config.js';
import { openCore } from '../src/server.js';
import { provisionBackend, type Backend } from './backends.js';
import { rawRequest, spawnAffix, type RawResponse, type SpawnedAffix } from './harness.js';

const MIB = 1 << 20;

/** The pid of the worker that logged request `id` (every request's lines carry its id and the pid). */
function pidOf(affix: SpawnedAffix, id: string): number | null {
  for (const line of affix.output().split('\n')) {
    if (!line.includes(`"reqId":"${id}"`)) continue;
    return (JSON.parse(line) as { pid: number }).pid;
  }
  return null;
}

/** `pidOf`, once the line has come through the pipe (it may trail the answer). */
async function pidLogged(affix: SpawnedAffix, id: string): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const pid = pidOf(affix, id);
    if (pid !== null) return pid;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`no log line of request ${id}`);
}

const workerPids = (affix: SpawnedAffix) => new Set([...affix.output().matchAll(/"pid":(\d+)[^\n]*Server listening at/g)].map((m) => Number(m[1])));

/** `affix serve --workers 2`, once both workers listen (the first "listening" line comes from one). */
async function spawnCluster(args: string[], env: Record<string, string>): Promise<SpawnedAffix> {
  const affix = await spawnAffix(['--workers', '2', '--log-level', 'info', ...args], env);
  for (let i = 0; i < 400 && workerPids(affix).size < 2; i++) await new Promise((r) => setTimeout(r, 25));
  assert.equal(workerPids(affix).size, 2);
  return affix;
}

describe('affix serve --workers 2', () => {
  let backend: Backend;
  let dataDir: string;
  let affix: SpawnedAffix;
  let headers: Record<string, string>;
  const BUDGET = 6;

  before(async () => {
    backend = await provisionBackend();
    dataDir = await mkdtemp(join(tmpdir(), 'affix-workers-'));
    const core = await openCore(loadConfig({ 'data-dir': dataDir, ...backend.flags }, {}));
    const made = await core.identity.addUser({ orgExtId: 'w', login: 'ivan', display: 'ivan' });
    await core.close();
    headers = { authorization: `OAuth ${made.token}`, 'x-org-id': 'w' };
    affix = await spawnCluster(['--data-dir', dataDir, '--rate-limit', '0', '--gc-interval', '300ms'], backend.env);
  });
  after(async () => {
    await affix.stop();
    await backend.dispose();
    await rm(dataDir, { recursive: true, force: true });
  });

  /** One request on a connection of its own (so the cluster picks a worker for it), tagged with an id. */
  const call = (method: string, path: string, extra: Record<string, string> = {}, body?: Buffer | string) => {
    const id = randomUUID();
    return rawRequest(`${affix.url}${path}`, { method, headers: { ...headers, connection: 'close', 'x-request-id': id, ...extra }, ...(body !== undefined ? { body } : {}) }).then((r) => ({ ...r, id }));
  };

  it('spreads connections over both workers, and /metrics counts every worker’s requests', async () => {
    await call('POST', '/v2/issues', { 'content-type': 'application/json' }, JSON.stringify({ queue: 'WRK', summary: 'workers' }));
    const answers = await Promise.all(Array.from({ length: 8 }, () => call('GET', '/v2/issues/WRK-1')));
    assert.deepEqual(answers.map((a) => a.status), Array(8).fill(200));
    const pids = new Set(await Promise.all(answers.map((a) => pidLogged(affix, a.id))));
    assert.equal(pids.size, 2, 'both workers answered');
    assert.deepEqual(pids, workerPids(affix));
    // Summed over the workers: whichever of them answers /metrics.
    for (let i = 0; i < 2; i++) {
      const metrics = await call('GET', '/metrics');
      assert.match(metrics.body, /affix_http_requests_total\{method="GET",route="\/v2\/issues\/:issue",status="200"\} 8\n/);
    }
  });

  it('holds a tus upload’s lock across workers: a PATCH on the other worker gets 423 while one writes', async () => {
    const created = await call('POST', '/v2/tus', { 'tus-resumable': '1.0.0', 'upload-length': String(MIB), 'upload-metadata': `filename ${Buffer.from('w.bin').toString('base64')}` });
    assert.equal(created.status, 201, created.body);
    const location = new URL(String(created.headers.location), affix.url).pathname;
    const bytes = randomBytes(MIB);
    // The first PATCH sends 64 KiB and then waits, holding the lock.
    const holderId = randomUUID();
    let holder!: ClientRequest;
    const held = new Promise<RawResponse>((resolve, reject) => {
      holder = httpRequest(`${affix.url}${location}`, { method: 'PATCH', headers: { ...headers, connection: 'close', 'x-request-id': holderId, 'tus-resumable': '1.0.0', 'upload-offset': '0', 'content-type': 'application/offset+octet-stream', 'content-length': String(MIB) } }, (response) => {
        let body = '';
        response.on('data', (c: Buffer) => (body += c.toString()));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body }));
      });
      holder.on('error', reject);
      holder.write(bytes.subarray(0, 64 << 10));
    });
    const holderPid = await pidLogged(affix, holderId);
    await new Promise((r) => setTimeout(r, 200));
    const others = await Promise.all(Array.from({ length: 4 }, () => call('PATCH', location, { 'tus-resumable': '1.0.0', 'upload-offset': '0', 'content-type': 'application/offset+octet-stream' }, bytes)));
    assert.deepEqual(others.map((o) => o.status), [423, 423, 423, 423]);
    const otherPids = await Promise.all(others.map((o) => pidLogged(affix, o.id)));
    assert.ok(otherPids.some((pid) => pid !== holderPid), 'at least one refusal came from the other worker');
    holder.end(bytes.subarray(64 << 10));
    const done = await held;
    assert.equal(done.status, 200, done.body);
    assert.equal(done.headers['upload-offset'], String(MIB));
  });

  it('keeps one rate budget for all workers: exactly the limit passes, whichever worker answers', async () => {
    const limited = await spawnCluster(['--data-dir', dataDir, '--rate-limit', String(BUDGET)], backend.env);
    try {
      // Windows are aligned to the clock's minutes: start well inside one, so that it cannot turn over meanwhile.
      const intoMinute = Date.now() % 60_000;
      if (intoMinute > 50_000) await new Promise((r) => setTimeout(r, 60_500 - intoMinute));
      const statuses: number[] = [];
      const pids = new Set<number>();
      for (let i = 0; i < BUDGET * 2; i++) {
        const id = randomUUID();
        const answer = await rawRequest(`${limited.url}/v2/myself`, { headers: { ...headers, connection: 'close', 'x-request-id': id } });
        statuses.push(answer.status);
        pids.add(await pidLogged(limited, id));
      }
      assert.equal(pids.size, 2, 'both workers answered');
      assert.deepEqual(statuses, [...Array(BUDGET).fill(200), ...Array(BUDGET).fill(429)]);
    } finally {
      await limited.stop();
    }
  });

  it('serves --metrics-port from the primary, summed over the workers, and not on the public port', async () => {
    const metered = await spawnCluster(['--data-dir', dataDir, '--rate-limit', '0', '--metrics-port', '0', '--metrics-token', 'sesame'], backend.env);
    try {
      const ids = await Promise.all(Array.from({ length: 6 }, async () => {
        const id = randomUUID();
        const answer = await rawRequest(`${metered.url}/v2/myself`, { headers: { ...headers, connection: 'close', 'x-request-id': id } });
        assert.equal(answer.status, 200);
        return id;
      }));
      assert.equal(new Set(await Promise.all(ids.map((id) => pidLogged(metered, id)))).size, 2);
      const where = /metrics at (http:\/\/[^"\s]+\/metrics)/.exec(metered.output());
      assert.ok(where, 'the primary says where /metrics is');
      assert.equal((await fetch(where[1]!)).status, 401);
      const text = await (await fetch(where[1]!, { headers: { authorization: 'Bearer sesame' } })).text();
      assert.match(text, /affix_http_requests_total\{method="GET",route="\/v2\/myself",status="200"\} 6\n/);
      assert.equal((await rawRequest(`${metered.url}/metrics`, { headers: { connection: 'close' } })).status, 404);
    } finally {
      await metered.stop();
    }
  });

  it('runs the collector on one worker only', async () => {
    await new Promise((r) => setTimeout(r, 1000));
    const runs = affix.output().split('\n').filter((line) => line.includes('"msg":"collector ran"'));
    assert.ok(runs.length >= 2, `${runs.length} runs`);
    assert.equal(new Set(runs.map((line) => (JSON.parse(line) as { pid: number }).pid)).size, 1);
  });

  it('replaces a worker killed in the middle of a PATCH; the upload’s lock dies with it and the upload goes on', async () => {
    const created = await call('POST', '/v2/tus', { 'tus-resumable': '1.0.0', 'upload-length': String(4 * MIB), 'upload-metadata': `filename ${Buffer.from('k.bin').toString('base64')}` });
    const location = new URL(String(created.headers.location), affix.url).pathname;
    const bytes = randomBytes(4 * MIB);
    const holderId = randomUUID();
    const holder = httpRequest(`${affix.url}${location}`, { method: 'PATCH', headers: { ...headers, connection: 'close', 'x-request-id': holderId, 'tus-resumable': '1.0.0', 'upload-offset': '0', 'content-type': 'application/offset+octet-stream', 'content-length': String(4 * MIB) } });
    holder.on('error', () => undefined);
    holder.on('response', (r) => r.resume());
    holder.write(bytes.subarray(0, MIB));
    const victim = await pidLogged(affix, holderId);
    await new Promise((r) => setTimeout(r, 200));
    process.kill(victim, 'SIGKILL');
    for (let i = 0; i < 400 && !(workerPids(affix).size === 3); i++) await new Promise((r) => setTimeout(r, 25));
    assert.equal(workerPids(affix).size, 3, 'a new worker started in the dead one’s slot');
    assert.match(affix.output(), /a worker died; starting another in its slot/);
    // Whichever worker answers: the lock is free, and the upload resumes where its durable bytes end.
    const head = await call('HEAD', location, { 'tus-resumable': '1.0.0' });
    assert.equal(head.status, 200);
    const offset = Number(head.headers['upload-offset']);
    assert.ok(offset >= 0 && offset <= MIB, `offset ${offset}`);
    const rest = await call('PATCH', location, { 'tus-resumable': '1.0.0', 'upload-offset': String(offset), 'content-type': 'application/offset+octet-stream' }, bytes.subarray(offset));
    assert.equal(rest.status, 200, rest.body);
    const attachment = JSON.parse(rest.body) as { size: number; content: string };
    assert.equal(attachment.size, 4 * MIB);
    const content = await fetch(attachment.content, { headers });
    assert.ok(Buffer.from(await content.arrayBuffer()).equals(bytes), 'the bytes are whole');
  });

  it('stops on SIGTERM with every worker, exit code 0', async () => {
    affix.child.kill('SIGTERM');
    assert.equal(await affix.exited, 0);
    for (const pid of workerPids(affix)) assert.throws(() => process.kill(pid, 0), /ESRCH/);
  });
});
