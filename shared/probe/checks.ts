import * as z from 'zod/v4';
import type { TierId } from '../domain/catalog.js';
import { isObject } from '../domain/json-body.js';
import { SseParser } from '../domain/sse.js';

/**
 * What the Complete step checks in a response, as pure functions: the OpenAI shapes, usage, and that nothing
 * names an upstream model or provider. Each returns problems as short texts that quote no response content.
 */

/** The tier the probe streams from, on both surfaces: the cheapest and fastest. Every other tier gets one plain completion. */
export const PROBE_TIER: TierId = 'tier-1';

/**
 * Provider names that must never reach a client (DESIGN §2), besides the catalog's own model ids and their
 * provider prefixes. Lower case; all at least four characters, so they cannot match inside an id by chance.
 */
export const PROVIDER_NAMES: readonly string[] = [
  'openai',
  'openrouter',
  'anthropic',
  'google',
  'gemini',
  'vertex',
  'deepseek',
  'mistral',
  'meta-llama',
  'cohere',
  'qwen',
  'amazon',
  'bedrock',
  'azure',
  'microsoft',
  'groq',
  'fireworks',
  'together',
  'perplexity',
  'nvidia',
  'x-ai',
];

/** Fields an upstream adds that the gateway must strip. */
const UPSTREAM_FIELDS = ['provider', 'system_fingerprint'];
/** Generated text (OpenAI's and Anthropic's fields): it may mention anything, so leak checks skip it. */
const GENERATED_FIELDS = new Set([
  'content',
  'refusal',
  'reasoning',
  'reasoning_content',
  'arguments',
  'text',
  'thinking',
  'partial_json',
]);
const MIN_TERM_LENGTH = 4;

/** The terms to look for: each catalog model id, its name without the provider prefix, the prefix, and PROVIDER_NAMES. */
export function leakTerms(modelIds: readonly string[]): string[] {
  const terms = new Set(PROVIDER_NAMES);
  for (const id of modelIds) {
    const lower = id.toLowerCase();
    terms.add(lower);
    const slash = lower.indexOf('/');
    if (slash > 0) {
      terms.add(lower.slice(0, slash));
      terms.add(lower.slice(slash + 1));
    }
  }
  return [...terms].filter((term) => term.length >= MIN_TERM_LENGTH);
}

/** The model ids of an admin `GET /admin/tiers` answer. */
export function catalogModelIds(tiersResponse: unknown): string[] {
  const parsed = z
    .object({
      catalog: z.object({
        tiers: z.record(z.string(), z.object({ models: z.array(z.object({ id: z.string() })) })),
      }),
    })
    .safeParse(tiersResponse);
  if (!parsed.success) return [];
  return Object.values(parsed.data.catalog.tiers).flatMap((tier) => tier.models.map((model) => model.id));
}

function withoutGeneratedText(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutGeneratedText);
  if (!isObject(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(value)) {
    if (!GENERATED_FIELDS.has(key)) out[key] = withoutGeneratedText(child);
  }
  return out;
}

function hasKey(value: unknown, keys: readonly string[]): string | undefined {
  if (Array.isArray(value)) {
    for (const child of value) {
      const found = hasKey(child, keys);
      if (found) return found;
    }
    return undefined;
  }
  if (!isObject(value)) return undefined;
  for (const [key, child] of Object.entries(value)) {
    if (keys.includes(key)) return key;
    const found = hasKey(child, keys);
    if (found) return found;
  }
  return undefined;
}

/** Problems if a JSON body names an upstream (outside generated text) or carries an upstream-only field. */
export function bodyLeaks(body: unknown, terms: readonly string[]): string[] {
  const problems: string[] = [];
  const field = hasKey(body, UPSTREAM_FIELDS);
  if (field) problems.push(`carries the upstream field "${field}"`);
  const text = JSON.stringify(withoutGeneratedText(body)).toLowerCase();
  if (terms.some((term) => text.includes(term))) problems.push('names an upstream model or provider');
  return problems;
}

/** Problems if a header name or value names an upstream model or provider. */
export function headerLeaks(headers: Headers, terms: readonly string[]): string[] {
  const leaking: string[] = [];
  for (const [name, value] of headers) {
    const text = `${name}: ${value}`.toLowerCase();
    if (terms.some((term) => text.includes(term))) leaking.push(name);
  }
  return leaking.length > 0 ? [`header ${leaking.join(', ')} names an upstream model or provider`] : [];
}

const usage = z
  .object({
    prompt_tokens: z.number().int().positive(),
    completion_tokens: z.number().int().positive(),
    total_tokens: z.number().int().positive(),
  })
  .refine((u) => u.total_tokens === u.prompt_tokens + u.completion_tokens, {
    message: 'total_tokens must be prompt_tokens + completion_tokens',
  });

const gatewayId = z.string().regex(/^chatcmpl-[A-Za-z0-9]+$/);

const completionShape = (tier: TierId) =>
  z.object({
    id: gatewayId,
    object: z.literal('chat.completion'),
    created: z.number().int().positive(),
    model: z.literal(tier),
    choices: z
      .array(
        z.object({
          index: z.number().int().nonnegative(),
          message: z.object({ role: z.literal('assistant'), content: z.string().nullable() }),
          finish_reason: z.string(),
        }),
      )
      .min(1),
    usage,
  });

const chunkShape = z.object({
  id: gatewayId,
  object: z.literal('chat.completion.chunk'),
  created: z.number().int().positive(),
  model: z.literal(PROBE_TIER),
  choices: z.array(
    z.object({
      index: z.number().int().nonnegative(),
      delta: z.record(z.string(), z.unknown()),
      finish_reason: z.string().nullable().optional(),
    }),
  ),
  usage: usage.nullable().optional(),
});

/** Names the first offending field and the kind of problem, never the value. */
function shapeProblem(error: z.ZodError): string {
  const issue = error.issues[0];
  const path = issue?.path.map(String).join('.') || 'body';
  return `field ${path} is not as OpenAI specifies (${issue?.code ?? 'invalid'})`;
}

/**
 * How an answer ended that means the model answered: it stopped, or reached the probe's output cap.
 * Anything else (a content filter, a tool call) is no answer to "reply OK".
 */
export const ANSWERED_FINISH_REASONS: ReadonlySet<string> = new Set(['stop', 'length']);

/**
 * Problems unless the model said something and finished as a model that answered does: a reply with
 * no text (a reasoning model that spent the cap thinking, a filter that blanked it) is what every
 * client would get, so it fails the probe however well-formed it is.
 */
export function answerProblems(text: string, finishReason: unknown): string[] {
  const problems: string[] = [];
  if (text.trim() === '') problems.push('the answer has no text');
  if (typeof finishReason !== 'string' || !ANSWERED_FINISH_REASONS.has(finishReason))
    problems.push('the answer did not finish with stop or length');
  return problems;
}

/** A non-streaming answer of `tier`: its shape, usage, the gateway id, some text, and no upstream names. */
export function checkCompletion(
  body: unknown,
  terms: readonly string[],
  tier: TierId = PROBE_TIER,
): string[] {
  const parsed = completionShape(tier).safeParse(body);
  if (!parsed.success) return [shapeProblem(parsed.error), ...bodyLeaks(body, terms)];
  const [choice] = parsed.data.choices;
  return [...answerProblems(choice?.message.content ?? '', choice?.finish_reason), ...bodyLeaks(body, terms)];
}

/**
 * A tier-auto answer's `x-tier-route`: an auto route with its reason (`auto; rule:tools`, `auto; model:0.82`).
 * `auto; fallback` means the router did not load, so every tier-auto request is served by the default tier:
 * clients still get answers, but not the tier they were promised, and the operator pays for it.
 */
export function autoRouteProblems(route: string | null): string[] {
  if (route === null || !/^auto; \S/.test(route)) return ['header x-tier-route is not an auto route'];
  if (route === 'auto; fallback') return ['tier-auto served by its fallback tier (the router did not load)'];
  return [];
}

export interface ParsedStream {
  /** JSON payloads, in order; `[DONE]` excluded. */
  chunks: unknown[];
  done: boolean;
}

/** Splits an SSE body into its `data:` payloads. A frame that is not JSON is a problem, not an exception. */
export function parseSse(text: string): ParsedStream | string {
  const chunks: unknown[] = [];
  let done = false;
  const parser = new SseParser();
  for (const { data } of [...parser.push(text), ...parser.end()]) {
    if (data === '') continue;
    if (done) return 'data arrived after [DONE]';
    if (data === '[DONE]') {
      done = true;
      continue;
    }
    try {
      chunks.push(JSON.parse(data));
    } catch {
      return 'a frame is not JSON';
    }
  }
  return { chunks, done };
}

/** A streamed answer: every chunk's shape, one id, a finish, the usage chunk, `[DONE]`, no upstream names. */
export function checkStream(text: string, terms: readonly string[]): string[] {
  const parsed = parseSse(text);
  if (typeof parsed === 'string') return [parsed];
  const problems: string[] = [];
  const { chunks } = parsed;
  if (chunks.some((chunk) => isObject(chunk) && 'error' in chunk)) {
    problems.push('the stream ended with an error frame');
  }
  if (!parsed.done) problems.push('the stream did not end with [DONE]');
  if (chunks.length === 0) return [...problems, 'the stream carried no chunks'];
  for (const chunk of chunks) {
    const shape = chunkShape.safeParse(chunk);
    if (!shape.success) {
      problems.push(`a chunk's ${shapeProblem(shape.error)}`);
      break;
    }
  }
  const ids = new Set(chunks.map((chunk) => (isObject(chunk) ? chunk.id : undefined)));
  if (ids.size !== 1) problems.push('the chunks do not share one id');
  const finished = chunks.some(
    (chunk) =>
      isObject(chunk) &&
      Array.isArray(chunk.choices) &&
      chunk.choices.some((choice) => isObject(choice) && typeof choice.finish_reason === 'string'),
  );
  if (!finished) problems.push('no chunk carries a finish_reason');
  else problems.push(...answerProblems(streamedText(chunks), lastFinishReason(chunks)));
  if (!chunks.some((chunk) => isObject(chunk) && isObject(chunk.usage))) {
    problems.push('no usage chunk although stream_options.include_usage was set');
  }
  for (const chunk of chunks) {
    const leaks = bodyLeaks(chunk, terms);
    if (leaks.length > 0) {
      problems.push(...leaks.map((leak) => `a chunk ${leak}`));
      break;
    }
  }
  return problems;
}

/** The first choice's text, as a client joins its deltas. */
function streamedText(chunks: readonly unknown[]): string {
  let text = '';
  for (const chunk of chunks) {
    const choice = isObject(chunk) && Array.isArray(chunk.choices) ? chunk.choices[0] : undefined;
    const content = isObject(choice) && isObject(choice.delta) ? choice.delta.content : undefined;
    if (typeof content === 'string') text += content;
  }
  return text;
}

/** The last finish_reason a chunk carried. */
function lastFinishReason(chunks: readonly unknown[]): unknown {
  let reason: unknown;
  for (const chunk of chunks) {
    if (!isObject(chunk) || !Array.isArray(chunk.choices)) continue;
    for (const choice of chunk.choices)
      if (isObject(choice) && typeof choice.finish_reason === 'string') reason = choice.finish_reason;
  }
  return reason;
}

/** The gateway's request id from a response id (`chatcmpl-<request id>`). */
export function requestIdOf(responseId: unknown): string | undefined {
  return typeof responseId === 'string' && responseId.startsWith('chatcmpl-')
    ? responseId.slice('chatcmpl-'.length)
    : undefined;
}
