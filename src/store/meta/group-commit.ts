// Group commit for SQLite: units of one event-loop turn share a transaction and an fsync.
import { CompiledQuery, type Kysely, type Transaction } from 'kysely';
import type { Database } from './schema.js';

// Compiled once: Kysely would otherwise compile the same text for every unit.
const SAVEPOINT = CompiledQuery.raw('SAVEPOINT affix_unit');
const RELEASE = CompiledQuery.raw('RELEASE affix_unit');
const ROLLBACK_TO = CompiledQuery.raw('ROLLBACK TO affix_unit');

interface Pending<T> {
  work: (trx: Transaction<Database>) => Promise<T>;
  resolve: (value: T) => void;
  reject: (reason: unknown) => void;
}

/**
 * Group commit for a database with one writer (SQLite): units of work that arrive in the same turn
 * of the event loop run in one transaction, each inside its own savepoint, so one failing unit
 * (a quota refusal) is rolled back alone. Every unit's promise settles only after the COMMIT and
 * the WAL's fdatasync that follows it (see sqlite.ts), so a resolved unit is durable exactly as if
 * it had committed alone; the sync is shared.
 */
export class GroupCommit {
  private pending: Array<Pending<any>> = [];
  private scheduled = false;

  constructor(private readonly db: Kysely<Database>) {}

  run<T>(work: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ work, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => void this.flush());
      }
    });
  }

  private async flush(): Promise<void> {
    const batch = this.pending;
    this.pending = [];
    this.scheduled = false;
    const settle: Array<() => void> = [];
    try {
      await this.db.transaction().execute(async (trx) => {
        for (const unit of batch) {
          await trx.executeQuery(SAVEPOINT);
          try {
            const value = await unit.work(trx);
            await trx.executeQuery(RELEASE);
            settle.push(() => unit.resolve(value));
          } catch (err) {
            await trx.executeQuery(ROLLBACK_TO);
            await trx.executeQuery(RELEASE);
            settle.push(() => unit.reject(err));
          }
        }
      });
    } catch (err) {
      // The COMMIT itself failed: nothing of the batch is stored.
      for (const unit of batch) unit.reject(err);
      return;
    }
    for (const done of settle) done();
  }
}
