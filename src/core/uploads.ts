// The single streaming pass of an upload into the BlobStore: sha256, byte count, size limit, head for sniffing.
import type { Readable } from 'node:stream';
import { HEAD_BYTES } from '../media/describe.js';
import type { BlobStore } from '../store/blob/blob-store.js';
import { pipeInto } from '../util/pipe-into.js';
import { AffixError, isAffixError, isOutOfSpace } from './errors.js';
import { Meter } from './meter.js';

/** Bytes already durable in the BlobStore, not yet recorded: commit them or discard them. */
export interface StagedUpload {
  key: string;
  size: number;
  sha256: string;
  /** The leading bytes, kept during the same pass, to tell what the file is. */
  head: Buffer;
}

export const tooLarge = (limit: number): AffixError =>
  new AffixError('too_large', `The file size exceeds ${formatLimit(limit)}.`, {}, limit);

function formatLimit(bytes: number): string {
  const mib = bytes / (1 << 20);
  return Number.isInteger(mib) ? `${mib} Mb` : `${bytes} bytes`;
}

/** The single streaming pass: source -> sha256 + byte count + limit -> BlobStore. */
export async function stageUpload(blobs: BlobStore, source: Readable, maxBytes: number): Promise<StagedUpload> {
  // A part the multipart parser gave up on before we got to it emits nothing more: piping it would wait forever.
  if (source.destroyed && !source.readableEnded) {
    throw new AffixError('bad_request', `The upload was malformed or cut short: ${source.errored?.message ?? 'the file part ended early'}`);
  }
  const meter = new Meter(maxBytes, () => tooLarge(maxBytes), HEAD_BYTES);
  // Wait for both sides, so that a failed upload has finished cleaning up before the caller hears of it.
  const [fed, stored] = await Promise.allSettled([pipeInto(source, meter), blobs.write(meter)]);
  // A full disk fails both sides; the store's own error says why (and answers 507).
  if (stored.status === 'rejected' && isOutOfSpace(stored.reason)) throw stored.reason;
  if (fed.status === 'rejected') {
    // The source's own failure (too large, client gone) says more than the store's "premature close".
    if (stored.status === 'fulfilled') await blobs.delete(stored.value.key);
    throw isAffixError(fed.reason)
      ? fed.reason
      : new AffixError('bad_request', `The upload was malformed or cut short: ${(fed.reason as Error).message}`);
  }
  if (stored.status === 'rejected') throw stored.reason;
  return { key: stored.value.key, size: meter.bytes, sha256: meter.digest(), head: meter.head() };
}
