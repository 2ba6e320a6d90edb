import { resolveTierId, type TierId } from '../../domain/catalog.js';
import { invalidRequest, modelNotFound } from '../../domain/errors.js';
import { isObject, type Json } from '../../domain/json-body.js';
import { toolPromptAllowance } from '../../domain/tool-prompt-allowance.js';
import { AUTO_DEFAULT_TIER, isAutoModel } from '../../routing/auto.js';
import type { RouteInput } from '../../routing/features.js';
import { refuseUnpricedParameters } from '../refused-parameters.js';
import { summariseMedia } from './media.js';
import { REFUSED_PARAMETERS } from './request-rules.js';
import { validateChatRequest } from './request-validator.generated.js';
import { chatRouteInput } from './route-input.js';
import { schemaViolationError } from './schema-errors.js';
import { validateToolTurns } from './tool-turns.js';

/**
 * Every OpenAI chat-completions parameter passes through to the upstream untouched, once the
 * body matches OpenAI's own request schema, values and nested objects included (compiled by
 * `npm run gen:validators`). Anything the schema does not declare is refused as OpenAI does,
 * at any depth, bar a short allow-list (request-rules.ts); this also stops clients from
 * steering provider routing (e.g. OpenRouter's `models`, `provider`, `route`) around the tier.
 */

export interface ChatRequest {
  tier: TierId;
  /** The client asked for tier-auto; `tier` is the router's to set. */
  auto: boolean;
  routeInput(): RouteInput;
  stream: boolean;
  /** The client asked for the final usage chunk. */
  includeUsage: boolean;
  /** The client's own output cap (max_completion_tokens, else max_tokens), if any. */
  requestedMaxTokens: number | undefined;
  /** Choices requested (n); the output cap applies to each. */
  choices: number;
  /**
   * The client capped its output with `max_tokens` alone: the cap goes upstream under that name.
   * Otherwise (`max_completion_tokens`, or no cap) it goes as `max_completion_tokens`, which every
   * OpenAI model takes and reasoning models require.
   */
  usesMaxTokens: boolean;
  /** Content parts that are not text (images, audio, files): their tokens are not bounded by bytes. */
  mediaParts: number;
  /**
   * UTF-8 bytes of inline media payloads (data: URLs, `input_audio.data`, `file.file_data`),
   * which the body's byte length counts although they are not text.
   */
  inlineMediaBytes: number;
  /** Upper bound on the input tokens of the media parts (MEDIA_TOKEN_ALLOWANCE per kind). */
  mediaTokenBound: number;
  /** The upstream's own tool-use prompt, held for a request with tools or a response schema. */
  toolPromptTokens: number;
  /** The body to forward, minus `model`, `stream_options` and the token caps the gateway sets. */
  passThrough: Record<string, unknown>;
}

/** Validates a chat-completions body against OpenAI's schema and the gateway's rules. */
export function parseChatRequest(body: Json): ChatRequest {
  // Reported before anything else, whatever else is wrong with the options themselves.
  if (
    isObject(body.stream_options) &&
    (body.stream === undefined || body.stream === null || body.stream === false)
  ) {
    throw invalidRequest(
      "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
      'stream_options',
    );
  }
  if (!validateChatRequest(body)) throw schemaViolationError(validateChatRequest.errors ?? [], body);
  refuseUnpricedParameters(body, REFUSED_PARAMETERS);
  validateToolTurns(body.messages as Json[]);
  // Unknown models are reported after the schema so a malformed body is always a 400.
  const auto = isAutoModel(body.model as string);
  const tier = auto ? AUTO_DEFAULT_TIER : resolveTierId(body.model as string);
  if (tier === undefined) throw modelNotFound();

  const stream = body.stream === true;
  const streamOptions = body.stream_options;
  const requested = (body.max_completion_tokens ?? body.max_tokens) as number | null | undefined;
  const media = summariseMedia(body.messages as Json[]);
  const {
    model: _model,
    stream_options: _so,
    max_tokens: _mt,
    max_completion_tokens: _mct,
    ...passThrough
  } = body;
  return {
    tier,
    auto,
    routeInput: () => chatRouteInput(body, media.parts),
    stream,
    includeUsage: isObject(streamOptions) && streamOptions.include_usage === true,
    requestedMaxTokens: requested ?? undefined,
    choices: typeof body.n === 'number' ? body.n : 1,
    usesMaxTokens:
      body.max_tokens !== undefined &&
      body.max_tokens !== null &&
      (body.max_completion_tokens === undefined || body.max_completion_tokens === null),
    mediaParts: media.parts,
    inlineMediaBytes: media.inlineBytes,
    mediaTokenBound: media.tokenBound,
    toolPromptTokens: toolPromptAllowance(body),
    passThrough,
  };
}
