// Reads the first bytes of a stream, up to a bound, and tells whether it ended.
import type { Readable } from 'node:stream';

/**
 * Reads `source` until it ends or has given more than `limit` bytes; `head` is what was read. When it
 * has not ended, `head` is put back (`unshift`), so `source` can be piped on whole as if untouched.
 */
export function readUpTo(source: Readable, limit: number): Promise<{ head: Buffer; ended: boolean }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    const stop = () => source.off('readable', onReadable).off('end', onEnd).off('error', onError);
    const done = (ended: boolean) => {
      stop();
      const head = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      if (!ended) source.unshift(head);
      resolve({ head, ended });
    };
    const onReadable = () => {
      for (let chunk: Buffer | null; bytes <= limit && (chunk = source.read() as Buffer | null) !== null; ) {
        chunks.push(chunk);
        bytes += chunk.length;
      }
      if (bytes > limit) done(false);
    };
    const onEnd = () => done(true);
    const onError = (err: Error) => {
      stop();
      reject(err);
    };
    source.on('readable', onReadable).once('end', onEnd).once('error', onError);
  });
}
