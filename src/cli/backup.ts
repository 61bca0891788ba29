// `affix backup` and `affix restore` for the embedded default: a consistent snapshot taken while the server serves, every blob it names copied and checked.
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { copyFile, cp, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import type { Config } from '../config.js';
import { LocalBlobStore } from '../store/blob/local-blob-store.js';
import { openSqliteMetaStore } from '../store/meta/sqlite.js';

const DATABASE = 'affix.sqlite';
const MANIFEST = 'affix-backup.json';
const BATCH = 500;

export interface BackupReport {
  blobs: number;
  bytes: number;
  thumbnails: number;
  /** Attachments deleted while the backup ran, left out of it (their bytes were gone before they were copied). */
  deletedMeanwhile: number[];
  /** Blobs whose bytes were missing or wrong in the live store itself: the backup failed (run `affix fsck`). */
  damaged: string[];
}

/** Refuses a target that holds anything: a backup or a restore never writes over files. */
async function requireEmpty(dir: string, what: string): Promise<void> {
  const entries = await readdir(dir).catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? [] : Promise.reject(err)));
  if (entries.length > 0) throw new Error(`${what} ${dir} is not empty: give an absent or empty directory`);
  await mkdir(dir, { recursive: true, mode: 0o700 });
}

function embeddedOnly(config: Pick<Config, 'databaseUrl' | 's3'>): void {
  if (config.databaseUrl || config.s3) {
    throw new Error('backup and restore are for the embedded default (SQLite + local disk); back PostgreSQL up with pg_dump and the bucket with its own versioning or replication');
  }
}

/**
 * 1. SQLite's online backup API copies the database as it is at one moment, while the server goes on.
 * 2. The pack files are copied whole, and every blob file the copy names; copies are reflinks where the
 *    filesystem has them. 3. Every blob and thumbnail the copy names is read back from the backup and
 *    checked (sha256, size). A blob deleted after the snapshot (its attachment deleted meanwhile) is
 *    gone from the live store too: its attachments are left out of the backup, which is then the
 *    snapshot less those deletions. A blob missing or wrong while the live database still names it is
 *    damage in the live store: the backup fails. Unfinished tus uploads are left out (their bytes are
 *    not copied); sessions stay.
 */
export async function backup(
  config: Pick<Config, 'dataDir' | 'databaseUrl' | 's3'>,
  to: string,
  options: { onProgress?: (done: number, total: number) => void; afterSnapshot?: () => Promise<void> } = {},
): Promise<BackupReport> {
  embeddedOnly(config);
  await requireEmpty(to, 'backup target');
  const live = new Database(join(config.dataDir, DATABASE), { readonly: true, fileMustExist: true });
  try {
    await live.backup(join(to, DATABASE));
  } finally {
    live.close();
  }
  await options.afterSnapshot?.();
  const source = new LocalBlobStore(config.dataDir);
  for (const name of await readdir(source.packsDir).catch(() => [] as string[])) {
    await mkdir(join(to, 'packs'), { recursive: true });
    await copyFile(join(source.packsDir, name), join(to, 'packs', name), constants.COPYFILE_FICLONE);
  }
  const snapshot = openSqliteMetaStore(join(to, DATABASE));
  const copy = new LocalBlobStore(to);
  await copy.init();
  const liveMeta = openSqliteMetaStore(join(config.dataDir, DATABASE));
  const report: BackupReport = { blobs: 0, bytes: 0, thumbnails: 0, deletedMeanwhile: [], damaged: [] };
  try {
    const total = await snapshot.countBlobs();
    for (let after = 0; ; ) {
      const batch = await snapshot.blobsAfter(after, BATCH);
      if (batch.length === 0) break;
      for (const blob of batch) {
        after = blob.id;
        const relative = source.relativePath(blob.storageKey);
        if (relative) {
          await mkdir(dirname(join(to, 'blobs', relative)), { recursive: true });
          await copyFile(join(config.dataDir, 'blobs', relative), join(to, 'blobs', relative), constants.COPYFILE_FICLONE).catch(() => undefined);
        }
        if ((await sha256Of(copy, blob.storageKey)) === blob.sha256) {
          report.blobs++;
          report.bytes += blob.size;
        } else if ((await liveMeta.knownBlobKeys([blob.storageKey])).has(blob.storageKey)) {
          report.damaged.push(blob.storageKey);
        } else {
          for (const attachment of await snapshot.attachmentsOfBlob(blob.id, 1_000_000)) {
            await snapshot.deleteAttachment(attachment.orgId, attachment.id);
            report.deletedMeanwhile.push(attachment.id);
          }
        }
        options.onProgress?.(report.blobs + report.damaged.length, total);
      }
    }
    for (let after = ''; ; ) {
      const batch = await snapshot.thumbnailsAfter(after, BATCH);
      if (batch.length === 0) break;
      for (const thumbnail of batch) {
        after = thumbnail.storageKey;
        const relative = source.relativePath(thumbnail.storageKey);
        if (relative) {
          await mkdir(dirname(join(to, 'blobs', relative)), { recursive: true });
          await copyFile(join(config.dataDir, 'blobs', relative), join(to, 'blobs', relative), constants.COPYFILE_FICLONE).catch(() => undefined);
        }
        // A thumbnail is made again on request: one that did not copy is dropped, not a failure.
        if ((await copy.size(thumbnail.storageKey)) === thumbnail.bytes) report.thumbnails++;
        else await snapshot.deleteThumbnail(thumbnail.storageKey);
      }
    }
    for (;;) {
      const unfinished = await snapshot.expiredResumables(Number.MAX_SAFE_INTEGER, BATCH);
      if (unfinished.length === 0) break;
      for (const { orgId, id } of unfinished) await snapshot.deleteResumable(orgId, id);
    }
  } finally {
    await snapshot.close();
    await liveMeta.close();
  }
  await writeFile(join(to, MANIFEST), `${JSON.stringify({ createdAt: new Date().toISOString(), ...report }, null, 2)}\n`);
  return report;
}

/** Fills an absent or empty data directory from a backup, then checks every blob of it (sha256) before saying it is done. */
export async function restore(from: string, config: Pick<Config, 'dataDir' | 'databaseUrl' | 's3'>): Promise<{ blobs: number; damaged: number }> {
  embeddedOnly(config);
  await readdir(from).then((names) => {
    if (!names.includes(MANIFEST) || !names.includes(DATABASE)) throw new Error(`${from} is not a backup of affix (no ${MANIFEST} and ${DATABASE})`);
  });
  await requireEmpty(config.dataDir, 'data directory');
  await copyFile(join(from, DATABASE), join(config.dataDir, DATABASE), constants.COPYFILE_FICLONE);
  for (const dir of ['blobs', 'packs']) await cp(join(from, dir), join(config.dataDir, dir), { recursive: true, force: false, errorOnExist: true }).catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? undefined : Promise.reject(err)));
  const meta = openSqliteMetaStore(join(config.dataDir, DATABASE));
  const blobs = new LocalBlobStore(config.dataDir);
  await blobs.init();
  let checked = 0;
  let damaged = 0;
  try {
    for (let after = 0; ; ) {
      const batch = await meta.blobsAfter(after, BATCH);
      if (batch.length === 0) break;
      for (const blob of batch) {
        after = blob.id;
        if ((await sha256Of(blobs, blob.storageKey)) === blob.sha256) checked++;
        else damaged++;
      }
    }
  } finally {
    await meta.close();
  }
  if (damaged > 0) {
    await rm(config.dataDir, { recursive: true, force: true });
    throw new Error(`${damaged} blobs of the backup do not match their sha256: nothing restored`);
  }
  return { blobs: checked, damaged };
}

async function sha256Of(store: LocalBlobStore, key: string): Promise<string | null> {
  const stream = await store.read(key).catch(() => null);
  if (!stream) return null;
  const hash = createHash('sha256');
  for await (const chunk of stream as AsyncIterable<Buffer>) hash.update(chunk);
  return hash.digest('hex');
}
