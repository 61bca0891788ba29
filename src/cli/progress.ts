// How the CLI shows a transfer: bars on a terminal (cli-progress), plain lines otherwise, nothing on stdout either way.
import cliProgress from 'cli-progress';

export interface Transfer {
  update(bytes: number, total: number): void;
  done(message: string): void;
  fail(message: string): void;
}

export interface ProgressView {
  start(name: string, total: number): Transfer;
  stop(): void;
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${UNITS[unit]}`;
}

/** Bars when stderr is a terminal; a line per tenth otherwise (logs and CI); nothing with `quiet`. */
export function progressView(options: { tty: boolean; quiet: boolean }): ProgressView {
  if (options.quiet) return { start: () => ({ update() {}, done() {}, fail() {} }), stop() {} };
  return options.tty ? bars() : lines();
}

function bars(): ProgressView {
  const multibar = new cliProgress.MultiBar(
    {
      stream: process.stderr,
      format: '{name} |{bar}| {percentage}% {done} of {size} | {speed} | ETA {eta_formatted}',
      hideCursor: true,
      clearOnComplete: false,
      stopOnComplete: false,
      etaBuffer: 50,
      fps: 10,
      formatValue: (value, _options, type) => (type === 'percentage' ? String(value).padStart(3) : String(value)),
    },
    cliProgress.Presets.shades_classic,
  );
  return {
    start(name, total) {
      const started = Date.now();
      let from: number | null = null;
      const bar = multibar.create(Math.max(total, 1), 0, { name: name.slice(0, 30).padEnd(30), done: formatBytes(0), size: formatBytes(total), speed: '' });
      return {
        update(bytes, size) {
          // The speed of this run: bytes a resumed upload or download had before it do not count.
          from ??= bytes;
          const seconds = (Date.now() - started) / 1000;
          bar.setTotal(Math.max(size, 1));
          bar.update(bytes, { done: formatBytes(bytes), size: formatBytes(size), speed: seconds > 0 ? `${formatBytes((bytes - from) / seconds)}/s` : '' });
        },
        done(message) {
          bar.update(bar.getTotal(), { speed: message });
          bar.stop();
        },
        fail(message) {
          bar.update({ speed: `failed: ${message}` });
          bar.stop();
        },
      };
    },
    stop: () => multibar.stop(),
  };
}

function lines(): ProgressView {
  return {
    start(name, total) {
      let reported = -1;
      let from: number | null = null;
      const started = Date.now();
      process.stderr.write(`${name}: ${formatBytes(total)}\n`);
      return {
        update(bytes, size) {
          from ??= bytes;
          const tenth = size > 0 ? Math.floor((bytes / size) * 10) : 0;
          if (tenth <= reported || tenth >= 10 || bytes === 0) return;
          reported = tenth;
          const seconds = (Date.now() - started) / 1000;
          process.stderr.write(`${name}: ${tenth * 10}% (${formatBytes(bytes)} of ${formatBytes(size)}${seconds > 0 ? `, ${formatBytes((bytes - from) / seconds)}/s` : ''})\n`);
        },
        done(message) {
          process.stderr.write(`${name}: ${message}\n`);
        },
        fail(message) {
          process.stderr.write(`${name}: failed: ${message}\n`);
        },
      };
    },
    stop() {},
  };
}
