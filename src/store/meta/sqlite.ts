import BetterSqlite3 from 'better-sqlite3';
import { Kysely, SqliteDialect, type SqliteDatabase } from 'kysely';
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
  const cache = new Map<string, BetterSqlite3.Statement>();
  return {
    close: () => database.close(),
    prepare(sql: string) {
      let statement = cache.get(sql);
      if (statement) {
        cache.delete(sql);
      } else {
        statement = database.prepare(sql);
        if (cache.size >= STATEMENT_CACHE_SIZE) cache.delete(cache.keys().next().value!);
      }
      cache.set(sql, statement);
      return statement;
    },
  };
}
