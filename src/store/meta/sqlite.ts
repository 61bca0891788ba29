import BetterSqlite3 from 'better-sqlite3';
import { Kysely, SqliteDialect, type SqliteDatabase, type SqliteStatement } from 'kysely';
import { KyselyMetaStore } from './kysely-meta-store.js';
import type { Database } from './schema.js';

/** The embedded default: one SQLite file in WAL mode. `:memory:` works for tests. */
export function openSqliteMetaStore(file: string): KyselyMetaStore {
  const database = new BetterSqlite3(file);
  database.pragma('journal_mode = WAL');
  // FULL: a commit is on disk before the client hears 201 (NORMAL could lose the last commits on power loss).
  database.pragma('synchronous = FULL');
  database.pragma('foreign_keys = ON');
  // Another process (`affix gc`, `affix user add`) may hold the write lock for a moment.
  database.pragma('busy_timeout = 5000');
  return new KyselyMetaStore(new Kysely<Database>({ dialect: new SqliteDialect({ database: withStatementCache(database) }) }), 'sqlite');
}

const STATEMENT_CACHE_SIZE = 256;

/**
 * Kysely prepares every query anew; preparing costs more than running a small indexed query. The same
 * SQL text reuses its prepared statement (least recently used ones are dropped past the cache size).
 */
function withStatementCache(database: BetterSqlite3.Database): SqliteDatabase {
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
        if (cache.size >= STATEMENT_CACHE_SIZE) cache.delete(cache.keys().next().value!);
      }
      cache.set(sql, statement);
      return statement;
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
