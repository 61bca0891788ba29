import type { Readable } from 'node:stream';

/**
 * Reads `source` until it ends or has given more than `limit` bytes. When it has not ended, the bytes
 * read are put back (`unshift`), so `source` can be piped on whole as if untouched.
 */
export function readUpTo(source: Readable, limit: number): Promise<{ head: Buffer[]; ended: boolean }> {
  return new Promise((resolve, reject) => {
    const head: Buffer[] = [];
    let bytes = 0;
    const done = (ended: boolean) => {
      source.off('readable', onReadable).off('end', onEnd).off('error', onError);
      if (!ended) source.unshift(head.length === 1 ? head[0]! : Buffer.concat(head));
      resolve({ head, ended });
    };
    const onReadable = () => {
      for (let chunk: Buffer | null; bytes <= limit && (chunk = source.read() as Buffer | null) !== null; ) {
        head.push(chunk);
        bytes += chunk.length;
      }
      if (bytes > limit) done(false);
    };
    const onEnd = () => done(true);
    const onError = (err: Error) => {
      source.off('readable', onReadable).off('end', onEnd).off('error', onError);
      reject(err);
    };
    source.on('readable', onReadable).once('end', onEnd).once('error', onError);
  });
}
