import type { UpstreamModel } from '../../domain/catalog.js';
import type { GatewayError } from '../../domain/errors.js';
import { isObject, type Json, parseJsonObject } from '../../domain/json-body.js';
import { presentedKey } from '../../domain/keys.js';
import { sseFrame } from '../../domain/sse.js';
import type { ToolCallIds } from '../../domain/tool-call-ids.js';
import { normaliseUsage, tokenCount } from '../../domain/usage-normalise.js';
import type { HttpRequest, HttpResponse } from '../../http.js';
import type {
  Billed,
  ClientIdentity,
  Dialect,
  Exchange,
  MeteredUsage,
  ParsedRequest,
} from '../../lifecycle/dialect.js';
import { windowHeaders } from '../../lifecycle/dialect.js';
import type { RateDecision, RateLimits, UpstreamEvent, UpstreamRequest } from '../../ports.js';
import { anthropicRateHeader, rateHeaderNames } from '../rate-limit-headers.js';
import { anthropicErrorBody, anthropicErrorResponse } from './errors.js';
import {
  type MessagesRequest,
  MIN_THINKING_BUDGET,
  openToolUseIds,
  parseMessagesRequest,
} from './request.js';
import {
  generatedText,
  type Identity,
  mergeUsage,
  messageDelta,
  opaqueOutputTokens,
  type ReportedUsage,
  sanitizeBlock,
  sanitizeMessage,
  sanitizeUsage,
  usageOf,
} from './response.js';

/** The protocol version sent upstream when the client names none. */
export const DEFAULT_ANTHROPIC_VERSION = '2023-06-01';

export interface MessagesParsed extends MessagesRequest, ParsedRequest {
  /** Forwarded byte for byte. */
  anthropicVersion: string;
  anthropicBeta: string | undefined;
  /** Seals upstream tool-use ids for the client; set by `prepare`. */
  toolIds?: ToolCallIds;
}

function parseEvent(data: string): Json | undefined {
  try {
    const value = JSON.parse(data) as unknown;
    return isObject(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

const frame = (payload: Json): string => sseFrame(payload, String(payload.type));
const ANTHROPIC_RATE_HEADERS = new Set(rateHeaderNames(anthropicRateHeader));

type EventOutcome = { frames: string[]; content: boolean; end?: 'done' | 'failed' };

/**
 * One attempt's answer in Messages terms. Events are relayed as they arrive; the final
 * message_delta is held back until the request is recorded, so it can carry the billed usage when
 * the upstream reported none, and message_stop follows it.
 */
class MessagesExchange implements Exchange {
  private reported: ReportedUsage | undefined;
  /** The upstream's usage is final: a whole body, or a stream's message_delta. */
  private final = false;
  private readonly text: string[] = [];
  /** Output tokens of redacted thinking so far, which has no text to count. */
  private opaqueTokens = 0;
  private contentSeen = false;
  private payload: Json | undefined;
  private finalDelta: Json | undefined;
  private readonly identity: Identity;
  private readonly requestId: string;

  constructor(ids: ToolCallIds, client: ClientIdentity) {
    this.requestId = client.requestId;
    // One sealed id per upstream id, so a server tool's use and its result still pair up.
    this.identity = { id: `msg_${client.requestId}`, tier: client.tier, sealId: ids.sealer() };
  }

  complete(body: string): boolean {
    const payload = parseEvent(body);
    if (payload?.type !== 'message' || !Array.isArray(payload.content)) return false;
    this.payload = payload;
    for (const block of payload.content) this.take(block);
    this.reported = mergeUsage(undefined, payload.usage);
    this.final = true;
    return true;
  }

  body(billed: Billed): unknown {
    const payload = this.payload ?? {};
    const usage = (normaliseUsage(this.reported) && sanitizeUsage(payload.usage)) || usageOf(billed);
    return sanitizeMessage(payload, this.identity, usage);
  }

  event(event: UpstreamEvent): EventOutcome {
    const data = parseEvent(event.data);
    const type = typeof data?.type === 'string' ? data.type : event.event;
    if (!data || type === 'error') return this.outcome([], 'failed');
    const index = typeof data.index === 'number' ? data.index : 0;
    switch (type) {
      case 'message_start': {
        const message = isObject(data.message) ? data.message : {};
        this.reported = mergeUsage(this.reported, message.usage);
        const usage = sanitizeUsage(message.usage) ?? { input_tokens: 0, output_tokens: 0 };
        return this.outcome([frame({ type, message: sanitizeMessage(message, this.identity, usage) })]);
      }
      case 'ping':
        return this.outcome([frame({ type })]);
      case 'content_block_start': {
        const block = data.content_block;
        this.take(block);
        // A tool call is an answer from its first event: another model would call another tool.
        if (isObject(block) && String(block.type).endsWith('tool_use')) this.contentSeen = true;
        return this.outcome([frame({ type, index, content_block: sanitizeBlock(block, this.identity) })]);
      }
      case 'content_block_delta':
        this.take(data.delta);
        this.contentSeen = true;
        return this.outcome([frame({ type, index, delta: sanitizeBlock(data.delta, this.identity) })]);
      case 'content_block_stop':
        return this.outcome([frame({ type, index })]);
      case 'message_delta':
        // A stop reason counts as content: an empty answer is still an answer.
        this.reported = mergeUsage(this.reported, data.usage);
        this.finalDelta = data;
        // Without its output count, message_start's placeholder is all there is: not final.
        this.final = isObject(data.usage) && tokenCount(data.usage.output_tokens) !== undefined;
        this.contentSeen = true;
        return this.outcome([]);
      case 'message_stop':
        return this.outcome([], 'done');
      default:
        return this.outcome([]); // an event this gateway does not know is not relayed
    }
  }

  private outcome(frames: string[], end?: 'done' | 'failed'): EventOutcome {
    return end ? { frames, content: this.contentSeen, end } : { frames, content: this.contentSeen };
  }

  private take(blockOrDelta: unknown): void {
    const text = generatedText(blockOrDelta);
    if (text !== '') this.text.push(text);
    this.opaqueTokens += opaqueOutputTokens(blockOrDelta);
  }

  endedCleanly(): boolean {
    return this.finalDelta !== undefined;
  }

  endFrames(billed: Billed): string[] {
    const delta = this.finalDelta ?? { delta: { stop_reason: 'end_turn' } };
    // The upstream's usage when it was billed on it (its counts as merged over the stream, so the client
    // is told what it was billed on), else the counts it was billed on.
    const usage =
      (this.usage() &&
        sanitizeUsage({ ...(isObject(delta.usage) ? delta.usage : {}), ...this.reportedCounts() })) ||
      usageOf(billed);
    return [frame(messageDelta(delta, usage)), frame({ type: 'message_stop' })];
  }

  errorFrame(error: GatewayError): string {
    return sseFrame(anthropicErrorBody(error, this.requestId), 'error');
  }

  usage(): MeteredUsage | undefined {
    return this.final ? normaliseUsage(this.reported) : undefined;
  }

  /** The token counts reported over the stream, merged; those never reported are left out. */
  private reportedCounts(): Json {
    const counts: Json = {};
    for (const [field, value] of Object.entries(this.reported ?? {})) {
      if (field.endsWith('_tokens') && value !== undefined) counts[field] = value;
    }
    return counts;
  }

  /** message_start's exact prompt counts (and its output count so far), without a cost. */
  partialUsage(): MeteredUsage | undefined {
    const { input_tokens, cache_read_input_tokens, cache_creation_input_tokens, output_tokens } =
      this.reported ?? {};
    if (input_tokens === undefined) return undefined;
    return normaliseUsage({
      input_tokens,
      cache_read_input_tokens,
      cache_creation_input_tokens,
      output_tokens: output_tokens ?? 0,
    });
  }

  generatedText(): string {
    return this.text.join('');
  }

  opaqueOutputTokens(): number {
    return this.opaqueTokens;
  }
}

/** POST /v1/messages: Anthropic's Messages API, as a dialect of the request lifecycle. */
export class AnthropicMessagesDialect implements Dialect<MessagesParsed> {
  readonly surface = 'messages';
  readonly streamContentType = 'text/event-stream; charset=utf-8';

  /** @param toolCallIds seals upstream tool-use ids (their format names the provider). */
  constructor(private readonly toolCallIds: () => Promise<ToolCallIds>) {}

  /** `x-api-key`, as Anthropic's clients send it, or a bearer token (Claude Code's auth token). */
  credentials(req: HttpRequest): string | undefined {
    return presentedKey(req.headers);
  }

  parse(req: HttpRequest): MessagesParsed {
    return { ...parseMessagesRequest(parseJsonObject(req.body)), ...protocolHeaders(req) };
  }

  /** A count_tokens body: the prompt fields only, no `max_tokens`. */
  parseCount(req: HttpRequest): MessagesParsed {
    return { ...parseMessagesRequest(parseJsonObject(req.body), { count: true }), ...protocolHeaders(req) };
  }

  async prepare(request: MessagesParsed): Promise<void> {
    const ids = await this.toolCallIds();
    // Tool-use ids the client got from us go back upstream as the upstream minted them.
    openToolUseIds(request.body.messages, (id) => ids.open(id));
    request.toolIds = ids;
  }

  upstreamRequest(request: MessagesParsed, model: UpstreamModel, outputCap: number): UpstreamRequest {
    return {
      path: '/messages',
      body: {
        ...request.body,
        model: model.id,
        max_tokens: outputCap,
        ...thinkingWithin(request.body.thinking, outputCap),
      },
      headers: upstreamHeaders(request),
      auth: 'bearer+x-api-key',
    };
  }

  exchange(request: MessagesParsed, identity: ClientIdentity): Exchange {
    if (!request.toolIds) throw new Error('tool-use ids are opened and sealed only after prepare');
    return new MessagesExchange(request.toolIds, identity);
  }

  headers(requestId: string): Record<string, string> {
    return { 'request-id': requestId };
  }

  /**
   * Anthropic's names: `anthropic-ratelimit-{requests,tokens}-{limit,remaining,reset}`, the reset as
   * an RFC 3339 time (the end of the key's one-minute window).
   */
  rateLimitHeaders(limits: RateLimits, decision: RateDecision): Record<string, string> {
    const reset = new Date(decision.resetsAt).toISOString().replace(/\.\d{3}Z$/, 'Z');
    return windowHeaders(limits, decision, anthropicRateHeader, reset);
  }

  isRateLimitHeader(name: string): boolean {
    return ANTHROPIC_RATE_HEADERS.has(name);
  }

  errorResponse(error: GatewayError, requestId: string): HttpResponse {
    return anthropicErrorResponse(error, requestId);
  }
}

/**
 * Extended thinking's `budget_tokens` must stay below `max_tokens`. When the gateway lowers
 * `max_tokens` (to the tier's cap, or to what the wallet covers), a budget the client set under its
 * own `max_tokens` is lowered with it, to no less than Anthropic's minimum, so the request stays
 * one the upstream accepts.
 */
function thinkingWithin(thinking: unknown, outputCap: number): { thinking?: Json } {
  if (!isObject(thinking) || thinking.type !== 'enabled') return {};
  const budget = thinking.budget_tokens;
  if (typeof budget !== 'number' || budget < outputCap) return {};
  return { thinking: { ...thinking, budget_tokens: Math.max(MIN_THINKING_BUDGET, outputCap - 1) } };
}

function protocolHeaders(req: HttpRequest): Pick<MessagesParsed, 'anthropicVersion' | 'anthropicBeta'> {
  return {
    anthropicVersion: req.headers['anthropic-version'] ?? DEFAULT_ANTHROPIC_VERSION,
    anthropicBeta: req.headers['anthropic-beta'],
  };
}

/** `anthropic-version` and `anthropic-beta` as the client sent them. */
export function upstreamHeaders(request: MessagesParsed): Record<string, string> {
  return {
    'anthropic-version': request.anthropicVersion,
    ...(request.anthropicBeta !== undefined ? { 'anthropic-beta': request.anthropicBeta } : {}),
  };
}
