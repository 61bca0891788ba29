// The HTTP face of Affix: a Fastify app that translates requests to core calls and core results to each dialect's JSON.
import fastifySwagger from '@fastify/swagger';
import fastifyFormbody from '@fastify/formbody';
import fastifyCookie from '@fastify/cookie';
import fastifyCors from '@fastify/cors';
import fastifyRateLimit from '@fastify/rate-limit';
import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import { AffixError } from '../core/errors.js';
import { hashSecret } from '../core/ids.js';
import type { Redis } from 'ioredis';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Affix } from '../core/affix.js';
import type { InFlight } from '../util/in-flight.js';
import { contentSender } from './content.js';
import { closeAfterGarbage, lingerOver } from './lingering-close.js';
import { metricsRoute, type Metrics } from './metrics.js';
import { parseCredential } from './credentials.js';
import { rawErrorResponse, renderProblem } from './dialect-errors.js';
import { toProblem, type Problem } from './problem.js';
import type { BodyTimeouts } from './upload.js';
import { zulipRoutes } from './zulip/routes.js';
import { sessionSecret } from './session.js';
import { trackerRoutes } from './tracker/routes.js';
import { uiRoutes } from './ui/routes.js';
import { TUS_CONTENT_TYPE } from './tus/protocol.js';

export interface ServerTimeouts extends BodyTimeouts {
  /** Time for a request's headers to arrive. */
  headersMs: number;
}

export interface AppOptions {
  core: Affix;
  publicUrl: string | null;
  logLevel: string;
  /** Prefix of an nginx internal location serving the blobs; null: Affix streams the bytes itself. */
  accelRedirect?: string | null;
  /** Requests a minute per credential (per address without one); 0 or absent: no limit. */
  rateLimitPerMinute?: number;
  /** An ioredis client holding the rate-limit counters for every node; absent: this process's memory. */
  rateLimitRedis?: Redis | null;
  /** A store for @fastify/rate-limit shared by the workers of this machine (without Redis); absent: this process's memory. */
  rateLimitStore?: (new () => unknown) | null;
  /** Browser origins allowed to call the API cross-site (CORS); empty or absent: no CORS headers at all. */
  corsOrigins?: string[];
  /** JSON bodies (issues, comments) larger than this are refused with 413. */
  jsonBodyLimit?: number;
  timeouts: ServerTimeouts;
  /** Every route handler running is counted here, so shutdown can wait for them. */
  inFlight: InFlight;
  /** Counts requests, bytes and uploads; absent: no metrics at all. */
  metrics?: Metrics | null;
  /** `/metrics` on this app (else it is served elsewhere, or not at all), behind this bearer token when set. */
  metricsRoute?: { token: string | null } | null;
}

/**
 * Path parameters up to this long: a 255-byte file name percent-encodes to at most 765 characters
 * (Fastify's default, 100, broke the content URLs of longer names).
 */
const MAX_PARAM_LENGTH = 1024;
/** What a browser on an allowed origin may send: the dialects' auth and org headers, and tus's. */
const CORS_REQUEST_HEADERS = [
  'Authorization', 'Content-Type', 'X-Org-ID', 'X-Cloud-Org-ID', 'If-None-Match', 'If-Modified-Since', 'Range',
  'Tus-Resumable', 'Upload-Length', 'Upload-Offset', 'Upload-Metadata', 'Upload-Checksum', 'Upload-Concat', 'Upload-Defer-Length',
];
/** What its scripts may read of our answers: tus's headers, Tracker's pagination, downloads' validators. */
const CORS_EXPOSED_HEADERS = [
  'Location', 'Upload-Offset', 'Upload-Length', 'Upload-Metadata', 'Upload-Expires', 'Upload-Concat', 'Upload-Defer-Length',
  'Tus-Resumable', 'Tus-Version', 'Tus-Extension', 'Tus-Max-Size', 'Tus-Checksum-Algorithm',
  'X-Total-Count', 'X-Total-Pages', 'Link', 'ETag', 'Content-Disposition', 'Content-Range',
];
/** An upload's unread rest up to this size is drained after an error answer rather than cut (see the error handler). */
const DRAIN_UNREAD_UP_TO = 1 << 20;
/** A request id taken from the caller: at most 128 of these characters. */
const REQUEST_ID = /^[A-Za-z0-9._-]{1,128}$/;
/** How long each store has to answer `/readyz`. */
const READY_TIMEOUT_MS = 2000;
/** How often Node looks for requests over their header or whole-request time (its default: 30 s). */
const TIMEOUT_CHECK_MS = 1000;

export async function buildApp({
  core,
  publicUrl,
  logLevel,
  accelRedirect = null,
  rateLimitPerMinute = 0,
  rateLimitRedis = null,
  rateLimitStore = null,
  corsOrigins = [],
  jsonBodyLimit = 1 << 20,
  timeouts,
  inFlight,
  metrics = null,
  metricsRoute: metricsOnThisApp = null,
}: AppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    // Readable lines for a person at a terminal; JSON, one object a line, for everything else.
    logger: { level: logLevel, ...(process.stdout.isTTY ? { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } } } : {}) },
    // The caller's X-Request-Id when it is a sane one, else ours: on every log line of the request, and in its answer.
    requestIdHeader: false,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    bodyLimit: jsonBodyLimit,
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: MAX_PARAM_LENGTH },
    // `/v3/...` answers like `/v2/...` (the Go client and newer docs use v3).
    rewriteUrl: (req) => (req.url ?? '/').replace(/^\/v3(?=\/|$)/, '/v2'),
    http: {
      headersTimeout: timeouts.headersMs,
      // A backstop behind the upload reader's own deadline, which answers first in the dialect's body.
      requestTimeout: timeouts.totalMs > 0 ? timeouts.totalMs + 5_000 : 0,
      connectionsCheckingInterval: TIMEOUT_CHECK_MS,
    },
    // A socket silent this long is closed: bodies Fastify reads itself (JSON, forms) and idle keep-alives.
    connectionTimeout: timeouts.idleMs + 5_000,
    frameworkErrors: (err, request, reply) => sendProblem(request, reply, toProblem(err)),
    clientErrorHandler: (err, socket: Socket) => {
      if (err.code === 'ECONNRESET' || socket.destroyed) return;
      // Node hands over the bytes it could not parse as a Buffer (typed as its JSON form).
      const raw = (err as { rawPacket?: unknown }).rawPacket;
      closeAfterGarbage(socket, () => rawErrorResponse(Buffer.isBuffer(raw) ? raw : undefined, clientProblem(err)));
    },
  });

  const baseUrl = (request: FastifyRequest): string => publicUrl ?? `${request.protocol}://${request.host}`;

  // Shutdown waits for handlers still running, also those whose client has already gone.
  app.addHook('onRoute', (route) => {
    const handler = route.handler;
    route.handler = function (request, reply) {
      const result: unknown = handler.call(this, request, reply);
      return result instanceof Promise ? inFlight.track(result) : result;
    };
  });

  // No response of ours is to be content-sniffed by a browser: JSON, errors and files alike.
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-content-type-options', 'nosniff');
    reply.header('x-request-id', request.id);
    done();
  });
  metrics?.install(app);

  // Real clients send `Content-Type: application/json` on every request, bodiless DELETEs included.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    const text = (body as string).trim();
    if (text === '') return done(null, undefined);
    try {
      done(null, JSON.parse(text, (key, value) => (key === '__proto__' || key === 'constructor' ? undefined : value)));
    } catch {
      done(Object.assign(new Error('Request body is not valid JSON'), { statusCode: 400 }), undefined);
    }
  });
  // Multipart bodies and tus chunks are left unread here: the routes that take them stream them (./multipart.ts, ./tus/).
  app.addContentTypeParser('multipart/form-data', (_request, _payload, done) => done(null, undefined));
  app.addContentTypeParser(TUS_CONTENT_TYPE, (_request, _payload, done) => done(null, undefined));

  // Each dialect answers errors in its own body; the path says which dialect a request speaks.
  function sendProblem(request: FastifyRequest, reply: FastifyReply, problem: Problem) {
    const { status, body } = renderProblem(request.url, problem);
    return reply.code(status).send(body);
  }
  app.setErrorHandler((err, request, reply) => {
    const problem = toProblem(err);
    const clientGone = !request.raw.complete && request.raw.destroyed;
    if (clientGone) request.log.info({ reason: problem.message }, 'client went away before the request was read');
    else if (problem.status >= 500) request.log.error({ err }, 'request failed');
    metrics?.uploadFailed(request, clientGone ? 'client_gone' : problem.code);
    if (!request.raw.complete && !clientGone) {
      // Closing a socket with unread bytes sends a reset, which can reach the client before the answer
      // does: the client then sees a broken connection, not the refusal (seen with 1-byte uploads to an
      // unknown issue, and 1 run in 16 with a 1.5 MiB form refused by its declared length).
      if ((err as { code?: string }).code === 'FST_ERR_CTP_BODY_TOO_LARGE' && request.raw.readableFlowing === null) {
        // A JSON or form body refused by its declared length, unread: read and drop the rest while the
        // answer goes out (Fastify's body parser asks to close at once, which would send that reset).
        reply.removeHeader('connection');
        lingerOver(request.raw);
      } else {
        // A route was streaming it (an upload): a small rest is drained, a larger one not worth receiving.
        const declared = Number(request.headers['content-length']);
        if (Number.isSafeInteger(declared) && declared <= DRAIN_UNREAD_UP_TO) request.raw.resume();
        else reply.header('connection', 'close');
      }
    }
    return sendProblem(request, reply, problem);
  });
  app.setNotFoundHandler((request, reply) =>
    sendProblem(request, reply, { status: 404, code: 'not_found', message: `No route for ${request.method} ${request.url.slice(0, 200)}`, details: {} }),
  );

  // The web UI's session cookie (./session.ts), parsed before the rate limit keys on it; the API's clients send an Authorization header instead.
  await app.register(fastifyCookie);
  await app.register(fastifySwagger, {
    openapi: {
      info: { title: 'Affix', version: '0.1.0', description: 'File attachments with Yandex Tracker and Zulip compatible APIs' },
      components: { securitySchemes: { oauth: { type: 'apiKey', in: 'header', name: 'Authorization', description: 'OAuth <token>' } } },
      security: [{ oauth: [] }],
    },
  });
  if (rateLimitPerMinute > 0) {
    await app.register(fastifyRateLimit, {
      max: rateLimitPerMinute,
      timeWindow: 60_000,
      ...(rateLimitRedis ? { redis: rateLimitRedis, nameSpace: 'affix-rate-limit:' } : rateLimitStore ? { store: rateLimitStore as never } : {}),
      // Redis unreachable: serve rather than refuse everybody (the error is logged).
      skipOnError: true,
      keyGenerator: rateLimitKey,
      allowList: (request) => request.url === '/healthz',
      errorResponseBuilder: (_request, context) =>
        new AffixError('rate_limited', `Too many requests: at most ${context.max} a minute; retry in ${context.after}`),
    });
  }
  if (corsOrigins.length > 0) {
    // Preflights are answered in the plugin's onRequest hook, before any dialect asks for credentials.
    // An origin not listed gets no CORS header at all (the plugin would still expose headers to it).
    const allowed = new Set(corsOrigins);
    const options = { origin: true, methods: ['GET', 'HEAD', 'POST', 'PATCH', 'DELETE', 'OPTIONS'], allowedHeaders: CORS_REQUEST_HEADERS, exposedHeaders: CORS_EXPOSED_HEADERS, maxAge: 600 };
    await app.register(fastifyCors, () => (request: FastifyRequest, callback: (error: Error | null, options: object) => void) =>
      callback(null, allowed.has(request.headers.origin ?? '') ? options : { origin: false }),
    );
  }
  // The Python Zulip client and curl send urlencoded forms.
  await app.register(fastifyFormbody);

  app.get('/healthz', { schema: { hide: true } }, async () => ({ status: 'ok' }));
  // Ready: both stores answer a real round trip in time; 503 (and which failed) otherwise.
  app.get('/readyz', { schema: { hide: true } }, async (_request, reply) => {
    const checks = await core.readiness(READY_TIMEOUT_MS);
    const ready = Object.values(checks).every((c) => c === 'ok');
    return reply.code(ready ? 200 : 503).header('cache-control', 'no-store').send({ status: ready ? 'ready' : 'unready', ...checks });
  });
  if (metrics && metricsOnThisApp) metricsRoute(app, metrics, metricsOnThisApp.token);
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  const send = contentSender(core, accelRedirect);
  const origins = (request: FastifyRequest) =>
    [...new Set([publicUrl, `${request.protocol}://${request.host}`].filter((o): o is string => o !== null).map((o) => new URL(o).origin.toLowerCase()))];
  await app.register(trackerRoutes, { core, baseUrl, send, timeouts, origins });
  await app.register(zulipRoutes, { core, baseUrl, timeouts, origins, send });
  await app.register(uiRoutes, { core, baseUrl, origins });
  return app;
}

/**
 * One budget per credential, however its header is spelled (`OAuth`/`Bearer`, any case or spacing,
 * any base64 of the same Basic pair), or per web UI session: the secret's hash, so no secret is kept
 * as a key. Without either, one per address.
 */
function rateLimitKey(request: FastifyRequest): string {
  const credential = parseCredential(request.headers.authorization);
  if (credential?.kind === 'token') return `token:${hashSecret(credential.token)}`;
  if (credential?.kind === 'basic' && credential.apiKey) return `apikey:${hashSecret(credential.apiKey)}`;
  const session = sessionSecret(request);
  if (session) return `session:${hashSecret(session)}`;
  return `ip:${request.ip}`;
}

/** What Node's HTTP parser refused, as a problem: headers too large (431), too slow (408), or malformed (400). */
function clientProblem(err: Error & { code?: string }): Problem {
  if (err.code === 'HPE_HEADER_OVERFLOW') return { status: 431, code: 'bad_request', message: 'The request headers (or URL) are too large', details: {} };
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') return { status: 408, code: 'timeout', message: 'Request timed out', details: {} };
  return { status: 400, code: 'bad_request', message: `Malformed HTTP request (${err.code ?? 'parse error'})`, details: {} };
}
