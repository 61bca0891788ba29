// The built web UI (`web/`, built into dist/web by `npm run build`) under /ui/: hashed assets cached for a year, every page the one index.html, under a strict CSP.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply } from 'fastify';

/** Where `vite build` puts the UI: dist/web beside dist/src. */
const WEB_DIR = fileURLToPath(new URL('../../../web/', import.meta.url));

/**
 * No inline script or style anywhere: scripts, styles, fonts and fetches from Affix itself; images and
 * media from Affix or the page's own blob: URLs (previews of files being uploaded); never framed.
 */
export const UI_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' blob: data:",
  "media-src 'self' blob:",
  "connect-src 'self'",
  "worker-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const YEAR_MS = 365 * 24 * 3600 * 1000;

export async function uiPages(app: FastifyInstance): Promise<void> {
  // Only `reply.sendFile` (ranges, ETags, no path outside the root); the routes are ours.
  await app.register(fastifyStatic, { root: WEB_DIR, serve: false });

  const protect = (reply: FastifyReply) => {
    reply.header('content-security-policy', UI_CSP);
    reply.header('x-frame-options', 'DENY');
    reply.header('referrer-policy', 'same-origin');
  };
  const page = (reply: FastifyReply) => {
    protect(reply);
    if (!existsSync(`${WEB_DIR}index.html`)) {
      return reply.code(503).type('text/plain; charset=utf-8').send('The web UI is not built: run `npm run build` (npm ci does it).');
    }
    return reply.header('cache-control', 'no-cache').sendFile('index.html', { cacheControl: false });
  };

  app.get('/', { schema: { hide: true } }, async (_request, reply) => reply.redirect('/ui/', 302));
  // Vite names every asset by its content's hash: it never changes under its name.
  app.get('/ui/assets/*', { schema: { hide: true } }, async (request, reply) => {
    protect(reply);
    const name = (request.params as { '*': string })['*'];
    return reply.sendFile(`assets/${name}`, { maxAge: YEAR_MS, immutable: true });
  });
  // Deep links (`/ui/issues/KEY-1`) are the one page, which routes in the browser.
  app.get('/ui/', { schema: { hide: true } }, async (_request, reply) => page(reply));
  app.get('/ui/*', { schema: { hide: true } }, async (_request, reply) => page(reply));
}
