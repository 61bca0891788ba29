// The server's configuration: every option with its flag, environment variable and default.
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import type { S3Config } from './store/blob/s3-blob-store.js';
import { parseArgs } from 'node:util';
import { MAX_PACKED } from './store/blob/blob-packs.js';

export interface Config {
  host: string;
  port: number;
  dataDir: string;
  /** Base of every absolute URL in responses; null: taken from each request's scheme and host. */
  publicUrl: string | null;
  /** Browser origins (`scheme://host[:port]`) allowed to call the API from other sites; empty: no CORS. */
  corsOrigins: string[];
  maxFileSize: number;
  temporaryTtlMs: number;
  /** How long an unfinished resumable (tus) upload lives before the collector removes it. */
  resumableTtlMs: number;
  /** How long a web UI session lives after sign-in. */
  sessionTtlMs: number;
  /** How often the server runs the collector; 0 turns the timer off (`affix gc` still works). */
  gcIntervalMs: number;
  /** Images with more pixels than this get no thumbnail (422) and are never decoded. */
  thumbnailMaxPixels: number;
  thumbnailTimeoutMs: number;
  /** Bytes the decoded pixels of all thumbnails being made at once may take (4 bytes a pixel). */
  thumbnailMemoryBytes: number;
  /** Local blobs of at most this many bytes share pack files; 0: every blob is a file of its own. */
  packFilesUpTo: number;
  /** nginx `internal` location that maps to `<data-dir>/blobs/`; downloads answer with X-Accel-Redirect. */
  accelRedirect: string | null;
  /** Requests a minute one token (or one address, without a token) may make; 0: no limit. */
  rateLimitPerMinute: number;
  logLevel: string;
  /** How long a node may reuse, for reads, a token or API key it has just looked up; 0: never. */
  authCacheMs: number;
  /** PostgreSQL for metadata (`postgres://…`); null: SQLite in the data directory. */
  databaseUrl: string | null;
  /** PostgreSQL schema holding Affix's tables; null: the connection's default (`public`). */
  databaseSchema: string | null;
  /** S3-compatible object storage for blobs; null: files in the data directory. */
  s3: S3Config | null;
  /** Redis shared by every node for rate-limit counters; null: counters in each node's memory. */
  redisUrl: string | null;
  /** `/metrics` answers only with `Authorization: Bearer <token>`; null: open. */
  metricsToken: string | null;
  /** `/metrics` on this port of its own (off the public one); null: on the public port. */
  metricsPort: number | null;
  /** Time for a request's headers to arrive. */
  headerTimeoutMs: number;
  /** Silence allowed while a request body arrives (not a limit on the whole body). */
  idleTimeoutMs: number;
  /** Time for a whole request body to arrive; 0: no limit. */
  requestTimeoutMs: number;
  /** On SIGTERM or SIGINT, how long requests still running may take before they are cut. */
  shutdownGraceMs: number;
  /** Processes serving the port (node:cluster); 1: this process alone. */
  workers: number;
}

/** More processes than cores only adds switching; this bounds what a typo can fork (and the default on a larger machine). */
const MAX_WORKERS = 64;

/** Each option: its flag, its environment variable, its default, and how to read it. */
const OPTIONS = {
  host: { env: 'AFFIX_HOST', default: '127.0.0.1', parse: (v: string) => v },
  port: { env: 'AFFIX_PORT', default: '8080', parse: parsePort },
  'data-dir': { env: 'AFFIX_DATA_DIR', default: './data', parse: (v: string) => resolve(v) },
  'public-url': { env: 'AFFIX_PUBLIC_URL', default: '', parse: parsePublicUrl },
  'cors-origins': { env: 'AFFIX_CORS_ORIGINS', default: '', parse: parseOrigins },
  'max-file-size': { env: 'AFFIX_MAX_FILE_SIZE', default: '1024MiB', parse: parseSize },
  'temporary-ttl': { env: 'AFFIX_TEMPORARY_TTL', default: '24h', parse: parseDuration },
  'resumable-ttl': { env: 'AFFIX_RESUMABLE_TTL', default: '24h', parse: parseDuration },
  'session-ttl': { env: 'AFFIX_SESSION_TTL', default: '7d', parse: parseDuration },
  'gc-interval': { env: 'AFFIX_GC_INTERVAL', default: '10m', parse: parseDuration },
  'thumbnail-max-pixels': { env: 'AFFIX_THUMBNAIL_MAX_PIXELS', default: '50000000', parse: parsePositiveInteger },
  'thumbnail-timeout': { env: 'AFFIX_THUMBNAIL_TIMEOUT', default: '10s', parse: parseDuration },
  'thumbnail-memory': { env: 'AFFIX_THUMBNAIL_MEMORY', default: '256MiB', parse: parseSize },
  'pack-files-up-to': { env: 'AFFIX_PACK_FILES_UP_TO', default: '64KiB', parse: parsePackLimit },
  'accel-redirect': { env: 'AFFIX_ACCEL_REDIRECT', default: '', parse: parseAccelPrefix },
  'rate-limit': { env: 'AFFIX_RATE_LIMIT', default: '6000', parse: parseCount },
  'log-level': { env: 'AFFIX_LOG_LEVEL', default: 'info', parse: (v: string) => v },
  'auth-cache': { env: 'AFFIX_AUTH_CACHE', default: '2s', parse: parseDuration },
  'database-url': { env: 'AFFIX_DATABASE_URL', default: '', parse: parseDatabaseUrl },
  'database-schema': { env: 'AFFIX_DATABASE_SCHEMA', default: '', parse: parseSchemaName },
  'redis-url': { env: 'AFFIX_REDIS_URL', default: '', parse: parseRedisUrl },
  'metrics-token': { env: 'AFFIX_METRICS_TOKEN', default: '', parse: (value: string) => value || null },
  'metrics-port': { env: 'AFFIX_METRICS_PORT', default: '', parse: (value: string) => (value === '' ? null : parsePort(value)) },
  's3-endpoint': { env: 'AFFIX_S3_ENDPOINT', default: '', parse: (v: string) => (v ? parseHttpUrl(v) : null) },
  's3-bucket': { env: 'AFFIX_S3_BUCKET', default: '', parse: (v: string) => v || null },
  's3-region': { env: 'AFFIX_S3_REGION', default: 'us-east-1', parse: (v: string) => v },
  's3-access-key': { env: 'AFFIX_S3_ACCESS_KEY', default: '', parse: (v: string) => v || null },
  's3-secret-key': { env: 'AFFIX_S3_SECRET_KEY', default: '', parse: (v: string) => v || null },
  's3-force-path-style': { env: 'AFFIX_S3_FORCE_PATH_STYLE', default: 'false', parse: parseBoolean },
  's3-presign-downloads': { env: 'AFFIX_S3_PRESIGN_DOWNLOADS', default: 'false', parse: parseBoolean },
  'header-timeout': { env: 'AFFIX_HEADER_TIMEOUT', default: '20s', parse: parsePositiveDuration },
  'idle-timeout': { env: 'AFFIX_IDLE_TIMEOUT', default: '60s', parse: parsePositiveDuration },
  'request-timeout': { env: 'AFFIX_REQUEST_TIMEOUT', default: '1h', parse: parseDuration },
  'shutdown-grace': { env: 'AFFIX_SHUTDOWN_GRACE', default: '30s', parse: parseDuration },
  workers: { env: 'AFFIX_WORKERS', default: String(Math.min(availableParallelism(), MAX_WORKERS)), parse: parseWorkers },
} as const;

type OptionName = keyof typeof OPTIONS;

export const CONFIG_FLAGS = Object.fromEntries(
  Object.keys(OPTIONS).map((name) => [name, { type: 'string' as const }]),
) as Record<OptionName, { type: 'string' }>;

/** Flags win over environment variables, which win over defaults. */
export function loadConfig(flags: Partial<Record<OptionName, string | undefined>>, env: NodeJS.ProcessEnv = process.env): Config {
  const read = <K extends OptionName>(name: K): ReturnType<(typeof OPTIONS)[K]['parse']> => {
    const option = OPTIONS[name];
    const raw = flags[name] ?? env[option.env] ?? option.default;
    try {
      return option.parse(raw) as ReturnType<(typeof OPTIONS)[K]['parse']>;
    } catch (err) {
      throw new Error(`--${name} (${option.env}): ${(err as Error).message}`);
    }
  };
  const config: Config = {
    host: read('host'),
    port: read('port'),
    dataDir: read('data-dir'),
    publicUrl: read('public-url'),
    corsOrigins: read('cors-origins'),
    maxFileSize: read('max-file-size'),
    temporaryTtlMs: read('temporary-ttl'),
    resumableTtlMs: read('resumable-ttl'),
    sessionTtlMs: read('session-ttl'),
    gcIntervalMs: read('gc-interval'),
    thumbnailMaxPixels: read('thumbnail-max-pixels'),
    thumbnailTimeoutMs: read('thumbnail-timeout'),
    thumbnailMemoryBytes: read('thumbnail-memory'),
    packFilesUpTo: read('pack-files-up-to'),
    accelRedirect: read('accel-redirect'),
    rateLimitPerMinute: read('rate-limit'),
    logLevel: read('log-level'),
    authCacheMs: read('auth-cache'),
    databaseUrl: read('database-url'),
    databaseSchema: read('database-schema'),
    s3: readS3(read),
    redisUrl: read('redis-url'),
    metricsToken: read('metrics-token'),
    metricsPort: read('metrics-port'),
    headerTimeoutMs: read('header-timeout'),
    idleTimeoutMs: read('idle-timeout'),
    requestTimeoutMs: read('request-timeout'),
    shutdownGraceMs: read('shutdown-grace'),
    workers: read('workers'),
  };
  if (config.accelRedirect && config.s3) {
    throw new Error('--accel-redirect serves blobs from the data directory, and cannot be used with S3 (see --s3-presign-downloads)');
  }
  return config;
}

/** S3 is on when a bucket or an endpoint is named; then the bucket is required. */
function readS3(read: <K extends OptionName>(name: K) => ReturnType<(typeof OPTIONS)[K]['parse']>): S3Config | null {
  const endpoint = read('s3-endpoint');
  const bucket = read('s3-bucket');
  if (!endpoint && !bucket) return null;
  if (!bucket) throw new Error('--s3-bucket (AFFIX_S3_BUCKET) is required with --s3-endpoint');
  const accessKeyId = read('s3-access-key');
  const secretAccessKey = read('s3-secret-key');
  if ((accessKeyId === null) !== (secretAccessKey === null)) {
    throw new Error('--s3-access-key and --s3-secret-key (AFFIX_S3_ACCESS_KEY, AFFIX_S3_SECRET_KEY) go together');
  }
  return {
    endpoint,
    bucket,
    region: read('s3-region'),
    credentials: accessKeyId && secretAccessKey ? { accessKeyId, secretAccessKey } : null,
    forcePathStyle: read('s3-force-path-style'),
    presignDownloads: read('s3-presign-downloads'),
  };
}

export function parseServeArgs(argv: string[]): Config {
  const { values } = parseArgs({ args: argv, options: CONFIG_FLAGS, strict: true, allowPositionals: false });
  return loadConfig(values);
}

function parsePort(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`not a port: ${value}`);
  return port;
}

function parseAccelPrefix(value: string): string | null {
  if (!value) return null;
  if (!value.startsWith('/')) throw new Error(`must be a path starting with /: ${value}`);
  return value.replace(/\/+$/, '');
}

function parseCount(value: string): number {
  const number = Number(value);
  if (!Number.isSafeInteger(number) || number < 0) throw new Error(`not a whole number: ${value}`);
  return number;
}

function parseWorkers(value: string): number {
  const number = Number(value);
  if (!Number.isSafeInteger(number) || number < 1 || number > MAX_WORKERS) throw new Error(`a number of processes from 1 to ${MAX_WORKERS}, not ${value}`);
  return number;
}

function parsePositiveInteger(value: string): number {
  const number = Number(value);
  if (!Number.isSafeInteger(number) || number <= 0) throw new Error(`not a positive integer: ${value}`);
  return number;
}

function parseBoolean(value: string): boolean {
  if (/^(1|true|yes|on)$/i.test(value)) return true;
  if (/^(0|false|no|off|)$/i.test(value)) return false;
  throw new Error(`not true or false: ${value}`);
}

function parseDatabaseUrl(value: string): string | null {
  if (!value) return null;
  const { protocol } = new URL(value);
  if (protocol !== 'postgres:' && protocol !== 'postgresql:') throw new Error('only postgres:// URLs are supported');
  return value;
}

function parseSchemaName(value: string): string | null {
  if (!value) return null;
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(value)) throw new Error(`not a schema name (lower-case letters, digits, _): ${value}`);
  return value;
}

function parseRedisUrl(value: string): string | null {
  if (!value) return null;
  const { protocol } = new URL(value);
  if (protocol !== 'redis:' && protocol !== 'rediss:') throw new Error(`not a redis:// URL: ${value}`);
  return value;
}

function parseHttpUrl(value: string): string {
  const url = new URL(value);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`not an http(s) URL: ${value}`);
  return url.toString().replace(/\/+$/, '');
}

function parsePublicUrl(value: string): string | null {
  return value ? parseHttpUrl(value) : null;
}

const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, k: 1 << 10, kb: 1 << 10, kib: 1 << 10, m: 1 << 20, mb: 1 << 20, mib: 1 << 20, g: 1 << 30, gb: 1 << 30, gib: 1 << 30 };

/** `0`, or a size a pack can hold. */
function parsePackLimit(value: string): number {
  if (/^\s*0+\s*$/.test(value)) return 0;
  const bytes = parseSize(value);
  if (bytes > MAX_PACKED) throw new Error(`at most ${MAX_PACKED} bytes (1MiB less one byte): ${value}`);
  return bytes;
}

/** Bytes, or a number with a binary unit: `1048576`, `512KiB`, `1024MiB`, `1g`. */
export function parseSize(value: string): number {
  const match = /^\s*(\d+)\s*([a-z]*)\s*$/i.exec(value);
  const unit = match ? SIZE_UNITS[match[2]!.toLowerCase()] : undefined;
  if (!match || unit === undefined || Number(match[1]) <= 0) throw new Error(`not a size: ${value}`);
  return Number(match[1]) * unit;
}

const DURATION_UNITS: Record<string, number> = { ms: 1, '': 1000, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

function parsePositiveDuration(value: string): number {
  const ms = parseDuration(value);
  if (ms <= 0) throw new Error(`must be above zero: ${value}`);
  return ms;
}

/** Seconds, or a number with a unit: `90`, `500ms`, `30s`, `10m`, `24h`, `7d`. */
export function parseDuration(value: string): number {
  const match = /^\s*(\d+)\s*(ms|s|m|h|d|)\s*$/i.exec(value);
  if (!match) throw new Error(`not a duration: ${value}`);
  return Number(match[1]) * DURATION_UNITS[match[2]!.toLowerCase()]!;
}

/** A comma list of origins, each exactly `scheme://host[:port]` (no path, no wildcard). */
function parseOrigins(value: string): string[] {
  return value
    .split(',')
    .map((v) => v.trim())
    .filter(Boolean)
    .map((origin) => {
      let parsed: URL;
      try {
        parsed = new URL(origin);
      } catch {
        throw new Error(`${origin} is not an origin (scheme://host[:port])`);
      }
      if (!/^https?:$/.test(parsed.protocol) || parsed.origin !== origin.replace(/\/$/, '')) throw new Error(`${origin} is not an origin (scheme://host[:port])`);
      return parsed.origin;
    });
}
