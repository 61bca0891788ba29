// The bytes of a request's body the upload readers took in, for the metrics: counted where the bytes are read, read when the answer is sent.
import type { IncomingMessage } from 'node:http';

const received = new WeakMap<IncomingMessage, number>();

export function addReceived(request: IncomingMessage, bytes: number): void {
  received.set(request, (received.get(request) ?? 0) + bytes);
}

export function receivedOf(request: IncomingMessage): number {
  return received.get(request) ?? 0;
}
