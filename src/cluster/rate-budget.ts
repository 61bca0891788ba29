// Rate limits shared by the workers of one machine: each key's budget per window, leased out by the primary in shrinking chunks.
import type { PrimaryLink } from './link.js';

/** A worker gives back what it leased and has not used for this long (another worker may need it). */
const IDLE_RETURN_MS = 1_000;
/** Keys a worker or the primary keeps per window; past it the oldest window's entries go first. */
const MAX_KEYS = 100_000;

/**
 * The primary's ledger: per key, what the current window has handed out. A chunk is a share of what is
 * left (at least one request), so a key far from its limit costs one message per many requests, and
 * near it the chunks shrink to one: never more than `max` pass in a window, whichever workers serve them.
 */
export class RateLedger {
  private readonly granted = new Map<string, { window: number; granted: number }>();

  constructor(private readonly workers: number) {}

  grant(key: string, window: number, max: number): { granted: number; total: number } {
    let entry = this.granted.get(key);
    if (!entry || entry.window !== window) {
      if (this.granted.size >= MAX_KEYS) this.dropBefore(window);
      entry = { window, granted: 0 };
      this.granted.set(key, entry);
    }
    const left = max - entry.granted;
    if (left <= 0) return { granted: 0, total: entry.granted };
    const chunk = Math.max(1, Math.floor(left / (4 * this.workers)));
    entry.granted += chunk;
    return { granted: chunk, total: entry.granted };
  }

  giveBack(key: string, window: number, count: number): void {
    const entry = this.granted.get(key);
    if (entry && entry.window === window) entry.granted = Math.max(0, entry.granted - count);
  }

  private dropBefore(window: number): void {
    for (const [key, entry] of this.granted) if (entry.window < window) this.granted.delete(key);
  }
}

interface Lease {
  window: number;
  /** Requests leased and not yet used. */
  left: number;
  /** What the primary had handed out for the key, all workers together, at the last lease. */
  total: number;
  /** The primary had nothing left, as of this time (asked again a second later: others give back). */
  exhaustedAt: number | null;
  usedAt: number;
}

type Callback = (err: Error | null, result?: { current: number; ttl: number }) => void;

/**
 * A store for @fastify/rate-limit over the primary's ledger. Windows are fixed (aligned to the clock)
 * rather than starting at a key's first request: every worker then agrees on them without asking.
 */
export function clusterRateStore(link: PrimaryLink): new () => { incr(key: string, callback: Callback, timeWindow: number, max: number): void; child(): unknown } {
  const leases = new Map<string, Lease>();
  const sweep = setInterval(() => {
    const now = Date.now();
    for (const [key, lease] of leases) {
      if (lease.left > 0 && now - lease.usedAt >= IDLE_RETURN_MS) {
        void link.call('budget-return', { key, window: lease.window, count: lease.left }).catch(() => undefined);
        lease.left = 0;
        leases.delete(key);
      } else if (lease.left === 0 && now - lease.usedAt >= IDLE_RETURN_MS) {
        leases.delete(key);
      }
    }
  }, IDLE_RETURN_MS);
  sweep.unref();

  return class ClusterRateStore {
    incr(key: string, callback: Callback, timeWindow: number, max: number): void {
      const now = Date.now();
      const window = Math.floor(now / timeWindow);
      const ttl = (window + 1) * timeWindow - now;
      let lease = leases.get(key);
      if (!lease || lease.window !== window) {
        if (!lease && leases.size >= MAX_KEYS) leases.clear();
        lease = { window, left: 0, total: 0, exhaustedAt: null, usedAt: now };
        leases.set(key, lease);
      }
      lease.usedAt = now;
      if (lease.left > 0) {
        lease.left--;
        callback(null, { current: lease.total - lease.left, ttl });
        return;
      }
      if (lease.exhaustedAt !== null && now - lease.exhaustedAt < IDLE_RETURN_MS) {
        callback(null, { current: max + 1, ttl });
        return;
      }
      const asked = lease;
      link.call('budget', { key, window, max }).then(
        ({ granted, total }) => {
          if (granted === 0) {
            asked.exhaustedAt = Date.now();
            callback(null, { current: max + 1, ttl });
            return;
          }
          asked.exhaustedAt = null;
          asked.left += granted - 1;
          asked.total = total;
          callback(null, { current: total - asked.left, ttl });
        },
        (err: Error) => callback(err),
      );
    }

    child(): unknown {
      return this;
    }
  };
}
