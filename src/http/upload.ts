// Receives the one file of a multipart upload into the core, and records it only once the whole body arrived intact.
import type { FastifyRequest } from 'fastify';
import type { Affix } from '../core/affix.js';
import type { AffixError } from '../core/errors.js';
import type { Attachment } from '../core/model.js';
import { tooLarge, type StagedUpload } from '../core/uploads.js';
import { isMultipart, readMultipart } from './multipart.js';

/** What a multipart upload carried besides the bytes. */
export interface ReceivedFile {
  staged: StagedUpload;
  /** The file part's own file name, if it had one. */
  partName: string | undefined;
  /** The small fields, wherever they stood relative to the file part. */
  fields: ReadonlyMap<string, string>;
}

/** Each dialect's own words for a body that is not multipart, has no file part, or has several. */
export interface UploadErrors {
  notMultipart: () => AffixError;
  noFile: () => AffixError;
  severalFiles: () => AffixError;
}

/** How long a request body may take: silence between bytes, and the whole of it. */
export interface BodyTimeouts {
  idleMs: number;
  /** 0: no limit on the whole body. */
  totalMs: number;
}

/** A multipart envelope and a few small fields fit in this much beyond the file itself. */
export const MULTIPART_OVERHEAD = 1 << 20;

/** Refuses, before reading a byte of the body, an upload whose declared length is already over the limit. */
export function refuseDeclaredOversize(core: Affix, request: FastifyRequest): void {
  const limit = core.attachments.uploadLimit(request.actor.org);
  if (Number(request.headers['content-length']) > limit + MULTIPART_OVERHEAD) throw tooLarge(limit);
}

/** The time a body has left, from now. */
export const deadlineOf = (timeouts: BodyTimeouts): number => (timeouts.totalMs > 0 ? Date.now() + timeouts.totalMs : Infinity);

/**
 * Reads a multipart body with exactly one file part (any field name): the file is streamed into the
 * core as it arrives, and `commit` records it only once the parser has seen the body end cleanly.
 * The whole body counts against the org's limit plus MULTIPART_OVERHEAD. On any failure, the staged
 * bytes are discarded.
 */
export async function receiveOneFile(
  core: Affix,
  request: FastifyRequest,
  errors: UploadErrors,
  timeouts: BodyTimeouts,
  commit: (received: ReceivedFile) => Promise<Attachment>,
): Promise<Attachment> {
  if (!isMultipart(request.raw)) throw errors.notMultipart();
  const limit = core.attachments.uploadLimit(request.actor.org);
  // Assigned in the file handler: the assertion keeps TypeScript from narrowing it to null here.
  let staged = null as StagedUpload | null;
  let partName: string | undefined;
  let seenFile = false;
  const fields = new Map<string, string>();
  try {
    await readMultipart(
      request.raw,
      { totalBytes: limit + MULTIPART_OVERHEAD, tooLarge: () => tooLarge(limit), files: 2, fields: 20, fieldBytes: 16 << 10, idleMs: timeouts.idleMs, deadline: deadlineOf(timeouts) },
      {
        file: async (stream, filename) => {
          if (seenFile) throw errors.severalFiles();
          seenFile = true;
          partName = filename;
          staged = await core.attachments.stage(request.actor, stream);
        },
        field: (name, value) => fields.set(name, value),
      },
    );
    if (!staged) throw errors.noFile();
    const attachment = await commit({ staged, partName, fields });
    staged = null;
    return attachment;
  } finally {
    if (staged) await core.attachments.discard(staged);
  }
}
