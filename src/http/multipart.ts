// Reads a multipart/form-data request with busboy: every byte counted, bounded in time, success only for a cleanly ended body.
import busboy, { type BusboyHeaders, type BusboyInstance } from '@fastify/busboy';
import type { IncomingMessage } from 'node:http';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { AffixError } from '../core/errors.js';
import { addReceived } from './received-bytes.js';

export interface MultipartLimits {
  /** Bytes of the whole body, everything counted: preamble, part headers, fields, files, epilogue. */
  totalBytes: number;
  /** The error for a body over `totalBytes`, in the words of the route (an upload's limit, say). */
  tooLarge: () => AffixError;
  files: number;
  fields: number;
  /** Bytes of one field's value. */
  fieldBytes: number;
  /** The body fails when no byte arrives for this long (an idle timeout, so slow links still pass). */
  idleMs: number;
  /** When the whole body must have arrived (epoch ms); Infinity: no such limit. */
  deadline: number;
}

export interface MultipartHandlers {
  /**
   * Takes one file part's stream. The body succeeds only once every promise returned here has; the
   * stream is destroyed with the body's error if the body fails first.
   */
  file(stream: Readable, filename: string | undefined): Promise<unknown>;
  /** A small field; unnamed ones are dropped. Throwing fails the body. */
  field(name: string, value: string): void;
}

export const isMultipart = (request: IncomingMessage): boolean => /^multipart\/form-data(;|\s|$)/i.test(request.headers['content-type'] ?? '');

const malformed = (reason: string): AffixError => new AffixError('bad_request', `Malformed multipart body: ${reason}`);
export const timedOut = (what: string): AffixError => new AffixError('timeout', `Request timed out: ${what}`);
export const cutShort = (): AffixError => new AffixError('bad_request', 'The request body was cut short: the client went away');

/**
 * Feeds the request body to busboy and resolves once the parser saw the closing boundary and every
 * file handler finished. On the first failure (a parser error, a limit, a handler's error, silence,
 * the deadline, the client gone) parsing stops, open file streams are destroyed with that error, and
 * the promise rejects with it once every handler has settled, so their cleanup is over by then.
 */
export function readMultipart(request: IncomingMessage, limits: MultipartLimits, handlers: MultipartHandlers): Promise<void> {
  // The client may have gone while the route looked up its credentials: a destroyed stream emits nothing more.
  if (request.destroyed && !request.readableEnded) return Promise.reject(cutShort());
  let parser: BusboyInstance;
  try {
    parser = busboy.Busboy({
      headers: request.headers as BusboyHeaders,
      limits: {
        files: limits.files,
        fields: limits.fields,
        parts: limits.files + limits.fields,
        fieldSize: limits.fieldBytes,
        fieldNameSize: 200,
        headerPairs: 32,
        headerSize: 16 << 10,
      },
    });
  } catch (err) {
    // No boundary, or one the parser cannot search for.
    return Promise.reject(malformed((err as Error).message));
  }
  return new Promise((resolve, reject) => {
    const handled: Promise<unknown>[] = [];
    const openFiles = new Set<Readable>();
    let failure: Error | null = null;
    let parsed = false;
    let settled = false;
    const counter = new ByteCounter(limits.totalBytes, limits.tooLarge, (bytes) => {
      idle.refresh();
      addReceived(request, bytes);
    });
    const idle = setTimeout(() => fail(timedOut(`no data for ${Math.round(limits.idleMs / 1000)} s`)), limits.idleMs);
    const late = Number.isFinite(limits.deadline)
      ? setTimeout(() => fail(timedOut('the body took too long to arrive')), Math.max(0, limits.deadline - Date.now()))
      : undefined;
    const onClose = () => {
      if (!request.complete) fail(cutShort());
    };

    const settle = () => {
      if (settled || (!failure && !parsed)) return;
      settled = true;
      clearTimeout(idle);
      clearTimeout(late);
      request.off('close', onClose);
      void Promise.allSettled(handled).then((results) => {
        const rejected = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
        if (failure) reject(failure);
        else if (rejected) reject(rejected.reason);
        else resolve();
      });
    };
    const fail = (err: Error) => {
      if (failure || settled) return;
      failure = err;
      request.unpipe(counter);
      counter.unpipe(parser);
      for (const file of openFiles) file.destroy(err);
      settle();
    };

    parser.on('file', (_name, stream, filename) => {
      if (failure) {
        stream.resume();
        return;
      }
      openFiles.add(stream);
      stream.once('end', () => openFiles.delete(stream));
      // A file part the handler does not read must not stall the parser, nor throw when it errors.
      stream.on('error', () => undefined);
      let done: Promise<unknown>;
      try {
        done = handlers.file(stream, filename || undefined);
      } catch (err) {
        done = Promise.reject(err);
      }
      handled.push(done);
      done.catch((err: Error) => fail(err));
    });
    parser.on('field', (name, value, _nameTruncated, valueTruncated) => {
      if (failure) return;
      if (valueTruncated) return fail(new AffixError('bad_request', `Field ${name.slice(0, 100)} is longer than ${limits.fieldBytes} bytes`));
      if (!name) return;
      try {
        handlers.field(name, value);
      } catch (err) {
        fail(err as Error);
      }
    });
    parser.on('filesLimit', () => fail(new AffixError('bad_request', `At most ${limits.files} file part(s) are accepted`)));
    parser.on('fieldsLimit', () => fail(new AffixError('bad_request', `At most ${limits.fields} fields are accepted`)));
    parser.on('partsLimit', () => fail(new AffixError('bad_request', `At most ${limits.files + limits.fields} parts are accepted`)));
    parser.on('error', (err: Error) => fail(malformed(err.message)));
    // Busboy finishes after its own errors too; only a body without one ended cleanly.
    parser.on('finish', () => {
      parsed = true;
      settle();
    });
    counter.on('error', (err) => fail(err));
    request.on('close', onClose);
    request.pipe(counter).pipe(parser);
  });
}

/** Counts the bytes flowing through and fails past a budget; `onBytes` hears of every chunk. */
class ByteCounter extends Transform {
  private bytes = 0;

  constructor(
    private readonly budget: number,
    private readonly tooLarge: () => AffixError,
    private readonly onBytes: (bytes: number) => void,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    this.onBytes(chunk.length);
    if (this.bytes > this.budget) done(this.tooLarge());
    else done(null, chunk);
  }
}
