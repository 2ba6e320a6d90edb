/**
 * A small valid instance of a JSON Schema: what the demo upstream sends as a tool call's
 * arguments, so a client that validates them against its tool's `parameters` accepts them.
 * Every declared property is present (required ones first, `maxProperties` respected), each
 * with the smallest value its schema allows. Covers what tool schemas use: types, enum, const,
 * default, examples, string length and common formats, number bounds and multipleOf, array
 * item counts, anyOf/oneOf/allOf (the first branch) and local `$ref`s. `pattern` is not solved:
 * a string with a pattern gets its example, default or enum value when it has one.
 */

type Schema = Record<string, unknown>;

const MAX_DEPTH = 8;
const SAMPLE = 'demo';
const FORMATS: Readonly<Record<string, string>> = {
  'date-time': '2026-01-01T00:00:00Z',
  date: '2026-01-01',
  time: '00:00:00Z',
  email: 'demo@example.com',
  uri: 'https://example.com/',
  url: 'https://example.com/',
  uuid: '00000000-0000-4000-8000-000000000000',
  hostname: 'example.com',
  ipv4: '192.0.2.1',
  ipv6: '2001:db8::1',
};

const isSchema = (v: unknown): v is Schema => typeof v === 'object' && v !== null && !Array.isArray(v);

/** `#/$defs/x` or `#/definitions/x` against the root schema; anything else is not followed. */
function resolve(schema: Schema, root: Schema): Schema {
  const ref = schema.$ref;
  if (typeof ref !== 'string') return schema;
  const match = /^#\/(\$defs|definitions)\/([^/]+)$/.exec(ref);
  const defs = match ? root[match[1] as string] : undefined;
  const target = isSchema(defs) ? defs[match?.[2] as string] : undefined;
  return isSchema(target) ? target : {};
}

function firstType(schema: Schema): string | undefined {
  const type = schema.type;
  if (typeof type === 'string') return type;
  if (Array.isArray(type)) return (type.find((t) => t !== 'null') ?? type[0]) as string | undefined;
  if (isSchema(schema.properties)) return 'object';
  if (schema.items !== undefined) return 'array';
  return undefined;
}

function numberOf(schema: Schema, integer: boolean): number {
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
  const exclusiveMin = num(schema.exclusiveMinimum);
  const step = integer ? 1 : 0.5;
  let n = num(schema.minimum) ?? (exclusiveMin === undefined ? 0 : exclusiveMin + step);
  const max = num(schema.maximum) ?? (num(schema.exclusiveMaximum) ?? Number.POSITIVE_INFINITY) - step;
  if (n > max) n = num(schema.maximum) ?? max;
  if (integer) n = Math.ceil(n);
  const multipleOf = num(schema.multipleOf);
  if (multipleOf !== undefined && multipleOf > 0) n = Math.ceil(n / multipleOf) * multipleOf;
  return n;
}

function stringOf(schema: Schema): string {
  const format = typeof schema.format === 'string' ? FORMATS[schema.format] : undefined;
  let s = format ?? SAMPLE;
  const min = typeof schema.minLength === 'number' ? schema.minLength : 0;
  const max = typeof schema.maxLength === 'number' ? schema.maxLength : Number.POSITIVE_INFINITY;
  if (s.length < min) s = s.padEnd(min, 'o');
  return s.length > max ? s.slice(0, max) : s;
}

function instanceOf(input: unknown, root: Schema, depth: number): unknown {
  if (!isSchema(input) || depth > MAX_DEPTH) return {};
  const schema = resolve(input, root);
  if ('const' in schema) return schema.const;
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return schema.enum[0];
  if ('default' in schema) return schema.default;
  if (Array.isArray(schema.examples) && schema.examples.length > 0) return schema.examples[0];
  for (const key of ['anyOf', 'oneOf', 'allOf'] as const) {
    const branches = schema[key];
    if (Array.isArray(branches) && branches.length > 0 && firstType(schema) === undefined) {
      return instanceOf(branches[0], root, depth + 1);
    }
  }
  switch (firstType(schema)) {
    case 'string':
      return stringOf(schema);
    case 'integer':
      return numberOf(schema, true);
    case 'number':
      return numberOf(schema, false);
    case 'boolean':
      return false;
    case 'null':
      return null;
    case 'array': {
      const count = typeof schema.minItems === 'number' ? Math.min(schema.minItems, 16) : 0;
      return Array.from({ length: count }, () => instanceOf(schema.items, root, depth + 1));
    }
    case 'object':
      return objectOf(schema, root, depth);
    default:
      return {};
  }
}

function objectOf(schema: Schema, root: Schema, depth: number): Record<string, unknown> {
  const properties = isSchema(schema.properties) ? schema.properties : {};
  const required = Array.isArray(schema.required) ? schema.required.filter((r) => typeof r === 'string') : [];
  const names = [...new Set([...required, ...Object.keys(properties)])];
  const max =
    typeof schema.maxProperties === 'number' ? Math.max(schema.maxProperties, required.length) : names.length;
  const out: Record<string, unknown> = {};
  for (const name of names.slice(0, max)) out[name] = instanceOf(properties[name] ?? {}, root, depth + 1);
  return out;
}

/** A valid instance of `schema` (an object schema for tool parameters; `{}` when there is none). */
export function schemaExample(schema: unknown): unknown {
  return isSchema(schema) ? instanceOf(schema, schema, 0) : {};
}
