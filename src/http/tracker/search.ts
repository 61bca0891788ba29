// Tracker's search bodies (`POST /v2/issues/_search`, `POST /v2/entities/{type}/_search`) read into the core's searches, as far as Affix's fields go.
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import { AffixError } from '../../core/errors.js';
import type { EntitySearch, IssueSearch } from '../../store/meta/meta-store.js';

const MAX_KEYS = 1000;

/** A search with no body (or an empty one) finds everything, as `{}` does. */
export async function emptyBodyAsObject(request: FastifyRequest): Promise<void> {
  request.body ??= {};
}

export const IssueSearchBody = Type.Optional(
  Type.Object({
    queue: Type.Optional(Type.String({ maxLength: 64 })),
    keys: Type.Optional(Type.Union([Type.String({ maxLength: 64 }), Type.Array(Type.String({ maxLength: 64 }), { maxItems: MAX_KEYS })])),
    filter: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    query: Type.Optional(Type.String({ maxLength: 2000 })),
    order: Type.Optional(Type.String({ maxLength: 64 })),
  }),
);

export const EntitySearchBody = Type.Optional(
  Type.Object({
    input: Type.Optional(Type.String({ maxLength: 500 })),
    filter: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    orderBy: Type.Optional(Type.String({ maxLength: 64 })),
    orderAsc: Type.Optional(Type.Boolean()),
    rootOnly: Type.Optional(Type.Boolean()),
  }),
);

type IssueOrderField = IssueSearch['order']['field'];
const ISSUE_ORDER_FIELDS: Record<string, IssueOrderField> = { key: 'key', createdat: 'createdAt', created: 'createdAt', updatedat: 'updatedAt', updated: 'updatedAt', summary: 'summary' };

/**
 * Tracker's rule: one of `queue`, `keys`, `filter` or `query` (a body with none finds every issue).
 * `filter` takes `queue`, `key` and `summary` (contains); `query` is the query language as far as
 * `Queue:`, `Key:`, `Summary:`, `"Sort By": <field> ASC|DESC` and plain words (in the summary or key) go;
 * `order` is `[+|-]<field>` with key, createdAt, updatedAt or summary. Anything else is 400, never ignored.
 */
export function issueSearchOf(body: Static<typeof IssueSearchBody>): IssueSearch {
  const given = (['queue', 'keys', 'filter', 'query'] as const).filter((k) => body?.[k] !== undefined);
  if (given.length > 1) throw new AffixError('bad_request', 'You can only use keys, a queue, or a search query');
  const order = body?.order === undefined ? null : issueOrder(body.order);
  if (body?.queue !== undefined) return { queueKey: body.queue, order: order ?? { field: 'key', descending: false } };
  if (body?.keys !== undefined) return { keys: typeof body.keys === 'string' ? [body.keys] : body.keys, order: order ?? { field: 'key', descending: false } };
  if (body?.query !== undefined) return { ...parseQuery(body.query), ...(order ? { order } : {}) };
  const search: IssueSearch = { order: order ?? { field: 'key', descending: false } };
  for (const [field, value] of Object.entries(body?.filter ?? {})) {
    const values = (Array.isArray(value) ? value : [value]).map((v) => (typeof v === 'string' || typeof v === 'number' ? String(v) : null));
    if (values.some((v) => v === null) || values.length === 0) throw new AffixError('bad_request', `filter.${field.slice(0, 64)} must be a string or a list of strings`);
    const strings = values as string[];
    if (field === 'queue' && strings.length === 1) search.queueKey = strings[0]!;
    else if (field === 'key') search.keys = strings.slice(0, MAX_KEYS);
    else if (field === 'summary' && strings.length === 1) search.summary = strings[0]!;
    else throw new AffixError('bad_request', `Affix filters issues by queue, key and summary, not by ${field.slice(0, 64)}`);
  }
  return search;
}

function issueOrder(text: string): IssueSearch['order'] {
  const match = /^\s*([+-]?)\s*([A-Za-z]+)\s*$/.exec(text);
  const field = match && ISSUE_ORDER_FIELDS[match[2]!.toLowerCase()];
  if (!match || !field) throw new AffixError('bad_request', `order must be [+|-] and one of key, createdAt, updatedAt, summary`);
  return { field, descending: match[1] === '-' };
}

/** The query language, as far as Affix's fields go. */
function parseQuery(text: string): IssueSearch {
  const tokens = [...text.matchAll(/"((?:[^"\\]|\\.)*)"|(:)|(,)|([^\s:,"]+)/g)].map((m) =>
    m[1] !== undefined ? { word: m[1].replace(/\\(.)/g, '$1'), quoted: true } : { word: m[2] ?? m[3] ?? m[4]!, quoted: false },
  );
  const search: IssueSearch = { order: { field: 'key', descending: false } };
  const words: string[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    if (tokens[i + 1]?.word !== ':' || tokens[i + 1]?.quoted) {
      if (!token.quoted && (token.word === ':' || token.word === ',')) throw new AffixError('bad_request', `Unexpected ${token.word} in the query`);
      if (!(!token.quoted && /^(and)$/i.test(token.word))) words.push(token.word);
      continue;
    }
    const field = token.word.toLowerCase();
    const values: string[] = [];
    for (i += 2; i < tokens.length; i++) {
      values.push(tokens[i]!.word);
      if (tokens[i + 1]?.word !== ',' || tokens[i + 1]?.quoted) break;
      i++;
    }
    if (values.length === 0) throw new AffixError('bad_request', `${token.word} needs a value in the query`);
    if (field === 'queue' && values.length === 1) search.queueKey = values[0]!;
    else if (field === 'key') search.keys = values.slice(0, MAX_KEYS);
    else if (field === 'summary' && values.length === 1) search.summary = values[0]!.replace(/^#/, '');
    else if (field === 'sort by' && values.length === 1) search.order = sortBy(values[0]!, tokens[i + 1]);
    else throw new AffixError('bad_request', `Affix's query language takes Queue, Key, Summary, "Sort By" and words, not ${token.word.slice(0, 64)}`);
    if (field === 'sort by' && /^(asc|desc)$/i.test(tokens[i + 1]?.word ?? '')) i++;
  }
  if (words.length > 0) search.text = words.join(' ');
  return search;
}

function sortBy(field: string, next: { word: string } | undefined): IssueSearch['order'] {
  const known = ISSUE_ORDER_FIELDS[field.toLowerCase()];
  if (!known) throw new AffixError('bad_request', `"Sort By" takes key, created, updated or summary, not ${field.slice(0, 64)}`);
  return { field: known, descending: /^desc$/i.test(next?.word ?? '') };
}

type EntityOrderField = EntitySearch['order']['field'];
const ENTITY_ORDER_FIELDS: Record<string, EntityOrderField> = { shortid: 'shortId', createdat: 'createdAt', updatedat: 'updatedAt', summary: 'summary' };

/** `input` (in the summary), `filter` by `summary`, `orderBy` and `orderAsc`; newest first when no order is given. */
export function entitySearchOf(body: Static<typeof EntitySearchBody>): EntitySearch {
  const field = body?.orderBy === undefined ? 'createdAt' : ENTITY_ORDER_FIELDS[body.orderBy.toLowerCase()];
  if (!field) throw new AffixError('bad_request', 'orderBy must be one of shortId, createdAt, updatedAt, summary');
  const search: EntitySearch = { order: { field, descending: body?.orderAsc !== true } };
  const texts: string[] = body?.input ? [body.input] : [];
  for (const [key, value] of Object.entries(body?.filter ?? {})) {
    if (key !== 'summary' || typeof value !== 'string') throw new AffixError('bad_request', `Affix filters entities by summary, not by ${key.slice(0, 64)}`);
    texts.push(value);
  }
  if (texts.length > 1) throw new AffixError('bad_request', 'Give input or filter.summary, not both');
  if (texts[0]) search.text = texts[0];
  return search;
}
