// `affix migrate`: every record and every blob from one backend to another (the embedded default to PostgreSQL + S3, or back), resumable, each blob checked by its sha256.
import { createHash } from 'node:crypto';
import { Transform } from 'node:stream';
import type { Config } from '../config.js';
import { openStores } from '../server.js';
import type { BlobStore } from '../store/blob/blob-store.js';
import { TRANSFER_TABLES, type MetaStore } from '../store/meta/meta-store.js';

type StoreConfig = Pick<Config, 'dataDir' | 'packFilesUpTo' | 'databaseUrl' | 'databaseSchema' | 's3'>;

export interface MigrateReport {
  /** Rows in the target, by table, after the copy. */
  rows: Record<string, number>;
  blobsCopied: number;
  /** Blobs a run before this one had copied already. */
  blobsAlreadyThere: number;
  bytesCopied: number;
  /** What did not verify: a blob whose bytes are not its sha256, or a table whose count differs. */
  failures: string[];
}

const BATCH = 500;

/** Where a store lives, to refuse copying one onto itself. */
function place(config: StoreConfig): { meta: string; blobs: string } {
  return {
    meta: config.databaseUrl ? `${config.databaseUrl}#${config.databaseSchema ?? ''}` : `sqlite:${config.dataDir}`,
    blobs: config.s3 ? `s3:${config.s3.endpoint ?? 'aws'}/${config.s3.bucket}` : `local:${config.dataDir}`,
  };
}

/**
 * Copies, in an order where each row's references come first: organizations, users, queues, issues,
 * comments, entities, blobs, attachments, channels, messages, their links, settings (the URL-signing
 * secret), sessions. Ids are kept, so URLs, `path_id`s, tokens (their hashes) and realm ids stay the
 * same. Each blob is read from the source, hashed on the way into the target, and recorded only once
 * its sha256 and size match; a run stopped anywhere is resumed by running it again (rows already there
 * are kept, blobs already recorded are not sent again). Thumbnails, unfinished tus uploads and the
 * collector's notes are not copied: they are made again. The source is only read; stop its server first.
 */
export async function migrate(source: StoreConfig, target: StoreConfig, log: (line: string) => void): Promise<MigrateReport> {
  const from = place(source);
  const to = place(target);
  if (from.meta === to.meta || from.blobs === to.blobs) throw new Error(`the target is the source (${from.meta === to.meta ? to.meta : to.blobs}): give --to-... flags naming other stores`);
  const src = await openStores(source);
  const dst = await openStores(target).catch(async (err: unknown) => {
    await src.meta.close();
    throw err;
  });
  const report: MigrateReport = { rows: {}, blobsCopied: 0, blobsAlreadyThere: 0, bytesCopied: 0, failures: [] };
  // A blob that did not verify is not recorded, so neither are the attachments of it, nor their links to messages: each is named.
  const failedBlobs = new Set<string>();
  const skippedAttachments = new Set<string>();
  const skipped = (table: string, row: Record<string, unknown>): boolean => {
    if (table === 'attachments' && failedBlobs.has(String(row.blob_id))) {
      skippedAttachments.add(String(row.id));
      report.failures.push(`attachment ${String(row.id)} ${JSON.stringify(row.name)}: not copied, its blob did not verify`);
      return true;
    }
    return table === 'message_attachments' && skippedAttachments.has(String(row.attachment_id));
  };
  try {
    for (const table of TRANSFER_TABLES) {
      const total = await src.meta.countRows(table);
      let left = 0;
      if (table === 'blobs') left = await copyBlobs(src, dst, total, report, failedBlobs, log);
      else {
        let done = 0;
        for (let after: unknown[] | null = null; ; ) {
          const { rows, last } = await src.meta.rowsAfter(table, after, BATCH);
          if (rows.length === 0) break;
          const kept = rows.filter((row) => !skipped(table, row));
          left += rows.length - kept.length;
          await dst.meta.insertRows(table, kept);
          done += kept.length;
          after = last;
        }
        log(`${table}: ${done} rows`);
      }
      report.rows[table] = await dst.meta.countRows(table);
      if (report.rows[table] !== total - left) report.failures.push(`${table}: ${total - left} rows to copy, ${report.rows[table]} in the target`);
    }
    await dst.meta.resetIdSequences();
  } finally {
    await Promise.all([src.meta.close(), dst.meta.close()]);
    src.blobs.close();
    dst.blobs.close();
  }
  return report;
}

/** Copies the blobs not copied before; how many were left out (their bytes did not verify). */
async function copyBlobs(
  src: { meta: MetaStore; blobs: BlobStore },
  dst: { meta: MetaStore; blobs: BlobStore },
  total: number,
  report: MigrateReport,
  failed: Set<string>,
  log: (line: string) => void,
): Promise<number> {
  let seen = 0;
  let lastTenth = -1;
  for (let after: unknown[] | null = null; ; ) {
    const { rows, last } = await src.meta.rowsAfter('blobs', after, BATCH);
    if (rows.length === 0) break;
    // The target's rows of the same range: those blobs a stopped run copied already.
    const there = new Set((await dst.meta.rowsAfter('blobs', after, BATCH)).rows.map((r) => String(r.id)));
    after = last;
    for (const row of rows) {
      seen++;
      if (there.has(String(row.id))) {
        report.blobsAlreadyThere++;
        continue;
      }
      const copied = await copyBlob(src.blobs, dst.blobs, String(row.storage_key), String(row.sha256), Number(row.size));
      if (typeof copied === 'string') {
        report.failures.push(`blob ${String(row.id)} (${String(row.storage_key)}): ${copied}`);
        failed.add(String(row.id));
        continue;
      }
      await dst.meta.insertRows('blobs', [{ ...row, storage_key: copied.key }]);
      report.blobsCopied++;
      report.bytesCopied += copied.size;
      const tenth = Math.floor((seen / Math.max(1, total)) * 10);
      if (tenth > lastTenth) {
        lastTenth = tenth;
        log(`blobs: ${seen} of ${total} (${report.bytesCopied} bytes copied)`);
      }
    }
  }
  log(`blobs: ${report.blobsCopied} copied, ${report.blobsAlreadyThere} there already${failed.size > 0 ? `, ${failed.size} did not verify` : ''}`);
  return failed.size;
}

/** The blob under a new key of the target, or why not (then nothing of it is kept). */
async function copyBlob(from: BlobStore, to: BlobStore, key: string, sha256: string, size: number): Promise<{ key: string; size: number } | string> {
  const source = await from.read(key);
  if (!source) return 'its bytes are missing from the source';
  const hash = createHash('sha256');
  const hashing = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      done(null, chunk);
    },
  });
  source.on('error', (err) => hashing.destroy(err));
  const stored = await to.write(source.pipe(hashing)).catch((err: unknown) => (err instanceof Error ? err.message : String(err)));
  if (typeof stored === 'string') return `it could not be written: ${stored}`;
  const got = hash.digest('hex');
  if (got === sha256 && stored.size === size) return stored;
  await to.delete(stored.key);
  return `${stored.size} bytes of sha256 ${got.slice(0, 12)}…, not ${size} of ${sha256.slice(0, 12)}…`;
}
