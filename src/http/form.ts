// Zulip's request parameters from the query string and any body form real clients send, in a Map (no key reaches a prototype).
import type { FastifyRequest } from 'fastify';
import { AffixError } from '../core/errors.js';
import { deadlineOf, type BodyTimeouts } from './upload.js';
import { isMultipart, readMultipart } from './multipart.js';

/** A multipart form of parameters: its text fields, no files. */
const FORM_FIELDS = 50;
const FORM_FIELD_BYTES = 1 << 20;
const FORM_OVERHEAD = 64 << 10;

/**
 * A request's parameters as Zulip reads them: the query string, then the body, which real clients
 * send as multipart (zulip-js), urlencoded (the Python client, curl) or JSON. File parts are refused.
 */
export async function readForm(request: FastifyRequest, timeouts: BodyTimeouts): Promise<Map<string, string>> {
  const form = new Map<string, string>();
  const put = (key: string, value: unknown) => {
    if (value === undefined || value === null) return;
    form.set(key, typeof value === 'string' ? value : JSON.stringify(value));
  };
  for (const [key, value] of Object.entries((request.query ?? {}) as Record<string, unknown>)) put(key, value);
  if (isMultipart(request.raw)) {
    await readMultipart(
      request.raw,
      {
        totalBytes: FORM_FIELD_BYTES + FORM_OVERHEAD,
        tooLarge: () => new AffixError('too_large', `The request body is larger than ${FORM_FIELD_BYTES + FORM_OVERHEAD} bytes`),
        // One, so that a file part reaches the handler below and is refused in plain words.
        files: 1,
        fields: FORM_FIELDS,
        fieldBytes: FORM_FIELD_BYTES,
        idleMs: timeouts.idleMs,
        deadline: deadlineOf(timeouts),
      },
      {
        file: () => Promise.reject(new AffixError('bad_request', 'Unexpected file part')),
        field: put,
      },
    );
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
