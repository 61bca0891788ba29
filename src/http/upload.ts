import type { FastifyRequest } from 'fastify';
import type {} from '@fastify/multipart';
import type { Affix } from '../core/affix.js';
import type { AffixError } from '../core/errors.js';
import type { Attachment } from '../core/model.js';
import type { StagedUpload } from '../core/uploads.js';

/** What a multipart upload carried besides the bytes. */
export interface ReceivedFile {
  staged: StagedUpload;
  /** The file part's own file name, if it had one. */
  partName: string | undefined;
  /** The small fields, wherever they stood relative to the file part. */
  fields: Record<string, string>;
}

/** Each dialect's own words for a body that is not multipart, has no file part, or has several. */
export interface UploadErrors {
  notMultipart: () => AffixError;
  noFile: () => AffixError;
  severalFiles: () => AffixError;
}

/**
 * Reads a multipart body with exactly one file part (any field name): the file is streamed into the
 * core as it arrives, and `commit` records it only once the whole body has arrived intact. On any
 * failure, the staged bytes are discarded.
 */
export async function receiveOneFile(
  core: Affix,
  request: FastifyRequest,
  errors: UploadErrors,
  commit: (received: ReceivedFile) => Promise<Attachment>,
): Promise<Attachment> {
  if (!request.isMultipart()) throw errors.notMultipart();
  let staged: StagedUpload | null = null;
  try {
    let partName: string | undefined;
    const fields: Record<string, string> = {};
    const parts = request.parts({
      // One byte over the limit reaches the core's meter, which refuses the upload (busboy alone would truncate silently).
      limits: { fileSize: core.uploadLimit(request.actor.org) + 1, files: 2, fields: 20, parts: 24, fieldSize: 64 << 10, headerPairs: 64 },
    });
    for await (const part of parts) {
      if (part.type === 'file') {
        if (staged) {
          part.file.resume();
          throw errors.severalFiles();
        }
        partName = part.filename || undefined;
        staged = await core.stageUpload(request.actor, part.file);
      } else if (typeof part.value === 'string') {
        fields[part.fieldname] = part.value;
      }
    }
    if (!staged) throw errors.noFile();
    const attachment = await commit({ staged, partName, fields });
    staged = null;
    return attachment;
  } finally {
    if (staged) await core.discardUpload(staged);
  }
}
