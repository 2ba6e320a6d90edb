import type { TierId } from '../../domain/catalog.js';
import { isObject, type Json } from '../../domain/json-body.js';

/**
 * Rewrites upstream completion objects so the tier abstraction cannot leak: only fields of the
 * OpenAI schema survive, `model` is the tier, `id` is the gateway's, and provider-identifying
 * fields (provider, system_fingerprint, native ids, usage cost) are dropped.
 */

const MESSAGE_FIELDS = ['role', 'content', 'refusal', 'tool_calls', 'function_call', 'annotations', 'audio'];
const CHOICE_FIELDS = ['index', 'finish_reason', 'logprobs'];

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details?: { cached_tokens?: number; audio_tokens?: number };
  completion_tokens_details?: { reasoning_tokens?: number; audio_tokens?: number };
}

export interface Identity {
  id: string;
  tier: TierId;
  created: number;
  /** Replaces an upstream tool-call id, whose format can name the provider. */
  toolCallId?: (upstreamId: string) => string;
}

function pick(source: Json, fields: readonly string[]): Json {
  const out: Json = {};
  for (const f of fields) if (source[f] !== undefined) out[f] = source[f];
  return out;
}

/** Token counts beyond this are an upstream bug; clamping keeps the money arithmetic exact. */
const MAX_TOKENS_REPORTED = 1_000_000_000;

const nonNegativeInt = (v: unknown): number | undefined =>
  typeof v === 'number' && Number.isFinite(v) && v >= 0
    ? Math.min(Math.floor(v), MAX_TOKENS_REPORTED)
    : undefined;

/** The upstream usage block, normalised to OpenAI's fields, or undefined when absent or bad. */
export function readUsage(raw: unknown): Usage | undefined {
  if (!isObject(raw)) return undefined;
  const prompt = nonNegativeInt(raw.prompt_tokens);
  const completion = nonNegativeInt(raw.completion_tokens);
  if (prompt === undefined || completion === undefined) return undefined;
  const usage: Usage = {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
  };
  if (isObject(raw.prompt_tokens_details)) {
    const cached = nonNegativeInt(raw.prompt_tokens_details.cached_tokens);
    if (cached !== undefined) usage.prompt_tokens_details = { cached_tokens: cached };
  }
  if (isObject(raw.completion_tokens_details)) {
    const reasoning = nonNegativeInt(raw.completion_tokens_details.reasoning_tokens);
    if (reasoning !== undefined) usage.completion_tokens_details = { reasoning_tokens: reasoning };
  }
  return usage;
}

function sanitizeToolCalls(calls: unknown, identity: Identity): unknown {
  if (!Array.isArray(calls)) return calls;
  return calls.map((c) => {
    if (!isObject(c)) return c;
    const call = pick(c, ['index', 'id', 'type', 'function', 'custom']);
    if (typeof call.id === 'string' && identity.toolCallId) call.id = identity.toolCallId(call.id);
    return call;
  });
}

function sanitizeMessage(message: unknown, identity: Identity): Json {
  const m = isObject(message) ? pick(message, MESSAGE_FIELDS) : {};
  if (m.tool_calls !== undefined) m.tool_calls = sanitizeToolCalls(m.tool_calls, identity);
  return m;
}

/** A non-streaming `chat.completion` as the client sees it. */
export function sanitizeCompletion(upstream: Json, identity: Identity, usage: Usage | undefined): Json {
  const choices = Array.isArray(upstream.choices) ? upstream.choices : [];
  return {
    id: identity.id,
    object: 'chat.completion',
    created: identity.created,
    model: identity.tier,
    choices: choices.filter(isObject).map((c, i) => ({
      index: typeof c.index === 'number' ? c.index : i,
      message: { role: 'assistant', content: null, refusal: null, ...sanitizeMessage(c.message, identity) },
      finish_reason: typeof c.finish_reason === 'string' ? c.finish_reason : 'stop',
      logprobs: c.logprobs ?? null,
    })),
    ...(usage ? { usage } : {}),
  };
}

/** A `chat.completion.chunk` as the client sees it; `usage` only on the final usage chunk. */
export function sanitizeChunk(upstream: Json, identity: Identity, usage?: Usage): Json {
  const choices = Array.isArray(upstream.choices) ? upstream.choices : [];
  const chunk: Json = {
    id: identity.id,
    object: 'chat.completion.chunk',
    created: identity.created,
    model: identity.tier,
    choices: choices.filter(isObject).map((c, i) => {
      const choice = pick(c, CHOICE_FIELDS);
      return {
        ...choice,
        index: typeof c.index === 'number' ? c.index : i,
        delta: sanitizeMessage(c.delta, identity),
        finish_reason: typeof c.finish_reason === 'string' ? c.finish_reason : null,
      };
    }),
  };
  if (usage) chunk.usage = usage;
  return chunk;
}

/** Generated text and tool arguments in a chunk's delta or a message, for usage estimates. */
export function generatedText(choiceDeltaOrMessage: unknown): string {
  if (!isObject(choiceDeltaOrMessage)) return '';
  let text = typeof choiceDeltaOrMessage.content === 'string' ? choiceDeltaOrMessage.content : '';
  if (typeof choiceDeltaOrMessage.reasoning === 'string') text += choiceDeltaOrMessage.reasoning;
  const calls = choiceDeltaOrMessage.tool_calls;
  if (Array.isArray(calls)) {
    for (const c of calls) {
      if (isObject(c) && isObject(c.function)) {
        const fn = c.function;
        if (typeof fn.name === 'string') text += fn.name;
        if (typeof fn.arguments === 'string') text += fn.arguments;
      }
    }
  }
  return text;
}
