// Requests to an Affix server: its URL, the credentials' headers, JSON, retries with backoff (429's Retry-After) where a retry is safe.
import { setTimeout as sleep } from 'node:timers/promises';
import { AffixClientError, errorOf } from './errors.js';
import type { Credentials } from './types.js';

export interface RequestOptions {
  /** Made again for each attempt (a stream is read once). */
  body?: () => BodyInit | Promise<BodyInit>;
  json?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** The request changes nothing when repeated (GET, HEAD, DELETE, a tus PATCH at its offset): retried after 5xx and network errors too. */
  idempotent?: boolean;
}

export interface HttpOptions {
  url: string;
  credentials: Credentials;
  /** Attempts after the first, for 429 and (idempotent requests) 5xx and network failures. */
  retries?: number;
  fetch?: typeof fetch;
}

const MAX_WAIT_MS = 60_000;

export class Http {
  readonly baseUrl: string;
  private readonly retries: number;
  private readonly fetcher: typeof fetch;

  constructor(private readonly options: HttpOptions) {
    this.baseUrl = options.url.replace(/\/+$/, '');
    this.retries = options.retries ?? 4;
    this.fetcher = options.fetch ?? fetch;
  }

  /** The credentials as each dialect reads them: Tracker's `OAuth` with its org header, or Zulip's Basic pair. */
  authHeaders(): Record<string, string> {
    const c = this.options.credentials;
    return 'token' in c
      ? { authorization: `OAuth ${c.token}`, 'x-org-id': c.org }
      : { authorization: `Basic ${Buffer.from(`${c.email}:${c.apiKey}`).toString('base64')}` };
  }

  url(path: string): string {
    return /^https?:\/\//.test(path) ? path : `${this.baseUrl}${path}`;
  }

  /** The answer, 2xx or 304; any other status is an AffixClientError with the server's message. */
  async request(method: string, path: string, options: RequestOptions = {}): Promise<Response> {
    const idempotent = options.idempotent ?? (method === 'GET' || method === 'HEAD' || method === 'DELETE');
    for (let attempt = 0; ; attempt++) {
      let response: Response;
      try {
        response = await this.fetcher(this.url(path), {
          method,
          headers: { ...this.authHeaders(), ...(options.json !== undefined ? { 'content-type': 'application/json' } : {}), ...options.headers },
          ...(options.json !== undefined ? { body: JSON.stringify(options.json) } : options.body ? { body: await options.body(), duplex: 'half' } : {}),
          ...(options.signal ? { signal: options.signal } : {}),
        } as RequestInit);
      } catch (err) {
        if (options.signal?.aborted) throw new AffixClientError(0, 'Cancelled', { kind: 'cancelled' });
        if (!idempotent || attempt >= this.retries) throw new AffixClientError(0, `${this.baseUrl} could not be reached: ${(err as Error).cause ? String((err as { cause: Error }).cause.message ?? (err as Error).cause) : (err as Error).message}`);
        await this.wait(attempt, null, options.signal);
        continue;
      }
      if (response.ok || response.status === 304) return response;
      const retryable = response.status === 429 || (idempotent && response.status >= 500);
      if (!retryable || attempt >= this.retries) throw errorOf(response.status, await response.text());
      await response.body?.cancel();
      await this.wait(attempt, response.headers.get('retry-after'), options.signal);
    }
  }

  async json<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const response = await this.request(method, path, options);
    const text = await response.text();
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /** `Retry-After` (seconds) when the server said, else 0.5 s doubling; never past a minute. */
  private async wait(attempt: number, retryAfter: string | null, signal?: AbortSignal): Promise<void> {
    const said = retryAfter !== null && /^\d+$/.test(retryAfter.trim()) ? Number(retryAfter) * 1000 : null;
    await sleep(Math.min(said ?? 500 * 2 ** attempt, MAX_WAIT_MS), undefined, signal ? { signal } : {}).catch(() => {
      throw new AffixClientError(0, 'Cancelled', { kind: 'cancelled' });
    });
  }
}
