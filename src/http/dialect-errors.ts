// Which dialect a path speaks, and a problem in that dialect's status and error body: for routes, the router and the raw socket alike.
import { STATUS_CODES } from 'node:http';
import type { Problem } from './problem.js';
import { errorJson as trackerErrorJson } from './tracker/render.js';
import { errorReply as zulipErrorReply } from './zulip/render.js';

const ZULIP_PATHS = /^\/(api\/v1|json|user_uploads)(\/|\?|$)/;
const TUS_PATHS = /^\/(api\/v1|v2|v3)\/tus(\/|\?|$)/;

/**
 * Zulip's paths answer in Zulip's body; everything else (`/v2`, `/v3`, the rest) in Tracker's. The
 * tus endpoints keep the protocol's statuses (409, 412, 413, 415, 423, 460) in either body: a quota
 * overrun is 413 there, as a length over the limit is.
 */
export function renderProblem(path: string, problem: Problem): { status: number; body: object } {
  const rendered = ZULIP_PATHS.test(path) ? zulipErrorReply(problem) : { status: problem.status, body: trackerErrorJson(problem) };
  if (TUS_PATHS.test(path)) return { ...rendered, status: problem.code === 'quota_exceeded' ? 413 : problem.status };
  return rendered;
}

/**
 * A whole HTTP/1.1 error response for a request the HTTP parser itself refused (headers too large,
 * too slow, malformed), in the dialect of the path on its request line when that much arrived.
 */
export function rawErrorResponse(rawPacket: Buffer | undefined, problem: Problem): string {
  const requestLine = rawPacket?.subarray(0, 2048).toString('latin1') ?? '';
  const path = /^[A-Z]+ (\S+)/.exec(requestLine)?.[1] ?? '/';
  const { status, body } = renderProblem(path, problem);
  const json = JSON.stringify(body);
  return (
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\nContent-Type: application/json; charset=utf-8\r\n` +
    `Content-Length: ${Buffer.byteLength(json)}\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n${json}`
  );
}
