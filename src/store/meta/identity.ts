// Queries of organizations and users: orgs by external id and their limits, users by id, login, token or API key hash.
import type { Kysely } from 'kysely';
import type { Org, User } from '../../core/model.js';
import type { IdentityRecords, NewUser, OrgLimits } from './meta-store.js';
import { preparedQuery, type SlotOf } from './prepared-query.js';
import type { QueryContext } from './query-context.js';
import { num, ORG_COLUMNS, toOrg, toUser, USER_COLUMNS, type Row } from './rows.js';
import type { Database } from './schema.js';

export class IdentityQueries implements IdentityRecords {
  private readonly lookups: ReturnType<typeof hotLookups>;

  constructor(private readonly q: QueryContext) {
    this.lookups = hotLookups(q.db);
  }

  async ensureOrg(extId: string, name: string, now: number): Promise<Org> {
    await this.q.db
      .insertInto('orgs')
      .values({ ext_id: extId, name, created_at: now })
      .onConflict((oc) => oc.column('ext_id').doNothing())
      .execute();
    const org = await this.getOrgByExtId(extId);
    if (!org) throw new Error(`org ${extId} vanished after insert`);
    return org;
  }

  async getOrgByExtId(extId: string): Promise<Org | null> {
    const row = await this.q.db.selectFrom('orgs').selectAll().where('ext_id', '=', extId).executeTakeFirst();
    return row ? toOrg(row) : null;
  }

  async setOrgLimits(orgId: number, limits: OrgLimits): Promise<Org> {
    const values = {
      ...(limits.maxFileUploadSizeMib !== undefined ? { max_file_upload_size_mib: limits.maxFileUploadSizeMib } : {}),
      ...(limits.uploadQuotaMib !== undefined ? { upload_quota_mib: limits.uploadQuotaMib } : {}),
    };
    if (Object.keys(values).length > 0) await this.q.db.updateTable('orgs').set(values).where('id', '=', orgId).execute();
    const row = await this.q.db.selectFrom('orgs').selectAll().where('id', '=', orgId).executeTakeFirstOrThrow();
    return toOrg(row);
  }

  async createUser(user: NewUser): Promise<User> {
    const { id } = await this.q.db
      .insertInto('users')
      .values({
        org_id: user.orgId,
        login: user.login,
        display: user.display,
        email: user.email,
        cloud_uid: user.cloudUid,
        passport_uid: user.passportUid,
        token_hash: user.tokenHash,
        api_key_hash: user.apiKeyHash,
        created_at: user.createdAt,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    const created = await this.getUser(user.orgId, num(id));
    if (!created) throw new Error('user vanished after insert');
    return created;
  }

  async findUserByTokenHash(tokenHash: string): Promise<{ user: User; org: Org } | null> {
    return withOrg(await this.lookups.byTokenHash({ hash: tokenHash }));
  }

  async findUserByApiKeyHash(apiKeyHash: string): Promise<{ user: User; org: Org } | null> {
    return withOrg(await this.lookups.byApiKeyHash({ hash: apiKeyHash }));
  }

  getUser(orgId: number, userId: number): Promise<User | null> {
    return userById(this.q.db, orgId, userId);
  }

  async findUsers(orgId: number, refs: string[]): Promise<User[]> {
    const ids = refs.filter((r) => /^\d{1,15}$/.test(r)).map(Number);
    const emails = refs.filter((r) => !/^\d{1,15}$/.test(r)).map((r) => r.toLowerCase());
    if (ids.length === 0 && emails.length === 0) return [];
    const rows = await this.q.db
      .selectFrom('users as u')
      .select(USER_COLUMNS)
      .where('u.org_id', '=', orgId)
      .where((eb) => eb.or([...(ids.length ? [eb('u.id', 'in', ids)] : []), ...(emails.length ? [eb(eb.fn('lower', ['u.email']), 'in', emails)] : [])]))
      .execute();
    return rows.map(toUser);
  }

  async findUserByLogin(orgId: number, login: string): Promise<User | null> {
    const row = await this.q.db.selectFrom('users as u').select(USER_COLUMNS).where('u.org_id', '=', orgId).where('u.login', '=', login).executeTakeFirst();
    return row ? toUser(row) : null;
  }
}

/** A user of the org by id; other domains' queries read authors with it. */
export async function userById(db: Kysely<Database>, orgId: number, userId: number): Promise<User | null> {
  const row = await db.selectFrom('users as u').select(USER_COLUMNS).where('u.org_id', '=', orgId).where('u.id', '=', userId).executeTakeFirst();
  return row ? toUser(row) : null;
}

/** Compiled once (see prepared-query.ts): every authenticated request makes one of these lookups. */
function hotLookups(db: Kysely<Database>) {
  const userByHash = (column: 'u.token_hash' | 'u.api_key_hash') =>
    preparedQuery(db, (slot: SlotOf<{ hash: string }>) =>
      db
        .selectFrom('users as u')
        .innerJoin('orgs as o', 'o.id', 'u.org_id')
        .select([...USER_COLUMNS, ...ORG_COLUMNS])
        .where(column, '=', slot('hash')),
    );
  return { byTokenHash: userByHash('u.token_hash'), byApiKeyHash: userByHash('u.api_key_hash') };
}

function withOrg([row]: Row[]): { user: User; org: Org } | null {
  return row ? { user: toUser(row), org: toOrg(row) } : null;
}
