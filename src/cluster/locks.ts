// Named locks shared by the workers of one machine: held in the primary, dropped when their worker dies.
import type { Locker } from '../store/meta/query-context.js';
import type { PrimaryLink } from './link.js';

/** The primary's table: who holds what. A worker that exits, however, releases all it held. */
export class LockTable {
  private readonly holders = new Map<string, number>();

  take(worker: number, name: string): boolean {
    if (this.holders.has(name)) return false;
    this.holders.set(name, worker);
    return true;
  }

  release(worker: number, name: string): void {
    if (this.holders.get(name) === worker) this.holders.delete(name);
  }

  releaseAll(worker: number): void {
    for (const [name, holder] of this.holders) if (holder === worker) this.holders.delete(name);
  }
}

/**
 * A Locker whose locks every worker of this machine sees (SQLite's in-process locks are not enough once
 * several processes write the database). Released before `work`'s result is handed back, so the
 * client's next request never finds its own upload still locked.
 */
export function clusterLocker(link: PrimaryLink): Locker {
  return async (name, work) => {
    if (!(await link.call('lock', { name }))) return null;
    try {
      return { value: await work() };
    } finally {
      await link.call('unlock', { name });
    }
  };
}
