// The SQLite dialect of the MetaStore: WAL mode, durable commits off the event loop, a statement cache.
import BetterSqlite3 from 'better-sqlite3';
import { CompiledQuery, Kysely, SqliteDialect, SqliteDriver, type DatabaseConnection, type Driver, type SqliteDatabase, type SqliteDialectConfig, type SqliteStatement } from 'kysely';
import { KyselyMetaStore } from './kysely-meta-store.js';
import type { Locker } from './query-context.js';
import type { Database } from './schema.js';
import { WalSync } from './wal-sync.js';

/**
 * The embedded default: one SQLite file in WAL mode. `:memory:` works for tests. `locker`: locks
 * every process writing the file sees (several workers); by default this process's own.
 */
export function openSqliteMetaStore(file: string, locker?: Locker): KyselyMetaStore {
  const database = new BetterSqlite3(file);
  const inWal = database.pragma('journal_mode = WAL', { simple: true }) === 'wal';
  // A commit is on disk before the client hears of it. In WAL mode the fdatasync runs off the event
  // loop (WalSync, awaited as the connection is released); FULL would run it inside COMMIT, blocking.
  database.pragma(inWal ? 'synchronous = NORMAL' : 'synchronous = FULL');
  // The savepoints of a group commit journal every page they touch; past 64 KiB SQLite spilled that
  // journal to a temporary file, two pwrite()s per page.
  database.pragma('temp_store = MEMORY');
  database.pragma('foreign_keys = ON');
  // Another process (a worker, `affix gc`, `affix user add`) may hold the write lock for a moment.
  database.pragma('busy_timeout = 5000');
  const durability = inWal ? new WalDurability(database, new WalSync(`${file}-wal`)) : null;
  const config: SqliteDialectConfig = { database: withStatementCache(database, durability?.noteWrite) };
  const dialect = durability ? new DurableSqliteDialect(config, durability) : new SqliteDialect(config);
  return new KyselyMetaStore(new Kysely<Database>({ dialect }), 'sqlite', undefined, locker);
}

/** Whether anything was written since the last WAL sync, and that sync once no transaction is open. */
class WalDurability {
  private unsynced = false;

  constructor(
    private readonly database: BetterSqlite3.Database,
    private readonly wal: WalSync,
  ) {}

  readonly noteWrite = (): void => {
    this.unsynced = true;
  };

  async settle(): Promise<void> {
    if (this.unsynced && !this.database.inTransaction) {
      this.unsynced = false;
      await this.wal.flush();
    }
  }

  close(): Promise<void> {
    return this.wal.close();
  }
}

/** Kysely's SQLite dialect whose writes are durable when the query or transaction that made them resolves. */
class DurableSqliteDialect extends SqliteDialect {
  constructor(
    private readonly config: SqliteDialectConfig,
    private readonly durability: WalDurability,
  ) {
    super(config);
  }

  override createDriver(): Driver {
    return new DurableSqliteDriver(this.config, this.durability);
  }
}

class DurableSqliteDriver extends SqliteDriver {
  constructor(
    config: SqliteDialectConfig,
    private readonly durability: WalDurability,
  ) {
    super(config);
  }

  /**
   * Takes the write lock at BEGIN. A deferred transaction that read first could not write once another
   * process (a worker) had committed meanwhile: SQLite refuses that upgrade at once (SQLITE_BUSY_SNAPSHOT),
   * busy timeout or not. Affix's transactions all write.
   */
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(BEGIN_IMMEDIATE);
  }

  /**
   * Kysely awaits this before the query or transaction resolves. The connection is free again before
   * the sync, so others' queries go on meanwhile (they may read a commit a moment before it is durable).
   */
  override async releaseConnection(): Promise<void> {
    await super.releaseConnection();
    await this.durability.settle();
  }

  override async destroy(): Promise<void> {
    await this.durability.close();
    await super.destroy();
  }
}

const BEGIN_IMMEDIATE = CompiledQuery.raw('begin immediate');

const STATEMENT_CACHE_SIZE = 256;

/**
 * Kysely prepares every query anew; preparing costs more than running a small indexed query. The same
 * SQL text reuses its prepared statement (least recently used ones are dropped past the cache size).
 */
function withStatementCache(database: BetterSqlite3.Database, onWrite?: () => void): SqliteDatabase {
  const cache = new Map<string, SqliteStatement>();
  return {
    close: () => database.close(),
    prepare(sql: string) {
      let statement = cache.get(sql);
      if (statement) {
        cache.delete(sql);
      } else {
        const prepared = database.prepare(sql);
        statement = prepared.reader ? withRowsBuiltInJs(prepared) : prepared;
        if (onWrite && !prepared.readonly) statement = reportingWrites(statement, onWrite);
        if (cache.size >= STATEMENT_CACHE_SIZE) cache.delete(cache.keys().next().value!);
      }
      cache.set(sql, statement);
      return statement;
    },
  };
}

/** A statement that changes the database calls `onWrite` whenever it runs (BEGIN and COMMIT do not count). */
function reportingWrites(statement: SqliteStatement, onWrite: () => void): SqliteStatement {
  return {
    reader: statement.reader,
    all(parameters) {
      onWrite();
      return statement.all(parameters);
    },
    run(parameters) {
      onWrite();
      return statement.run(parameters);
    },
    iterate(parameters) {
      onWrite();
      return statement.iterate(parameters);
    },
  };
}

/**
 * better-sqlite3 builds each row object through V8's C++ API, interning every column name again for
 * every row: `perf` put half of `Statement::all` there when serving one attachment (a 25-column
 * row). It hands out plain arrays much more cheaply. Each statement then gets a function returning an
 * object literal with its columns as keys, so every row of it shares one hidden class from the start
 * (GET one attachment: 7.2k -> 8.2k req/s, a list of 1,000: 80 -> 135 req/s; a loop of assignments
 * got only 7.4k and 100).
 */
function withRowsBuiltInJs(statement: BetterSqlite3.Statement): SqliteStatement {
  const names = statement.columns().map((column) => column.name);
  // Like better-sqlite3's own objects, a later column of the same name wins. The names are our SQL's.
  const last = new Map(names.map((name, i) => [name, i]));
  const literal = [...last].map(([name, i]) => `${JSON.stringify(name)}: row[${i}]`).join(', ');
  const toObject = new Function('row', `return { ${literal} };`) as (row: unknown[]) => Record<string, unknown>;
  statement.raw(true);
  return {
    reader: true,
    all: (parameters) => (statement.all(parameters) as unknown[][]).map(toObject),
    run: (parameters) => statement.run(parameters),
    *iterate(parameters) {
      for (const row of statement.iterate(parameters) as IterableIterator<unknown[]>) yield toObject(row);
    },
  };
}
