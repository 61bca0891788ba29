// Queries of server-wide settings: a value created once and the same on every node afterwards.
import type { SettingRecords } from './meta-store.js';
import type { QueryContext } from './query-context.js';

export class SettingQueries implements SettingRecords {
  constructor(private readonly q: QueryContext) {}

  async setting(key: string, create: () => string): Promise<string> {
    await this.q.db.insertInto('settings').values({ key, value: create() }).onConflict((oc) => oc.column('key').doNothing()).execute();
    const row = await this.q.db.selectFrom('settings').select('value').where('key', '=', key).executeTakeFirstOrThrow();
    return row.value;
  }
}
