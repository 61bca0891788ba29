// The schema, as migrations in code for both SQL flavors; atomic on SQLite.
import { Migrator, sql, type CreateTableBuilder, type Kysely, type Migration, type MigrationProvider } from 'kysely';

export type SqlFlavor = 'sqlite' | 'postgres';

/** Migrations live in code so a built server needs no files beside it. */
function migrations(flavor: SqlFlavor): Record<string, Migration> {
  const autoId = flavor === 'postgres' ? 'bigserial' : 'integer';
  const bigint = flavor === 'postgres' ? 'bigint' : 'integer';
  // An integer primary key the database assigns.
  const withId = (table: CreateTableBuilder<string, never>) =>
    table.addColumn('id', autoId, (c) => (flavor === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey()));
  return {
    '0001_foundation': {
      async up(db: Kysely<any>) {
        await withId(db.schema.createTable('orgs'))
          .addColumn('ext_id', 'text', (c) => c.notNull().unique())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('created_at', bigint, (c) => c.notNull())
          .execute();
        await withId(db.schema.createTable('users'))
          .addColumn('org_id', bigint, (c) => c.notNull().references('orgs.id'))
          .addColumn('login', 'text', (c) => c.notNull())
          .addColumn('display', 'text', (c) => c.notNull())
          .addColumn('email', 'text', (c) => c.notNull())
          .addColumn('cloud_uid', 'text', (c) => c.notNull())
          .addColumn('passport_uid', bigint, (c) => c.notNull())
          .addColumn('token_hash', 'text', (c) => c.notNull().unique())
          .addColumn('api_key_hash', 'text', (c) => c.notNull().unique())
          .addColumn('created_at', bigint, (c) => c.notNull())
          .addUniqueConstraint('users_org_login', ['org_id', 'login'])
          .execute();
        await withId(db.schema.createTable('queues'))
          .addColumn('org_id', bigint, (c) => c.notNull().references('orgs.id'))
          .addColumn('key', 'text', (c) => c.notNull())
          .addColumn('next_number', bigint, (c) => c.notNull())
          .addColumn('created_at', bigint, (c) => c.notNull())
          .addUniqueConstraint('queues_org_key', ['org_id', 'key'])
          .execute();
        await db.schema
          .createTable('issues')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('org_id', bigint, (c) => c.notNull().references('orgs.id'))
          .addColumn('queue_id', bigint, (c) => c.notNull().references('queues.id'))
          .addColumn('key', 'text', (c) => c.notNull())
          .addColumn('summary', 'text', (c) => c.notNull())
          .addColumn('description', 'text')
          .addColumn('created_by', bigint, (c) => c.notNull().references('users.id'))
          .addColumn('created_at', bigint, (c) => c.notNull())
          .addColumn('updated_at', bigint, (c) => c.notNull())
          .addUniqueConstraint('issues_org_key', ['org_id', 'key'])
          .execute();
        await withId(db.schema.createTable('comments'))
          .addColumn('long_id', 'text', (c) => c.notNull().unique())
          .addColumn('org_id', bigint, (c) => c.notNull().references('orgs.id'))
          .addColumn('issue_id', 'text', (c) => c.notNull().references('issues.id'))
          .addColumn('text', 'text', (c) => c.notNull())
          .addColumn('created_by', bigint, (c) => c.notNull().references('users.id'))
          .addColumn('created_at', bigint, (c) => c.notNull())
          .addColumn('updated_at', bigint, (c) => c.notNull())
          .execute();
        await db.schema.createIndex('comments_issue').on('comments').columns(['issue_id', 'id']).execute();
        await withId(db.schema.createTable('blobs'))
          .addColumn('sha256', 'text', (c) => c.notNull().unique())
          .addColumn('size', bigint, (c) => c.notNull())
          .addColumn('storage_key', 'text', (c) => c.notNull().unique())
          .addColumn('ref_count', bigint, (c) => c.notNull())
          .addColumn('created_at', bigint, (c) => c.notNull())
          .execute();
        await withId(db.schema.createTable('attachments'))
          .addColumn('org_id', bigint, (c) => c.notNull().references('orgs.id'))
          .addColumn('owner_id', bigint, (c) => c.notNull().references('users.id'))
          .addColumn('blob_id', bigint, (c) => c.notNull().references('blobs.id'))
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('mimetype', 'text', (c) => c.notNull())
          .addColumn('size', bigint, (c) => c.notNull())
          .addColumn('created_at', bigint, (c) => c.notNull())
          .addColumn('expires_at', bigint)
          .addColumn('issue_id', 'text', (c) => c.references('issues.id'))
          .addColumn('comment_id', bigint, (c) => c.references('comments.id'))
          .execute();
        await db.schema.createIndex('attachments_issue').on('attachments').columns(['issue_id', 'id']).execute();
        await db.schema.createIndex('attachments_blob').on('attachments').column('blob_id').execute();
        // Partial index: the collector only ever scans temporary uploads.
        await db.schema
          .createIndex('attachments_expiry')
          .on('attachments')
          .column('expires_at')
          .where(sql.ref('expires_at'), 'is not', null)
          .execute();
      },
    },
    '0002_image_dimensions': {
      async up(db: Kysely<any>) {
        await db.schema.alterTable('attachments').addColumn('width', bigint).execute();
        await db.schema.alterTable('attachments').addColumn('height', bigint).execute();
      },
    },
    '0003_thumbnails': {
      async up(db: Kysely<any>) {
        await db.schema
          .createTable('thumbnails')
          .addColumn('source_sha256', 'text', (c) => c.notNull())
          .addColumn('size', bigint, (c) => c.notNull())
          .addColumn('format', 'text', (c) => c.notNull())
          .addColumn('storage_key', 'text', (c) => c.notNull().unique())
          .addColumn('bytes', bigint, (c) => c.notNull())
          .addColumn('sha256', 'text', (c) => c.notNull())
          .addColumn('created_at', bigint, (c) => c.notNull())
          .addPrimaryKeyConstraint('thumbnails_pk', ['source_sha256', 'size', 'format'])
          .execute();
      },
    },
    '0004_zulip': {
      async up(db: Kysely<any>) {
        // Per-organization limits (Zulip's realm settings); null: the server's limit / no quota.
        await db.schema.alterTable('orgs').addColumn('max_file_upload_size_mib', bigint).execute();
        await db.schema.alterTable('orgs').addColumn('upload_quota_mib', bigint).execute();
        // Every file has a Zulip path (`<realm>/<xx>/<token>/<name>`), whichever dialect took it.
        await db.schema.alterTable('attachments').addColumn('path_id', 'text').execute();
        await db.schema.createIndex('attachments_path_id').on('attachments').column('path_id').unique().execute();
        await db.schema.createIndex('attachments_owner').on('attachments').columns(['org_id', 'owner_id', 'id']).execute();
        await withId(db.schema.createTable('channels'))
          .addColumn('org_id', bigint, (c) => c.notNull().references('orgs.id'))
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('created_at', bigint, (c) => c.notNull())
          .addUniqueConstraint('channels_org_name', ['org_id', 'name'])
          .execute();
        await withId(db.schema.createTable('messages'))
          .addColumn('org_id', bigint, (c) => c.notNull().references('orgs.id'))
          .addColumn('sender_id', bigint, (c) => c.notNull().references('users.id'))
          .addColumn('type', 'text', (c) => c.notNull())
          .addColumn('channel_id', bigint, (c) => c.references('channels.id'))
          .addColumn('recipients', 'text')
          .addColumn('topic', 'text')
          .addColumn('content', 'text', (c) => c.notNull())
          .addColumn('date_sent', bigint, (c) => c.notNull())
          .addColumn('edited_at', bigint)
          .execute();
        await db.schema
          .createTable('message_attachments')
          .addColumn('message_id', bigint, (c) => c.notNull().references('messages.id'))
          .addColumn('attachment_id', bigint, (c) => c.notNull().references('attachments.id').onDelete('cascade'))
          .addPrimaryKeyConstraint('message_attachments_pk', ['attachment_id', 'message_id'])
          .execute();
        await db.schema
          .createTable('settings')
          .addColumn('key', 'text', (c) => c.primaryKey())
          .addColumn('value', 'text', (c) => c.notNull())
          .execute();
      },
    },
    '0005_entities': {
      async up(db: Kysely<any>) {
        await db.schema
          .createTable('entities')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('org_id', bigint, (c) => c.notNull().references('orgs.id'))
          .addColumn('type', 'text', (c) => c.notNull())
          .addColumn('short_id', bigint, (c) => c.notNull())
          .addColumn('summary', 'text', (c) => c.notNull())
          .addColumn('version', bigint, (c) => c.notNull())
          .addColumn('created_by', bigint, (c) => c.notNull().references('users.id'))
          .addColumn('created_at', bigint, (c) => c.notNull())
          .addColumn('updated_at', bigint, (c) => c.notNull())
          .addUniqueConstraint('entities_org_type_short', ['org_id', 'type', 'short_id'])
          .execute();
        await withId(db.schema.createTable('entity_comments'))
          .addColumn('long_id', 'text', (c) => c.notNull().unique())
          .addColumn('org_id', bigint, (c) => c.notNull().references('orgs.id'))
          .addColumn('entity_id', 'text', (c) => c.notNull().references('entities.id'))
          .addColumn('text', 'text', (c) => c.notNull())
          .addColumn('created_by', bigint, (c) => c.notNull().references('users.id'))
          .addColumn('created_at', bigint, (c) => c.notNull())
          .execute();
        await db.schema.alterTable('attachments').addColumn('entity_id', 'text', (c) => c.references('entities.id')).execute();
        await db.schema.createIndex('attachments_entity').on('attachments').columns(['entity_id', 'id']).execute();
      },
    },
    '0006_orphan_suspects': {
      async up(db: Kysely<any>) {
        // Blobs the collector found unreferenced, and when it first did: only a second look, later, deletes.
        await db.schema
          .createTable('orphan_suspects')
          .addColumn('storage_key', 'text', (c) => c.primaryKey())
          .addColumn('first_seen', bigint, (c) => c.notNull())
          .execute();
      },
    },
    '0007_message_recipients': {
      async up(db: Kysely<any>) {
        // A direct message's participants as users (its sender among them): who may see the files it links.
        await db.schema
          .createTable('message_recipients')
          .addColumn('message_id', bigint, (c) => c.notNull().references('messages.id'))
          .addColumn('user_id', bigint, (c) => c.notNull().references('users.id'))
          .addPrimaryKeyConstraint('message_recipients_pk', ['message_id', 'user_id'])
          .execute();
        await db.schema.createIndex('message_recipients_user').on('message_recipients').columns(['user_id', 'message_id']).execute();
        await db.schema.createIndex('message_attachments_message').on('message_attachments').column('message_id').execute();
        // Direct messages sent before: their recipients as given (emails or ids), resolved now.
        const messages = await db.selectFrom('messages').select(['id', 'org_id', 'sender_id', 'recipients']).where('type', '=', 'private').execute();
        for (const m of messages) {
          const given: string[] = m.recipients ? (JSON.parse(m.recipients) as unknown[]).map(String) : [];
          const ids = given.filter((r) => /^\d{1,15}$/.test(r)).map(Number);
          const emails = given.filter((r) => r.includes('@')).map((r) => r.toLowerCase());
          const users = await db
            .selectFrom('users')
            .select('id')
            .where('org_id', '=', m.org_id)
            .where((eb) => eb.or([eb('id', 'in', [0, ...ids]), eb(eb.fn('lower', ['email']), 'in', ['', ...emails])]))
            .execute();
          const participants = [...new Set([Number(m.sender_id), ...users.map((u) => Number(u.id))])];
          await db.insertInto('message_recipients').values(participants.map((user_id) => ({ message_id: m.id, user_id }))).execute();
        }
      },
    },
    '0008_resumable_uploads': {
      async up(db: Kysely<any>) {
        // Unfinished resumable (tus) uploads: their state, and the bytes they reserve against the quota.
        await db.schema
          .createTable('resumable_uploads')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('org_id', bigint, (c) => c.notNull().references('orgs.id'))
          .addColumn('owner_id', bigint, (c) => c.notNull().references('users.id'))
          .addColumn('length', bigint)
          // 1: a partial upload (tus concatenation), which becomes part of a final upload, never a file of its own.
          .addColumn('partial', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('offset', bigint, (c) => c.notNull())
          .addColumn('reserved', bigint, (c) => c.notNull())
          .addColumn('metadata', 'text', (c) => c.notNull())
          .addColumn('target', 'text', (c) => c.notNull())
          .addColumn('created_at', bigint, (c) => c.notNull())
          .addColumn('expires_at', bigint, (c) => c.notNull())
          .execute();
        await db.schema.createIndex('resumable_uploads_org').on('resumable_uploads').columns(['org_id']).execute();
        await db.schema.createIndex('resumable_uploads_expiry').on('resumable_uploads').columns(['expires_at']).execute();
        // Each PATCH's bytes, a blob of its own until the upload completes.
        await db.schema
          .createTable('resumable_segments')
          .addColumn('upload_id', 'text', (c) => c.notNull().references('resumable_uploads.id').onDelete('cascade'))
          .addColumn('start', bigint, (c) => c.notNull())
          .addColumn('size', bigint, (c) => c.notNull())
          .addColumn('sha256', 'text', (c) => c.notNull())
          .addColumn('storage_key', 'text', (c) => c.notNull().unique())
          .addPrimaryKeyConstraint('resumable_segments_pk', ['upload_id', 'start'])
          .execute();
      },
    },
    '0009_resumable_multipart_and_completion': {
      async up(db: Kysely<any>) {
        // On stores that join parts (S3): the multipart upload an upload's bytes go to, and each segment's part tags.
        await db.schema.alterTable('resumable_uploads').addColumn('multipart_key', 'text').execute();
        await db.schema.alterTable('resumable_uploads').addColumn('multipart_session', 'text').execute();
        await db.schema.alterTable('resumable_uploads').addColumn('part_size', bigint).execute();
        // A JSON array of tags; null: the segment's bytes wait whole in its storage_key blob.
        await db.schema.alterTable('resumable_segments').addColumn('parts', 'text').execute();
        await db.schema.createIndex('resumable_uploads_multipart_key').on('resumable_uploads').columns(['multipart_key']).execute();
        // Set once the upload is complete: the attachment it became (the row stays, without bytes or
        // reservation, until it expires, so a client that lost the final answer can ask again).
        await db.schema.alterTable('resumable_uploads').addColumn('attachment_id', bigint).execute();
      },
    },
    '0010_sessions': {
      async up(db: Kysely<any>) {
        // Browser sessions of the web UI: the cookie's sha256, never the cookie itself.
        await db.schema
          .createTable('sessions')
          .addColumn('token_hash', 'text', (c) => c.primaryKey())
          .addColumn('user_id', bigint, (c) => c.notNull().references('users.id'))
          .addColumn('created_at', bigint, (c) => c.notNull())
          .addColumn('expires_at', bigint, (c) => c.notNull())
          .execute();
        await db.schema.createIndex('sessions_expiry').on('sessions').columns(['expires_at']).execute();
      },
    },
  };
}

/** Every migration's name, in order. */
export const migrationNames = (): string[] => Object.keys(migrations('sqlite'));

/**
 * Runs every pending migration. Each run commits whole or not at all: PostgreSQL's through Kysely's
 * own transaction; SQLite's (which Kysely runs statement by statement, with no transaction) inside one
 * `BEGIN IMMEDIATE` of ours, bookkeeping tables included, so a crash mid-migration leaves the database
 * as it was. `schema`: where PostgreSQL keeps the bookkeeping (Kysely would otherwise find another schema's).
 */
export async function migrateToLatest(db: Kysely<any>, flavor: SqlFlavor, schema?: string): Promise<void> {
  if (flavor === 'postgres') return runMigrator(db, flavor, schema);
  await db.connection().execute(async (connection) => {
    // IMMEDIATE takes the write lock first (waiting out busy_timeout), so two processes starting on one file take turns.
    await sql`BEGIN IMMEDIATE`.execute(connection);
    try {
      await runMigrator(connection, flavor);
      await sql`COMMIT`.execute(connection);
    } catch (err) {
      await sql`ROLLBACK`.execute(connection).catch(() => undefined);
      throw err;
    }
  });
}

async function runMigrator(db: Kysely<any>, flavor: SqlFlavor, schema?: string): Promise<void> {
  const provider: MigrationProvider = { getMigrations: async () => migrations(flavor) };
  const { error, results } = await new Migrator({ db, provider, ...(schema ? { migrationTableSchema: schema } : {}) }).migrateToLatest();
  const failed = results?.find((r) => r.status === 'Error');
  if (error || failed) {
    throw new Error(`migration ${failed?.migrationName ?? ''} failed: ${String(error)}`);
  }
}
