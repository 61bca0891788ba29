// A pass-through stream that hashes, counts and bounds the bytes of an upload and keeps its head.
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { AffixError } from './errors.js';

/**
 * A pass-through stage of the upload pipeline: hashes and counts the bytes as they flow and
 * fails the stream as soon as the count passes the limit, so an oversized body is never stored whole.
 */
export class Meter extends Transform {
  readonly #hash: Hash | null;
  readonly #limit: number;
  readonly #tooLarge: () => AffixError;
  readonly #headLimit: number;
  readonly #head: Buffer[] = [];
  #headBytes = 0;
  #bytes = 0;

  /** `headBytes`: how many leading bytes to keep, for sniffing what the file is; `hashed`: false when the caller hashes elsewhere. */
  constructor(limit: number, tooLarge: () => AffixError, headBytes = 0, hashed = true) {
    super({ highWaterMark: 1 << 20 });
    this.#hash = hashed ? createHash('sha256') : null;
    this.#limit = limit;
    this.#tooLarge = tooLarge;
    this.#headLimit = headBytes;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.#bytes += chunk.length;
    if (this.#bytes > this.#limit) {
      done(this.#tooLarge());
      return;
    }
    this.#hash?.update(chunk);
    if (this.#headBytes < this.#headLimit) {
      // A copy: the chunk itself moves on down the pipeline and may be reused.
      const part = Buffer.from(chunk.subarray(0, this.#headLimit - this.#headBytes));
      this.#head.push(part);
      this.#headBytes += part.length;
    }
    done(null, chunk);
  }

  /** The first bytes that passed, up to the head size asked for. */
  head(): Buffer {
    return Buffer.concat(this.#head, this.#headBytes);
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** The hex sha256 of everything that passed; call once, after the stream ended. */
  digest(): string {
    if (!this.#hash) throw new Error('this meter does not hash');
    return this.#hash.digest('hex');
  }
}
