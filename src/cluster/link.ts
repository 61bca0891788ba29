// A worker's channel to its primary (node:cluster): calls the primary answers, and no life without it.
/** The environment variable telling a worker its slot (0 .. N-1); slot 0 runs the collector's timer. */
export const WORKER_SLOT_ENV = 'AFFIX_WORKER_SLOT';
/** A worker's exit code when it could not start (the port taken, a store unreachable): no use starting another. */
export const WORKER_CANNOT_START = 78;

/** What a worker asks the primary, and what it answers. */
export interface Calls {
  lock: { ask: { name: string }; answer: boolean };
  unlock: { ask: { name: string }; answer: true };
  budget: { ask: { key: string; window: number; max: number }; answer: { granted: number; total: number } };
  'budget-return': { ask: { key: string; window: number; count: number }; answer: true };
  metrics: { ask: Record<string, never>; answer: string };
}

export interface CallMessage<K extends keyof Calls = keyof Calls> {
  affix: 'call';
  id: number;
  kind: K;
  ask: Calls[K]['ask'];
}

export interface ReplyMessage {
  affix: 'reply';
  id: number;
  answer?: unknown;
  error?: string;
}

export const isCall = (message: unknown): message is CallMessage => (message as CallMessage | null)?.affix === 'call';

/** How long a worker waits for its primary, which answers from memory, before the call fails. */
const CALL_TIMEOUT_MS = 10_000;

export class PrimaryLink {
  private next = 0;
  private readonly waiting = new Map<number, { resolve(answer: unknown): void; reject(err: Error): void; timer: NodeJS.Timeout }>();

  constructor() {
    if (!process.send) throw new Error('PrimaryLink: this process has no primary (not a cluster worker)');
    process.on('message', (message: ReplyMessage) => {
      if (message?.affix !== 'reply') return;
      const call = this.waiting.get(message.id);
      if (!call) return;
      this.waiting.delete(message.id);
      clearTimeout(call.timer);
      if (message.error !== undefined) call.reject(new Error(message.error));
      else call.resolve(message.answer);
    });
    // The primary gone (killed): its locks are gone with it, and a new primary's workers may take them.
    // A worker going on alone could write an upload another is writing: it stops at once, as if killed too.
    process.on('disconnect', () => process.exit(70));
  }

  call<K extends keyof Calls>(kind: K, ask: Calls[K]['ask']): Promise<Calls[K]['answer']> {
    const id = this.next++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`the primary process did not answer ${kind} in time`));
      }, CALL_TIMEOUT_MS);
      this.waiting.set(id, { resolve: resolve as (answer: unknown) => void, reject, timer });
      const message: CallMessage<K> = { affix: 'call', id, kind, ask };
      process.send!(message, undefined, undefined, (err: Error | null) => {
        if (!err) return;
        clearTimeout(timer);
        this.waiting.delete(id);
        reject(new Error(`the primary process is gone: ${err.message}`));
      });
    });
  }
}
