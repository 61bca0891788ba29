// Builds the web UI into dist/web, served by Affix under /ui/ (src/http/ui/pages.ts).
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/ui/',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  // `npm run dev:web`: the pages from here, the API from an Affix on 8080, which sees its own origin
  // (it takes writes made with the session cookie only from there).
  server: {
    proxy: Object.fromEntries(
      ['/v2', '/api', '/user_uploads', '/ui/api'].map((path) => [
        path,
        { target: 'http://127.0.0.1:8080', changeOrigin: true, configure: (proxy) => proxy.on('proxyReq', (request) => request.setHeader('origin', 'http://127.0.0.1:8080')) },
      ]),
    ),
  },
  build: {
    outDir: fileURLToPath(new URL('../dist/web', import.meta.url)),
    emptyOutDir: true,
    // Every chunk a file of its own under a content hash: no inline script for the CSP to refuse.
    assetsInlineLimit: 0,
    chunkSizeWarningLimit: 1500,
  },
});
