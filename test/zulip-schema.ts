// Checks answers of the Zulip dialect against Zulip's own response schemas (test/fixtures/zulip-openapi-excerpt.yaml).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Ajv, type ValidateFunction } from 'ajv';
import YAML from 'yaml';

const FIXTURE = new URL('../../test/fixtures/zulip-openapi-excerpt.yaml', import.meta.url);
const document = YAML.parse(readFileSync(FIXTURE, 'utf8')) as {
  paths: Record<string, Record<string, { responses: Record<string, { $ref?: string; content?: unknown }> }>>;
  components: { responses: Record<string, unknown> };
};
/**
 * Two readings where OpenAPI 3.0 and JSON Schema differ. `nullable` without a `type` (Zulip's way of
 * re-allowing null in an `allOf` override) has no meaning of its own: dropped. `oneOf`: Zulip lists
 * error bodies as alternatives that overlap (InvalidMessageError and CodedError accept the same
 * body), so "exactly one" could never hold; read as "at least one", as Zulip's own checks do.
 */
function asJsonSchema(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(asJsonSchema);
  if (node === null || typeof node !== 'object') return node;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === 'nullable' && !('type' in node)) continue;
    out[key === 'oneOf' ? 'anyOf' : key] = asJsonSchema(value);
  }
  return out;
}

// The remaining OpenAPI keywords (`nullable` with a type, `deprecated`) are not JSON Schema's: strict mode would refuse them.
const ajv = new Ajv({ strict: false, allErrors: true });
ajv.addSchema(asJsonSchema(document) as object, 'zulip');
const compiled = new Map<string, ValidateFunction>();

const pointerPart = (key: string) => encodeURIComponent(key.replaceAll('~', '~0').replaceAll('/', '~1'));

/**
 * Asserts that `body` is what Zulip's schema allows for `method path` answering `status` (`path` as
 * the document names it, e.g. `/messages/{message_id}`).
 */
export function assertZulipSchema(method: string, path: string, status: number, body: unknown): void {
  const response = document.paths[path]?.[method.toLowerCase()]?.responses[String(status)];
  assert.ok(response, `Zulip's schema has no ${status} answer for ${method} ${path}`);
  const base = response.$ref
    ? response.$ref.replace(/^#/, 'zulip#')
    : `zulip#/paths/${pointerPart(path)}/${method.toLowerCase()}/responses/${status}`;
  const pointer = `${base}/content/application~1json/schema`;
  let validate = compiled.get(pointer);
  if (!validate) {
    validate = ajv.compile({ $ref: pointer });
    compiled.set(pointer, validate);
  }
  assert.ok(validate(body), `${method} ${path} ${status} does not match Zulip's schema: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(body)}`);
}
