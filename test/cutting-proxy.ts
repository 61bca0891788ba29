// A loopback TCP proxy that cuts one connection midway: a client's network dropping under an upload.
import { createServer, connect, type Server, type Socket } from 'node:net';

/** A loopback TCP proxy that resets the first connection once it has carried `cutAfter` bytes toward the server. */
export async function cuttingProxy(targetUrl: string, cutAfter: number): Promise<{ url: string; cuts: () => number; close: () => Promise<void> }> {
  const target = new URL(targetUrl);
  let cuts = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(Number(target.port), target.hostname);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
    }
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
      // A browser keeps its connections open: they go with the proxy.
      for (const socket of sockets) socket.destroy();
    });
  return { url: `http://127.0.0.1:${port}`, cuts: () => cuts, close };
}
