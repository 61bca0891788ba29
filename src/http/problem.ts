// Reduces any error (ours, Fastify's, its plugins') to a status, code and message for a dialect to render.
import type { FastifyError } from 'fastify';
import { isAffixError, isOutOfSpace, type AffixErrorCode } from '../core/errors.js';

/** An error reduced to what a dialect needs to render it. */
export interface Problem {
  status: number;
  code: AffixErrorCode;
  message: string;
  details: Record<string, string>;
  /** For `too_large`: the limit in bytes. */
  limitBytes?: number;
}

const STATUS: Record<AffixErrorCode, number> = {
  bad_request: 400,
  unauthenticated: 401,
  bad_credentials: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  too_large: 413,
  unsupported_media: 415,
  unprocessable: 422,
  range_not_satisfiable: 416,
  quota_exceeded: 422,
  rate_limited: 429,
  timeout: 408,
  locked: 423,
  checksum_mismatch: 460,
  version_unsupported: 412,
  insufficient_storage: 507,
  internal: 500,
};

function codeOfStatus(status: number): AffixErrorCode {
  const match = Object.entries(STATUS).find(([, s]) => s === status);
  return (match?.[0] as AffixErrorCode | undefined) ?? (status >= 500 ? 'internal' : 'bad_request');
}

/** Turns our own errors, Fastify's and its plugins' into one shape; anything unknown is a 500. */
export function toProblem(err: unknown): Problem {
  if (isAffixError(err)) {
    return { status: STATUS[err.code], code: err.code, message: err.message, details: err.details, limitBytes: err.limitBytes };
  }
  if (isOutOfSpace(err)) {
    return { status: 507, code: 'insufficient_storage', message: 'The server has no room left to store this; nothing was kept', details: {} };
  }
  const fastifyError = err as Partial<FastifyError>;
  const status = fastifyError.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const details: Record<string, string> = {};
    for (const v of fastifyError.validation ?? []) {
      const field = (v.instancePath || v.params?.missingProperty || '').toString().replace(/^\//, '') || 'request';
      details[field] = v.message ?? 'invalid';
    }
    // Fastify's messages may quote the request (a whole over-long path): never echo more than a line of it.
    return { status, code: codeOfStatus(status), message: (fastifyError.message ?? 'Bad request').slice(0, 300), details };
  }
  return { status: 500, code: 'internal', message: 'Internal server error', details: {} };
}
