// A start killed while it creates or migrates the SQLite schema leaves a database the next start can use.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig } from '../src/config.js';
import { openCore } from '../src/server.js';
import { CLI } from './harness.js';

const KILL_POINTS = 24;

/**
 * Starts `affix user add` on a fresh data directory and SIGKILLs it `delayMs` after its database file
 * appears (never, when null); how long the process lived after the file appeared, and whether the kill landed.
 */
async function killDuringMigration(dataDir: string, delayMs: number | null): Promise<{ outcome: 'killed' | 'finished'; livedMs: number }> {
  const child = spawn(process.execPath, [CLI, 'user', 'add', '--org', '1', '--login', 'first', '--data-dir', dataDir], { stdio: 'ignore' });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const database = join(dataDir, 'affix.sqlite');
  const deadline = Date.now() + 10_000;
  while (!existsSync(database) && child.exitCode === null && Date.now() < deadline) await sleep(0.2);
  const appeared = performance.now();
  if (delayMs === null) {
    await exited;
    return { outcome: 'finished', livedMs: performance.now() - appeared };
  }
  if (delayMs > 0) await sleep(delayMs);
  const killed = child.kill('SIGKILL') && child.exitCode === null;
  await exited;
  return { outcome: killed ? 'killed' : 'finished', livedMs: performance.now() - appeared };
}

describe('schema migrations and crashes (SQLite)', { skip: process.env.AFFIX_TEST_BACKEND === 'postgres-s3' }, () => {
  it(`a start killed at any of ${KILL_POINTS} points while migrating leaves a database the next start opens`, async () => {
    // How long a start undisturbed lives once its database file exists (about 35 ms here): the kill
    // points are spread over that window, so they land in the migrations on a fast machine or a slow one.
    const probe = await mkdtemp(join(tmpdir(), 'affix-migration-crash-'));
    const { livedMs } = await killDuringMigration(probe, null);
    await rm(probe, { recursive: true, force: true });
    let killedMidway = 0;
    for (let point = 0; point < KILL_POINTS; point++) {
      const dataDir = await mkdtemp(join(tmpdir(), 'affix-migration-crash-'));
      try {
        if ((await killDuringMigration(dataDir, (point * livedMs) / KILL_POINTS)).outcome === 'killed') killedMidway++;
        const core = await openCore(loadConfig({ 'data-dir': dataDir }, {}));
        try {
          const { user } = await core.identity.addUser({ orgExtId: '1', login: `after-${point}`, display: 'after' });
          assert.ok(user.id > 0, `kill point ${point}: a user can be added after the crash`);
        } finally {
          await core.close();
        }
      } finally {
        await rm(dataDir, { recursive: true, force: true });
      }
    }
    // The test means something only when some kills landed while the first start was still running.
    assert.ok(killedMidway >= KILL_POINTS / 2, `only ${killedMidway} of ${KILL_POINTS} kills landed before the start finished`);
  });
});
