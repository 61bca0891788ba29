// Tracker's pagination: `page`/`perPage`, the `X-Total-Count` and `Link` headers.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AffixError } from '../../core/errors.js';
import type { Page } from '../../store/meta/meta-store.js';

export const DEFAULT_PER_PAGE = 50;
export const MAX_PER_PAGE = 1000;

export interface RequestedPage extends Page {
  number: number;
  perPage: number;
}

/** `perPage`/`page` from the query; null when neither is given (today's clients expect the whole list). */
export function requestedPage(request: FastifyRequest): RequestedPage | null {
  const query = request.query as { perPage?: string; page?: string };
  if (query.perPage === undefined && query.page === undefined) return null;
  const perPage = query.perPage === undefined ? DEFAULT_PER_PAGE : Number(query.perPage);
  const number = query.page === undefined ? 1 : Number(query.page);
  if (!Number.isInteger(perPage) || perPage < 1 || perPage > MAX_PER_PAGE) {
    throw new AffixError('bad_request', `perPage must be a whole number from 1 to ${MAX_PER_PAGE}`, { perPage: 'invalid' });
  }
  if (!Number.isInteger(number) || number < 1) throw new AffixError('bad_request', 'page must be a whole number from 1', { page: 'invalid' });
  return { number, perPage, limit: perPage, offset: (number - 1) * perPage };
}

/** A list, one page of it when asked, with `X-Total-Count`, `X-Total-Pages` and `Link: rel="next"`. */
export async function paginate<T, R>(
  request: FastifyRequest,
  reply: FastifyReply,
  baseUrl: string,
  list: (page?: Page) => Promise<T[]>,
  count: () => Promise<number>,
  render: (item: T) => R,
): Promise<R[]> {
  const page = requestedPage(request);
  if (!page) return (await list()).map(render);
  const [items, total] = await Promise.all([list(page), count()]);
  const pages = Math.max(1, Math.ceil(total / page.perPage));
  reply.header('x-total-count', total);
  reply.header('x-total-pages', pages);
  if (page.number < pages) {
    const next = new URL(request.url, baseUrl);
    next.searchParams.set('perPage', String(page.perPage));
    next.searchParams.set('page', String(page.number + 1));
    reply.header('link', `<${next.toString()}>; rel="next"`);
  }
  return items.map(render);
}
