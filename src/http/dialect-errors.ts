// Which dialect a path speaks, and a problem in that dialect's status and error body: for routes, the router and the raw socket alike.
import { STATUS_CODES } from 'node:http';
import type { Problem } from './problem.js';
import { errorJson as trackerErrorJson } from './tracker/render.js';
import { errorReply as zulipErrorReply } from './zulip/render.js';

const ZULIP_PATHS = /^\/(api\/v1|json|user_uploads)(\/|\?|$)/;

/** Zulip's paths answer in Zulip's body; everything else (`/v2`, `/v3`, the rest) in Tracker's. */
export function renderProblem(path: string, problem: Problem): { status: number; body: object } {
  if (ZULIP_PATHS.test(path)) return zulipErrorReply(problem);
  return { status: problem.status, body: trackerErrorJson(problem) };
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
