// Queries of queues, issues and comments; each write claims its temporary uploads in the same transaction.
import type { Kysely } from 'kysely';
import { AffixError } from '../../core/errors.js';
import { hex24, isHex24 } from '../../core/ids.js';
import type { Comment, Issue, Queue } from '../../core/model.js';
import { claimUploads } from './claims.js';
import type { AttachmentClaim, IssueChanges, IssueRecords, IssueSearch, NewComment, NewIssue, Page } from './meta-store.js';
import { preparedQuery, type SlotOf } from './prepared-query.js';
import type { QueryContext } from './query-context.js';
import { containsText, num, paged, toUser, USER_COLUMNS, type Row } from './rows.js';
import type { Database } from './schema.js';

export class IssueQueries implements IssueRecords {
  private readonly lookups: ReturnType<typeof hotLookups>;

  constructor(private readonly q: QueryContext) {
    this.lookups = hotLookups(q.db);
  }

  // --- issues ---

  async createIssue(issue: NewIssue): Promise<Issue> {
    const id = await this.q.transaction(async (trx) => {
      const queue = await trx
        .insertInto('queues')
        .values({ org_id: issue.orgId, key: issue.queueKey, next_number: 1, created_at: issue.createdAt })
        .onConflict((oc) =>
          oc.columns(['org_id', 'key']).doUpdateSet((eb) => ({ next_number: eb('queues.next_number', '+', 1) })),
        )
        .returning(['id', 'next_number'])
        .executeTakeFirstOrThrow();
      const issueId = hex24();
      await trx
        .insertInto('issues')
        .values({
          id: issueId,
          org_id: issue.orgId,
          queue_id: num(queue.id),
          key: `${issue.queueKey}-${num(queue.next_number)}`,
          summary: issue.summary,
          description: issue.description,
          created_by: issue.createdBy,
          created_at: issue.createdAt,
          updated_at: issue.createdAt,
        })
        .execute();
      await claimUploads(trx, issue.orgId, issue.claim, { issueId, commentId: null });
      return issueId;
    });
    const created = await this.findIssue(issue.orgId, id);
    if (!created) throw new Error('issue vanished after insert');
    return created;
  }

  async findIssue(orgId: number, keyOrId: string): Promise<Issue | null> {
    const [row] = isHex24(keyOrId)
      ? await this.lookups.byId({ orgId, value: keyOrId.toLowerCase() })
      : await this.lookups.byKey({ orgId, value: keyOrId.toUpperCase() });
    return row ? toIssue(row) : null;
  }

  async updateIssue(orgId: number, issueId: string, changes: IssueChanges, claim: AttachmentClaim, now: number): Promise<Issue> {
    await this.q.transaction(async (trx) => {
      await trx
        .updateTable('issues')
        .set({
          updated_at: now,
          ...(changes.summary !== undefined ? { summary: changes.summary } : {}),
          ...(changes.description !== undefined ? { description: changes.description } : {}),
        })
        .where('org_id', '=', orgId)
        .where('id', '=', issueId)
        .execute();
      await claimUploads(trx, orgId, claim, { issueId, commentId: null });
    });
    const issue = await this.findIssue(orgId, issueId);
    if (!issue) throw new AffixError('not_found', 'Issue not found');
    return issue;
  }

  // --- comments ---

  async createComment(comment: NewComment): Promise<Comment> {
    const id = await this.q.transaction(async (trx) => {
      const { id } = await trx
        .insertInto('comments')
        .values({
          long_id: hex24(),
          org_id: comment.orgId,
          issue_id: comment.issueId,
          text: comment.text,
          created_by: comment.createdBy,
          created_at: comment.createdAt,
          updated_at: comment.createdAt,
        })
        .returning('id')
        .executeTakeFirstOrThrow();
      await claimUploads(trx, comment.orgId, comment.claim, { issueId: comment.issueId, commentId: num(id) });
      return num(id);
    });
    const [created] = await this.commentQuery(comment.orgId).where('c.id', '=', id).execute();
    if (!created) throw new Error('comment vanished after insert');
    return toComment(created);
  }

  async getComment(orgId: number, issueId: string, commentId: number): Promise<Comment | null> {
    const row = await this.commentQuery(orgId).where('c.issue_id', '=', issueId).where('c.id', '=', commentId).executeTakeFirst();
    return row ? toComment(row) : null;
  }

  async updateComment(orgId: number, comment: Comment, text: string | undefined, claim: AttachmentClaim, now: number): Promise<Comment> {
    await this.q.transaction(async (trx) => {
      await trx
        .updateTable('comments')
        .set({ updated_at: now, ...(text !== undefined ? { text } : {}) })
        .where('org_id', '=', orgId)
        .where('id', '=', comment.id)
        .execute();
      await claimUploads(trx, orgId, claim, { issueId: comment.issueId, commentId: comment.id });
    });
    const updated = await this.getComment(orgId, comment.issueId, comment.id);
    if (!updated) throw new AffixError('not_found', 'Comment not found');
    return updated;
  }

  async listComments(orgId: number, issueId: string, page?: Page): Promise<Comment[]> {
    const rows = await paged(this.commentQuery(orgId).where('c.issue_id', '=', issueId).orderBy('c.id'), page).execute();
    return rows.map(toComment);
  }

  async countComments(orgId: number, issueId: string): Promise<number> {
    const row = await this.q.db
      .selectFrom('comments')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('org_id', '=', orgId)
      .where('issue_id', '=', issueId)
      .executeTakeFirstOrThrow();
    return num(row.n);
  }

  // --- queues and search ---

  async listQueues(orgId: number, page?: Page): Promise<Queue[]> {
    const rows = await paged(
      this.q.db
        .selectFrom('queues as q')
        .leftJoin('issues as i', 'i.queue_id', 'q.id')
        .select((eb) => ['q.id', 'q.key', 'q.created_at', eb.fn.count<number>('i.id').as('issues')])
        .where('q.org_id', '=', orgId)
        .groupBy(['q.id', 'q.key', 'q.created_at'])
        .orderBy('q.key'),
      page,
    ).execute();
    return rows.map((r) => ({ id: num(r.id), key: r.key, createdAt: num(r.created_at), issues: num(r.issues) }));
  }

  async countQueues(orgId: number): Promise<number> {
    const row = await this.q.db.selectFrom('queues').select((eb) => eb.fn.countAll<number>().as('n')).where('org_id', '=', orgId).executeTakeFirstOrThrow();
    return num(row.n);
  }

  async searchIssues(orgId: number, search: IssueSearch, page?: Page): Promise<Issue[]> {
    const { field, descending } = search.order;
    const direction = descending ? 'desc' : 'asc';
    let query = this.searchQuery(orgId, search).select([...USER_COLUMNS, 'i.id', 'i.org_id', 'i.key', 'i.summary', 'i.description', 'i.created_at', 'i.updated_at', 'q.key as queue_key']);
    // Keys sort by queue, then by number: TEST-9 before TEST-10.
    if (field === 'key') query = query.orderBy('q.key', direction).orderBy((eb) => eb.fn('length', ['i.key']), direction).orderBy('i.key', direction);
    else query = query.orderBy(field === 'summary' ? 'i.summary' : field === 'createdAt' ? 'i.created_at' : 'i.updated_at', direction).orderBy('i.id', direction);
    const rows = await paged(query, page).execute();
    return rows.map(toIssue);
  }

  async countIssues(orgId: number, search: IssueSearch): Promise<number> {
    const row = await this.searchQuery(orgId, search).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    return num(row.n);
  }

  private searchQuery(orgId: number, search: IssueSearch) {
    let query = this.q.db
      .selectFrom('issues as i')
      .innerJoin('users as u', 'u.id', 'i.created_by')
      .innerJoin('queues as q', 'q.id', 'i.queue_id')
      .where('i.org_id', '=', orgId);
    if (search.queueKey !== undefined) query = query.where('q.key', '=', search.queueKey.toUpperCase());
    if (search.keys !== undefined) query = query.where('i.key', 'in', search.keys.length > 0 ? search.keys.map((k) => k.toUpperCase()) : ['']);
    if (search.summary) query = query.where(containsText('i.summary', search.summary));
    for (const word of (search.text ?? '').split(/\s+/).filter(Boolean)) {
      query = query.where((eb) => eb.or([containsText('i.summary', word), containsText('i.key', word)]));
    }
    return query;
  }

  private commentQuery(orgId: number) {
    return this.q.db
      .selectFrom('comments as c')
      .innerJoin('users as u', 'u.id', 'c.created_by')
      .innerJoin('issues as i', 'i.id', 'c.issue_id')
      .select([...USER_COLUMNS, 'c.id', 'c.long_id', 'c.org_id', 'c.issue_id', 'i.key as issue_key', 'c.text', 'c.created_at', 'c.updated_at'])
      .where('c.org_id', '=', orgId);
  }
}

/** Compiled once (see prepared-query.ts): every request under /v2/issues/{issue} looks its issue up. */
function hotLookups(db: Kysely<Database>) {
  const issueBy = (column: 'i.id' | 'i.key') =>
    preparedQuery(db, (slot: SlotOf<{ orgId: number; value: string }>) =>
      db
        .selectFrom('issues as i')
        .innerJoin('users as u', 'u.id', 'i.created_by')
        .innerJoin('queues as q', 'q.id', 'i.queue_id')
        .select([...USER_COLUMNS, 'i.id', 'i.org_id', 'i.key', 'i.summary', 'i.description', 'i.created_at', 'i.updated_at', 'q.key as queue_key'])
        .where('i.org_id', '=', slot('orgId'))
        .where(column, '=', slot('value')),
    );
  return { byId: issueBy('i.id'), byKey: issueBy('i.key') };
}

function toIssue(r: Row): Issue {
  return {
    id: r.id as string,
    orgId: num(r.org_id),
    queueKey: r.queue_key as string,
    key: r.key as string,
    summary: r.summary as string,
    description: (r.description as string | null) ?? null,
    createdBy: toUser(r),
    createdAt: num(r.created_at),
    updatedAt: num(r.updated_at),
  };
}

function toComment(r: Row): Comment {
  return {
    id: num(r.id),
    longId: r.long_id as string,
    orgId: num(r.org_id),
    issueId: r.issue_id as string,
    issueKey: r.issue_key as string,
    text: r.text as string,
    createdBy: toUser(r),
    createdAt: num(r.created_at),
    updatedAt: num(r.updated_at),
  };
}
