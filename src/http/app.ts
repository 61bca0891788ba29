import fastifyMultipart from '@fastify/multipart';
import fastifySwagger from '@fastify/swagger';
import fastifyFormbody from '@fastify/formbody';
import fastifyRateLimit from '@fastify/rate-limit';
import { AffixError } from '../core/errors.js';
import { hashSecret } from '../core/ids.js';
import type { Redis } from 'ioredis';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Affix } from '../core/affix.js';
import { contentSender } from './content.js';
import { toProblem, type Problem } from './problem.js';
import { errorJson as trackerErrorJson } from './tracker/render.js';
import { errorReply as zulipErrorReply } from './zulip/render.js';
import { zulipRoutes } from './zulip/routes.js';
import { trackerRoutes } from './tracker/routes.js';

export interface AppOptions {
  core: Affix;
  publicUrl: string | null;
  logLevel: string;
  /** Prefix of an nginx internal location serving the blobs; null: Affix streams the bytes itself. */
  accelRedirect?: string | null;
  /** Requests a minute per token (per address without one); 0 or absent: no limit. */
  rateLimitPerMinute?: number;
  /** An ioredis client holding the rate-limit counters for every node; absent: this process's memory. */
  rateLimitRedis?: Redis | null;
  /** JSON bodies (issues, comments) larger than this are refused with 413. */
  jsonBodyLimit?: number;
}

/** The HTTP face of Affix: translates requests to core calls and core results to each dialect's JSON. */
export async function buildApp({
  core,
  publicUrl,
  logLevel,
  accelRedirect = null,
  rateLimitPerMinute = 0,
  rateLimitRedis = null,
  jsonBodyLimit = 1 << 20,
}: AppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    logger: { level: logLevel },
    bodyLimit: jsonBodyLimit,
    routerOptions: { ignoreTrailingSlash: true },
    // `/v3/...` answers like `/v2/...` (the Go client and newer docs use v3).
    rewriteUrl: (req) => (req.url ?? '/').replace(/^\/v3(?=\/|$)/, '/v2'),
  });

  const baseUrl = (request: FastifyRequest): string => publicUrl ?? `${request.protocol}://${request.host}`;

  // No response of ours is to be content-sniffed by a browser: JSON, errors and files alike.
  app.addHook('onRequest', async (_request, reply) => {
    reply.header('x-content-type-options', 'nosniff');
  });

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

  // Each dialect answers errors in its own body; the path says which dialect a request speaks.
  const sendProblem = (request: FastifyRequest, reply: FastifyReply, problem: Problem) => {
    if (/^\/(api\/v1|user_uploads)(\/|$)/.test(request.url)) {
      const { status, body } = zulipErrorReply(problem);
      return reply.code(status).send(body);
    }
    return reply.code(problem.status).send(trackerErrorJson(problem));
  };
  app.setErrorHandler((err, request, reply) => {
    const problem = toProblem(err);
    if (problem.status >= 500) request.log.error({ err }, 'request failed');
    // An unread upload body is not worth receiving: answer now and close the connection.
    if (!request.raw.complete) reply.header('connection', 'close');
    return sendProblem(request, reply, problem);
  });
  app.setNotFoundHandler((request, reply) =>
    sendProblem(request, reply, { status: 404, code: 'not_found', message: `No route for ${request.method} ${request.url}`, details: {} }),
  );

  await app.register(fastifySwagger, {
    openapi: {
      info: { title: 'Affix', version: '0.1.0', description: 'File attachments with Yandex Tracker and Zulip compatible APIs' },
      components: { securitySchemes: { oauth: { type: 'apiKey', in: 'header', name: 'Authorization', description: 'OAuth <token>' } } },
      security: [{ oauth: [] }],
    },
  });
  // The core enforces the size limit itself; busboy's own limit must not throw first.
  if (rateLimitPerMinute > 0) {
    await app.register(fastifyRateLimit, {
      max: rateLimitPerMinute,
      timeWindow: 60_000,
      ...(rateLimitRedis ? { redis: rateLimitRedis, nameSpace: 'affix-rate-limit:' } : {}),
      // Redis unreachable: serve rather than refuse everybody (the error is logged).
      skipOnError: true,
      // Per credential: its hash, so no secret is kept as a map key; without one, per address.
      keyGenerator: (request) => {
        const credential = request.headers.authorization;
        return credential ? `auth:${hashSecret(credential)}` : `ip:${request.ip}`;
      },
      allowList: (request) => request.url === '/healthz',
      errorResponseBuilder: (_request, context) =>
        new AffixError('rate_limited', `Too many requests: at most ${context.max} a minute; retry in ${context.after}`),
    });
  }
  await app.register(fastifyMultipart, { throwFileSizeLimit: false });
  // The Python Zulip client and curl send urlencoded forms.
  await app.register(fastifyFormbody);

  app.get('/healthz', { schema: { hide: true } }, async () => ({ status: 'ok' }));
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  const send = contentSender(core, accelRedirect);
  await app.register(trackerRoutes, { core, baseUrl, send });
  const origins = (request: FastifyRequest) =>
    [...new Set([publicUrl, `${request.protocol}://${request.host}`].filter((o): o is string => o !== null).map((o) => new URL(o).origin.toLowerCase()))];
  await app.register(zulipRoutes, { core, origins, send });
  return app;
}
