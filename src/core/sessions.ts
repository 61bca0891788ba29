// Browser sessions of the web UI: signed in with a Tracker token or a Zulip API key, then named by a secret only the cookie holds.
import type { MetaStore } from '../store/meta/meta-store.js';
import { AffixError } from './errors.js';
import { hashSecret, secret } from './ids.js';
import type { Actor, Identity } from './identity.js';

/** How someone signs in: as a Tracker client does (token and organization), or as a Zulip client does (email and API key). */
export type SignIn = { kind: 'tracker'; token: string; org: string } | { kind: 'zulip'; email: string; apiKey: string };

export interface Session {
  /** The cookie's value: shown once, kept only as its sha256. */
  secret: string;
  actor: Actor;
  expiresAt: number;
}

export class Sessions {
  constructor(
    private readonly meta: MetaStore,
    private readonly identity: Identity,
    /** How long a session lives after sign-in. */
    private readonly ttlMs: number,
    private readonly clock: () => number,
  ) {}

  /** Checks the credentials as the dialect would (401 when wrong), then opens a session for their user. */
  async signIn(credentials: SignIn): Promise<Session> {
    const actor =
      credentials.kind === 'tracker'
        ? await this.identity.authenticate(credentials.token, credentials.org)
        : await this.identity.authenticateApiKey(credentials.email, credentials.apiKey);
    const value = secret();
    const now = this.clock();
    const expiresAt = now + this.ttlMs;
    await this.meta.createSession({ tokenHash: hashSecret(value), userId: actor.user.id, createdAt: now, expiresAt });
    return { secret: value, actor, expiresAt };
  }

  /** The session's user; 401 when it is unknown, ended or expired. */
  async authenticate(value: string): Promise<Actor> {
    const found = value ? await this.meta.findSession(hashSecret(value), this.clock()) : null;
    if (!found) throw new AffixError('unauthenticated', 'Your session has ended; sign in again');
    return { user: found.user, org: found.org };
  }

  /** Ends the session on the server: its cookie opens nothing afterwards, wherever it was copied. */
  async signOut(value: string): Promise<void> {
    if (value) await this.meta.deleteSession(hashSecret(value));
  }

  collect(now: number): Promise<number> {
    return this.meta.deleteExpiredSessions(now);
  }
}
