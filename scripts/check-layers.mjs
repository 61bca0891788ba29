// Checks that imports under src/ follow the layers of ARCHITECTURE.md: data flows down, never back up.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';

const CONTRACTS = ['store/meta/meta-store.ts', 'store/blob/blob-store.ts'];
const MODEL = ['core/model.ts', 'core/errors.ts', 'core/ids.ts'];
/** What each folder may import, besides itself. */
const ALLOWED = {
  'util/': [],
  'media/': ['util/'],
  'store/': ['util/', ...MODEL],
  'core/': ['util/', 'media/', ...CONTRACTS],
  'http/': ['util/', 'media/', 'core/', ...CONTRACTS],
  // The client runs without the server: at run time it imports only itself; its types come from the server's renderers.
  'client/': [],
};
/** Layers that may `import type` from any other (erased at compile time). */
const TYPES_FROM_ANYWHERE = new Set(['client/']);

const files = (dir) =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));

const problems = [];
for (const file of files('src')) {
  const from = relative('src', file);
  const layer = Object.keys(ALLOWED).find((prefix) => from.startsWith(prefix));
  if (!layer) continue; // cli/, server.ts, config.ts assemble everything
  for (const [statement, spec] of readFileSync(file, 'utf8').matchAll(/^(?:import|export)\b[^;]*?'(\.[^']+)'/gms)) {
    const target = normalize(join(dirname(from), spec)).replace(/\.js$/, '.ts');
    const typeOnly = /^(?:import|export) type\b/.test(statement) && TYPES_FROM_ANYWHERE.has(layer);
    const ok = typeOnly || target.startsWith(layer) || ALLOWED[layer].some((allowed) => (allowed.endsWith('/') ? target.startsWith(allowed) : target === allowed));
    if (!ok) problems.push(`${file} imports ${spec}: ${layer} may not depend on ${target}`);
  }
}
if (problems.length > 0) {
  console.error(`Layering (ARCHITECTURE.md) broken:\n${problems.join('\n')}`);
  process.exit(1);
}
console.log(`layers: ${files('src').length} files follow ARCHITECTURE.md`);
