// Closing a connection without a reset overtaking the answer: nginx's lingering close, for refused bodies and for garbage after a request.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** How long a closing connection's further bytes are read and dropped before it is cut. */
const LINGER_MS = 1_000;
/** At most this much of a refused body is read and dropped before the connection is cut. */
const LINGER_BYTES = 64 << 20;
/** How long an answer already under way may take once garbage followed its request on the connection. */
const PENDING_ANSWER_MS = 10_000;
/** Sockets whose garbage has been answered: what else arrives on them is dropped. */
const answeredGarbage = new WeakSet<Socket>();

/**
 * Reads and drops the rest of a refused request's body, up to LINGER_BYTES or LINGER_MS, then cuts the
 * connection if it is still coming. Node closes a connection right after its answer when the client
 * asked for `Connection: close`; with the body still arriving that close is a reset (the client's next
 * write fails with EPIPE before it reads the answer). So it closes as nginx does: FIN after the
 * answer, what still comes dropped, the socket cut LINGER_MS later.
 */
export function lingerOver(raw: IncomingMessage): void {
  const socket = raw.socket;
  if (!socket || socket.destroyed || raw.destroyed) return;
  let dropped = 0;
  const cut = () => socket.destroy();
  setTimeout(() => (raw.complete ? undefined : cut()), LINGER_MS).unref();
  raw.on('data', (chunk: Buffer) => {
    dropped += chunk.length;
    if (dropped > LINGER_BYTES) cut();
  });
  raw.resume();
  socket.destroySoon = () => {
    socket.end();
    setTimeout(cut, LINGER_MS).unref();
  };
}

/**
 * Bytes that Node's parser refused arrived on `socket`. When they follow a complete request still being
 * answered (Node's `_httpMessage` on the socket, as Node's own handler checks), that answer goes first,
 * whole, and then the connection closes, with nothing written for the garbage. Otherwise `answer()` is
 * written, then FIN, and the socket is cut only a moment later: destroyed at once, it would answer the
 * client's bytes still in flight with a reset, and a reset makes the client's kernel drop the answer it
 * has not read yet. A request cut short is another matter: its socket goes at once, so its upload hears.
 */
export function closeAfterGarbage(socket: Socket, answer: () => string): void {
  const pending = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
  if (pending && !pending.writableFinished && pending.req.complete) {
    const close = () => socket.destroy();
    pending.once('finish', close).once('close', close);
    setTimeout(close, PENDING_ANSWER_MS).unref();
    return;
  }
  if (answeredGarbage.has(socket)) return;
  answeredGarbage.add(socket);
  if (!socket.writable) return void socket.destroy();
  socket.end(answer());
  setTimeout(() => socket.destroy(), LINGER_MS).unref();
}
