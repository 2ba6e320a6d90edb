import { resolveTierId, type TierId } from '../../domain/catalog.js';
import { invalidRequest, modelNotFound } from '../../domain/errors.js';
import { isObject, type Json } from '../../domain/json-body.js';

/**
 * Every OpenAI chat-completions parameter. They pass through to the upstream untouched; anything
 * else is rejected as OpenAI does, which also stops clients from steering provider routing
 * (e.g. OpenRouter's `models`, `provider`, `route`) around the tier.
 */
const OPENAI_CHAT_PARAMS = new Set([
  'messages',
  'model',
  'audio',
  'frequency_penalty',
  'function_call',
  'functions',
  'logit_bias',
  'logprobs',
  'max_completion_tokens',
  'max_tokens',
  'metadata',
  'modalities',
  'moderation',
  'n',
  'parallel_tool_calls',
  'prediction',
  'presence_penalty',
  'prompt_cache_key',
  'prompt_cache_options',
  'prompt_cache_retention',
  'reasoning_effort',
  'response_format',
  'safety_identifier',
  'seed',
  'service_tier',
  'stop',
  'store',
  'stream',
  'stream_options',
  'temperature',
  'tool_choice',
  'tools',
  'top_logprobs',
  'top_p',
  'user',
  'verbosity',
  'web_search_options',
]);

const MESSAGE_ROLES = new Set(['system', 'developer', 'user', 'assistant', 'tool', 'function']);
const MAX_MESSAGES = 10_000;

export interface ChatRequest {
  tier: TierId;
  stream: boolean;
  /** The client asked for the final usage chunk. */
  includeUsage: boolean;
  /** The client's own output cap (max_completion_tokens, else max_tokens), if any. */
  requestedMaxTokens: number | undefined;
  /** Choices requested (n); the output cap applies to each. */
  choices: number;
  /** The client used max_completion_tokens (reasoning models want it) rather than max_tokens. */
  usesCompletionTokens: boolean;
  /** Content parts that are not text (images, audio, files): their tokens are not bounded by bytes. */
  mediaParts: number;
  /** The body to forward, minus `model`, `stream_options` and the token caps the gateway sets. */
  passThrough: Record<string, unknown>;
}

function expectType(body: Json, name: string, check: (v: unknown) => boolean, what: string): void {
  const v = body[name];
  if (v !== undefined && v !== null && !check(v)) throw invalidRequest(`'${name}' must be ${what}.`, name);
}

const isNumberIn = (min: number, max: number) => (v: unknown) =>
  typeof v === 'number' && Number.isFinite(v) && v >= min && v <= max;
const isIntIn = (min: number, max: number) => (v: unknown) =>
  Number.isSafeInteger(v) && isNumberIn(min, max)(v);
const isString = (v: unknown) => typeof v === 'string';
const isBoolean = (v: unknown) => typeof v === 'boolean';

/** Validates a chat-completions body: OpenAI's types for every parameter the gateway reads. */
export function parseChatRequest(body: Json): ChatRequest {
  for (const key of Object.keys(body)) {
    if (!OPENAI_CHAT_PARAMS.has(key))
      throw invalidRequest(`Unrecognized request argument supplied: ${key.slice(0, 64)}`, key.slice(0, 64));
  }
  const model = body.model;
  if (model === undefined) throw invalidRequest("Missing required parameter: 'model'.", 'model');
  if (typeof model !== 'string') throw invalidRequest("'model' must be a string.", 'model');
  const tier = resolveTierId(model);

  validateMessages(body.messages);
  expectType(body, 'stream', isBoolean, 'a boolean');
  expectType(body, 'temperature', isNumberIn(0, 2), 'a number between 0 and 2');
  expectType(body, 'top_p', isNumberIn(0, 1), 'a number between 0 and 1');
  expectType(body, 'frequency_penalty', isNumberIn(-2, 2), 'a number between -2 and 2');
  expectType(body, 'presence_penalty', isNumberIn(-2, 2), 'a number between -2 and 2');
  expectType(body, 'n', isIntIn(1, 128), 'an integer between 1 and 128');
  expectType(body, 'max_tokens', isIntIn(1, Number.MAX_SAFE_INTEGER), 'a positive integer');
  expectType(body, 'max_completion_tokens', isIntIn(1, Number.MAX_SAFE_INTEGER), 'a positive integer');
  expectType(body, 'seed', Number.isSafeInteger, 'an integer');
  expectType(body, 'logprobs', isBoolean, 'a boolean');
  expectType(body, 'top_logprobs', isIntIn(0, 20), 'an integer between 0 and 20');
  expectType(body, 'user', isString, 'a string');
  expectType(body, 'store', isBoolean, 'a boolean');
  expectType(body, 'parallel_tool_calls', isBoolean, 'a boolean');
  expectType(body, 'reasoning_effort', isString, 'a string');
  expectType(
    body,
    'stop',
    (v) => isString(v) || (Array.isArray(v) && v.length <= 4 && v.every(isString)),
    'a string or an array of up to 4 strings',
  );
  expectType(body, 'tools', (v) => Array.isArray(v) && v.every(isObject), 'an array of tool objects');
  expectType(body, 'tool_choice', (v) => isString(v) || isObject(v), 'a string or an object');
  expectType(body, 'response_format', isObject, 'an object');
  expectType(body, 'logit_bias', isObject, 'an object');
  expectType(body, 'metadata', isObject, 'an object');
  expectType(body, 'stream_options', isObject, 'an object');
  for (const name of ['audio', 'prediction', 'web_search_options', 'moderation', 'prompt_cache_options']) {
    expectType(body, name, isObject, 'an object');
  }
  for (const name of [
    'prompt_cache_key',
    'prompt_cache_retention',
    'safety_identifier',
    'service_tier',
    'verbosity',
  ]) {
    expectType(body, name, isString, 'a string');
  }
  expectType(body, 'function_call', (v) => isString(v) || isObject(v), 'a string or an object');
  expectType(body, 'functions', (v) => Array.isArray(v) && v.every(isObject), 'an array of function objects');
  expectType(body, 'modalities', (v) => Array.isArray(v) && v.every(isString), 'an array of strings');

  const stream = body.stream === true;
  const streamOptions = body.stream_options;
  if (isObject(streamOptions)) {
    if (!stream) {
      throw invalidRequest(
        "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
        'stream_options',
      );
    }
    if (streamOptions.include_usage !== undefined && typeof streamOptions.include_usage !== 'boolean') {
      throw invalidRequest(
        "'stream_options.include_usage' must be a boolean.",
        'stream_options.include_usage',
      );
    }
  }
  // Unknown models are reported after type checks so a malformed body is always a 400.
  if (tier === undefined) throw modelNotFound();

  const requested = (body.max_completion_tokens ?? body.max_tokens) as number | null | undefined;
  const {
    model: _model,
    stream_options: _so,
    max_tokens: _mt,
    max_completion_tokens: _mct,
    ...passThrough
  } = body;
  return {
    tier,
    stream,
    includeUsage: isObject(streamOptions) && streamOptions.include_usage === true,
    requestedMaxTokens: requested ?? undefined,
    choices: typeof body.n === 'number' ? body.n : 1,
    usesCompletionTokens: body.max_completion_tokens !== undefined && body.max_completion_tokens !== null,
    mediaParts: countMediaParts(body.messages as unknown[]),
    passThrough,
  };
}

function validateMessages(messages: unknown): void {
  if (messages === undefined) throw invalidRequest("Missing required parameter: 'messages'.", 'messages');
  if (!Array.isArray(messages)) throw invalidRequest("'messages' must be an array.", 'messages');
  if (messages.length === 0)
    throw invalidRequest("'messages' must contain at least one message.", 'messages');
  if (messages.length > MAX_MESSAGES)
    throw invalidRequest(`'messages' may hold at most ${MAX_MESSAGES} messages.`, 'messages');
  messages.forEach((m, i) => {
    const param = `messages.[${i}]`;
    if (!isObject(m)) throw invalidRequest(`'${param}' must be an object.`, param);
    if (typeof m.role !== 'string' || !MESSAGE_ROLES.has(m.role)) {
      throw invalidRequest(
        `'${param}.role' must be one of ${[...MESSAGE_ROLES].join(', ')}.`,
        `${param}.role`,
      );
    }
    const content = m.content;
    const contentOk =
      typeof content === 'string' ||
      (Array.isArray(content) && content.every((p) => isObject(p) && typeof p.type === 'string')) ||
      ((content === null || content === undefined) && (m.role === 'assistant' || m.role === 'function'));
    if (!contentOk) {
      throw invalidRequest(
        `'${param}.content' must be a string or an array of content parts.`,
        `${param}.content`,
      );
    }
  });
}

const TEXT_PART_TYPES = new Set(['text', 'refusal']);

function countMediaParts(messages: unknown[]): number {
  let count = 0;
  for (const m of messages) {
    const content = (m as Json).content;
    if (!Array.isArray(content)) continue;
    for (const part of content) if (!TEXT_PART_TYPES.has(String((part as Json).type))) count++;
  }
  return count;
}
