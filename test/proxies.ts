// Loopback TCP proxies for the tests: one that cuts a connection midway (a network dropping under an upload), one that slows it down.
import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A loopback TCP proxy to `targetUrl`: `forward` moves each connection's bytes toward the server (the
 * answers flow back as they come). `close` also ends the connections a browser keeps open.
 */
async function loopbackProxy(targetUrl: string, forward: (client: Socket, upstream: Socket) => void): Promise<{ url: string; close: () => Promise<void> }> {
  const target = new URL(targetUrl);
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(Number(target.port), target.hostname);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
    }
    forward(client, upstream);
    upstream.pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const socket of sockets) socket.destroy();
    });
  return { url: `http://127.0.0.1:${port}`, close };
}

/** A loopback TCP proxy that resets the first connection once it has carried `cutAfter` bytes toward the server. */
export async function cuttingProxy(targetUrl: string, cutAfter: number): Promise<{ url: string; cuts: () => number; close: () => Promise<void> }> {
  let cuts = 0;
  const proxy = await loopbackProxy(targetUrl, (client, upstream) => {
    let seen = 0;
    client.on('data', (chunk: Buffer) => {
      if (cuts === 0 && seen + chunk.length > cutAfter) {
        cuts++;
        upstream.write(chunk.subarray(0, cutAfter - seen));
        // Long enough for the server to take what arrived, then a reset in both directions.
        setTimeout(() => (client.resetAndDestroy(), upstream.resetAndDestroy()), 300);
        seen = Infinity;
        return;
      }
      seen += chunk.length;
      if (Number.isFinite(seen)) upstream.write(chunk);
    });
  });
  return { ...proxy, cuts: () => cuts };
}

/**
 * A loopback TCP proxy passing at most `bytesPerSecond` toward the server (per connection), so an
 * upload lasts long enough to be interrupted; `sent` counts what reached the server.
 */
export async function throttledProxy(targetUrl: string, bytesPerSecond: number): Promise<{ url: string; sent: () => number; close: () => Promise<void> }> {
  let sent = 0;
  const proxy = await loopbackProxy(targetUrl, (client, upstream) => {
    client.on('data', (chunk: Buffer) => {
      client.pause();
      sent += chunk.length;
      upstream.write(chunk, () => setTimeout(() => client.resume(), (chunk.length / bytesPerSecond) * 1000));
    });
    upstream.on('close', () => client.destroy());
  });
  return { ...proxy, sent: () => sent };
}
