import { readFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import fc from 'fast-check';

/**
 * OpenAI's type for each chat parameter, as its OpenAPI schema gives it (checked against the schema
 * below). `integer` is a JSON number without a fraction; `float` one with.
 */
export type Kind = 'string' | 'integer' | 'float' | 'boolean' | 'array' | 'object';
const NUMBER: Kind[] = ['integer', 'float'];
export const PARAM_TYPES: Record<string, Kind[]> = {
  messages: ['array'],
  model: ['string'],
  audio: ['object'],
  frequency_penalty: NUMBER,
  function_call: ['string', 'object'],
  functions: ['array'],
  logit_bias: ['object'],
  logprobs: ['boolean'],
  max_completion_tokens: ['integer'],
  max_tokens: ['integer'],
  metadata: ['object'],
  modalities: ['array'],
  moderation: ['object'],
  n: ['integer'],
  parallel_tool_calls: ['boolean'],
  prediction: ['object'],
  presence_penalty: NUMBER,
  prompt_cache_key: ['string'],
  prompt_cache_options: ['object'],
  prompt_cache_retention: ['string'],
  reasoning_effort: ['string'],
  response_format: ['object'],
  safety_identifier: ['string'],
  seed: ['integer'],
  service_tier: ['string'],
  stop: ['string', 'array'],
  store: ['boolean'],
  stream: ['boolean'],
  stream_options: ['object'],
  temperature: NUMBER,
  tool_choice: ['string', 'object'],
  tools: ['array'],
  top_logprobs: ['integer'],
  top_p: NUMBER,
  user: ['string'],
  verbosity: ['string'],
  web_search_options: ['object'],
};

export const KIND_VALUES: Record<Kind, fc.Arbitrary<unknown>> = {
  string: fc.string({ maxLength: 12 }),
  integer: fc.oneof(fc.integer({ min: -1_000_000, max: 1_000_000 }), fc.constantFrom(0, 1, -1)),
  float: fc.double({ min: -1e6, max: 1e6, noNaN: true }).filter((v) => !Number.isInteger(v)),
  boolean: fc.boolean(),
  array: fc.array(fc.oneof(fc.string({ maxLength: 5 }), fc.integer(), fc.boolean()), { maxLength: 3 }),
  object: fc.dictionary(
    fc.string({ minLength: 1, maxLength: 6 }),
    fc.oneof(fc.string({ maxLength: 5 }), fc.integer()),
    {
      maxKeys: 3,
    },
  ),
};

/** OpenAI's own request schema, from the same OpenAPI subset the response validators use. */
export function openAiRequestValidator() {
  const raw = JSON.parse(readFixture()) as { components: { schemas: Record<string, unknown> } };
  const toJsonSchema = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(toJsonSchema);
    if (typeof node !== 'object' || node === null) return node;
    const src = node as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(src)) {
      if (k === 'nullable' || k === 'discriminator' || k === 'example' || k.startsWith('x-')) continue;
      if (k === '$ref' && typeof v === 'string') out.$ref = v.replace('#/components/schemas/', '#/$defs/');
      else out[k] = toJsonSchema(v);
    }
    if (src.nullable === true) {
      if (typeof out.type === 'string') out.type = [out.type, 'null'];
      else return { anyOf: [out, { type: 'null' }] };
    }
    return out;
  };
  const defs = toJsonSchema(raw.components.schemas) as Record<string, Record<string, unknown>>;
  const ajv = new Ajv({ strict: false, allErrors: false, validateFormats: false });
  ajv.addSchema({ $id: 'req', $defs: defs });
  const validate = ajv.getSchema('req#/$defs/CreateChatCompletionRequest');
  if (!validate) throw new Error('CreateChatCompletionRequest not in the fixture');
  // Top-level properties, collected through allOf and $ref.
  const names = new Set<string>();
  const collect = (schema: Record<string, unknown> | undefined): void => {
    if (!schema) return;
    if (typeof schema.$ref === 'string') {
      collect(defs[schema.$ref.replace('#/$defs/', '')]);
      return;
    }
    for (const part of (schema.allOf as Array<Record<string, unknown>> | undefined) ?? []) collect(part);
    for (const name of Object.keys((schema.properties as Record<string, unknown> | undefined) ?? {}))
      names.add(name);
  };
  collect(defs.CreateChatCompletionRequest);
  return { validate: (body: unknown) => validate(body) === true, names };
}

function readFixture(): string {
  // Synchronous read at test time; the fixture is small.
  return readFileSync(new URL('../fixtures/openai-chat-subset.json', import.meta.url), 'utf8');
}
