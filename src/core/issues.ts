// Tracker issues and their comments: created, found by key or id, changed, and the files on them.
import type { IssueSearch, MetaStore, Page } from '../store/meta/meta-store.js';
import { visibleTo } from './attachments.js';
import { claimOf, requireCommentContent } from './claims.js';
import { AffixError, notFound } from './errors.js';
import type { Actor } from './identity.js';
import { isHex24, parseId } from './ids.js';
import type { Attachment, Comment, Issue, Queue } from './model.js';

const QUEUE_KEY = /^[A-Z][A-Z0-9]{0,31}$/;

export class Issues {
  constructor(
    private readonly meta: MetaStore,
    private readonly clock: () => number,
  ) {}

  // --- issues ---

  async create(actor: Actor, input: { queue: string; summary: string; description?: string | null; attachmentIds: number[] }): Promise<Issue> {
    const queueKey = input.queue.trim().toUpperCase();
    if (!QUEUE_KEY.test(queueKey)) {
      throw new AffixError('bad_request', 'Queue key must be Latin letters and digits, starting with a letter', { queue: 'invalid' });
    }
    const summary = input.summary.trim();
    if (!summary) throw new AffixError('unprocessable', 'Summary is required', { summary: 'required' });
    const now = this.clock();
    return this.meta.createIssue({
      orgId: actor.org.id,
      queueKey,
      summary,
      description: input.description ?? null,
      createdBy: actor.user.id,
      createdAt: now,
      claim: claimOf(actor, input.attachmentIds, now),
    });
  }

  async get(actor: Actor, keyOrId: string): Promise<Issue> {
    const issue = await this.meta.findIssue(actor.org.id, keyOrId);
    if (!issue) throw notFound('Issue');
    return issue;
  }

  async update(actor: Actor, issue: Issue, input: { summary?: string; description?: string | null; attachmentIds: number[] }): Promise<Issue> {
    if (input.summary !== undefined && !input.summary.trim()) throw new AffixError('unprocessable', 'Summary is required', { summary: 'required' });
    const now = this.clock();
    return this.meta.updateIssue(
      actor.org.id,
      issue.id,
      { summary: input.summary?.trim(), description: input.description },
      claimOf(actor, input.attachmentIds, now),
      now,
    );
  }

  // --- comments ---

  async addComment(actor: Actor, issue: Issue, input: { text: string; attachmentIds: number[] }): Promise<Comment> {
    requireCommentContent(input);
    const now = this.clock();
    return this.meta.createComment({
      orgId: actor.org.id,
      issueId: issue.id,
      text: input.text,
      createdBy: actor.user.id,
      createdAt: now,
      claim: claimOf(actor, input.attachmentIds, now),
    });
  }

  async getComment(actor: Actor, issue: Issue, rawId: string): Promise<Comment> {
    const id = parseId(rawId);
    const comment = id === null ? null : await this.meta.getComment(actor.org.id, issue.id, id);
    if (!comment) throw notFound('Comment');
    return comment;
  }

  listComments(actor: Actor, issue: Issue, page?: Page): Promise<Comment[]> {
    return this.meta.listComments(actor.org.id, issue.id, page);
  }

  countComments(actor: Actor, issue: Issue): Promise<number> {
    return this.meta.countComments(actor.org.id, issue.id);
  }

  async updateComment(actor: Actor, comment: Comment, input: { text?: string; attachmentIds: number[] }): Promise<Comment> {
    const now = this.clock();
    return this.meta.updateComment(actor.org.id, comment, input.text, claimOf(actor, input.attachmentIds, now), now);
  }

  // --- the files of an issue and of its comments ---

  /**
   * An issue's attachment, the issue named by its key or its id. The attachment's row carries its
   * issue's id and key, so the issue itself is looked up only to tell which of the two is missing.
   */
  async getAttachment(actor: Actor, issueRef: string, id: number): Promise<Attachment> {
    const found = await this.meta.getAttachment(actor.org.id, id);
    const onIssue = isHex24(issueRef) ? found?.issueId === issueRef.toLowerCase() : found?.issueKey === issueRef.toUpperCase();
    if (found && onIssue && visibleTo(actor, found)) return found;
    await this.get(actor, issueRef);
    throw notFound('Attachment');
  }

  listAttachments(actor: Actor, issue: Issue, page?: Page): Promise<Attachment[]> {
    return this.meta.listIssueAttachments(actor.org.id, issue.id, page);
  }

  countAttachments(actor: Actor, issue: Issue): Promise<number> {
    return this.meta.countIssueAttachments(actor.org.id, issue.id);
  }

  // --- queues and search ---

  listQueues(actor: Actor, page?: Page): Promise<Queue[]> {
    return this.meta.listQueues(actor.org.id, page);
  }

  countQueues(actor: Actor): Promise<number> {
    return this.meta.countQueues(actor.org.id);
  }

  search(actor: Actor, search: IssueSearch, page?: Page): Promise<Issue[]> {
    return this.meta.searchIssues(actor.org.id, search, page);
  }

  count(actor: Actor, search: IssueSearch): Promise<number> {
    return this.meta.countIssues(actor.org.id, search);
  }
}
