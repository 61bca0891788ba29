// The commands for people and scripts: login, upload, ls, download, rm, usage; on the client, with progress on stderr and exit codes scripts can use.
import { createInterface } from 'node:readline/promises';
import { mkdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { AffixClient, AffixClientError, type Attachment, type FoundFile, type UploadTarget } from '../client/index.js';
import { loadProfile, NotSignedIn, saveProfile, stateDir, type Profile } from './profile.js';
import { formatBytes, progressView, type ProgressView, type Transfer } from './progress.js';

/** What the process exits with: scripts branch on these (README, "The CLI"). */
export const EXIT = { ok: 0, usage: 1, refused: 2, unreachable: 3, interrupted: 130 } as const;

/** Anything the user gave that cannot work: a usage error (exit 1). */
class UsageError extends Error {}

/** The commands, each with `--help`; resolves with the exit code. */
export async function runPersonCommand(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const program = new Command('affix')
    .exitOverride()
    .configureOutput({ writeErr: (text) => process.stderr.write(text), writeOut: (text) => process.stdout.write(text) })
    .showHelpAfterError('(add --help for what it takes)');
  let code: number = EXIT.ok;
  // Two retries (0.5 s, 1 s) after a failure a retry may mend: a person waits, a script gets its exit code soon.
  const client = async () => new AffixClient({ ...(await loadProfile(env)), retries: 2 });
  const json = new Option('--json', 'stdout carries JSON only; progress and messages go to stderr');

  program
    .command('login')
    .description('check credentials against a server and keep them (mode 0600) for the other commands')
    .requiredOption('--url <url>', 'the server, e.g. https://files.example.com')
    .option('--token <token>', 'a Tracker OAuth token (with --org)')
    .option('--org <org>', 'the Tracker organization id (with --token)')
    .option('--email <email>', 'a Zulip email (with --api-key)')
    .option('--api-key <key>', 'a Zulip API key (with --email)')
    .addOption(json)
    .action(async (o: { url: string; token?: string; org?: string; email?: string; apiKey?: string; json?: boolean }) => {
      const credentials =
        o.token && o.org && !o.email && !o.apiKey ? { token: o.token, org: o.org } : o.email && o.apiKey && !o.token && !o.org ? { email: o.email, apiKey: o.apiKey } : null;
      if (!credentials) throw new UsageError('give --token and --org, or --email and --api-key');
      if (!/^https?:\/\/[^/]+/.test(o.url)) throw new UsageError(`--url must be an http(s) URL, not ${o.url}`);
      const profile: Profile = { url: o.url.replace(/\/+$/, ''), credentials };
      // Checked before anything is stored: a failed login keeps nothing.
      const session = await new AffixClient({ ...profile, retries: 2 }).session();
      const path = await saveProfile(profile, env);
      if (o.json) print({ url: profile.url, user: session.user.login, org: session.org.id, config: path });
      else process.stdout.write(`Signed in to ${profile.url} as ${session.user.display} (${session.user.login}, organization ${session.org.id}); kept in ${path}\n`);
    });

  program
    .command('upload')
    .description('upload files: to an issue, a comment, an entity, as temporary files, or as Zulip uploads; resumes an interrupted upload of the same file when run again')
    .argument('<files...>', 'the files to upload')
    .option('--issue <key>', 'attach to this issue (its key, or its id)')
    .option('--comment <key/id>', 'attach to a comment: ISSUE-KEY/COMMENT-ID')
    .option('--entity <type/id>', 'attach to a project, portfolio or goal: TYPE/ID')
    .option('--temporary', 'upload as temporary files, to attach later through attachmentIds')
    .option('--zulip', 'upload as Zulip uploads (the default with Zulip credentials)')
    .option('--name <name>', 'the name the file takes (one file only)')
    .option('--parallel <n>', 'send each file in this many parts at once', positive('--parallel'))
    .option('--chunk-size <MiB>', 'MiB per request of a resumable upload (default: the whole file in one)', positive('--chunk-size'))
    .option('--resumable-from <MiB>', 'files of at least this many MiB go resumable (tus), smaller ones in one request', positive('--resumable-from'), 8)
    .addOption(json)
    .action(async (files: string[], o: UploadFlags) => {
      const affix = await client();
      const target = targetOf(o, affix.zulip);
      if (o.name !== undefined && files.length > 1) throw new UsageError('--name names one file; give one file with it');
      const sizes = new Map<string, number>();
      for (const file of files) {
        const info = await stat(file).catch(() => null);
        if (!info?.isFile()) throw new UsageError(`${file}: no such file, or it cannot be read`);
        sizes.set(file, info.size);
      }
      const resumeDir = stateDir(env);
      await mkdir(resumeDir, { recursive: true, mode: 0o700 });
      // Ctrl-C: the upload stops where it is (the server keeps the bytes, this machine the upload's URL), then exit 130.
      await withProgress(async (view, signal) => {
        for (const file of files) {
          const name = o.name ?? file.split('/').pop()!;
          const transfer = view.start(name, sizes.get(file)!);
          const result = await failing(transfer, () =>
            affix.upload(file, {
              target,
              name,
              signal,
              resumeStore: join(resumeDir, 'uploads.json'),
              resumableFrom: o.resumableFrom * 1024 * 1024,
              ...(o.chunkSize ? { chunkSize: o.chunkSize * 1024 * 1024 } : {}),
              ...(o.parallel ? { parallel: o.parallel } : {}),
              onProgress: (p) => transfer.update(p.bytes, p.total),
            }),
          );
          const where = 'attachment' in result ? `attachment ${result.attachment.id}` : result.zulip.url;
          transfer.done(`${result.resumed ? 'resumed and uploaded' : 'uploaded'} as ${where}`);
          if (o.json) {
            print({ file, resumed: result.resumed, ...('attachment' in result ? { id: result.attachment.id, name: result.attachment.name, size: result.attachment.size, content: result.attachment.content } : { name: result.zulip.filename, url: result.zulip.url }) });
          }
        }
      });
      if (!o.json) process.stderr.write(`${files.length === 1 ? 'One file' : `${files.length} files`} uploaded.\n`);
    });

  program
    .command('ls')
    .description("list an issue's files (with its comments'), an entity's, or your own")
    .argument('[issue]', 'the issue key or id')
    .option('--entity <type/id>', "an entity's files: TYPE/ID")
    .option('--mine', 'the files you uploaded, newest first')
    .addOption(json)
    .action(async (issue: string | undefined, o: { entity?: string; mine?: boolean; json?: boolean }) => {
      if ([issue, o.entity, o.mine].filter((x) => x !== undefined).length !== 1) throw new UsageError('say what to list: ISSUE, --entity TYPE/ID or --mine');
      const affix = await client();
      const files: Array<Attachment | FoundFile> = o.mine
        ? (await affix.myFiles(1, 1000)).items
        : o.entity
          ? await affix.entityAttachments(...entityOf(o.entity))
          : await affix.issueAttachments(issue!);
      if (o.json) return print(files);
      if (files.length === 0) return void process.stderr.write('No files.\n');
      table(
        ['ID', 'NAME', 'SIZE', 'UPLOADED', 'BY'],
        files.map((f) => [f.id, f.name, formatBytes(f.size), f.createdAt.slice(0, 16).replace('T', ' '), f.createdBy.display]),
      );
    });

  program
    .command('download')
    .description('download a file by its attachment id or its URL; a stopped download goes on when run again')
    .argument('<ref>', 'an attachment id, or a content URL')
    .option('-o, --output <path>', 'where to write it (default: its name, here)')
    .addOption(json)
    .action(async (ref: string, o: { output?: string; json?: boolean }) => {
      const affix = await client();
      const { name } = await affix.contentOf(ref);
      const path = resolve(o.output ?? safeName(name));
      await withProgress(async (view, signal) => {
        const transfer = view.start(name, 0);
        const result = await failing(transfer, () => affix.download(ref, path, { signal, onProgress: (p) => transfer.update(p.bytes, p.total) }));
        transfer.done(`${result.resumedFrom > 0 ? `resumed at ${formatBytes(result.resumedFrom)}, ` : ''}saved to ${path}`);
        if (o.json) print({ path, bytes: result.bytes, sha256: result.sha256, resumedFrom: result.resumedFrom });
      });
    });

  program
    .command('rm')
    .description('delete a file by its attachment id (asks first on a terminal)')
    .argument('<id>', 'the attachment id')
    .option('-y, --yes', 'do not ask')
    .action(async (id: string, o: { yes?: boolean }) => {
      const affix = await client();
      const { name } = await affix.contentOf(id);
      if (!o.yes && process.stdin.isTTY) {
        const prompt = createInterface({ input: process.stdin, output: process.stderr });
        const answer = await prompt.question(`Delete ${name} (attachment ${id})? [y/N] `);
        prompt.close();
        if (!/^y(es)?$/i.test(answer.trim())) {
          process.stderr.write('Nothing deleted.\n');
          code = EXIT.usage;
          return;
        }
      }
      await affix.deleteAttachment(id);
      process.stderr.write(`Deleted ${name}.\n`);
    });

  program
    .command('usage')
    .description("your organization's storage: space used against the quota, by kind, the largest files")
    .addOption(json)
    .action(async (o: { json?: boolean }) => {
      const usage = await (await client()).usage();
      if (o.json) return print(usage);
      process.stdout.write(`Space used: ${formatBytes(usage.usedBytes)}${usage.quotaBytes === null ? ' (no quota)' : ` of ${formatBytes(usage.quotaBytes)}`} in ${usage.files} files; largest allowed ${formatBytes(usage.maxFileBytes)}\n`);
      table(['KIND', 'FILES', 'SIZE'], usage.byKind.map((k) => [k.kind, String(k.files), formatBytes(k.bytes)]));
      if (usage.largest.length > 0) {
        process.stdout.write('\nLargest files:\n');
        table(['ID', 'NAME', 'SIZE', 'ISSUE'], usage.largest.map((f) => [f.id, f.name, formatBytes(f.size), f.issueKey ?? '']));
      }
    });

  try {
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (err) {
    return failure(err);
  }
}

interface UploadFlags {
  issue?: string;
  comment?: string;
  entity?: string;
  temporary?: boolean;
  zulip?: boolean;
  name?: string;
  parallel?: number;
  chunkSize?: number;
  resumableFrom: number;
  json?: boolean;
}

/** Exactly one place; with Zulip credentials and none given, Zulip uploads. */
function targetOf(o: UploadFlags, zulipCredentials: boolean): UploadTarget {
  const given = [o.issue, o.comment, o.entity, o.temporary, o.zulip].filter((x) => x !== undefined).length;
  if (given > 1) throw new UsageError('give one of --issue, --comment, --entity, --temporary, --zulip');
  if (o.issue) return { issue: o.issue };
  if (o.comment) {
    const [issue, comment] = o.comment.split('/');
    if (!issue || !comment) throw new UsageError('--comment takes ISSUE-KEY/COMMENT-ID');
    return { issue, comment };
  }
  if (o.entity) {
    const [type, id] = entityOf(o.entity);
    return { entity: `${type}/${id}` };
  }
  if (o.temporary) return { temporary: true };
  if (o.zulip || zulipCredentials) return { zulip: true };
  throw new UsageError('say where the files go: --issue KEY, --comment KEY/ID, --entity TYPE/ID or --temporary');
}

function entityOf(text: string): ['project' | 'portfolio' | 'goal', string] {
  const [type, id] = text.split('/');
  if ((type !== 'project' && type !== 'portfolio' && type !== 'goal') || !id) throw new UsageError('--entity takes TYPE/ID, TYPE one of project, portfolio, goal');
  return [type, id];
}

function positive(flag: string) {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${flag} takes a whole number from 1`);
    return n;
  };
}

/** A server-given name as a file name here: no directories, nothing hidden by a leading dot. */
function safeName(name: string): string {
  return name.replace(/[/\\\0]/g, '_').replace(/^\.+/, '_') || 'file';
}

/**
 * Runs `work` with a progress view on stderr and a signal that Ctrl-C aborts: the transfer stops where it
 * is and the client's error (cancelled) becomes exit 130. The view is closed however `work` ends.
 */
async function withProgress(work: (view: ProgressView, signal: AbortSignal) => Promise<void>): Promise<void> {
  const view = progressView({ tty: process.stderr.isTTY === true, quiet: false });
  const stop = new AbortController();
  const interrupt = () => stop.abort();
  process.once('SIGINT', interrupt);
  try {
    await work(view, stop.signal);
  } finally {
    process.removeListener('SIGINT', interrupt);
    view.stop();
  }
}

/** `work`'s result; when it throws, the transfer's line says why first. */
async function failing<T>(transfer: Transfer, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    transfer.fail(err instanceof Error ? err.message : String(err));
    throw err;
  }
}

function print(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

function table(headings: string[], rows: string[][]): void {
  const widths = headings.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  for (const row of [headings, ...rows]) process.stdout.write(`${row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')}\n`);
}

/** One line on stderr saying what and why, and the exit code for it. */
function failure(err: unknown): number {
  if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
  const say = (message: string) => process.stderr.write(`affix: ${message}\n`);
  if (err instanceof UsageError || err instanceof NotSignedIn) {
    say(err.message);
    return EXIT.usage;
  }
  if (err instanceof AffixClientError) {
    switch (err.kind) {
      case 'cancelled':
        say('interrupted; run the same command again to go on from where it stopped');
        return EXIT.interrupted;
      case 'input':
        say(err.message);
        return EXIT.usage;
      case 'network':
        say(err.message);
        return EXIT.unreachable;
      default:
        say(err.status > 0 ? `the server refused (${err.status}): ${err.message}` : err.message);
        return EXIT.refused;
    }
  }
  say(err instanceof Error ? err.message : String(err));
  return EXIT.usage;
}
