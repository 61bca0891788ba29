/**
 * One task (an fsync) shared by everyone who asks for it while it runs: `request()` resolves after a
 * run that started after the call, so the run covers whatever the caller did before asking. Calls that
 * arrive during a run share the next one, so any number of callers cost at most two runs.
 */
export class SharedRun {
  private running: Promise<void> | null = null;
  private queued: Promise<void> | null = null;

  constructor(private readonly task: () => Promise<void>) {}

  request(): Promise<void> {
    if (!this.running) return this.start();
    this.queued ??= this.running.then(ignore, ignore).then(() => {
      this.queued = null;
      return this.start();
    });
    return this.queued;
  }

  get idle(): boolean {
    return !this.running && !this.queued;
  }

  /** Settles once the runs asked for so far have ended, however they ended. */
  async settled(): Promise<void> {
    await (this.queued ?? this.running)?.then(ignore, ignore);
  }

  private start(): Promise<void> {
    const run = this.task().finally(() => {
      if (this.running === run) this.running = null;
    });
    this.running = run;
    return run;
  }
}

const ignore = (): void => undefined;

/** A SharedRun per key (a directory), dropped once idle. */
export class SharedRuns {
  private readonly runs = new Map<string, SharedRun>();

  constructor(private readonly task: (key: string) => Promise<void>) {}

  request(key: string): Promise<void> {
    const run = this.runs.get(key) ?? this.add(key);
    const done = run.request();
    const forget = () => {
      if (run.idle && this.runs.get(key) === run) this.runs.delete(key);
    };
    done.then(forget, forget);
    return done;
  }

  private add(key: string): SharedRun {
    const run = new SharedRun(() => this.task(key));
    this.runs.set(key, run);
    return run;
  }
}
