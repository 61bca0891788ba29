// The tus 1.0.0 resumable upload protocol over the core's resumable uploads, mounted by each dialect with its auth and its final answer.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { PassThrough, type Readable } from 'node:stream';
import type { Affix } from '../../core/affix.js';
import type { UploadTarget } from '../../core/attachments.js';
import { AffixError } from '../../core/errors.js';
import type { ResumableUpload } from '../../core/model.js';
import type { StagedUpload } from '../../core/uploads.js';
import { CHECKSUM_ALGORITHMS, type ChecksumAlgorithm, type Concatenation } from '../../core/resumable.js';
import { addReceived } from '../received-bytes.js';
import type { BodyTimeouts } from '../upload.js';

export const TUS_VERSION = '1.0.0';
export const TUS_EXTENSIONS = ['creation', 'creation-with-upload', 'creation-defer-length', 'expiration', 'checksum', 'termination', 'concatenation'];
export const TUS_CONTENT_TYPE = 'application/offset+octet-stream';
/** Metadata pairs one upload may carry, and the bytes of the whole header. */
const MAX_METADATA_PAIRS = 32;
const MAX_METADATA_BYTES = 8 << 10;

/** What differs between the dialects: where a finished file goes, and what the final answer says. */
export interface TusDialect {
  /** Checks the creation's metadata (its targets exist and are the caller's to use) and encodes where the file goes. */
  target(request: FastifyRequest, metadata: Record<string, string>): Promise<string>;
  /** The encoded target, as the core's upload target, at completion. */
  resolve(request: FastifyRequest, target: string): Promise<{ target: UploadTarget; after?: (attachmentId: number) => Promise<void> }>;
  /** The final answer's body, once the file is an attachment. */
  answer(request: FastifyRequest, attachmentId: number): Promise<object>;
}

export interface TusOptions {
  core: Affix;
  /** The path the endpoint is mounted at, without a trailing slash (`/api/v1/tus`, `/v2/tus`); not `prefix`, which Fastify's register takes for itself. */
  endpoint: string;
  baseUrl: (request: FastifyRequest) => string;
  timeouts: BodyTimeouts;
  dialect: TusDialect;
}

type IdRequest = FastifyRequest<{ Params: { id: string } }>;

/** Registers OPTIONS, POST (creation), HEAD, PATCH and DELETE (termination) under `prefix`; the caller's auth hook runs first. */
export async function tusRoutes(app: FastifyInstance, { core, endpoint: prefix, baseUrl, timeouts, dialect }: TusOptions): Promise<void> {
  // Registered as a plugin of its own, so this runs for the tus routes only, after the dialect's auth.
  app.addHook('onRequest', async (request, reply) => {
    reply.header('tus-resumable', TUS_VERSION);
    if (request.method !== 'OPTIONS' && request.headers['tus-resumable'] !== TUS_VERSION) {
      reply.header('tus-version', TUS_VERSION);
      throw new AffixError('version_unsupported', `Tus-Resumable must be ${TUS_VERSION}`);
    }
  });

  const describe = (reply: FastifyReply, upload: ResumableUpload) => {
    reply.header('upload-offset', String(upload.offset));
    reply.header('upload-expires', new Date(upload.expiresAt).toUTCString());
    if (upload.length === null) reply.header('upload-defer-length', '1');
    else reply.header('upload-length', String(upload.length));
    if (upload.partial) reply.header('upload-concat', 'partial');
    const metadata = formatMetadata(upload.metadata);
    if (metadata) reply.header('upload-metadata', metadata);
    reply.header('cache-control', 'no-store');
  };

  /** Appends the request's body; on completion records the attachment and answers 200 with the dialect's body. */
  const append = async (request: FastifyRequest, reply: FastifyReply, id: string, offset: number, length?: number) => {
    const checksum = parseChecksum(request.headers['upload-checksum']);
    const announced = Number(request.headers['content-length']);
    const { upload, staged } = await core.resumable.append(request.actor, id, offset, bodyOf(request, timeouts.idleMs), {
      ...(length !== undefined ? { length } : {}),
      ...(Number.isSafeInteger(announced) && announced >= 0 ? { announced } : {}),
      ...(checksum ? { checksum } : {}),
    });
    describe(reply, upload);
    // Complete before this request: the final answer again, for a client that lost it.
    if (upload.attachmentId !== null) return dialect.answer(request, upload.attachmentId);
    return staged ? finish(request, [upload], staged, upload.target, upload.metadata.filename ?? '') : null;
  };

  /** Records the finished file where its target says, and renders the dialect's final answer. */
  const finish = async (request: FastifyRequest, uploads: ResumableUpload[], staged: StagedUpload, encodedTarget: string, name: string, final?: Concatenation['final']) => {
    const { target, after } = await dialect.resolve(request, encodedTarget);
    const attachment = await core.resumable.complete(request.actor, uploads, staged, target, name, final);
    await after?.(attachment.id);
    return dialect.answer(request, attachment.id);
  };

  /** Upload-Concat: final; the partial uploads' URLs (absolute or paths), each under this endpoint. */
  const partialIds = (list: string) =>
    list.trim().split(/\s+/).filter(Boolean).map((ref) => {
      const path = /^https?:\/\//i.test(ref) ? new URL(ref).pathname : ref;
      const id = path.startsWith(`${prefix}/`) ? path.slice(prefix.length + 1) : '';
      if (!/^[0-9a-f]{32}$/.test(id)) throw new AffixError('bad_request', `Upload-Concat names ${ref.slice(0, 200)}, not an upload of this endpoint`);
      return id;
    });

  app.options(prefix, async (request, reply) => {
    reply.header('tus-version', TUS_VERSION);
    reply.header('tus-extension', TUS_EXTENSIONS.join(','));
    reply.header('tus-checksum-algorithm', CHECKSUM_ALGORITHMS.join(','));
    reply.header('tus-max-size', String(core.attachments.uploadLimit(request.actor.org)));
    return reply.code(204).send();
  });

  app.post(prefix, async (request, reply) => {
    const concat = (request.headers['upload-concat'] as string | undefined)?.trim();
    if (concat?.startsWith('final;')) {
      // Concatenation's final upload: made whole at once from complete partials, with the file's metadata.
      if (request.headers['upload-length'] !== undefined) throw new AffixError('bad_request', 'A final upload takes no Upload-Length');
      const metadata = parseMetadata(request.headers['upload-metadata']);
      const target = await dialect.target(request, metadata);
      const { uploads, staged, final } = await core.resumable.concatenate(request.actor, partialIds(concat.slice('final;'.length)), { metadata, target });
      const answer = await finish(request, uploads, staged, target, metadata.filename ?? '', final);
      reply.header('location', `${baseUrl(request)}${prefix}/${final.id}`);
      reply.header('upload-concat', concat);
      return reply.code(201).send(answer);
    }
    if (concat !== undefined && concat !== 'partial') throw new AffixError('bad_request', 'Upload-Concat must be partial or final;<urls>');
    const deferred = request.headers['upload-defer-length'];
    if (deferred !== undefined && deferred !== '1') throw new AffixError('bad_request', 'Upload-Defer-Length must be 1');
    const length = deferred === '1' ? null : requiredNumber(request.headers['upload-length'], 'Upload-Length');
    const metadata = parseMetadata(request.headers['upload-metadata']);
    const partial = concat === 'partial';
    // A partial upload's metadata is its final upload's business: no target of its own.
    const target = partial ? '' : await dialect.target(request, metadata);
    const upload = await core.resumable.create(request.actor, { length, metadata, target, partial });
    reply.header('location', `${baseUrl(request)}${prefix}/${upload.id}`);
    describe(reply, upload);
    // creation-with-upload: the body, if any, is the first chunk.
    if (request.headers['content-type'] === TUS_CONTENT_TYPE && Number(request.headers['content-length'] ?? 1) > 0) {
      const done = await append(request, reply, upload.id, 0);
      return reply.code(201).send(done ?? undefined);
    }
    return reply.code(201).send();
  });

  app.route({
    method: 'HEAD',
    url: `${prefix}/:id`,
    handler: async (request: IdRequest, reply) => {
      describe(reply, await core.resumable.get(request.actor, request.params.id));
      return reply.code(200).send();
    },
  });

  app.patch(`${prefix}/:id`, async (request: IdRequest, reply) => {
    if (request.headers['content-type'] !== TUS_CONTENT_TYPE) throw new AffixError('unsupported_media', `Content-Type must be ${TUS_CONTENT_TYPE}`);
    const offset = requiredNumber(request.headers['upload-offset'], 'Upload-Offset');
    const length = request.headers['upload-length'] === undefined ? undefined : requiredNumber(request.headers['upload-length'], 'Upload-Length');
    const done = await append(request, reply, request.params.id, offset, length);
    return done ? reply.code(200).send(done) : reply.code(204).send();
  });

  app.delete(`${prefix}/:id`, async (request: IdRequest, reply) => {
    await core.resumable.terminate(request.actor, request.params.id);
    return reply.code(204).send();
  });
}

/**
 * The request's body as the core reads it: it ends, keeping what arrived, when the client goes away
 * or falls silent for `idleMs`, so a cut PATCH keeps its bytes (tus: the next HEAD reports them).
 */
function bodyOf(request: FastifyRequest, idleMs: number): Readable {
  const raw = request.raw;
  const body = new PassThrough();
  let timer: NodeJS.Timeout | undefined;
  const stop = () => {
    clearTimeout(timer);
    raw.unpipe(body);
    if (!body.writableEnded) body.end();
  };
  const arm = () => {
    clearTimeout(timer);
    if (idleMs > 0) timer = setTimeout(() => (stop(), raw.destroy()), idleMs);
  };
  raw.on('data', (chunk: Buffer) => {
    addReceived(raw, chunk.length);
    arm();
  });
  raw.once('end', () => clearTimeout(timer));
  raw.once('error', stop);
  raw.once('close', () => {
    if (!raw.complete) stop();
  });
  raw.pipe(body);
  arm();
  return body;
}

function requiredNumber(value: string | string[] | undefined, name: string): number {
  const text = Array.isArray(value) ? value[0] : value;
  if (text === undefined || !/^\d{1,16}$/.test(text.trim())) throw new AffixError('bad_request', `${name} must be a non-negative integer`);
  const number = Number(text.trim());
  if (!Number.isSafeInteger(number)) throw new AffixError('bad_request', `${name} is too large`);
  return number;
}

/** `Upload-Metadata`: comma-separated `key base64value` pairs (the value may be absent); keys unique. */
export function parseMetadata(header: string | string[] | undefined): Record<string, string> {
  const text = Array.isArray(header) ? header.join(',') : (header ?? '');
  if (text.length > MAX_METADATA_BYTES) throw new AffixError('bad_request', 'Upload-Metadata is too long');
  const metadata: Record<string, string> = Object.create(null) as Record<string, string>;
  const pairs = text.split(',').map((p) => p.trim()).filter(Boolean);
  if (pairs.length > MAX_METADATA_PAIRS) throw new AffixError('bad_request', `Upload-Metadata may hold at most ${MAX_METADATA_PAIRS} pairs`);
  for (const pair of pairs) {
    const [key, value, ...rest] = pair.split(' ');
    if (!key || rest.length > 0 || !/^[\x21-\x7e]+$/.test(key) || (value !== undefined && !/^[A-Za-z0-9+/]*={0,2}$/.test(value))) {
      throw new AffixError('bad_request', `Malformed Upload-Metadata pair: ${pair.slice(0, 100)}`);
    }
    if (key in metadata) throw new AffixError('bad_request', `Upload-Metadata repeats ${key.slice(0, 100)}`);
    metadata[key] = value === undefined ? '' : Buffer.from(value, 'base64').toString('utf8');
  }
  return { ...metadata };
}

/** `Upload-Metadata` as a HEAD answers it (tus: the pairs the creation gave, values base64 again). */
function formatMetadata(metadata: Record<string, string>): string {
  return Object.entries(metadata)
    .map(([key, value]) => (value === '' ? key : `${key} ${Buffer.from(value, 'utf8').toString('base64')}`))
    .join(',');
}

/** `Upload-Checksum: <algorithm> <base64 digest>`; an algorithm not offered is 400. */
function parseChecksum(header: string | string[] | undefined): { algorithm: ChecksumAlgorithm; digest: string } | undefined {
  const text = Array.isArray(header) ? header[0] : header;
  if (text === undefined) return undefined;
  const [algorithm, digest] = text.trim().split(/\s+/);
  if (!(CHECKSUM_ALGORITHMS as readonly string[]).includes(algorithm ?? '') || !digest || !/^[A-Za-z0-9+/]+={0,2}$/.test(digest)) {
    throw new AffixError('bad_request', `Upload-Checksum must be one of ${CHECKSUM_ALGORITHMS.join(', ')} and a base64 digest`);
  }
  return { algorithm: algorithm as ChecksumAlgorithm, digest };
}
