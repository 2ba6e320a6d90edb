import { readFileSync } from 'node:fs';
import { GATEWAY_BOUNDS, PASS_THROUGH_EXTENSIONS } from '../shared/dialects/openai-chat/request-rules.js';
import { openApiToJsonSchema } from './openapi-json-schema.js';

/**
 * OpenAI's CreateChatCompletionRequest (OpenAPI 3.0) as the strict JSON Schema the gateway
 * validates requests with:
 * - OpenAPI becomes JSON Schema (openapi-json-schema.ts), documentation keywords go;
 * - `allOf` of objects is merged into one object (a property defined twice keeps its last, most
 *   specific definition), so that
 * - every object that declares its properties refuses undeclared ones, except the
 *   PASS_THROUGH_EXTENSIONS, at any depth;
 * - a union of objects told apart by a constant property (`role`, `type`) gets a discriminator,
 *   so an error is reported inside the branch the client meant, and the tag's own enum;
 * - `format: uri` becomes a scheme check (the only format in the request), GATEWAY_BOUNDS apply.
 */

type Schema = Record<string, unknown>;

export const SCHEMA_FILE = new URL('../test/fixtures/openai-chat-subset.json', import.meta.url);
export const ROOT = 'CreateChatCompletionRequest';

/** Documentation: not needed to validate, and it would only bloat the generated code. */
const DOCUMENTATION = new Set(['description', 'title', 'deprecated', 'default']);
/** Keywords whose value is a map of name to schema. */
const SCHEMA_MAPS = new Set(['properties', '$defs']);
const URI_SCHEME = '^[A-Za-z][A-Za-z0-9+.-]*:';

export function loadOpenApiSchemas(): Record<string, Schema> {
  const raw = JSON.parse(readFileSync(SCHEMA_FILE, 'utf8')) as {
    components: { schemas: Record<string, Schema> };
  };
  return raw.components.schemas;
}

const mapValues = (map: Schema, f: (v: unknown) => unknown): Schema =>
  Object.fromEntries(Object.entries(map).map(([k, v]) => [k, f(v)]));

class Strictifier {
  constructor(private readonly defs: Record<string, Schema>) {}

  resolve(schema: Schema): Schema {
    const ref = schema.$ref;
    if (typeof ref !== 'string') return schema;
    const target = this.defs[ref.replace('#/$defs/', '')];
    if (!target) throw new Error(`unresolved ${ref}`);
    return this.resolve(target);
  }

  /** Merges `allOf` members that are objects into one object schema. */
  flattenAllOf(schema: Schema): Schema {
    if (!Array.isArray(schema.allOf)) return schema;
    const merged: Schema = { type: 'object', properties: {} as Schema, required: [] as string[] };
    const { allOf, ...rest } = schema;
    for (const member of [...(allOf as Schema[]), rest]) {
      const part = this.flattenAllOf(this.resolve(member));
      Object.assign(merged.properties as Schema, part.properties ?? {});
      (merged.required as string[]).push(...((part.required as string[] | undefined) ?? []));
    }
    merged.required = [...new Set(merged.required as string[])];
    return merged;
  }

  /** The constant property that tells the object branches of a union apart, if there is one. */
  discriminatorOf(branches: Schema[]): { tag: string; values: unknown[] } | undefined {
    const objects = branches.map((b) => this.resolve(b));
    const first = objects[0];
    if (objects.length < 2 || !first) return undefined;
    for (const tag of Object.keys((first.properties as Schema | undefined) ?? {})) {
      const values: unknown[] = [];
      const ok = objects.every((o) => {
        const enumValues = ((o.properties as Schema | undefined)?.[tag] as Schema | undefined)?.enum;
        const required = (o.required as string[] | undefined)?.includes(tag);
        if (!Array.isArray(enumValues) || enumValues.length !== 1 || !required) return false;
        values.push(enumValues[0]);
        return true;
      });
      if (ok && new Set(values).size === values.length) return { tag, values };
    }
    return undefined;
  }

  /** A union whose object branches carry a tag: they become one discriminated object branch. */
  discriminate(keyword: 'oneOf' | 'anyOf', schema: Schema): Schema {
    const branches = schema[keyword] as Schema[];
    const isObject = (b: Schema) => this.resolve(b).type === 'object';
    const objects = branches.filter(isObject);
    const found = this.discriminatorOf(objects);
    if (!found) return schema;
    const union: Schema = {
      type: 'object',
      required: [found.tag],
      properties: { [found.tag]: { type: 'string', enum: found.values } },
      discriminator: { propertyName: found.tag },
      oneOf: objects,
    };
    const others = branches.filter((b) => !isObject(b));
    const { [keyword]: _, ...rest } = schema;
    return others.length === 0 ? { ...rest, ...union } : { ...rest, [keyword]: [...others, union] };
  }

  strict(node: unknown): unknown {
    if (Array.isArray(node)) return node.map((n) => this.strict(n));
    if (typeof node !== 'object' || node === null) return node;
    if (isOpenEnum(node as Schema)) return { type: 'string' };
    let schema = this.flattenAllOf(node as Schema);
    for (const keyword of ['oneOf', 'anyOf'] as const) {
      if (Array.isArray(schema[keyword])) schema = this.discriminate(keyword, schema);
    }
    const out: Schema = {};
    for (const [k, v] of Object.entries(schema)) {
      if (DOCUMENTATION.has(k)) continue;
      if (k === 'format' && v === 'uri') out.pattern = URI_SCHEME;
      else if (k === 'enum' || k === 'required' || k === 'discriminator') out[k] = v;
      else if (SCHEMA_MAPS.has(k)) out[k] = mapValues(v as Schema, (s) => this.strict(s));
      else out[k] = this.strict(v);
    }
    const isUnion = out.oneOf !== undefined || out.anyOf !== undefined;
    if (out.properties !== undefined && out.additionalProperties === undefined && !isUnion)
      out.additionalProperties = false;
    return out;
  }
}

/** `anyOf: [any string, string enum]` (model ids, voices): the enum lists examples, not limits. */
export function isOpenEnum(schema: Schema): boolean {
  const keywords = (s: Schema) => Object.keys(s).filter((k) => !DOCUMENTATION.has(k)).length;
  const branches = schema.anyOf;
  if (!Array.isArray(branches) || keywords(schema) !== 1) return false;
  const anyString = (b: Schema) => b.type === 'string' && keywords(b) === 1;
  const stringEnum = (b: Schema) => b.type === 'string' && Array.isArray(b.enum) && keywords(b) === 2;
  return (
    (branches as Schema[]).some(anyString) &&
    (branches as Schema[]).every((b) => anyString(b) || stringEnum(b))
  );
}

/** The strict request schema, with the gateway's extensions and bounds, as one JSON Schema. */
export function strictChatRequestSchema(schemas = loadOpenApiSchemas()): Schema {
  const defs = mapValues(schemas, openApiToJsonSchema) as Record<string, Schema>;
  for (const extension of PASS_THROUGH_EXTENSIONS) {
    for (const name of extension.definitions) {
      const def = defs[name];
      if (!def?.properties) throw new Error(`extension ${extension.field}: no definition ${name}`);
      (def.properties as Schema)[extension.field] = extension.schema;
    }
  }
  const strictifier = new Strictifier(defs);
  const strictDefs = mapValues(defs, (d) => strictifier.strict(d)) as Record<string, Schema>;
  const root = strictDefs[ROOT] as Schema;
  const properties = root.properties as Record<string, Schema>;
  for (const [name, bounds] of Object.entries(GATEWAY_BOUNDS)) {
    const property = properties[name];
    if (!property) throw new Error(`bound on unknown parameter ${name}`);
    properties[name] = { ...property, ...bounds };
  }
  return { $id: 'openai-chat-request', ...root, $defs: reachable(strictDefs, root) };
}

/** Only the definitions the root refers to, directly or not. */
function reachable(defs: Record<string, Schema>, root: Schema): Record<string, Schema> {
  const out: Record<string, Schema> = {};
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) {
      for (const item of node) visit(item);
      return;
    }
    if (typeof node !== 'object' || node === null) return;
    for (const [k, v] of Object.entries(node)) {
      if (k === '$ref' && typeof v === 'string') {
        const name = v.replace('#/$defs/', '');
        if (out[name] === undefined && defs[name]) {
          out[name] = defs[name];
          visit(defs[name]);
        }
      } else visit(v);
    }
  };
  visit(root);
  return out;
}
