/**
 * OpenAPI 3.0 schema objects as JSON Schema that ajv reads: `nullable` becomes a null type,
 * `$ref`s point into `$defs`, and OpenAPI-only keywords (`discriminator`, `example`, `x-*`) go.
 */

type Schema = Record<string, unknown>;

/** Keywords whose value maps names to schemas: the names are data, not keywords. */
const SCHEMA_MAPS = new Set(['properties', '$defs']);

export function openApiToJsonSchema(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(openApiToJsonSchema);
  if (typeof node !== 'object' || node === null) return node;
  const src = node as Schema;
  const out: Schema = {};
  for (const [k, v] of Object.entries(src)) {
    if (k === 'nullable' || k === 'discriminator' || k === 'example' || k.startsWith('x-')) continue;
    if (k === '$ref' && typeof v === 'string') out.$ref = v.replace('#/components/schemas/', '#/$defs/');
    else if (k === 'enum' || k === 'required') out[k] = v;
    else if (SCHEMA_MAPS.has(k))
      out[k] = Object.fromEntries(
        Object.entries(v as Schema).map(([name, s]) => [name, openApiToJsonSchema(s)]),
      );
    else out[k] = openApiToJsonSchema(v);
  }
  if (src.nullable === true) {
    if (typeof out.type === 'string') {
      out.type = [out.type, 'null'];
      if (Array.isArray(out.enum)) out.enum = [...out.enum, null];
    } else return { anyOf: [out, { type: 'null' }] };
  }
  return out;
}
