import { Readable } from 'node:stream';

/**
 * Reads `source` until it ends or has given more than `limit` bytes. `rest` is the whole stream
 * again, the chunks already read first; a failure of `source` reaches whoever reads `rest`.
 */
export async function readUpTo(source: Readable, limit: number): Promise<{ head: Buffer[]; ended: boolean; rest: Readable }> {
  const chunks = source[Symbol.asyncIterator]();
  const head: Buffer[] = [];
  let bytes = 0;
  let ended = false;
  while (bytes <= limit) {
    const next = await chunks.next();
    if (next.done) {
      ended = true;
      break;
    }
    const chunk = next.value as Buffer;
    head.push(chunk);
    bytes += chunk.length;
  }
  async function* replay(): AsyncGenerator<Buffer> {
    yield* head;
    // for-await hands the iterator's return() on, so a reader that stops early destroys `source`.
    for await (const chunk of { [Symbol.asyncIterator]: () => chunks }) yield chunk as Buffer;
  }
  return { head, ended, rest: Readable.from(replay(), { objectMode: false }) };
}
