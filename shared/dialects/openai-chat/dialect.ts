import type { UpstreamModel } from '../../domain/catalog.js';
import type { GatewayError } from '../../domain/errors.js';
import { isObject, parseJsonObject } from '../../domain/json-body.js';
import { bearerToken } from '../../domain/keys.js';
import { SSE_DONE, sseFrame } from '../../domain/sse.js';
import type { ToolCallIds } from '../../domain/tool-call-ids.js';
import { normaliseUsage } from '../../domain/usage-normalise.js';
import { errorResponse, type HttpRequest, type HttpResponse } from '../../http.js';
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
import { openAiRateHeader, rateHeaderNames } from '../rate-limit-headers.js';
import { type ChatRequest, parseChatRequest } from './request.js';
import {
  ChunkFramer,
  clientUsage,
  generatedText,
  type Identity,
  readUsage,
  sanitizeChunk,
  sanitizeCompletion,
  type Usage,
} from './response.js';

type Json = Record<string, unknown>;

export interface ChatParsed extends ChatRequest, ParsedRequest {
  /** Seals upstream tool-call ids for the client; set by `prepare`. */
  toolIds?: ToolCallIds;
}

function parseChunk(data: string): Json | undefined {
  try {
    const value = JSON.parse(data) as unknown;
    return isObject(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

const OPENAI_RATE_HEADERS = new Set(rateHeaderNames(openAiRateHeader));

/** One attempt's answer in OpenAI chat terms: sanitised chunks and bodies, usage kept for the end. */
class ChatExchange implements Exchange {
  /** The upstream's usage as the client may see it, and normalised for metering. */
  private reported: Usage | undefined;
  private metered: MeteredUsage | undefined;
  private readonly text: string[] = [];
  private contentSeen = false;
  /** Indexes of the choices that sent a finish_reason. */
  private readonly finished = new Set<number>();
  private payload: Json | undefined;
  private readonly identity: Identity;
  private readonly framer: ChunkFramer;
  private readonly requestId: string;

  constructor(
    private readonly request: ChatParsed,
    client: ClientIdentity,
  ) {
    this.requestId = client.requestId;
    const ids = request.toolIds;
    this.identity = {
      id: `chatcmpl-${client.requestId}`,
      tier: client.tier,
      created: client.created,
      // One sealed id per upstream id, however many chunks repeat it.
      ...(ids ? { toolCallId: ids.sealer() } : {}),
    };
    this.framer = new ChunkFramer(this.identity);
  }

  complete(body: string): boolean {
    const payload = parseChunk(body);
    if (!payload || payload.error !== undefined || !Array.isArray(payload.choices)) return false;
    this.payload = payload;
    for (const choice of payload.choices) this.text.push(generatedText((choice as Json | null)?.message));
    this.keepUsage(payload.usage);
    return true;
  }

  /** Keeps a usage block the upstream sent, in both views, when it is a valid one. */
  private keepUsage(raw: unknown): void {
    const usage = readUsage(raw);
    const metered = normaliseUsage(raw);
    if (!usage || !metered) return;
    this.reported = usage;
    this.metered = metered;
  }

  body(billed: Billed): unknown {
    return sanitizeCompletion(this.payload ?? {}, this.identity, clientUsage(this.reported, billed));
  }

  event(event: UpstreamEvent): { frames: string[]; content: boolean; end?: 'done' | 'failed' } {
    if (event.data === '[DONE]') return { frames: [], content: this.contentSeen, end: 'done' };
    const chunk = parseChunk(event.data);
    if (!chunk || chunk.error !== undefined) return { frames: [], content: this.contentSeen, end: 'failed' };
    if (chunk.usage !== undefined) this.keepUsage(chunk.usage); // kept back for the final usage chunk
    const choices = Array.isArray(chunk.choices) ? (chunk.choices as Array<Json | null>) : [];
    if (choices.length === 0) return { frames: [], content: this.contentSeen };
    for (const choice of choices) {
      const text = generatedText(choice?.delta);
      if (text !== '') {
        this.text.push(text);
        this.contentSeen = true;
      }
      // A finished choice counts as content: an empty answer is still an answer.
      if (typeof choice?.finish_reason === 'string') {
        this.contentSeen = true;
        this.finished.add(typeof choice.index === 'number' ? choice.index : 0);
      }
    }
    return { frames: [this.framer.frame(chunk)], content: this.contentSeen };
  }

  /**
   * A stream that stops without [DONE] is whole only if every choice finished and usage came:
   * some upstreams send usage on every chunk, so usage alone does not mark the end.
   */
  endedCleanly(): boolean {
    return this.reported !== undefined && this.finished.size >= this.request.choices;
  }

  endFrames(billed: Billed): string[] {
    if (!this.request.includeUsage) return [SSE_DONE];
    const usage = clientUsage(this.reported, billed);
    return [sseFrame(sanitizeChunk({ choices: [] }, this.identity, usage)), SSE_DONE];
  }

  errorFrame(error: GatewayError): string {
    return sseFrame(error.toBody(this.requestId));
  }

  usage(): MeteredUsage | undefined {
    return this.metered;
  }

  generatedText(): string {
    return this.text.join('');
  }
}

/** POST /v1/chat/completions: OpenAI's chat completions, as a dialect of the request lifecycle. */
export class OpenAiChatDialect implements Dialect<ChatParsed> {
  readonly surface = 'chat';
  readonly streamContentType = 'text/event-stream; charset=utf-8';

  /** @param toolCallIds seals upstream tool-call ids (their format names the provider). */
  constructor(private readonly toolCallIds: () => Promise<ToolCallIds>) {}

  credentials(req: HttpRequest): string | undefined {
    return bearerToken(req.headers.authorization);
  }

  parse(req: HttpRequest): ChatParsed {
    return parseChatRequest(parseJsonObject(req.body));
  }

  async prepare(request: ChatParsed): Promise<void> {
    const ids = await this.toolCallIds();
    // Tool-call ids the client got from us go back upstream as the upstream minted them.
    ids.openInMessages(request.passThrough.messages);
    request.toolIds = ids;
  }

  upstreamRequest(request: ChatParsed, model: UpstreamModel, outputCap: number): UpstreamRequest {
    const body: Json = {
      ...request.passThrough,
      model: model.id,
      [request.usesMaxTokens ? 'max_tokens' : 'max_completion_tokens']: outputCap,
    };
    if (request.stream) {
      body.stream = true;
      body.stream_options = { include_usage: true }; // always ask, so streams are billed on real usage
    }
    return { path: '/chat/completions', body };
  }

  exchange(request: ChatParsed, identity: ClientIdentity): Exchange {
    return new ChatExchange(request, identity);
  }

  /** OpenAI's names (DESIGN §2): `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`, reset as `<n>s`. */
  rateLimitHeaders(limits: RateLimits, decision: RateDecision): Record<string, string> {
    return windowHeaders(limits, decision, openAiRateHeader, `${decision.resetSeconds}s`);
  }

  isRateLimitHeader(name: string): boolean {
    return OPENAI_RATE_HEADERS.has(name);
  }

  errorResponse(error: GatewayError, requestId: string): HttpResponse {
    return errorResponse(error, requestId);
  }
}
