// Which requests may reuse a login looked up a moment ago.
import type { FastifyRequest } from 'fastify';

/**
 * Reads may reuse a login this node looked up a moment ago (`--auth-cache`). Writes always ask the
 * store, so an upload is checked against the organization's limits as they are now.
 */
export const mayReuseLogin = (request: FastifyRequest): boolean => request.method === 'GET' || request.method === 'HEAD';
