import type { TierId, UpstreamModel } from '../domain/catalog.js';
import type { GatewayError } from '../domain/errors.js';
import type { HttpRequest, HttpResponse } from '../http.js';
import type { UpstreamEvent, UpstreamRequest } from '../ports.js';
import type { RouteInput } from '../routing/features.js';

/**
 * A dialect is one API surface (OpenAI chat completions, Anthropic Messages, …): it parses its
 * requests into what the wire-neutral lifecycle needs, says how to call the upstream, frames the
 * upstream's answer for its clients and shapes its errors. The lifecycle never looks inside a
 * body or a frame.
 */

/**
 * Token counts as the upstream reported them, normalised (DESIGN §13): `inputTokens` counts every
 * prompt token, cache reads and cache writes included; `outputTokens` includes reasoning tokens.
 */
export interface MeteredUsage {
  inputTokens: number;
  outputTokens: number;
  /** Prompt tokens read from a cache (part of inputTokens). */
  cachedInputTokens?: number;
  /** Prompt tokens written to a cache (part of inputTokens). */
  cacheWriteTokens?: number;
  /** Reasoning tokens (part of outputTokens; reported only). */
  reasoningTokens?: number;
  /** The upstream's own cost of the request in USD, when it reports one. */
  upstreamCostUsd?: number;
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
  /** Parts whose tokens the body's bytes do not bound (images, audio, files). */
  mediaParts: number;
  /** Bytes of inline (base64) media in the body, held by the media allowance instead. */
  inlineMediaBytes: number;
  /** Tokens the media parts may count at most (the dialect's allowance per media kind). */
  mediaTokenBound: number;
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
  /** The client's body for the completed answer, given the counts it was billed on. */
  body(billed: MeteredUsage): unknown;
  /**
   * One upstream event: the frames for the client (possibly none), whether it carried generated
   * content (after which no other model may serve), and whether it ends or fails the stream.
   */
  event(event: UpstreamEvent): { frames: string[]; content: boolean; end?: 'done' | 'failed' };
  /** Whether a stream that stopped (without an explicit end) still delivered a whole answer. */
  endedCleanly(): boolean;
  /** Frames after a stream's last event, sent once its usage is recorded. */
  endFrames(billed: MeteredUsage): string[];
  /** The frame that ends a stream failed after its first byte (the client can tell). */
  errorFrame(error: GatewayError): string;
  /** Usage reported by the upstream, when it reported any. */
  usage(): MeteredUsage | undefined;
  /** Text generated so far (content, reasoning, tool arguments), for an estimate. */
  generatedText(): string;
}

export interface Dialect<R extends ParsedRequest> {
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
  /** Headers this surface adds to every response (e.g. its own request-id header). */
  headers?(requestId: string): Record<string, string>;
  /** The content type of a streamed response. */
  readonly streamContentType: string;
  /** An error in this surface's shape. */
  errorResponse(error: GatewayError, requestId: string): HttpResponse;
}
