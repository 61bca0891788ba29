// Who is calling: organizations, their users, and the OAuth tokens and API keys that name them.
import type { MetaStore } from '../store/meta/meta-store.js';
import { AffixError, notFound } from './errors.js';
import { cloudUid, hashSecret, passportUid, secret } from './ids.js';
import type { Org, User } from './model.js';
import { RecentLogins } from './recent-logins.js';

/** Who is calling: a user and the organization everything they do is scoped to. */
export interface Actor {
  user: User;
  org: Org;
}

export interface NewUserResult {
  user: User;
  org: Org;
  token: string;
  apiKey: string;
}

/** Logins kept at most by the auth cache; past it, the oldest are dropped. */
const RECENT_LOGINS_MAX = 10_000;

export class Identity {
  /** Keyed by `token:` or `apikey:` and the secret's hash. */
  private readonly recentLogins: RecentLogins<Actor>;

  constructor(
    private readonly meta: MetaStore,
    /** How long a successful token or API-key lookup may be reused by this process (see `authenticate`). */
    authCacheMs: number,
    private readonly clock: () => number,
  ) {
    this.recentLogins = new RecentLogins(authCacheMs, RECENT_LOGINS_MAX);
  }

  /**
   * The caller behind an OAuth token. With `reuse`, a lookup made in the last `authCacheMs` may answer;
   * its organization's limits may then be that old, so only reads should ask for it.
   */
  async authenticate(token: string | undefined, orgExtId: string | undefined, { reuse = false } = {}): Promise<Actor> {
    if (!token) throw new AffixError('unauthenticated', 'Authorization required');
    const found = await this.recall('token', hashSecret(token), reuse, (hash) => this.meta.findUserByTokenHash(hash));
    if (!found) throw new AffixError('bad_credentials', 'Invalid OAuth token');
    if (orgExtId !== undefined && orgExtId !== found.org.extId) {
      throw new AffixError('forbidden', `You are not a member of organization ${orgExtId}`);
    }
    return found;
  }

  /** Zulip's HTTP Basic `email:api_key`; `reuse` as for `authenticate`. */
  async authenticateApiKey(email: string, apiKey: string, { reuse = false } = {}): Promise<Actor> {
    const found = apiKey ? await this.recall('apikey', hashSecret(apiKey), reuse, (hash) => this.meta.findUserByApiKeyHash(hash)) : null;
    if (!found || found.user.email.toLowerCase() !== email.trim().toLowerCase()) {
      throw new AffixError('bad_credentials', 'Invalid API key');
    }
    return found;
  }

  /** A login seen in the last moments (when `reuse`), or the store's answer, kept when someone was found. */
  private async recall(
    kind: 'token' | 'apikey',
    hash: string,
    reuse: boolean,
    lookup: (hash: string) => Promise<Actor | null>,
  ): Promise<Actor | null> {
    const key = `${kind}:${hash}`;
    const recent = reuse ? this.recentLogins.get(key) : undefined;
    if (recent) return recent;
    const found = await lookup(hash);
    if (found) this.recentLogins.set(key, found);
    return found;
  }

  async setOrgLimits(orgExtId: string, limits: { maxFileUploadSizeMib?: number | null; uploadQuotaMib?: number | null }): Promise<Org> {
    const org = await this.meta.getOrgByExtId(orgExtId);
    if (!org) throw notFound('Organization');
    return this.meta.setOrgLimits(org.id, limits);
  }

  async addUser(input: { orgExtId: string; login: string; display: string; email?: string }): Promise<NewUserResult> {
    const login = input.login.trim();
    if (!input.orgExtId.trim() || !login) throw new AffixError('bad_request', 'org and login are required');
    const now = this.clock();
    const org = await this.meta.ensureOrg(input.orgExtId.trim(), input.orgExtId.trim(), now);
    const token = secret();
    const apiKey = secret();
    const user = await this.meta.createUser({
      orgId: org.id,
      login,
      display: input.display.trim() || login,
      email: input.email?.trim() || `${login}@${org.extId}.affix.invalid`,
      cloudUid: cloudUid(),
      passportUid: passportUid(),
      tokenHash: hashSecret(token),
      apiKeyHash: hashSecret(apiKey),
      createdAt: now,
    });
    return { user, org, token, apiKey };
  }

  async getUser(actor: Actor, id: number): Promise<User> {
    const user = await this.meta.getUser(actor.org.id, id);
    if (!user) throw notFound('User');
    return user;
  }

  /** The author of an import: a user of the org by login or id; unknown ones are a validation error. */
  async importAuthor(actor: Actor, loginOrId: string | undefined): Promise<User> {
    if (!loginOrId) return actor.user;
    const byId = /^\d+$/.test(loginOrId) ? await this.meta.getUser(actor.org.id, Number(loginOrId)) : null;
    const user = byId ?? (await this.meta.findUserByLogin(actor.org.id, loginOrId));
    if (!user) throw new AffixError('unprocessable', `Unknown user ${loginOrId}`, { createdBy: 'unknown user' });
    return user;
  }
}
