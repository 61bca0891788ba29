// What every domain's queries share: one Kysely handle, the SQL flavor, and the transaction helpers.
import type { Kysely, Transaction } from 'kysely';
import { GroupCommit } from './group-commit.js';
import type { SqlFlavor } from './migrations.js';
import type { Database } from './schema.js';

export type Trx = Transaction<Database>;

/**
 * Runs `work` holding a named lock, or answers null at once when another holder has it. The lock
 * must die with its holder: a crashed process may never leave an upload locked.
 */
export type Locker = <T>(name: string, work: () => Promise<T>) => Promise<{ value: T } | null>;

/** Locks of this process alone: enough where one process writes the database (SQLite). */
export function inProcessLocker(): Locker {
  const held = new Set<string>();
  return async (name, work) => {
    if (held.has(name)) return null;
    held.add(name);
    try {
      return { value: await work() };
    } finally {
      held.delete(name);
    }
  };
}

export class QueryContext {
  private readonly groupCommit: GroupCommit;

  constructor(
    readonly db: Kysely<Database>,
    readonly flavor: SqlFlavor,
    private readonly locker: Locker = inProcessLocker(),
  ) {
    this.groupCommit = new GroupCommit(db);
  }

  /** Runs `work` in a transaction of its own. */
  transaction<T>(work: (trx: Trx) => Promise<T>): Promise<T> {
    return this.db.transaction().execute(work);
  }

  /**
   * Runs `work` in a transaction that may be shared: on SQLite, units arriving in the same turn of the
   * event loop share one transaction and one fsync (each in its own savepoint); on PostgreSQL, its own.
   */
  groupedTransaction<T>(work: (trx: Trx) => Promise<T>): Promise<T> {
    return this.flavor === 'sqlite' ? this.groupCommit.run(work) : this.transaction(work);
  }

  /** Runs `work` holding a named lock no other request holds at the same time, or returns null (see Locker). */
  withLock<T>(name: string, work: () => Promise<T>): Promise<{ value: T } | null> {
    return this.locker(name, work);
  }

  /**
   * Serializes writers of one org's counted state (quota, entity numbers) until the transaction ends.
   * SQLite has one writer at a time already; PostgreSQL locks the org's row.
   */
  async lockOrg(trx: Trx, orgId: number): Promise<void> {
    if (this.flavor === 'postgres') await trx.selectFrom('orgs').select('id').where('id', '=', orgId).forUpdate().execute();
  }
}
