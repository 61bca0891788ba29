// The limits a row is bounded by, measured on this machine in the same run: the disk, one core's sha256, a process tree's CPU and memory.
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

/** MiB/s of `dd conv=fsync`: `mib` MiB written to `dir` and on disk before dd exits (the disk's durable write rate). */
export function durableWriteMiBps(dir: string, mib: number): number {
  const file = join(dir, 'ceiling-dd.bin');
  const started = performance.now();
  const dd = spawnSync('dd', ['if=/dev/zero', `of=${file}`, 'bs=1M', `count=${mib}`, 'conv=fsync'], { stdio: 'ignore' });
  const seconds = (performance.now() - started) / 1000;
  rmSync(file, { force: true });
  if (dd.status !== 0) throw new Error(`dd exited with ${dd.status}`);
  return mib / seconds;
}

/** MiB/s of Node's sha256 on one core, over `mib` MiB in 1 MiB updates (Affix hashes each upload as it arrives). */
export function sha256MiBps(mib: number): number {
  const chunk = randomBytes(1 << 20);
  const hash = createHash('sha256');
  const started = performance.now();
  for (let i = 0; i < mib; i++) hash.update(chunk);
  hash.digest();
  return mib / ((performance.now() - started) / 1000);
}

/** `pid` and every process under it (a cluster's workers), from /proc. */
function processTree(pid: number): number[] {
  const parents = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parents.set(ppid, [...(parents.get(ppid) ?? []), Number(entry)]);
    } catch {
      // gone meanwhile
    }
  }
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) tree.push(...(parents.get(tree[i]!) ?? []));
  return tree;
}

const TICKS_PER_SECOND = 100;

/** CPU seconds (user + system) used so far by `pid` and the processes under it. */
export function treeCpuSeconds(pid: number): number {
  let ticks = 0;
  for (const member of processTree(pid)) {
    try {
      const fields = readFileSync(`/proc/${member}/stat`, 'utf8').split(') ')[1]!.split(' ');
      // utime and stime: fields 14 and 15 of stat, 12 and 13 after the command's closing parenthesis.
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // gone meanwhile
    }
  }
  return ticks / TICKS_PER_SECOND;
}

/** The resident memory of `pid` and the processes under it, sampled every 20 ms; `stop` gives the peak. */
export function peakRssSampler(pid: number): { stop(): number } {
  // The tree is looked up again twice a second, not at every sample: scanning /proc costs CPU the server shares.
  let tree = processTree(pid);
  let sampled = 0;
  const read = () => {
    if (++sampled % 25 === 0) tree = processTree(pid);
    return tree.reduce((sum, member) => {
      try {
        return sum + Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${member}/status`, 'utf8'))![1]) * 1024;
      } catch {
        return sum;
      }
    }, 0);
  };
  let peak = read();
  const timer = setInterval(() => (peak = Math.max(peak, read())), 20);
  return {
    stop() {
      clearInterval(timer);
      return Math.max(peak, read());
    },
  };
}
