/**
 * Who a secret belonged to a moment ago, so a burst of requests with one token looks it up once.
 * Entries live `ttlMs` (monotonic time) and the oldest go first past `maxEntries`. Only successful
 * lookups are kept: a wrong token always reaches the database, and cannot fill the memory.
 */
export class RecentLogins<T> {
  private readonly entries = new Map<string, { value: T; until: number }>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  get(key: string): T | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.until > this.now()) return entry.value;
    this.entries.delete(key);
    return undefined;
  }

  set(key: string, value: T): void {
    if (this.ttlMs <= 0) return;
    this.entries.delete(key);
    if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(key, { value, until: this.now() + this.ttlMs });
  }
}
