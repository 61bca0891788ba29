// Counts work still running, so shutdown can wait for the last piece to settle before closing the stores.

export class InFlight {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  /** Counts `work` until it settles; returns it unchanged. */
  track<T>(work: Promise<T>): Promise<T> {
    this.running++;
    const done = () => {
      if (--this.running === 0) for (const wake of this.waiting.splice(0)) wake();
    };
    work.then(done, done);
    return work;
  }

  get size(): number {
    return this.running;
  }

  /** Resolves once nothing is running (at once when nothing is). */
  drained(): Promise<void> {
    return this.running === 0 ? Promise.resolve() : new Promise((resolve) => this.waiting.push(resolve));
  }
}
