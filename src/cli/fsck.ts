// `affix fsck`: the integrity check from the command line, one line per problem, a bar on a terminal, exit 1 when any attachment's bytes are damaged.
import cliProgress from 'cli-progress';
import type { Affix } from '../core/affix.js';
import type { Problem } from '../core/integrity.js';

export async function fsck(core: Affix, options: { full: boolean; repair: boolean; sample: number; json: boolean }): Promise<number> {
  const bar = process.stderr.isTTY && !options.json ? new cliProgress.SingleBar({ stream: process.stderr, format: 'fsck |{bar}| {value}/{total} blobs', hideCursor: true }, cliProgress.Presets.shades_classic) : null;
  let started = false;
  const problems: Problem[] = [];
  const report = await core.integrity.check({
    full: options.full,
    repair: options.repair,
    sample: options.sample,
    onProgress: (done, total) => {
      if (!bar) return;
      if (!started) bar.start(total, 0);
      started = true;
      bar.update(done);
    },
    onProblem: (problem) => {
      problems.push(problem);
      if (options.json) return;
      const line = describe(problem);
      if (bar && started) bar.stop();
      for (const text of line) process.stdout.write(`${text}\n`);
      if (bar && started) bar.start(bar.getTotal(), bar.getProgress() * bar.getTotal());
    },
  });
  bar?.stop();
  if (options.json) process.stdout.write(`${JSON.stringify({ ...report, problems })}\n`);
  else {
    process.stderr.write(
      `fsck: ${report.blobs} blobs, ${report.rehashed} re-hashed; ${report.damaged} attachments damaged, ${report.refCountsWrong} reference counts wrong, ` +
        `${report.unusedBlobs} unused blob rows, ${report.thumbnailsMissing} thumbnails missing, ${report.orphans} orphan blobs` +
        `${options.repair ? `; ${report.repaired} repaired` : ''}\n`,
    );
  }
  return report.damaged > 0 ? 1 : 0;
}

/** A problem as lines: a damaged blob gives one line per attachment it affects, each naming it. */
function describe(problem: Problem): string[] {
  const fixed = 'repaired' in problem && problem.repaired ? ' (repaired)' : '';
  switch (problem.kind) {
    case 'missing':
    case 'short':
    case 'corrupt':
      return problem.attachments.map((a) => `attachment ${a.id} ${JSON.stringify(a.name)}: ${problem.kind}, blob ${problem.blob}: ${problem.detail}`);
    case 'ref_count':
      return [`blob ${problem.blob}: reference count ${problem.detail}${fixed}`];
    case 'unused_blob':
      return [`blob ${problem.blob}: no attachment uses it${fixed}`];
    case 'thumbnail_missing':
      return [`thumbnail ${problem.blob}: its bytes are missing (made again on request)${fixed}`];
    case 'orphan':
      return [`blob ${problem.blob}: stored, but no record names it${fixed}`];
  }
}
