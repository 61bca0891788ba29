// Opens the stores a configuration names, starts the HTTP app and the collector timer, and shuts down gracefully.
import { mkdir } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type { Config } from './config.js';
import { clusterLocker } from './cluster/locks.js';
import type { PrimaryLink } from './cluster/link.js';
import { clusterRateStore } from './cluster/rate-budget.js';
import type { Locker } from './store/meta/query-context.js';
import { Affix } from './core/affix.js';
import { buildApp } from './http/app.js';
import { Metrics, metricsRoute } from './http/metrics.js';
import type { BlobStore } from './store/blob/blob-store.js';
import type { MetaStore } from './store/meta/meta-store.js';
import { reportingFailures } from './util/reporting-failures.js';
import { InFlight } from './util/in-flight.js';
import { Thumbnailer } from './media/thumbnailer.js';
import { LocalBlobStore } from './store/blob/local-blob-store.js';
import { openSqliteMetaStore } from './store/meta/sqlite.js';

type CoreConfig = Pick<
  Config,
  'dataDir' | 'packFilesUpTo' | 'maxFileSize' | 'temporaryTtlMs' | 'resumableTtlMs' | 'sessionTtlMs' | 'authCacheMs' | 'thumbnailMaxPixels' | 'thumbnailTimeoutMs' | 'thumbnailMemoryBytes' | 'databaseUrl' | 'databaseSchema' | 's3'
>;

/**
 * Opens the stores a configuration names, migrated and ready: PostgreSQL or SQLite for metadata, S3 or
 * the local disk for blobs. The data directory always exists: it holds SQLite, local blobs, scratch files.
 */
export async function openStores(
  config: Pick<Config, 'dataDir' | 'packFilesUpTo' | 'databaseUrl' | 'databaseSchema' | 's3'>,
  /** Locks for SQLite shared with other processes (a cluster's workers); PostgreSQL's are every node's already. */
  sqliteLocker?: Locker,
): Promise<{ meta: MetaStore; blobs: BlobStore }> {
  await mkdir(config.dataDir, { recursive: true });
  // The scale-out clients (pg, the AWS SDK) load only when configured: the embedded default starts lean.
  const meta = config.databaseUrl
    ? (await import('./store/meta/postgres.js')).openPostgresMetaStore({ url: config.databaseUrl, schema: config.databaseSchema })
    : openSqliteMetaStore(join(config.dataDir, 'affix.sqlite'), sqliteLocker);
  await meta.migrate();
  const blobs = config.s3 ? new (await import('./store/blob/s3-blob-store.js')).S3BlobStore(config.s3) : new LocalBlobStore(config.dataDir, { packUpTo: config.packFilesUpTo });
  if (blobs instanceof LocalBlobStore) await blobs.init();
  return { meta, blobs };
}

/** How a process shares the machine with others serving the same port (`--workers`). */
export interface Sharing {
  /** Locks every worker sees, for SQLite. */
  sqliteLocker?: Locker;
  /** This process's share of the machine's thumbnail slots and memory (1 / workers). */
  thumbnailShare: number;
}

/** The core over the stores a configuration names (see `openStores`); with `metrics`, counted. */
export async function openCore(config: CoreConfig, metrics: Metrics | null = null, sharing: Sharing = { thumbnailShare: 1 }): Promise<Affix> {
  const { meta: opened, blobs: openedBlobs } = await openStores(config, sharing.sqliteLocker);
  // With metrics, every store failure is counted on its way to the caller.
  const meta = metrics ? reportingFailures(opened, (method, err) => metrics.storeFailed('meta', method, err)) : opened;
  const blobs = metrics ? reportingFailures<BlobStore>(openedBlobs, (method, err) => metrics.storeFailed('blob', method, err)) : openedBlobs;
  const scratchDir = join(config.dataDir, 'scratch');
  await mkdir(scratchDir, { recursive: true });
  // Sized for the machine: each of N workers gets its share of the cores and of the memory budget.
  const thumbnailer = new Thumbnailer({
    maxPixels: config.thumbnailMaxPixels,
    timeoutSeconds: Math.max(1, Math.ceil(config.thumbnailTimeoutMs / 1000)),
    memoryBytes: Math.floor(config.thumbnailMemoryBytes * sharing.thumbnailShare),
    concurrency: Math.max(1, Math.round(availableParallelism() * sharing.thumbnailShare)),
  });
  return new Affix(
    meta,
    blobs,
    thumbnailer,
    { maxFileSize: config.maxFileSize, temporaryTtlMs: config.temporaryTtlMs, resumableTtlMs: config.resumableTtlMs, sessionTtlMs: config.sessionTtlMs, scratchDir, authCacheMs: config.authCacheMs },
    Date.now,
    metrics ?? undefined,
  );
}

/** Connects before serving, so a wrong URL stops the start instead of every request. */
async function connectRedis(url: string): Promise<Redis> {
  const { Redis } = await import('ioredis');
  // Fail fast while disconnected rather than queue requests behind a reconnect.
  const redis = new Redis(url, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 1 });
  await redis.connect();
  return redis;
}

export interface RunningServer {
  app: FastifyInstance;
  core: Affix;
  url: string;
  /** Where `/metrics` is when `--metrics-port` moved it off the public port; else null. */
  metricsUrl: string | null;
  /**
   * Stops taking requests, lets those running finish within the shutdown grace (then cuts their
   * connections and waits for their handlers to clean up), and only then closes the stores.
   */
  close(): Promise<void>;
}

/** A cluster worker's place: its channel to the primary and its slot (slot 0 runs the collector's timer). */
export interface WorkerPlace {
  link: PrimaryLink;
  slot: number;
  workers: number;
}

/**
 * Starts serving; the collector runs on a timer when `gcIntervalMs` is above zero (in a cluster, on the
 * worker of slot 0 only, and under the collector's lock everywhere).
 */
export async function startServer(config: Config, worker: WorkerPlace | null = null): Promise<RunningServer> {
  const metrics = new Metrics(worker ? () => worker.link.call('metrics', {}) : null);
  const core = await openCore(config, metrics, {
    thumbnailShare: worker ? 1 / worker.workers : 1,
    ...(worker && !config.databaseUrl ? { sqliteLocker: clusterLocker(worker.link) } : {}),
  });
  const redis = config.redisUrl ? await connectRedis(config.redisUrl) : null;
  const inFlight = new InFlight();
  const app = await buildApp({
    inFlight,
    metrics,
    metricsRoute: config.metricsPort === null ? { token: config.metricsToken } : null,
    timeouts: { headersMs: config.headerTimeoutMs, idleMs: config.idleTimeoutMs, totalMs: config.requestTimeoutMs },
    core,
    publicUrl: config.publicUrl,
    corsOrigins: config.corsOrigins,
    logLevel: config.logLevel,
    accelRedirect: config.accelRedirect,
    rateLimitPerMinute: config.rateLimitPerMinute,
    rateLimitRedis: redis,
    rateLimitStore: worker && !redis ? clusterRateStore(worker.link) : null,
  });
  if (config.rateLimitPerMinute > 0 && !redis && config.databaseUrl) {
    app.log.warn('rate limits are counted per node: give every node the same --redis-url to share them');
  }
  const url = await app.listen({ host: config.host, port: config.port });
  // `--metrics-port`: /metrics alone on a port of its own (and not on the public one); a cluster's primary serves it.
  const metricsApp = config.metricsPort === null || worker ? null : Fastify({ logger: false });
  let metricsUrl: string | null = null;
  if (metricsApp) {
    metricsRoute(metricsApp, metrics, config.metricsToken);
    metricsUrl = await metricsApp.listen({ host: config.host, port: config.metricsPort! });
    app.log.info(`metrics at ${metricsUrl}/metrics`);
  }
  let collecting: Promise<unknown> = Promise.resolve();
  const timer =
    config.gcIntervalMs > 0 && (worker?.slot ?? 0) === 0
      ? setInterval(() => {
          collecting = core.collector
            .collectAlone()
            .then((report) => (report ? (metrics.collected(report), app.log.info({ report }, 'collector ran')) : app.log.info('collector: another run is under way')))
            .catch((err) => (metrics.collected(null), app.log.error({ err }, 'collector failed')));
        }, config.gcIntervalMs).unref()
      : undefined;
  return {
    app,
    core,
    url,
    metricsUrl,
    async close() {
      clearInterval(timer);
      const closed = app.close();
      const finished = Promise.all([closed, inFlight.drained()]);
      let graceTimer: NodeJS.Timeout | undefined;
      const graceOver = new Promise<'late'>((resolve) => (graceTimer = setTimeout(() => resolve('late'), config.shutdownGraceMs)));
      if ((await Promise.race([finished, graceOver])) === 'late') {
        app.log.warn({ running: inFlight.size }, 'shutdown grace is over: cutting the requests still running');
        app.server.closeAllConnections();
      }
      clearTimeout(graceTimer);
      await finished;
      await collecting;
      await metricsApp?.close();
      await core.close();
      await redis?.quit();
    },
  };
}
