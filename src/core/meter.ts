import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { AffixError } from './errors.js';

/**
 * A pass-through stage of the upload pipeline: hashes and counts the bytes as they flow and
 * fails the stream as soon as the count passes the limit, so an oversized body is never stored whole.
 */
export class Meter extends Transform {
  readonly #hash: Hash = createHash('sha256');
  readonly #limit: number;
  readonly #tooLarge: () => AffixError;
  #bytes = 0;

  constructor(limit: number, tooLarge: () => AffixError) {
    super({ highWaterMark: 1 << 20 });
    this.#limit = limit;
    this.#tooLarge = tooLarge;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.#bytes += chunk.length;
    if (this.#bytes > this.#limit) {
      done(this.#tooLarge());
      return;
    }
    this.#hash.update(chunk);
    done(null, chunk);
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** The hex sha256 of everything that passed; call once, after the stream ended. */
  digest(): string {
    return this.#hash.digest('hex');
  }
}
