import { CreateBucketCommand, DeleteObjectsCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { S3Config } from '../src/store/blob/s3-blob-store.js';
import { startS3Server, type CompletedUpload, type S3Server } from './s3-server.js';

/** Which stores the HTTP suites run on: `AFFIX_TEST_BACKEND=postgres-s3` for PostgreSQL + S3. */
export type BackendKind = 'embedded' | 'postgres-s3';
export const BACKEND: BackendKind = process.env.AFFIX_TEST_BACKEND === 'postgres-s3' ? 'postgres-s3' : 'embedded';
export const TEST_DATABASE_URL = process.env.AFFIX_TEST_DATABASE_URL ?? 'postgres://root@127.0.0.1:5432/test';

/** Stores provisioned for one test server (or for several nodes sharing them). */
export interface Backend {
  kind: BackendKind;
  /** Flags for `loadConfig`, and the same settings as AFFIX_* variables for a spawned `affix`. */
  flags: Record<string, string>;
  env: Record<string, string>;
  /** Keys of the blobs stored; null: the caller reads its data directory. */
  storedBlobKeys(): Promise<string[]> | null;
  /** Rows of a table, for tests that look at what was stored. */
  rows(table: string): Promise<unknown[]> | null;
  dispose(): Promise<void>;
}

export async function provisionBackend(kind: BackendKind = BACKEND): Promise<Backend> {
  if (kind === 'embedded') {
    return { kind, flags: {}, env: {}, storedBlobKeys: () => null, rows: () => null, dispose: async () => undefined };
  }
  const schema = await freshSchema();
  const bucket = await freshBucket();
  const flags: Record<string, string> = {
    'database-url': TEST_DATABASE_URL,
    'database-schema': schema.name,
    's3-endpoint': bucket.config.endpoint!,
    's3-bucket': bucket.config.bucket,
    's3-region': bucket.config.region,
    's3-access-key': bucket.config.credentials!.accessKeyId,
    's3-secret-key': bucket.config.credentials!.secretAccessKey,
    's3-force-path-style': 'true',
  };
  const env = Object.fromEntries(Object.entries(flags).map(([flag, value]) => [`AFFIX_${flag.toUpperCase().replace(/-/g, '_')}`, value]));
  return {
    kind,
    flags,
    env,
    storedBlobKeys: () => bucket.keys(),
    rows: (table) => schema.rows(table),
    async dispose() {
      await Promise.allSettled([schema.drop(), bucket.drop()]);
    },
  };
}

/** A PostgreSQL schema of its own, dropped afterwards; Affix creates its tables there. */
export async function freshSchema(): Promise<{ name: string; rows(table: string): Promise<unknown[]>; drop(): Promise<void> }> {
  const name = `affix_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  const query = async (text: string) => {
    const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await client.connect();
    try {
      return (await client.query(text)).rows as unknown[];
    } finally {
      await client.end();
    }
  };
  return {
    name,
    rows: (table) => query(`SELECT * FROM "${name}"."${table}"`),
    drop: async () => void (await query(`DROP SCHEMA IF EXISTS "${name}" CASCADE`)),
  };
}

// One S3-protocol server per test process, started on first use and stopped when its last bucket goes.
let s3server: Promise<S3Server> | null = null;
let bucketsInUse = 0;

/** Multipart uploads the loopback S3 server has completed in this process (none when AFFIX_TEST_S3_ENDPOINT names another). */
export async function completedMultipartUploads(): Promise<CompletedUpload[]> {
  return s3server ? (await s3server).completed : [];
}

/** A bucket of its own on the loopback S3 server (`AFFIX_TEST_S3_ENDPOINT`, or one started here). */
export async function freshBucket(): Promise<{ config: S3Config; keys(): Promise<string[]>; drop(): Promise<void> }> {
  let endpoint = process.env.AFFIX_TEST_S3_ENDPOINT;
  if (!endpoint) {
    bucketsInUse++;
    s3server ??= startS3Server();
    endpoint = (await s3server).endpoint;
  }
  const config: S3Config = {
    endpoint,
    bucket: `affix-test-${randomBytes(6).toString('hex')}`,
    region: 'us-east-1',
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    forcePathStyle: true,
    presignDownloads: false,
  };
  const client = new S3Client({ endpoint, region: config.region, credentials: config.credentials!, forcePathStyle: true });
  await client.send(new CreateBucketCommand({ Bucket: config.bucket }));
  const keys = async () => {
    const listed = await client.send(new ListObjectsV2Command({ Bucket: config.bucket }));
    return (listed.Contents ?? []).map((o) => o.Key!);
  };
  return {
    config,
    keys,
    async drop() {
      const left = await keys().catch(() => []);
      if (left.length > 0) await client.send(new DeleteObjectsCommand({ Bucket: config.bucket, Delete: { Objects: left.map((Key) => ({ Key })) } }));
      client.destroy();
      if (!process.env.AFFIX_TEST_S3_ENDPOINT && --bucketsInUse === 0 && s3server) {
        const stopping = s3server;
        s3server = null;
        await (await stopping).stop();
      }
    },
  };
}
