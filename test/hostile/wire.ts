// Raw HTTP/1.1 over a TCP socket, byte for byte as a hostile client sends it: exact framing, pauses, lies.
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** A piece of the request: bytes to send, or a pause (ms) before the next piece. */
export type Piece = string | Buffer | { pause: number } | { repeat: Buffer; times: number };

export interface WireResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** From the first byte sent to the end of the answer. */
  ms: number;
}

/** Sends `pieces` to `url`'s host and port and reads one response (or fails after `timeoutMs`). */
export function exchange(url: string, pieces: Piece[], timeoutMs = 10_000): Promise<WireResponse> {
  const { hostname, port } = new URL(url);
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) });
    const chunks: Buffer[] = [];
    let done = false;
    const timer = setTimeout(() => finish(new Error(`no complete answer in ${timeoutMs} ms`)), timeoutMs);
    const finish = (err?: Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      const parsed = parse(Buffer.concat(chunks));
      if (parsed) resolve({ ...parsed, ms: Date.now() - started });
      else reject(err ?? new Error(`no HTTP answer: ${Buffer.concat(chunks).toString('latin1').slice(0, 200)}`));
    };
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      const parsed = parse(Buffer.concat(chunks));
      if (parsed && parsed.complete) finish();
    });
    // The server may close while we still write: what it answered is what counts.
    socket.on('error', () => finish());
    socket.on('close', () => finish());
    socket.on('connect', () => {
      void (async () => {
        for (const piece of pieces) {
          if (done || socket.destroyed) return;
          if (typeof piece === 'object' && 'pause' in piece) await sleep(piece.pause);
          else if (typeof piece === 'object' && 'repeat' in piece) {
            for (let i = 0; i < piece.times && !done && !socket.destroyed; i++) {
              if (!socket.write(piece.repeat)) await new Promise((r) => socket.once('drain', r).once('close', r));
            }
          } else if (!socket.write(piece)) await new Promise((r) => socket.once('drain', r).once('close', r));
        }
      })();
    });
  });
}

function parse(raw: Buffer): (Omit<WireResponse, 'ms'> & { complete: boolean }) | null {
  const end = raw.indexOf('\r\n\r\n');
  if (end < 0) return null;
  const [statusLine, ...lines] = raw.subarray(0, end).toString('latin1').split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? '')?.[1]);
  if (!status) return null;
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const bodyBytes = raw.subarray(end + 4);
  const length = headers['content-length'] === undefined ? undefined : Number(headers['content-length']);
  const chunked = /chunked/i.test(headers['transfer-encoding'] ?? '');
  const body = chunked ? dechunk(bodyBytes) : bodyBytes;
  const complete = length !== undefined ? bodyBytes.length >= length : chunked ? /(^|\r\n)0\r\n\r\n$/.test(bodyBytes.toString('latin1')) : false;
  return { status, headers, body: (length !== undefined ? body.subarray(0, length) : body).toString('utf8'), complete };
}

function dechunk(bytes: Buffer): Buffer {
  const out: Buffer[] = [];
  let at = 0;
  for (;;) {
    const lineEnd = bytes.indexOf('\r\n', at);
    if (lineEnd < 0) break;
    const size = parseInt(bytes.subarray(at, lineEnd).toString('latin1'), 16);
    if (!size) break;
    out.push(bytes.subarray(lineEnd + 2, lineEnd + 2 + size));
    at = lineEnd + 2 + size + 2;
  }
  return Buffer.concat(out);
}

/** A request head: the request line, `headers`, and the blank line. */
export function head(method: string, path: string, headers: Record<string, string | number>): string {
  const lines = Object.entries({ host: '127.0.0.1', connection: 'close', ...headers }).map(([k, v]) => `${k}: ${v}`);
  return `${method} ${path} HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n`;
}

/** One chunk of a chunked body (an empty one ends it). */
export const chunk = (data: string | Buffer): Buffer => {
  const bytes = Buffer.isBuffer(data) ? data : Buffer.from(data);
  return Buffer.concat([Buffer.from(`${bytes.length.toString(16)}\r\n`), bytes, Buffer.from('\r\n')]);
};
