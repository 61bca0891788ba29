// The PostgreSQL dialect of the MetaStore: a pool, a schema, migrations under an advisory lock.
import { createHash } from 'node:crypto';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { KyselyMetaStore } from './kysely-meta-store.js';
import { migrateToLatest } from './migrations.js';
import type { Locker } from './query-context.js';
import type { Database } from './schema.js';

// Any constant works; it only has to be the same on every node (and unlikely to clash with others').
const MIGRATION_LOCK = 0x61666978; // "afix"

export interface PostgresOptions {
  url: string;
  /** Tables live in this schema (created on first use); null: the connection's search_path. */
  schema: string | null;
  maxConnections?: number;
}

/** Metadata on PostgreSQL: the same queries as SQLite, through Kysely's pg dialect. */
export function openPostgresMetaStore(options: PostgresOptions): KyselyMetaStore {
  // The name is spliced into SQL below: only plain identifiers.
  if (options.schema !== null && !/^[a-z_][a-z0-9_]{0,62}$/.test(options.schema)) throw new Error(`invalid schema name ${options.schema}`);
  const clientConfig = {
    connectionString: options.url,
    ...(options.schema ? { options: `-c search_path=${options.schema}` } : {}),
  };
  const pool = new pg.Pool({ ...clientConfig, max: options.maxConnections ?? 10 });
  // Locks are held for a whole PATCH: on connections of their own, so they never starve the queries.
  const lockPool = new pg.Pool({ ...clientConfig, max: LOCK_CONNECTIONS });
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return new KyselyMetaStore(db, 'postgres', () => migratePostgres(db, clientConfig, options.schema), advisoryLocker(lockPool), () => lockPool.end());
}

/** Resumable uploads one node can be writing at once (each holds a lock connection while it writes). */
const LOCK_CONNECTIONS = 64;

/**
 * Session advisory locks: every node sees them, and PostgreSQL drops one the moment its connection
 * closes, so a node that dies mid-PATCH leaves nothing locked. Keyed by 63 bits of the name's sha256.
 */
function advisoryLocker(pool: pg.Pool): Locker {
  return async (name, work) => {
    const key = createHash('sha256').update(name).digest().readBigInt64BE(0).toString();
    const client = await pool.connect();
    let healthy = true;
    try {
      const { rows } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1::bigint) AS locked', [key]);
      if (!rows[0]?.locked) return null;
      try {
        return { value: await work() };
      } finally {
        await client.query('SELECT pg_advisory_unlock($1::bigint)', [key]).catch(() => {
          healthy = false;
        });
      }
    } finally {
      // A connection whose unlock failed may still hold the lock: close it, which drops the lock.
      client.release(!healthy);
    }
  };
}

/**
 * Several nodes may start at once: one session-level advisory lock, held on a connection of its own
 * for the whole run, lets exactly one of them create the schema and run the migrations; the others
 * wait, then find nothing left to do.
 */
async function migratePostgres(db: Kysely<Database>, clientConfig: pg.ClientConfig, schema: string | null): Promise<void> {
  const lock = new pg.Client(clientConfig);
  await lock.connect();
  try {
    await lock.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    if (schema) await lock.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
    const current = schema ?? ((await lock.query<{ schema: string }>('SELECT current_schema() AS schema')).rows[0]?.schema ?? 'public');
    await migrateToLatest(db, 'postgres', current);
  } finally {
    await lock.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined);
    await lock.end();
  }
}
