// Queries of browser sessions: created at sign-in, looked up by the cookie's hash with their user and org, ended at sign-out or expiry.
import type { Org, User } from '../../core/model.js';
import type { NewSession, SessionRecords } from './meta-store.js';
import type { QueryContext } from './query-context.js';
import { ORG_COLUMNS, toOrg, toUser, USER_COLUMNS } from './rows.js';

export class SessionQueries implements SessionRecords {
  constructor(private readonly q: QueryContext) {}

  async createSession(session: NewSession): Promise<void> {
    await this.q.db
      .insertInto('sessions')
      .values({ token_hash: session.tokenHash, user_id: session.userId, created_at: session.createdAt, expires_at: session.expiresAt })
      .execute();
  }

  async findSession(tokenHash: string, now: number): Promise<{ user: User; org: Org; expiresAt: number } | null> {
    const row = await this.q.db
      .selectFrom('sessions as s')
      .innerJoin('users as u', 'u.id', 's.user_id')
      .innerJoin('orgs as o', 'o.id', 'u.org_id')
      .select([...USER_COLUMNS, ...ORG_COLUMNS, 's.expires_at'])
      .where('s.token_hash', '=', tokenHash)
      .where('s.expires_at', '>', now)
      .executeTakeFirst();
    return row ? { user: toUser(row), org: toOrg(row), expiresAt: Number(row.expires_at) } : null;
  }

  async deleteSession(tokenHash: string): Promise<void> {
    await this.q.db.deleteFrom('sessions').where('token_hash', '=', tokenHash).execute();
  }

  async deleteExpiredSessions(now: number): Promise<number> {
    const deleted = await this.q.db.deleteFrom('sessions').where('expires_at', '<=', now).executeTakeFirst();
    return Number(deleted.numDeletedRows);
  }
}
