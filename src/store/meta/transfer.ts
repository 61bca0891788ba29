// Rows copied as they are between two backends (affix migrate): read in key order, inserted with their ids, the id sequences moved past them.
import { sql, type Kysely } from 'kysely';
import type { TransferRecords, TransferTable } from './meta-store.js';
import type { QueryContext } from './query-context.js';

/** Each table's key columns, in the order rows are read (and a resumed copy goes on from). */
const KEYS: Record<TransferTable, string[]> = {
  orgs: ['id'],
  users: ['id'],
  queues: ['id'],
  issues: ['id'],
  comments: ['id'],
  entities: ['id'],
  entity_comments: ['id'],
  blobs: ['id'],
  attachments: ['id'],
  channels: ['id'],
  messages: ['id'],
  message_attachments: ['message_id', 'attachment_id'],
  message_recipients: ['message_id', 'user_id'],
  settings: ['key'],
  sessions: ['token_hash'],
};

/** Tables whose integer id the database assigns: its sequence must pass the copied ids. */
const GENERATED_IDS: TransferTable[] = ['orgs', 'users', 'queues', 'comments', 'blobs', 'attachments', 'entity_comments', 'channels', 'messages'];

type Row = Record<string, unknown>;

export class TransferQueries implements TransferRecords {
  constructor(private readonly q: QueryContext) {}

  private get db(): Kysely<any> {
    return this.q.db as unknown as Kysely<any>;
  }

  async rowsAfter(table: TransferTable, after: unknown[] | null, limit: number): Promise<{ rows: Row[]; last: unknown[] | null }> {
    const keys = KEYS[table];
    let query = this.db.selectFrom(table).selectAll();
    // Row-value comparison (a, b) > (x, y), spelled out so both SQL flavors take it.
    if (after) query = query.where(sql<boolean>`(${sql.join(keys.map((k) => sql.ref(k)))}) > (${sql.join(after.map((v) => sql`${v}`))})`);
    for (const key of keys) query = query.orderBy(key);
    const rows = (await query.limit(limit).execute()) as Row[];
    const lastRow = rows.at(-1);
    return { rows, last: lastRow ? keys.map((k) => lastRow[k]) : null };
  }

  async countRows(table: TransferTable): Promise<number> {
    const row = (await this.db.selectFrom(table).select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()) as { n: unknown };
    return Number(row.n);
  }

  async insertRows(table: TransferTable, rows: Row[]): Promise<void> {
    if (rows.length === 0) return;
    await this.q.transaction(async (trx) => {
      await (trx as unknown as Kysely<any>)
        .insertInto(table)
        .values(rows)
        .onConflict((oc) => oc.columns(KEYS[table]).doNothing())
        .execute();
    });
  }

  async resetIdSequences(): Promise<void> {
    // SQLite's AUTOINCREMENT follows inserted ids by itself; PostgreSQL's sequences do not.
    if (this.q.flavor !== 'postgres') return;
    for (const table of GENERATED_IDS) {
      await sql`select setval(pg_get_serial_sequence(${table}, 'id'), greatest(coalesce((select max(id) from ${sql.table(table)}), 0), 1))`.execute(this.db);
    }
  }
}
