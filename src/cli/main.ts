#!/usr/bin/env node
// The `affix` command: the server's (serve, user add, org set, gc) and people's (login, upload, ls, download, rm, usage).
import cluster from 'node:cluster';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CONFIG_FLAGS, loadConfig, parseServeArgs } from '../config.js';
import { openCore, startServer } from '../server.js';

const USAGE = `Usage:
  affix serve [--port N] [--host H] [--data-dir D] [--public-url URL] [--max-file-size SIZE]
              [--temporary-ttl DURATION] [--resumable-ttl DURATION] [--session-ttl DURATION] [--gc-interval DURATION] [--thumbnail-max-pixels N]
              [--thumbnail-timeout DURATION] [--thumbnail-memory SIZE] [--accel-redirect PREFIX]
              [--rate-limit N] [--log-level LEVEL] [--auth-cache DURATION] [--pack-files-up-to SIZE]
              [--header-timeout DURATION] [--idle-timeout DURATION] [--request-timeout DURATION]
              [--shutdown-grace DURATION] [--cors-origins https://a.example,…] [--workers N]
              [--database-url postgres://…] [--database-schema S] [--redis-url redis://…]
              [--s3-endpoint URL] [--s3-bucket B] [--s3-region R] [--s3-access-key K --s3-secret-key S]
              [--s3-force-path-style true] [--s3-presign-downloads true]
  affix user add --org <orgId> --login <login> --display "<name>" [--email <e>] [--data-dir D]
  affix org set --org <orgId> [--max-file-upload-size-mib N|none] [--upload-quota-mib N|none] [--data-dir D]
  affix gc [--data-dir D]
  affix fsck [--full] [--sample N] [--repair] [--json] [--data-dir D]
  affix backup --to DIR [--data-dir D]          (the embedded default, while it serves)
  affix restore --from DIR --data-dir D
  affix migrate [source flags] (--to-database-url URL [--to-database-schema S] | --to-data-dir D)
                [--to-s3-endpoint URL --to-s3-bucket B --to-s3-region R --to-s3-access-key K --to-s3-secret-key S --to-s3-force-path-style true]

  affix login --url URL (--token T --org O | --email E --api-key K)
  affix upload FILE... [--issue KEY | --comment KEY/ID | --entity TYPE/ID | --temporary | --zulip] [--name N] [--json]
  affix ls (ISSUE | --entity TYPE/ID | --mine) [--json]
  affix download ID|URL [-o PATH] [--json]
  affix rm ID [--yes]
  affix usage [--json]
  (each takes --help; AFFIX_URL, AFFIX_TOKEN + AFFIX_ORG or AFFIX_EMAIL + AFFIX_API_KEY stand in for login)

Every flag of serve also reads AFFIX_<NAME> from the environment (AFFIX_PORT, AFFIX_DATA_DIR, ...).
user, org, gc and fsck take the same storage flags (or variables) as serve: --database-url, --s3-*.`;

// Each command's own modules load only when it runs: `serve` stays as small in memory as it can.

/** The commands for people and scripts, on the client (./person.ts). */
const PERSON_COMMANDS = new Set(['login', 'upload', 'ls', 'download', 'rm', 'usage']);

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command !== undefined && PERSON_COMMANDS.has(command)) {
    // Exit once done: an interrupted transfer may leave a socket or a file open that would hold the process (stdout and stderr are synchronous on Linux).
    process.exit(await (await import('./person.js')).runPersonCommand(argv));
  }
  switch (command) {
    case 'serve':
    case undefined: {
      const config = parseServeArgs(rest);
      // `--workers N` (N > 1): this process forks N workers, each of which runs the rest of this case.
      if (config.workers > 1 && cluster.isPrimary) return (await import('../cluster/primary.js')).runPrimary(config);
      const linking = cluster.isWorker ? await import('../cluster/link.js') : null;
      const worker = linking ? { link: new linking.PrimaryLink(), slot: Number(process.env[linking.WORKER_SLOT_ENV] ?? 0), workers: config.workers } : null;
      const server = await startServer(config, worker).catch((err: Error) => {
        if (!worker) throw err;
        // Its channel to the primary would keep it alive: a worker that cannot start says so and exits.
        process.stderr.write(`affix: worker ${worker.slot}: ${err.message}\n`);
        process.exit(linking!.WORKER_CANNOT_START);
      });
      let stopping = false;
      const stop = () => {
        if (stopping) return;
        stopping = true;
        server.close().then(
          () => process.exit(0),
          () => process.exit(1),
        );
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
      return -1;
    }
    case 'user': {
      const [sub, ...args] = rest;
      if (sub !== 'add') break;
      const { values } = parseArgs({
        args,
        options: { ...CONFIG_FLAGS, org: { type: 'string' }, login: { type: 'string' }, display: { type: 'string' }, email: { type: 'string' } },
      });
      if (!values.org || !values.login) {
        process.stderr.write('affix user add: --org and --login are required\n');
        return 2;
      }
      const core = await openCore(loadConfig(values));
      try {
        const { user, org, token, apiKey } = await core.identity.addUser({
          orgExtId: values.org,
          login: values.login,
          display: values.display ?? values.login,
          email: values.email,
        });
        process.stdout.write(
          // realmId: the number in Zulip's `/user_uploads/<realm_id>/...` paths.
          `${JSON.stringify({ orgId: org.extId, realmId: org.id, userId: String(user.id), login: user.login, token, apiKey, email: user.email })}\n`,
        );
      } finally {
        await core.close();
      }
      return 0;
    }
    case 'org': {
      const [sub, ...args] = rest;
      if (sub !== 'set') break;
      const { values } = parseArgs({
        args,
        options: { ...CONFIG_FLAGS, org: { type: 'string' }, 'max-file-upload-size-mib': { type: 'string' }, 'upload-quota-mib': { type: 'string' } },
      });
      if (!values.org) {
        process.stderr.write('affix org set: --org is required\n');
        return 2;
      }
      const core = await openCore(loadConfig(values));
      try {
        const org = await core.identity.setOrgLimits(values.org, {
          maxFileUploadSizeMib: mibOrNone(values['max-file-upload-size-mib'], '--max-file-upload-size-mib'),
          uploadQuotaMib: mibOrNone(values['upload-quota-mib'], '--upload-quota-mib'),
        });
        process.stdout.write(`${JSON.stringify({ orgId: org.extId, maxFileUploadSizeMib: org.maxFileUploadSizeMib, uploadQuotaMib: org.uploadQuotaMib })}\n`);
      } finally {
        await core.close();
      }
      return 0;
    }
    case 'gc': {
      const { values } = parseArgs({ args: rest, options: CONFIG_FLAGS });
      const core = await openCore(loadConfig(values));
      try {
        // Always one JSON line: the run's report, or why there was none.
        const report = await core.collector.collectAlone();
        process.stdout.write(`${JSON.stringify(report ?? { skipped: 'another collector run is under way' })}\n`);
      } finally {
        await core.close();
      }
      return 0;
    }
    case 'fsck': {
      const { values } = parseArgs({
        args: rest,
        options: { ...CONFIG_FLAGS, full: { type: 'boolean' }, repair: { type: 'boolean' }, sample: { type: 'string' }, json: { type: 'boolean' } },
      });
      const sample = values.sample === undefined ? 100 : Number(values.sample);
      if (!Number.isSafeInteger(sample) || sample < 0) throw new Error(`--sample: a whole number of blobs, not ${values.sample}`);
      const core = await openCore(loadConfig(values));
      try {
        return await (await import('./fsck.js')).fsck(core, { full: values.full === true, repair: values.repair === true, sample, json: values.json === true });
      } finally {
        await core.close();
      }
    }
    case 'backup': {
      const { values } = parseArgs({ args: rest, options: { ...CONFIG_FLAGS, to: { type: 'string' } } });
      if (!values.to) throw new Error('affix backup: --to DIR is required (absent or empty)');
      const report = await (await import('./backup.js')).backup(loadConfig(values), values.to);
      process.stdout.write(`${JSON.stringify(report)}\n`);
      if (report.damaged.length > 0) {
        process.stderr.write(`affix backup: ${report.damaged.length} blobs are missing or wrong in the live store (run affix fsck): the backup in ${values.to} is not whole\n`);
        return 1;
      }
      return 0;
    }
    case 'restore': {
      const { values } = parseArgs({ args: rest, options: { ...CONFIG_FLAGS, from: { type: 'string' } } });
      if (!values.from || !values['data-dir']) throw new Error('affix restore: --from DIR and --data-dir D (absent or empty) are required');
      process.stdout.write(`${JSON.stringify(await (await import('./backup.js')).restore(values.from, loadConfig(values)))}\n`);
      return 0;
    }
    case 'migrate': {
      const targetFlags = ['data-dir', 'database-url', 'database-schema', 's3-endpoint', 's3-bucket', 's3-region', 's3-access-key', 's3-secret-key', 's3-force-path-style'] as const;
      const { values } = parseArgs({
        args: rest,
        options: { ...CONFIG_FLAGS, ...Object.fromEntries(targetFlags.map((f) => [`to-${f}`, { type: 'string' as const }])) },
      });
      const given = values as Record<string, string | undefined>;
      const to = Object.fromEntries(targetFlags.filter((f) => given[`to-${f}`] !== undefined).map((f) => [f, given[`to-${f}`]!]));
      if (!to['database-url'] && !to['data-dir']) throw new Error('affix migrate: name the target with --to-database-url (and --to-s3-...) or --to-data-dir');
      // The target comes from --to-... flags alone: no AFFIX_* variable of the source leaks into it.
      const target = loadConfig({ ...to, 'data-dir': to['data-dir'] ?? join(tmpdir(), `affix-migrate-${process.pid}`) }, {});
      const report = await (await import('./migrate.js')).migrate(loadConfig(values), target, (line) => process.stderr.write(`migrate: ${line}\n`));
      process.stdout.write(`${JSON.stringify(report)}\n`);
      if (report.failures.length > 0) {
        for (const failure of report.failures) process.stderr.write(`affix migrate: ${failure}\n`);
        return 1;
      }
      return 0;
    }
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(`${USAGE}\n`);
      return 0;
  }
  process.stderr.write(`${USAGE}\n`);
  return 2;
}

/** A whole number of MiB, `none` to clear the setting, or undefined to leave it. */
function mibOrNone(value: string | undefined, flag: string): number | null | undefined {
  if (value === undefined) return undefined;
  if (value === 'none') return null;
  const mib = Number(value);
  if (!Number.isSafeInteger(mib) || mib <= 0) throw new Error(`${flag}: a whole number of MiB or none, not ${value}`);
  return mib;
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`affix: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
