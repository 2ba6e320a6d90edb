import type { RefusedParameter } from '../refused-parameters.js';

/**
 * The gateway's rules on top of OpenAI's chat-completions request schema, as data. The schema
 * itself (test/fixtures/openai-chat-subset.json, CreateChatCompletionRequest) is compiled into
 * request-validator.generated.js by `npm run gen:validators`; these rules are applied there
 * (extensions, bounds) and in the parser (refused values).
 */

type JsonSchema = Record<string, unknown>;

export interface SchemaExtension {
  /** Schema definitions (components/schemas names) that accept the field. */
  definitions: readonly string[];
  field: string;
  schema: JsonSchema;
  /** Why a tier gateway must pass it through; the README lists these. */
  why: string;
}

const CONTENT_PARTS = [
  'ChatCompletionRequestMessageContentPartText',
  'ChatCompletionRequestMessageContentPartImage',
  'ChatCompletionRequestMessageContentPartAudio',
  'ChatCompletionRequestMessageContentPartFile',
];

/**
 * Fields that are not in OpenAI's schema but are accepted where named. Every other field an
 * object does not declare is refused, at any depth, so a client cannot reach provider routing
 * or other provider-specific behaviour around the tier.
 */
export const PASS_THROUGH_EXTENSIONS: readonly SchemaExtension[] = [
  {
    definitions: CONTENT_PARTS,
    field: 'cache_control',
    schema: {
      type: 'object',
      properties: {
        type: { type: 'string', enum: ['ephemeral'] },
        ttl: { type: 'string', enum: ['5m', '1h'] },
      },
      required: ['type'],
      additionalProperties: false,
    },
    why: 'prompt-caching breakpoints (Anthropic and Gemini models behind OpenAI-compatible upstreams such as OpenRouter)',
  },
  {
    definitions: ['ChatCompletionRequestAssistantMessage'],
    field: 'annotations',
    schema: { type: 'array', items: { type: 'object' } },
    why: "the gateway's own responses carry it, so a client that appends the response message to the conversation can send it back",
  },
];

/** Bounds the gateway adds to top-level parameters the schema leaves open. */
export const GATEWAY_BOUNDS: Readonly<Record<string, JsonSchema>> = {
  // The output cap is used in integer arithmetic for the hold; JSON numbers beyond 2^53 are not exact.
  max_tokens: { minimum: 1, maximum: Number.MAX_SAFE_INTEGER },
  max_completion_tokens: { minimum: 1, maximum: Number.MAX_SAFE_INTEGER },
  // A seed beyond 2^53 would reach the upstream rounded, i.e. changed.
  seed: { minimum: Number.MIN_SAFE_INTEGER, maximum: Number.MAX_SAFE_INTEGER },
  messages: { maxItems: 10_000 },
};

/**
 * Valid OpenAI parameters that change what the upstream charges, or how it keeps the data, in
 * ways a flat tier price cannot reflect: refused with a 400 that says why.
 */
export const REFUSED_PARAMETERS: readonly RefusedParameter[] = [
  {
    param: 'service_tier',
    allowed: ['auto', 'default'],
    why: 'priority, fast, flex and scale processing are billed by the upstream at rates the tier price does not reflect',
  },
  {
    param: 'store',
    allowed: [false],
    why: "stored completions would be kept in the gateway operator's upstream account",
  },
  {
    param: 'web_search_options',
    allowed: [],
    why: 'web search is billed per search by the upstream, which the tier price does not reflect',
  },
  {
    param: 'modalities',
    allowed: ['text'],
    why: 'audio output is billed by the upstream per audio token, at rates the tier price does not reflect',
  },
  {
    param: 'audio',
    allowed: [],
    why: 'audio output is billed by the upstream per audio token, at rates the tier price does not reflect',
  },
  {
    param: 'prompt_cache_retention',
    allowed: ['in_memory'],
    why: "extended retention keeps prompts in the gateway operator's upstream account for up to 24 hours",
  },
];
