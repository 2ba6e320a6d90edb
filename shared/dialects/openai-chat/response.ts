import type { TierId } from '../../domain/catalog.js';
import { isObject, type Json } from '../../domain/json-body.js';
import { tokenCount } from '../../domain/usage-normalise.js';
import type { Billed } from '../../lifecycle/dialect.js';

/**
 * Rewrites upstream completion objects so the tier abstraction cannot leak: only fields of the
 * OpenAI schema survive, `model` is the tier, `id` is the gateway's, and provider-identifying
 * fields (provider, system_fingerprint, native ids, the upstream's usage cost) are dropped. The
 * client's `usage.cost` is the gateway's own charge (DESIGN §13), never the upstream's cost.
 */

const MESSAGE_FIELDS = ['role', 'content', 'refusal', 'tool_calls', 'function_call', 'annotations', 'audio'];

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details?: { cached_tokens?: number; cache_write_tokens?: number };
  completion_tokens_details?: { reasoning_tokens?: number };
  /** The client's charge for the request in USD (chargeMicros / 1e6), as OpenRouter names it. */
  cost?: number;
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

/**
 * The upstream usage block as the client sees it: OpenAI's token fields and the token details the
 * upstream reported, nothing else (its cost is the upstream's, not the client's). Undefined when
 * absent or bad.
 */
export function readUsage(raw: unknown): Usage | undefined {
  if (!isObject(raw)) return undefined;
  const prompt = tokenCount(raw.prompt_tokens);
  const completion = tokenCount(raw.completion_tokens);
  if (prompt === undefined || completion === undefined) return undefined;
  const usage: Usage = {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
  };
  if (isObject(raw.prompt_tokens_details)) {
    const cached = tokenCount(raw.prompt_tokens_details.cached_tokens);
    const written = tokenCount(raw.prompt_tokens_details.cache_write_tokens);
    if (cached !== undefined || written !== undefined) {
      usage.prompt_tokens_details = {
        ...(cached !== undefined ? { cached_tokens: cached } : {}),
        ...(written !== undefined ? { cache_write_tokens: written } : {}),
      };
    }
  }
  if (isObject(raw.completion_tokens_details)) {
    const reasoning = tokenCount(raw.completion_tokens_details.reasoning_tokens);
    if (reasoning !== undefined) usage.completion_tokens_details = { reasoning_tokens: reasoning };
  }
  return usage;
}

/** A usage block for counts the gateway billed on, when the upstream reported none (an estimate). */
function billedUsage(billed: Billed): Usage {
  return {
    prompt_tokens: billed.inputTokens,
    completion_tokens: billed.outputTokens,
    total_tokens: billed.inputTokens + billed.outputTokens,
  };
}

/** The client's usage: what the upstream reported (or the billed counts), and the client's charge. */
export function clientUsage(reported: Usage | undefined, billed: Billed): Usage {
  return { ...(reported ?? billedUsage(billed)), cost: billed.chargeMicros / 1_000_000 };
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

/** A chunk's choices as the client sees them: the OpenAI fields only, the delta sanitised. */
export function sanitizeChoices(upstream: unknown, identity: Identity): Json[] {
  const out: Json[] = [];
  if (!Array.isArray(upstream)) return out;
  for (let i = 0; i < upstream.length; i++) {
    const c: unknown = upstream[i];
    if (!isObject(c)) continue;
    const choice: Json = {
      index: typeof c.index === 'number' ? c.index : out.length,
      finish_reason: typeof c.finish_reason === 'string' ? c.finish_reason : null,
    };
    if (c.logprobs !== undefined) choice.logprobs = c.logprobs;
    choice.delta = sanitizeMessage(c.delta, identity);
    out.push(choice);
  }
  return out;
}

/** A `chat.completion.chunk` as the client sees it; `usage` only on the final usage chunk. */
export function sanitizeChunk(upstream: Json, identity: Identity, usage?: Usage): Json {
  const chunk: Json = {
    id: identity.id,
    object: 'chat.completion.chunk',
    created: identity.created,
    model: identity.tier,
    choices: sanitizeChoices(upstream.choices, identity),
  };
  if (usage) chunk.usage = usage;
  return chunk;
}

/**
 * The SSE frames of one exchange's chunks. What every chunk shares (id, object, created, model)
 * is serialised once; a chunk adds only its choices. The frame is exactly
 * `sseFrame(sanitizeChunk(upstream, identity))`.
 */
export class ChunkFramer {
  private readonly prefix: string;

  constructor(private readonly identity: Identity) {
    this.prefix =
      `data: {"id":${JSON.stringify(identity.id)},"object":"chat.completion.chunk",` +
      `"created":${JSON.stringify(identity.created)},"model":${JSON.stringify(identity.tier)},"choices":`;
  }

  frame(upstream: Json): string {
    return `${this.prefix}${textChoice(upstream.choices) ?? JSON.stringify(sanitizeChoices(upstream.choices, this.identity))}}\n\n`;
  }
}

/**
 * The serialised choices of the commonest chunk, one choice whose delta holds text only (a role
 * and content, no tool call, refusal or other field), written without building the sanitised
 * objects first; undefined for any other chunk. Exactly
 * `JSON.stringify(sanitizeChoices(choices, identity))`, whatever the identity.
 */
export function textChoice(choices: unknown): string | undefined {
  if (!Array.isArray(choices) || choices.length !== 1) return undefined;
  const c: unknown = choices[0];
  if (!isObject(c)) return undefined;
  const delta = c.delta;
  if (!isObject(delta)) return undefined;
  const { role, content } = delta;
  if (
    (typeof content !== 'string' && content !== null && content !== undefined) ||
    (typeof role !== 'string' && role !== undefined) ||
    delta.refusal !== undefined ||
    delta.tool_calls !== undefined ||
    delta.function_call !== undefined ||
    delta.annotations !== undefined ||
    delta.audio !== undefined ||
    (c.logprobs !== undefined && c.logprobs !== null) ||
    (typeof c.index !== 'number' && c.index !== undefined)
  ) {
    return undefined;
  }
  const index = typeof c.index === 'number' ? JSON.stringify(c.index) : '0';
  const finish = typeof c.finish_reason === 'string' ? JSON.stringify(c.finish_reason) : 'null';
  const logprobs = c.logprobs === null ? '"logprobs":null,' : '';
  const fields =
    (role !== undefined ? `"role":${JSON.stringify(role)}` : '') +
    (role !== undefined && content !== undefined ? ',' : '') +
    (content !== undefined ? `"content":${JSON.stringify(content)}` : '');
  return `[{"index":${index},"finish_reason":${finish},${logprobs}"delta":{${fields}}}]`;
}

/** The name and arguments of a function call, or the name and input of a custom tool call. */
function callText(call: unknown): string {
  if (!isObject(call)) return '';
  let text = '';
  for (const [part, fields] of [
    [call.function, ['name', 'arguments']],
    [call.custom, ['name', 'input']],
  ] as const) {
    if (!isObject(part)) continue;
    for (const field of fields) if (typeof part[field] === 'string') text += part[field];
  }
  return text;
}

/**
 * Generated text in a chunk's delta or a message: content, a refusal, reasoning, and tool calls
 * (function, custom, and the legacy `function_call`). What it finds is the answer's first content
 * (the stream is relayed from then on) and what an estimate of the output counts.
 */
export function generatedText(choiceDeltaOrMessage: unknown): string {
  if (!isObject(choiceDeltaOrMessage)) return '';
  const { content, refusal, function_call: functionCall } = choiceDeltaOrMessage;
  let text = typeof content === 'string' ? content : '';
  if (typeof refusal === 'string') text += refusal;
  // Reasoning: OpenRouter's name, else DeepSeek's and vLLM's (which some send beside it, the same text).
  const { reasoning, reasoning_content: reasoningContent } = choiceDeltaOrMessage;
  if (typeof reasoning === 'string') text += reasoning;
  else if (typeof reasoningContent === 'string') text += reasoningContent;
  text += callText({ function: functionCall });
  const calls = choiceDeltaOrMessage.tool_calls;
  if (Array.isArray(calls)) for (const call of calls) text += callText(call);
  return text;
}
