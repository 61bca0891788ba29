// `npm run bench`: every scenario against Affix and its peers, in alternation, several runs; prints
// the medians with the ratio Affix/peer, and writes the table into bench/README.md.
import { spawnSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { tmpdir } from 'node:os';
import { durableWriteMiBps, peakRssSampler, sha256MiBps, treeCpuSeconds } from './ceilings.js';
import { download, downloadWithCurl, load, multipartBody, randomRangeReads, uploadLarge, uploadTus, type UploadTarget } from './clients.js';
import { startAffix, startNginx, startPeer, type System } from './systems.js';

const { values: flags } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    'size-mib': { type: 'string', default: '1024' },
    seconds: { type: 'string', default: '20' },
    connections: { type: 'string', default: '32' },
    'meta-seconds': { type: 'string', default: '10' },
    only: { type: 'string', default: '' },
    'no-readme': { type: 'boolean', default: false },
  },
});
const RUNS = Number(flags.runs);
const SIZE_MIB = Number(flags['size-mib']);
const SECONDS = Number(flags.seconds);
const CONNECTIONS = Number(flags.connections);
const META_SECONDS = Number(flags['meta-seconds']);
const ONLY = new Set(flags.only ? flags.only.split(',') : ['upload', 'download', 'small', 'metadata', 'thumbnail', 'startup', 'tus']);

/** Samples per row and system, over all runs. */
const samples = new Map<string, Map<string, number[]>>();
const record = (row: string, system: string, value: number) => {
  const bySystem = samples.get(row) ?? new Map<string, number[]>();
  bySystem.set(system, [...(bySystem.get(system) ?? []), value]);
  samples.set(row, bySystem);
};
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const log = (line: string) => process.stderr.write(`${line}\n`);
/**
 * Writes back every dirty page before a measurement: Affix fsyncs, the peers do not, so without this
 * Affix would pay for the writeback of whatever the system before it left in the page cache.
 */
const settleDisk = () => spawnSync('sync');
/** The systems' order rotates with the run, so none always goes first (or last, on a warm machine). */
const rotate = <T>(items: T[], run: number) => items.map((_, i) => items[(i + run) % items.length]!);

/** The column of a row's ceiling: what the machine itself allows, measured in the same run. */
const CEILING = 'ceiling';
/** Affix as a cluster of two workers (`--workers 2`), where a row shows the scaling. */
const AFFIX_W2 = 'affix --workers 2';
/** The rate a large upload cannot pass: it is written durably and hashed on one core, whichever is slower. */
let uploadCeiling = 0;

/** The disk's durable write rate (dd conv=fsync, same size, same filesystem) and one core's sha256 rate. */
function measureUploadCeiling(): void {
  settleDisk();
  const disk = durableWriteMiBps(tmpdir(), SIZE_MIB);
  const sha = sha256MiBps(SIZE_MIB);
  record(`0. disk durable write (dd conv=fsync, ${SIZE_MIB} MiB), MiB/s`, CEILING, disk);
  record('0. sha256 on one core (Node), MiB/s', CEILING, sha);
  uploadCeiling = Math.min(disk, sha);
  log(`ceilings: dd conv=fsync ${disk.toFixed(0)} MiB/s, sha256 ${sha.toFixed(0)} MiB/s`);
}

/** Affix with two workers (on `sharing`'s data, if given); ready once both listen (the first /healthz answers as soon as one does). */
async function startCluster(sharing?: Awaited<ReturnType<typeof startAffix>>): Promise<Awaited<ReturnType<typeof startAffix>>> {
  const affix = await startAffix(['--workers', '2'], sharing);
  await new Promise((resolve) => setTimeout(resolve, 1500));
  return affix;
}

async function largeFiles(run: number): Promise<void> {
  measureUploadCeiling();
  record(`1. ${SIZE_MIB} MiB upload, MiB/s`, CEILING, uploadCeiling);
  const affix = await startAffix();
  // The accel row: a second Affix on the same data answers downloads with X-Accel-Redirect, and nginx sends the file.
  const affixAccel = await startAffix(['--accel-redirect', '/_affix_blobs/'], affix);
  const nginx = await startNginx(affixAccel);
  const fastify = await startPeer('fastify-plain');
  const tus = await startPeer('tus-server');
  const systems: Array<[UploadTarget, System]> = [['affix', affix], ['nginx', nginx], ['fastify-plain', fastify], ['tus-server', tus]];
  try {
    for (const [target, system] of rotate(systems, run)) {
      settleDisk();
      const headers = target === 'affix' ? affix.headers : {};
      const rss = target === 'affix' ? peakRssSampler(affix.pid) : null;
      const started = performance.now();
      const location = await uploadLarge(target, system.url, SIZE_MIB, headers);
      const seconds = (performance.now() - started) / 1000;
      record(`1. ${SIZE_MIB} MiB upload, MiB/s`, target, SIZE_MIB / seconds);
      if (rss) record(`1. ${SIZE_MIB} MiB upload, Affix peak RSS MiB`, 'affix', rss.stop() / 2 ** 20);
      log(`run ${run} ${target}: upload ${(SIZE_MIB / seconds).toFixed(0)} MiB/s`);
      if (!location || !ONLY.has('download')) continue;
      const urls = target === 'affix' ? [['affix', location], ['affix via nginx accel', location.replace(affix.url, nginx.accelUrl!)]] : [[target, location]];
      for (const [name, url] of urls) {
        const t0 = performance.now();
        const { status, bytes } = await downloadWithCurl(url!, headers);
        if (status !== 200 || bytes !== SIZE_MIB << 20) throw new Error(`${name} download: ${status}, ${bytes} bytes`);
        const rate = SIZE_MIB / ((performance.now() - t0) / 1000);
        record(`2. ${SIZE_MIB} MiB download, MiB/s`, name!, rate);
        // The loopback copy rate: curl from nginx's sendfile.
        if (name === 'nginx') record(`2. ${SIZE_MIB} MiB download, MiB/s`, CEILING, rate);
        record('2. 64 random 1 MiB Range reads, MiB/s', name!, await randomRangeReads(url!, SIZE_MIB << 20, 64, headers));
      }
    }
  } finally {
    await Promise.all([affixAccel, nginx, fastify, tus].map((s) => s.stop()));
    await affix.stop();
  }
}

async function smallUploads(run: number): Promise<void> {
  const data = Buffer.alloc(16 << 10, 7);
  const { body, dataOffset } = multipartBody(data);
  // Each request's bytes differ (a counter in the first 8), so no server can dedup or cache them.
  const stamp = (n: number, buffer: Buffer, offset: number) => {
    const copy = Buffer.from(buffer);
    copy.writeBigUInt64BE(BigInt(n) + BigInt(run) * 10_000_000n, offset);
    return copy;
  };
  const affix = await startAffix();
  const affix2 = await startCluster();
  const nginx = await startNginx();
  const fastify = await startPeer('fastify-plain');
  const tus = await startPeer('tus-server');
  const affixPlan = (system: typeof affix) => () => load({ url: `${system.url}/v2/attachments?filename=small.bin`, method: 'POST', connections: CONNECTIONS, seconds: SECONDS, headers: { ...system.headers, 'content-type': `multipart/form-data; boundary=affix-bench-boundary` }, body, vary: (n, r) => void (r.body = stamp(n, body, dataOffset)) });
  const plans: Array<[string, () => Promise<Awaited<ReturnType<typeof load>>>, number | null]> = [
    ['affix', affixPlan(affix), affix.pid],
    [AFFIX_W2, affixPlan(affix2), affix2.pid],
    ['nginx', () => load({ url: `${nginx.url}/dav/s/0.bin`, method: 'PUT', connections: CONNECTIONS, seconds: SECONDS, body: data, vary: (n, r) => { r.path = `/dav/s/${run}-${n}.bin`; r.body = stamp(n, data, 0); } }), null],
    ['fastify-plain', () => load({ url: `${fastify.url}/upload`, method: 'POST', connections: CONNECTIONS, seconds: SECONDS, headers: { 'content-type': `multipart/form-data; boundary=affix-bench-boundary` }, body, vary: (n, r) => void (r.body = stamp(n, body, dataOffset)) }), fastify.pid],
    ['tus-server', () => load({ url: `${tus.url}/files`, method: 'POST', connections: CONNECTIONS, seconds: SECONDS, headers: { 'tus-resumable': '1.0.0', 'upload-length': String(data.length), 'content-type': 'application/offset+octet-stream' }, body: data, vary: (n, r) => void (r.body = stamp(n, data, 0)) }), tus.pid],
  ];
  try {
    for (const [name, plan, pid] of rotate(plans, run)) {
      settleDisk();
      const cpu = pid ? treeCpuSeconds(pid) : 0;
      const result = await plan();
      if (result.errors > 0) log(`run ${run} ${name}: ${result.errors} errors or non-2xx answers`);
      record(`3. 16 KiB uploads x${CONNECTIONS}, uploads/s`, name, result.rps);
      record(`3. 16 KiB uploads x${CONNECTIONS}, p50 ms`, name, result.p50);
      record(`3. 16 KiB uploads x${CONNECTIONS}, p99 ms`, name, result.p99);
      if (pid) record(`3. 16 KiB uploads x${CONNECTIONS}, server CPU µs per upload`, name, ((treeCpuSeconds(pid) - cpu) * 1e6) / (result.rps * SECONDS));
      log(`run ${run} ${name}: ${result.rps.toFixed(0)} uploads/s, p99 ${result.p99} ms`);
    }
  } finally {
    await Promise.all([affix, affix2, nginx, fastify, tus].map((s) => s.stop()));
  }
}

/** 1 GiB through tus, against @tus/server with its file store: one PATCH, 8 MiB PATCHes, and a resume after a cut at 50 %. */
async function resumable(run: number): Promise<void> {
  if (!ONLY.has('upload')) measureUploadCeiling();
  const affix = await startAffix();
  const tus = await startPeer('tus-server');
  const endpoints: Array<[string, string, Record<string, string>]> = [['affix', `${affix.url}/v2/tus`, affix.headers], ['tus-server', `${tus.url}/files`, {}]];
  try {
    for (const [name, endpoint, headers] of rotate(endpoints, run)) {
      for (const [row, options] of [['one PATCH', {}], ['8 MiB PATCHes', { chunkMiB: 8 }]] as const) {
        settleDisk();
        const rss = name === 'affix' ? peakRssSampler(affix.pid) : null;
        const t0 = performance.now();
        await uploadTus(endpoint, SIZE_MIB, headers, options);
        record(`7. ${SIZE_MIB} MiB tus upload, ${row}, MiB/s`, name, SIZE_MIB / ((performance.now() - t0) / 1000));
        if (uploadCeiling > 0) record(`7. ${SIZE_MIB} MiB tus upload, ${row}, MiB/s`, CEILING, uploadCeiling);
        if (rss) record(`7. ${SIZE_MIB} MiB tus upload, Affix peak RSS MiB`, 'affix', rss.stop() / 2 ** 20);
      }
      settleDisk();
      const { resumeSeconds } = await uploadTus(endpoint, SIZE_MIB, headers, { cutAtHalf: true });
      record(`7. ${SIZE_MIB} MiB tus upload, resume after a cut at 50 %, s`, name, resumeSeconds!);
      log(`run ${run} ${name}: tus resume ${resumeSeconds!.toFixed(1)} s`);
    }
  } finally {
    await Promise.all([affix.stop(), tus.stop()]);
  }
}

async function metadataAndMedia(run: number): Promise<void> {
  const affix = await startAffix();
  try {
    const json = { ...affix.headers, 'content-type': 'application/json' };
    const issue = (await (await fetch(`${affix.url}/v2/issues/`, { method: 'POST', headers: json, body: JSON.stringify({ queue: 'BENCH', summary: 'many files' }) })).json()) as { key: string };
    if (ONLY.has('metadata')) {
      let lastId = '';
      for (let i = 0; i < 1000; i += 20) {
        const batch = await Promise.all(
          Array.from({ length: 20 }, async (_, j) => {
            const form = new FormData();
            form.append('file', new Blob([`file ${i + j}`]), 'file');
            const r = await fetch(`${affix.url}/v2/issues/${issue.key}/attachments?filename=f${i + j}.txt`, { method: 'POST', headers: affix.headers, body: form });
            return ((await r.json()) as { id: string }).id;
          }),
        );
        lastId = batch[0]!;
      }
      // Node's own rate for an empty answer under the same load generator: the ceiling of GET one, per workers count.
      const affix2 = await startCluster(affix);
      try {
        for (const [name, system] of rotate([['affix', affix], [AFFIX_W2, affix2]] as const, run)) {
          const measure = async (path: string) => {
            const cpu = treeCpuSeconds(system.pid);
            const result = await load({ url: `${system.url}${path}`, connections: CONNECTIONS, seconds: META_SECONDS, headers: affix.headers });
            return { ...result, cpuMicros: ((treeCpuSeconds(system.pid) - cpu) * 1e6) / (result.rps * META_SECONDS) };
          };
          const health = await measure('/healthz');
          if (name === 'affix') record(`4. GET one attachment x${CONNECTIONS}, req/s`, CEILING, health.rps);
          record(`4. GET /healthz x${CONNECTIONS} (Node's ceiling), req/s`, name, health.rps);
          const one = await measure(`/v2/issues/${issue.key}/attachments/${lastId}`);
          if (one.errors > 0) log(`run ${run} ${name}: GET one: ${one.errors} errors or non-2xx answers`);
          record(`4. GET one attachment x${CONNECTIONS}, req/s`, name, one.rps);
          record(`4. GET one attachment x${CONNECTIONS}, p99 ms`, name, one.p99);
          record(`4. GET one attachment x${CONNECTIONS}, server CPU µs per request`, name, one.cpuMicros);
          record(`4. GET /healthz x${CONNECTIONS} (Node's ceiling), server CPU µs per request`, name, health.cpuMicros);
          log(`run ${run} ${name}: /healthz ${health.rps.toFixed(0)} req/s, GET one ${one.rps.toFixed(0)} req/s`);
        }
      } finally {
        await affix2.stop();
      }
      const list = await load({ url: `${affix.url}/v2/issues/${issue.key}/attachments`, connections: 1, seconds: META_SECONDS, headers: affix.headers });
      record('4. list of 1,000 attachments x1, req/s', 'affix', list.rps);
      record('4. list of 1,000 attachments x1, p99 ms', 'affix', list.p99);
      log(`run ${run}: list p99 ${list.p99} ms`);
    }
    if (ONLY.has('thumbnail')) {
      const jpeg = await sharp({ create: { width: 6000, height: 4000, channels: 3, background: '#808080', noise: { type: 'gaussian', mean: 128, sigma: 40 } } }).jpeg({ quality: 90 }).toBuffer();
      const form = new FormData();
      form.append('file', new Blob([new Uint8Array(jpeg)]), 'file');
      const file = (await (await fetch(`${affix.url}/v2/attachments?filename=photo-${run}.jpg`, { method: 'POST', headers: affix.headers, body: form })).json()) as { thumbnail: string };
      const time = async () => {
        const t0 = performance.now();
        const { status } = await download(file.thumbnail, affix.headers);
        if (status !== 200) throw new Error(`thumbnail: ${status}`);
        return performance.now() - t0;
      };
      record('5. thumbnail of a 24 MP JPEG, first, ms', 'affix', await time());
      const cached: number[] = [];
      for (let i = 0; i < 20; i++) cached.push(await time());
      record('5. thumbnail of a 24 MP JPEG, cached, ms', 'affix', median(cached));
    }
  } finally {
    await affix.stop();
  }
}

async function startup(): Promise<void> {
  for (let i = 0; i < 5; i++) {
    const affix = await startAffix();
    record('6. start-up to first /healthz, ms', 'affix', affix.startupMs);
    await affix.stop();
  }
}

/** Each row's target (issue 22): against the row's measured ceiling, a peer, or an absolute bound; on one process. */
const TARGETS: Array<{ match: RegExp; text: string; ok: (row: Map<string, number>) => boolean | null }> = [
  { match: /^7\. .* MiB\/s/, text: '≥ 0.8x ceiling, ≥ 1.2x tus', ok: (r) => ratio(r, CEILING) >= 0.8 && ratio(r, 'tus-server') >= 1.2 },
  { match: /^1\. .* MiB\/s/, text: '≥ 0.8x ceiling, ≥ 1.2x tus and fastify', ok: (r) => ratio(r, CEILING) >= 0.8 && ratio(r, 'tus-server') >= 1.2 && ratio(r, 'fastify-plain') >= 1.2 },
  { match: /peak RSS/, text: '≤ 150 MB', ok: (r) => (r.get('affix') ?? Infinity) * 2 ** 20 <= 150e6 },
  { match: /^2\. .* download/, text: '≥ 0.6x nginx; accel ≥ 0.95x', ok: (r) => ratio(r, 'nginx') >= 0.6 && (r.get('affix via nginx accel') ?? 0) / (r.get('nginx') ?? 1) >= 0.95 },
  { match: /uploads\/s/, text: '≥ 1.0x fastify, ≥ 3x tus', ok: (r) => ratio(r, 'fastify-plain') >= 1 && ratio(r, 'tus-server') >= 3 },
  { match: /^3\. .*p99/, text: '≤ 50 ms', ok: (r) => (r.get('affix') ?? Infinity) <= 50 },
  { match: /GET one .*req\/s/, text: '≥ 0.8x ceiling (/healthz)', ok: (r) => ratio(r, CEILING) >= 0.8 },
  { match: /list of .*p99/, text: '≤ 10 ms', ok: (r) => (r.get('affix') ?? Infinity) <= 10 },
  { match: /first, ms/, text: '≤ 200 ms', ok: (r) => (r.get('affix') ?? Infinity) <= 200 },
  { match: /cached, ms/, text: '≤ 2 ms', ok: (r) => (r.get('affix') ?? Infinity) <= 2 },
];
const ratio = (row: Map<string, number>, peer: string) => (row.get('affix') ?? 0) / (row.get(peer) ?? Infinity);

function table(): string {
  const columns = ['affix', AFFIX_W2, 'affix via nginx accel', 'nginx', 'fastify-plain', 'tus-server', CEILING];
  const format = (v: number | undefined) => (v === undefined ? '' : v >= 100 ? v.toFixed(0) : v.toFixed(1));
  const lines = [
    `| Scenario | ${columns.join(' | ')} | Affix/ceiling | Affix/nginx | Affix/fastify | Affix/tus | 2 workers/1 | Target | Met |`,
    `|---|${columns.map(() => '---:').join('|')}|---:|---:|---:|---:|---:|---|---|`,
  ];
  for (const [name, bySystem] of [...samples.entries()].sort(([a], [b]) => a.localeCompare(b))) {
    const row = new Map([...bySystem.entries()].map(([system, values]) => [system, median(values)]));
    const r = (of: string, to: string) => (row.has(of) && row.has(to) ? `${(row.get(of)! / row.get(to)!).toFixed(2)}x` : '');
    const target = TARGETS.find((t) => t.match.test(name));
    const met = target ? (target.ok(row) ? 'yes' : 'no') : '';
    lines.push(`| ${name} | ${columns.map((c) => format(row.get(c))).join(' | ')} | ${r('affix', CEILING)} | ${r('affix', 'nginx')} | ${r('affix', 'fastify-plain')} | ${r('affix', 'tus-server')} | ${r(AFFIX_W2, 'affix')} | ${target?.text ?? ''} | ${met} |`);
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const started = Date.now();
  for (let run = 0; run < RUNS; run++) {
    log(`--- run ${run + 1} of ${RUNS}`);
    if (ONLY.has('upload') || ONLY.has('download')) await largeFiles(run);
    if (ONLY.has('small')) await smallUploads(run);
    if (ONLY.has('metadata') || ONLY.has('thumbnail')) await metadataAndMedia(run);
    if (ONLY.has('tus')) await resumable(run);
  }
  if (ONLY.has('startup')) await startup();
  const machine = `${cpus().length} × ${cpus()[0]?.model.trim()}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, ${new Date().toISOString().slice(0, 10)}`;
  const report = `Medians of ${RUNS} runs (start-up: 5), ${Math.round((Date.now() - started) / 1000)} s in all; ${machine}.\n\n${table()}\n`;
  process.stdout.write(`\n${report}`);
  if (!flags['no-readme']) {
    const readme = await readFile('bench/README.md', 'utf8');
    const updated = readme.replace(/<!-- table -->[\s\S]*<!-- \/table -->/, `<!-- table -->\n${report}<!-- /table -->`);
    await writeFile('bench/README.md', updated);
  }
}

await main();
