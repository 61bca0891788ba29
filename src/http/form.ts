import type { FastifyRequest } from 'fastify';
import type {} from '@fastify/multipart';
import { AffixError } from '../core/errors.js';

/**
 * A request's parameters as Zulip reads them: the query string, then the body, which real clients
 * send as multipart (zulip-js), urlencoded (the Python client, curl) or JSON. File parts are refused.
 */
export async function readForm(request: FastifyRequest): Promise<Record<string, string>> {
  const form: Record<string, string> = {};
  const put = (key: string, value: unknown) => {
    if (value === undefined || value === null) return;
    form[key] = typeof value === 'string' ? value : JSON.stringify(value);
  };
  for (const [key, value] of Object.entries((request.query ?? {}) as Record<string, unknown>)) put(key, value);
  if (request.isMultipart()) {
    for await (const part of request.parts({ limits: { files: 0, fields: 50, fieldSize: 1 << 20, headerPairs: 64 } })) {
      if (part.type === 'file') {
        part.file.resume();
        throw new AffixError('bad_request', 'Unexpected file part');
      }
      put(part.fieldname, part.value);
    }
  } else if (request.body && typeof request.body === 'object') {
    for (const [key, value] of Object.entries(request.body as Record<string, unknown>)) put(key, value);
  }
  return form;
}

/** Zulip's list arguments: a JSON array, or a comma-separated string. */
export function parseList(value: string | undefined): string[] {
  if (value === undefined) return [];
  const text = value.trim();
  if (text.startsWith('[')) {
    try {
      const parsed = JSON.parse(text) as unknown;
      if (Array.isArray(parsed)) return parsed.map((v) => String(v));
    } catch {
      throw new AffixError('bad_request', `Invalid list: ${text.slice(0, 100)}`);
    }
  }
  return text.split(',').map((v) => v.trim()).filter(Boolean);
}
