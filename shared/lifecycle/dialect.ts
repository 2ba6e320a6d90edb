import type { RateHeaderName } from '../dialects/rate-limit-headers.js';
import type { TierId, UpstreamModel } from '../domain/catalog.js';
import type { GatewayError } from '../domain/errors.js';
import type { ApiSurface } from '../domain/usage.js';
import type { NormalisedUsage } from '../domain/usage-normalise.js';
import type { HttpRequest, HttpResponse } from '../http.js';
import type { RateDecision, RateLimits, UpstreamEvent, UpstreamRequest } from '../ports.js';
import type { RouteInput } from '../routing/features.js';

/**
 * A dialect is one API surface (OpenAI chat completions, Anthropic Messages, …): it parses its
 * requests into what the wire-neutral lifecycle needs, says how to call the upstream, frames the
 * upstream's answer for its clients and shapes its errors. The lifecycle never looks inside a
 * body or a frame.
 */

/** Usage as the upstream reported it, normalised (DESIGN §13; shared/domain/usage-normalise.ts). */
export type MeteredUsage = NormalisedUsage;

/** The counts a request was billed on, and its charge (what the client sees as its cost). */
export interface Billed extends MeteredUsage {
  chargeMicros: number;
}

/** What the lifecycle reads of a parsed request, whatever the surface. */
export interface ParsedRequest {
  /** The tier to serve; for tier-auto, the router's choice once the lifecycle has routed it. */
  tier: TierId;
  /** The client asked for `tier-auto` (or `auto`): the gateway picks the tier. */
  auto: boolean;
  /** What routing reads of the request; built only when a request is routed. */
  routeInput(): RouteInput;
  stream: boolean;
  /** Choices requested; the output cap applies to each. */
  choices: number;
  /** The client's own output cap, if any. */
  requestedMaxTokens: number | undefined;
  /**
   * The least output cap the upstream accepts for this request (e.g. room for extended thinking's
   * least budget): a wallet that covers less is refused, not served a request the upstream rejects.
   */
  minOutputTokens?: number;
  /** Parts whose tokens the body's bytes do not bound (images, audio, files). */
  mediaParts: number;
  /** Bytes of inline (base64) media in the body, held by the media allowance instead. */
  inlineMediaBytes: number;
  /** Tokens the media parts may count at most (the dialect's allowance per media kind). */
  mediaTokenBound: number;
  /**
   * Tokens an upstream adds to the prompt by itself for this request, which its bytes do not bound:
   * the tool-use system prompt when tools or a response schema are in play (TOOL_PROMPT_TOKENS), else 0.
   */
  toolPromptTokens: number;
}

/** Who the client sees as the author of a response. */
export interface ClientIdentity {
  requestId: string;
  tier: TierId;
  /** Epoch seconds. */
  created: number;
}

/** One attempt's view of the upstream answer, in the dialect's terms. */
export interface Exchange {
  /** Reads a whole (non-streaming) upstream body; false when it is not a valid answer. */
  complete(text: string): boolean;
  /** The client's body for the completed answer, given what it was billed. */
  body(billed: Billed): unknown;
  /**
   * One upstream event: the frames for the client (possibly none), whether it carried generated
   * content (after which no other model may serve), and whether it ends or fails the stream.
   */
  event(event: UpstreamEvent): { frames: string[]; content: boolean; end?: 'done' | 'failed' };
  /** Whether a stream that stopped (without an explicit end) still delivered a whole answer. */
  endedCleanly(): boolean;
  /** Frames after a stream's last event, sent once its usage is recorded. */
  endFrames(billed: Billed): string[];
  /** The frame that ends a stream failed after its first byte (the client can tell). */
  errorFrame(error: GatewayError): string;
  /** Usage reported by the upstream, when it reported any. */
  usage(): MeteredUsage | undefined;
  /**
   * The prompt's counts reported before the final usage (a Messages stream's message_start), for
   * an answer that ends without it; no cost. The output count is whatever was reported so far.
   */
  partialUsage?(): MeteredUsage | undefined;
  /** Text generated so far (content, reasoning, tool arguments), for an estimate. */
  generatedText(): string;
  /**
   * Output tokens generated so far whose text cannot be counted (Messages' redacted thinking, whose
   * data is encrypted), estimated by the dialect; added to the estimate of generatedText's tokens.
   */
  opaqueOutputTokens?(): number;
}

/** A limited key's window (its limits and what is left of them) as response headers. */
export type RateLimitHeaders = (limits: RateLimits, decision: RateDecision) => Record<string, string>;

/**
 * The headers of a key's window, for each limit it has, in a surface's names: `name` spells the
 * header of one field of one limit, `reset` is the reset in the surface's format.
 */
export function windowHeaders(
  limits: RateLimits,
  decision: RateDecision,
  name: RateHeaderName,
  reset: string,
): Record<string, string> {
  const headers: Record<string, string> = {};
  const windows = [
    ['requests', limits.rpm, decision.remainingRequests],
    ['tokens', limits.tpm, decision.remainingTokens],
  ] as const;
  for (const [limit, max, remaining] of windows) {
    if (max === undefined) continue;
    headers[name(limit, 'limit')] = String(max);
    headers[name(limit, 'remaining')] = String(remaining ?? 0);
    headers[name(limit, 'reset')] = reset;
  }
  return headers;
}

export interface Dialect<R extends ParsedRequest> {
  /** The surface's name on usage records, request-log rows and metrics. */
  readonly surface: ApiSurface;
  /** The client's API key, from the headers this surface uses. */
  credentials(req: HttpRequest): string | undefined;
  /** Parses and validates a body; throws a GatewayError (400, 404). */
  parse(req: HttpRequest): R;
  /** Work that needs async resources before the upstream call (e.g. opening sealed ids). */
  prepare?(request: R): Promise<void>;
  /** The upstream call for one model with the given output cap. */
  upstreamRequest(request: R, model: UpstreamModel, outputCap: number): UpstreamRequest;
  /** A fresh exchange for one attempt. */
  exchange(request: R, identity: ClientIdentity): Exchange;
  /** A rate-limited key's window in this surface's header names (a 429 adds `retry-after`). */
  rateLimitHeaders: RateLimitHeaders;
  /**
   * Whether a header is one of rateLimitHeaders': they describe one request's window, so an
   * idempotent replay, which is not counted again, does not repeat them.
   */
  isRateLimitHeader(name: string): boolean;
  /** Headers this surface adds to every response (e.g. its own request-id header). */
  headers?(requestId: string): Record<string, string>;
  /** The content type of a streamed response. */
  readonly streamContentType: string;
  /** An error in this surface's shape. */
  errorResponse(error: GatewayError, requestId: string): HttpResponse;
}
