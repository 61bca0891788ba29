// Affix in Prometheus's terms (prom-client): requests by route template and status, bytes, uploads, thumbnails, the collector, store errors, the process.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AggregatorRegistry, collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { CollectorReport } from '../core/collector.js';
import { isAffixError } from '../core/errors.js';
import type { Observer } from '../core/observer.js';
import { TUS_CONTENT_TYPE } from './tus/protocol.js';
import { receivedOf } from './received-bytes.js';

type UploadKind = 'multipart' | 'tus';

/** The kind of upload a request carries, by its body's type; null for the rest. */
export function uploadKind(request: FastifyRequest): UploadKind | null {
  if (request.method !== 'POST' && request.method !== 'PATCH') return null;
  const type = request.headers['content-type'] ?? '';
  if (type.startsWith('multipart/form-data')) return 'multipart';
  if (type.startsWith(TUS_CONTENT_TYPE)) return 'tus';
  return null;
}

const counted = new WeakSet<FastifyRequest>();

export class Metrics implements Observer {
  readonly registry = new Registry();
  private readonly requests = new Counter({ name: 'affix_http_requests_total', help: 'Requests answered, by method, route template and status', labelNames: ['method', 'route', 'status'], registers: [this.registry] });
  private readonly durations = new Histogram({
    name: 'affix_http_request_duration_seconds',
    help: 'Time from a request’s arrival to its answer, by method, route template and status',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    registers: [this.registry],
  });
  private readonly uploaded = new Counter({ name: 'affix_upload_bytes_total', help: 'Bytes of upload bodies received, by kind (multipart, tus)', labelNames: ['kind'], registers: [this.registry] });
  private readonly downloaded = new Counter({ name: 'affix_download_bytes_total', help: 'Bytes of files and thumbnails sent (by Affix, not by nginx through X-Accel-Redirect)', registers: [this.registry] });
  private readonly uploading = new Gauge({ name: 'affix_uploads_in_flight', help: 'Upload requests being received, by kind', labelNames: ['kind'], registers: [this.registry] });
  private readonly failedUploads = new Counter({ name: 'affix_upload_failures_total', help: 'Upload requests refused or broken, by cause (the error code: too_large, quota_exceeded, cut_short, …)', labelNames: ['kind', 'cause'], registers: [this.registry] });
  private readonly thumbnailSeconds = new Histogram({ name: 'affix_thumbnail_seconds', help: 'Time to make a thumbnail (not to serve a stored one)', buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [this.registry] });
  private readonly thumbnailFailures = new Counter({ name: 'affix_thumbnail_failures_total', help: 'Thumbnails that could not be made, by reason', labelNames: ['reason'], registers: [this.registry] });
  private readonly collectorRuns = new Counter({ name: 'affix_collector_runs_total', help: 'Runs of the collector, by outcome', labelNames: ['outcome'], registers: [this.registry] });
  private readonly collectorRemoved = new Counter({ name: 'affix_collector_removed_total', help: 'What the collector removed, by what (expired files, blobs, orphans, staging files, resumable uploads, sessions)', labelNames: ['what'], registers: [this.registry] });
  private readonly collectorReclaimed = new Counter({ name: 'affix_collector_reclaimed_bytes_total', help: 'Bytes the collector gave back from pack files', registers: [this.registry] });
  private readonly storeErrors = new Counter({ name: 'affix_store_errors_total', help: 'Failures of the metadata and blob stores (not refusals such as a quota), by store and method', labelNames: ['store', 'method'], registers: [this.registry] });

  /** Route templates times methods times statuses: a bounded set, whatever the URLs. */
  private readonly series = new Map<string, { count: Counter.Internal; duration: Histogram.Internal<string> }>();

  /** `aggregate`: the text of every worker's metrics together (a cluster's primary makes it); null: this process's. */
  constructor(private readonly aggregate: (() => Promise<string>) | null = null) {
    if (aggregate) {
      // A cluster worker: prom-client answers the primary's requests for this registry's values.
      new AggregatorRegistry();
      AggregatorRegistry.setRegistries([this.registry]);
    }
    // Memory, CPU, event-loop lag (nodejs_eventloop_lag_*), handles, GC: prom-client's defaults.
    collectDefaultMetrics({ register: this.registry });
  }

  /** Counts every request of `app` (and its uploads and downloads) when it is answered. */
  install(app: FastifyInstance): void {
    // Callback hooks, not async ones: they run on every request, and a promise each is measurable there.
    app.addHook('onRequest', (request, _reply, done) => {
      const kind = uploadKind(request);
      if (kind) {
        this.uploading.inc({ kind });
        counted.add(request);
      }
      done();
    });
    app.addHook('onResponse', (request, reply, done) => {
      this.answered(request, reply);
      done();
    });
    // A client gone before its answer: still a request, and no longer an upload in flight.
    app.addHook('onRequestAbort', (request, done) => {
      this.uploadEnded(request);
      done();
    });
  }

  /** An upload refused: by its cause, the error's code. */
  uploadFailed(request: FastifyRequest, code: string): void {
    const kind = uploadKind(request);
    if (kind) this.failedUploads.inc({ kind, cause: code });
  }

  storeFailed(store: 'meta' | 'blob', method: string, err: unknown): void {
    // A refusal the store makes on the domain's behalf (quota, conflict) is not a store failing.
    if (!isAffixError(err)) this.storeErrors.inc({ store, method });
  }

  collected(report: CollectorReport | null): void {
    this.collectorRuns.inc({ outcome: report ? 'ok' : 'failed' });
    if (!report) return;
    const removed: Record<string, number> = {
      expired: report.expired,
      blobs: report.blobsDeleted,
      orphans: report.orphansRemoved,
      staging: report.stagingRemoved,
      resumable: report.resumableExpired,
      sessions: report.sessionsExpired,
    };
    for (const [what, n] of Object.entries(removed)) if (n > 0) this.collectorRemoved.inc({ what }, n);
    if (report.bytesReclaimed > 0) this.collectorReclaimed.inc(report.bytesReclaimed);
  }

  thumbnailMade(seconds: number): void {
    this.thumbnailSeconds.observe(seconds);
  }

  thumbnailFailed(reason: string): void {
    this.thumbnailFailures.inc({ reason });
  }

  async render(): Promise<{ type: string; body: string }> {
    return { type: this.registry.contentType, body: await (this.aggregate ? this.aggregate() : this.registry.metrics()) };
  }

  private answered(request: FastifyRequest, reply: FastifyReply): void {
    // The route's template (`/v2/issues/:issue/attachments`), never the URL: one series per route, whatever the ids.
    const route = request.routeOptions.url ?? 'unmatched';
    const series = this.seriesOf(request.method, route, reply.statusCode);
    series.count.inc();
    series.duration.observe(reply.elapsedTime / 1000);
    const kind = uploadKind(request);
    if (kind) this.uploaded.inc({ kind }, receivedOf(request.raw));
    // A file's bytes: the answers that carry a Content-Disposition, as every download route's do.
    const length = Number(reply.getHeader('content-length'));
    if (request.method === 'GET' && reply.getHeader('content-disposition') && !reply.getHeader('x-accel-redirect') && Number.isFinite(length)) this.downloaded.inc(length);
    this.uploadEnded(request);
  }

  /** The request counter's and histogram's children for these labels, made once: prom-client hashes the labels on every call otherwise. */
  private seriesOf(method: string, route: string, status: number): { count: Counter.Internal; duration: Histogram.Internal<string> } {
    const key = `${method} ${status} ${route}`;
    let series = this.series.get(key);
    if (!series) {
      const labels = { method, route, status: String(status) };
      series = { count: this.requests.labels(labels), duration: this.durations.labels(labels) };
      this.series.set(key, series);
    }
    return series;
  }

  private uploadEnded(request: FastifyRequest): void {
    if (!counted.delete(request)) return;
    const kind = uploadKind(request);
    if (kind) this.uploading.dec({ kind });
  }
}

/** `GET /metrics` on `app`: open, or only with `Authorization: Bearer <token>` when a token is set. */
export function metricsRoute(app: FastifyInstance, metrics: Pick<Metrics, 'render'>, token: string | null): void {
  app.get('/metrics', { schema: { hide: true } }, async (request, reply) => {
    if (token !== null && request.headers.authorization !== `Bearer ${token}`) {
      return reply.code(401).header('www-authenticate', 'Bearer realm="metrics"').type('text/plain; charset=utf-8').send('metrics need Authorization: Bearer <the --metrics-token>\n');
    }
    const { type, body } = await metrics.render();
    return reply.type(type).header('cache-control', 'no-store').send(body);
  });
}
