import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Config } from './config.js';
import { Affix } from './core/affix.js';
import { buildApp } from './http/app.js';
import { Thumbnailer } from './media/thumbnailer.js';
import { LocalBlobStore } from './store/blob/local-blob-store.js';
import { openSqliteMetaStore } from './store/meta/sqlite.js';

/** Opens the stores a configuration names (today: SQLite + local disk under the data directory). */
export async function openCore(
  config: Pick<Config, 'dataDir' | 'maxFileSize' | 'temporaryTtlMs' | 'thumbnailMaxPixels' | 'thumbnailTimeoutMs'>,
): Promise<Affix> {
  await mkdir(config.dataDir, { recursive: true });
  const meta = openSqliteMetaStore(join(config.dataDir, 'affix.sqlite'));
  await meta.migrate();
  const blobs = new LocalBlobStore(config.dataDir);
  await blobs.init();
  const thumbnailer = new Thumbnailer({ maxPixels: config.thumbnailMaxPixels, timeoutSeconds: Math.max(1, Math.ceil(config.thumbnailTimeoutMs / 1000)) });
  return new Affix(meta, blobs, thumbnailer, { maxFileSize: config.maxFileSize, temporaryTtlMs: config.temporaryTtlMs });
}

export interface RunningServer {
  app: FastifyInstance;
  core: Affix;
  url: string;
  close(): Promise<void>;
}

/** Starts serving; the collector runs on a timer when `gcIntervalMs` is above zero. */
export async function startServer(config: Config): Promise<RunningServer> {
  const core = await openCore(config);
  const app = await buildApp({
    core,
    publicUrl: config.publicUrl,
    logLevel: config.logLevel,
    accelRedirect: config.accelRedirect,
    rateLimitPerMinute: config.rateLimitPerMinute,
  });
  const url = await app.listen({ host: config.host, port: config.port });
  let collecting: Promise<unknown> = Promise.resolve();
  const timer =
    config.gcIntervalMs > 0
      ? setInterval(() => {
          collecting = core
            .collect()
            .then((report) => app.log.info({ report }, 'collector ran'))
            .catch((err) => app.log.error({ err }, 'collector failed'));
        }, config.gcIntervalMs).unref()
      : undefined;
  return {
    app,
    core,
    url,
    async close() {
      clearInterval(timer);
      await app.close();
      await collecting;
      await core.meta.close();
    },
  };
}
