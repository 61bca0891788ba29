// Runs every compiled test file with Node's own test runner (Node 20 has no glob support in --test):
// first on the embedded default (SQLite + local disk), then the HTTP suites again on PostgreSQL + S3,
// then the crash and hostile suites on both with two workers.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

function find(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return find(path);
    return entry.name.endsWith('.test.js') ? [path] : [];
  });
}

const files = find('dist/test').sort();
if (files.length === 0) {
  console.error('no test files under dist/test: did the build run?');
  process.exit(1);
}
// PostgreSQL and Redis must be up (started, or installed from Debian's packages, when not).
const services = spawnSync('bash', ['scripts/test-services.sh'], { stdio: 'inherit' });
if (services.status !== 0) {
  console.error('PostgreSQL or Redis could not be brought up for the tests (scripts/test-services.sh)');
  process.exit(services.status ?? 1);
}
// These provision every backend themselves, so one pass is enough.
const backendIndependent = new Set(['stores.test.js', 'multi-node.test.js', 'resumable-parts.test.js', 'migrate.test.js']);
// The crash and hostile suites once more with every server a cluster of two workers (`--workers 2`).
const underWorkers = files.filter((f) => f.includes('/hostile/') || f.endsWith('/crash.test.js'));
const passes = [
  { backend: 'embedded', files },
  { backend: 'postgres-s3', files: files.filter((f) => !backendIndependent.has(f.split('/').pop())) },
  { backend: 'embedded', workers: '2', files: underWorkers },
  { backend: 'postgres-s3', workers: '2', files: underWorkers },
];
// The lockfile pins the AWS SDK; its notice about future Node versions is noise in test output.
const env = { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };
for (const pass of passes) {
  const name = `${pass.backend}${pass.workers ? `, --workers ${pass.workers}` : ''}`;
  console.log(`\n=== test pass: ${name} ===\n`);
  const result = spawnSync(process.execPath, ['--test', '--test-reporter=spec', ...pass.files], {
    stdio: 'inherit',
    env: { ...env, AFFIX_TEST_BACKEND: pass.backend, ...(pass.workers ? { AFFIX_TEST_WORKERS: pass.workers } : {}) },
  });
  if (result.status !== 0) {
    console.error(`test pass ${name} failed`);
    process.exit(result.status ?? 1);
  }
}
