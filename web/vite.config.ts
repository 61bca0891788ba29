// Builds the web UI into dist/web, served by Affix under /ui/ (src/http/ui/pages.ts).
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/ui/',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: fileURLToPath(new URL('../dist/web', import.meta.url)),
    emptyOutDir: true,
    // Every chunk a file of its own under a content hash: no inline script for the CSP to refuse.
    assetsInlineLimit: 0,
    chunkSizeWarningLimit: 1500,
  },
});
