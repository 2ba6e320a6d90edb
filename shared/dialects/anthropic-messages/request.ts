import { resolveTierId, type TierId } from '../../domain/catalog.js';
import { echo, echoList, invalidRequest, modelNotFound } from '../../domain/errors.js';
import { isObject, type Json } from '../../domain/json-body.js';
import { MEDIA_TOKEN_ALLOWANCE } from '../../domain/media-allowance.js';
import { toolPromptAllowance } from '../../domain/tool-prompt-allowance.js';
import { AUTO_DEFAULT_TIER, isAutoModel } from '../../routing/auto.js';
import type { RouteInput } from '../../routing/features.js';
import { type RefusedParameter, refuseUnpricedParameters } from '../refused-parameters.js';
import { messagesRouteInput } from './route-input.js';
import { validateToolTurns } from './tool-turns.js';

/**
 * The top-level fields of Anthropic's Messages API (beta fields Claude Code sends included). They
 * pass through untouched but for the values REFUSED_PARAMETERS lists; anything else is refused as
 * Anthropic does, which also keeps clients from steering routing (`fallbacks`) or billing
 * (`billing_policy`) around the tier.
 */
const CREATE_FIELDS = new Set([
  'model',
  'messages',
  'max_tokens',
  'system',
  'metadata',
  'stop_sequences',
  'stream',
  'temperature',
  'top_k',
  'top_p',
  'thinking',
  'tool_choice',
  'tools',
  'service_tier',
  'cache_control',
  'container',
  'context_management',
  'mcp_servers',
  'output_config',
  'output_format',
  'inference_geo',
  'speed',
]);

/** `POST /v1/messages/count_tokens` takes the prompt, not the generation settings. */
const COUNT_FIELDS = new Set([
  'model',
  'messages',
  'system',
  'thinking',
  'tool_choice',
  'tools',
  'cache_control',
  'context_management',
  'mcp_servers',
  'output_config',
  'output_format',
  'speed',
]);

/**
 * Messages parameters that change what the upstream charges or where it runs the request, beyond
 * what a flat tier price reflects: refused with a 400 that says why, as on the chat surface.
 */
const REFUSED_PARAMETERS: readonly RefusedParameter[] = [
  {
    param: 'service_tier',
    allowed: ['auto', 'standard_only'],
    why: 'priority capacity is billed by the upstream at rates the tier price does not reflect',
  },
  {
    param: 'speed',
    allowed: ['standard'],
    why: 'fast mode is billed by the upstream at premium rates the tier price does not reflect',
  },
  {
    param: 'inference_geo',
    allowed: ['global'],
    why: 'inference pinned to one geography is billed by the upstream above the rates the tier price reflects',
  },
  {
    param: 'mcp_servers',
    allowed: [],
    why: "an MCP server's tool results reach the model as input the request cannot bound, so no hold covers them",
  },
  {
    param: 'container',
    allowed: [],
    why: 'code execution containers are billed by the upstream by the hour, which the tier price does not reflect',
  },
];

/**
 * Server tools, run by the upstream: billed per use (web search, code execution's containers) or
 * bringing in pages the request cannot bound (web fetch), which neither the tier price nor a hold
 * covers. Tools the client runs itself (custom tools, bash, the text editor) are forwarded.
 */
const SERVER_TOOL = /^(?:web_search|web_fetch|code_execution)_\d+$|^mcp_toolset$/;

function refuseServerTools(tools: unknown): void {
  if (!Array.isArray(tools)) return;
  tools.forEach((tool, i) => {
    const type = isObject(tool) ? tool.type : undefined;
    if (typeof type !== 'string' || !SERVER_TOOL.test(type)) return;
    throw invalidRequest(
      `tools.${i}: the server tool '${echo(type)}' is not available through this gateway: it is billed by the upstream per use, or brings in input the request cannot bound, which the tier price does not reflect. Omit it.`,
      `tools.${i}.type`,
    );
  });
}

const ROLES = new Set(['user', 'assistant']);
const MAX_MESSAGES = 10_000;
/** Content blocks whose tokens the body's bytes may not bound. */
const MEDIA_BLOCKS = new Set(['image', 'document']);

/** Document sources whose text is in the body, so its bytes bound their tokens. */
const TEXT_DOCUMENT_SOURCES = new Set(['text', 'content']);

export interface MessagesRequest {
  tier: TierId;
  /** The client asked for tier-auto; `tier` is the router's to set. */
  auto: boolean;
  routeInput(): RouteInput;
  stream: boolean;
  /** `max_tokens` (required by create, absent for count_tokens). */
  requestedMaxTokens: number | undefined;
  /** With extended thinking, room for its least budget (ParsedRequest's). */
  minOutputTokens?: number;
  choices: number;
  /** Image and document blocks, wherever they appear (tool results included). */
  mediaParts: number;
  /** Bytes of base64 image and PDF data, held by the media allowance instead of by bytes. */
  inlineMediaBytes: number;
  /** Tokens held for the media parts (MEDIA_TOKEN_ALLOWANCE per kind), as on the chat surface. */
  mediaTokenBound: number;
  /** The upstream's own tool-use prompt, held for a request with tools (as on the chat surface). */
  toolPromptTokens: number;
  /** The body as the client sent it; `model` and `max_tokens` are replaced upstream. */
  body: Json;
}

/**
 * The tier for a Messages `model`: a tier id or alias, or a Claude model name by its family
 * (`haiku` → tier-1, `sonnet` → tier-2, `opus` → tier-3), case ignored, so Claude Code works
 * with no configuration.
 */
export function resolveMessagesTier(model: string): TierId | undefined {
  const lower = model.toLowerCase();
  const direct = resolveTierId(model) ?? resolveTierId(lower);
  if (direct) return direct;
  if (lower.includes('haiku')) return 'tier-1';
  if (lower.includes('sonnet')) return 'tier-2';
  if (lower.includes('opus')) return 'tier-3';
  return undefined;
}

type Check = (v: unknown) => boolean;

const isString: Check = (v) => typeof v === 'string';
const isBoolean: Check = (v) => typeof v === 'boolean';
const isNumberIn =
  (min: number, max: number): Check =>
  (v) =>
    typeof v === 'number' && Number.isFinite(v) && v >= min && v <= max;
const isArrayOf =
  (item: Check): Check =>
  (v) =>
    Array.isArray(v) && v.every(item);
const isTextBlock: Check = (v) => isObject(v) && v.type === 'text' && typeof v.text === 'string';

/** The documented type of each top-level field but `model`, `messages` and `max_tokens`. */
const FIELD_TYPES: Record<string, [Check, string]> = {
  system: [(v) => isString(v) || isArrayOf(isTextBlock)(v), 'a string or an array of text blocks'],
  metadata: [isObject, 'an object'],
  stop_sequences: [isArrayOf(isString), 'an array of strings'],
  stream: [isBoolean, 'a boolean'],
  temperature: [isNumberIn(0, 1), 'a number between 0 and 1'],
  top_k: [(v) => Number.isSafeInteger(v) && (v as number) >= 0, 'a non-negative integer'],
  top_p: [isNumberIn(0, 1), 'a number between 0 and 1'],
  thinking: [isObject, 'an object'],
  tool_choice: [isObject, 'an object'],
  tools: [isArrayOf(isObject), 'an array of tool objects'],
  service_tier: [isString, 'a string'],
  cache_control: [isObject, 'an object'],
  container: [(v) => isString(v) || isObject(v), 'a string or an object'],
  context_management: [isObject, 'an object'],
  mcp_servers: [isArrayOf(isObject), 'an array of objects'],
  output_config: [isObject, 'an object'],
  output_format: [isObject, 'an object'],
  inference_geo: [isString, 'a string'],
  speed: [isString, 'a string'],
};

/** Validates a `POST /v1/messages` body (or a count_tokens body with `count: true`). */
export function parseMessagesRequest(body: Json, { count = false } = {}): MessagesRequest {
  const allowed = count ? COUNT_FIELDS : CREATE_FIELDS;
  const unknown = Object.keys(body).filter((k) => !allowed.has(k));
  if (unknown.length > 0) {
    throw invalidRequest(`${echoList(unknown)}: Extra inputs are not permitted`, echo(unknown[0] as string));
  }
  const model = body.model;
  if (model === undefined || model === null) throw invalidRequest('model: Field required', 'model');
  if (typeof model !== 'string') throw invalidRequest('model: Input should be a valid string', 'model');
  validateMessages(body.messages);
  const maxTokens = body.max_tokens;
  if (!count) {
    if (maxTokens === undefined || maxTokens === null)
      throw invalidRequest('max_tokens: Field required', 'max_tokens');
    if (!Number.isSafeInteger(maxTokens) || (maxTokens as number) < 1)
      throw invalidRequest('max_tokens: Input should be a positive integer', 'max_tokens');
  }
  for (const [name, [check, what]] of Object.entries(FIELD_TYPES)) {
    const v = body[name];
    if (v !== undefined && v !== null && !check(v)) throw invalidRequest(`${name}: must be ${what}`, name);
  }
  if (!count) {
    refuseUnpricedParameters(body, REFUSED_PARAMETERS);
    refuseServerTools(body.tools);
    validateThinkingBudget(body.thinking);
  }
  // Unknown models are reported after type checks so a malformed body is always a 400.
  const auto = isAutoModel(model.toLowerCase());
  const tier = auto ? AUTO_DEFAULT_TIER : resolveMessagesTier(model);
  if (tier === undefined) throw modelNotFound();
  const media = countMedia(body.messages);
  return {
    tier,
    auto,
    routeInput: () => messagesRouteInput(body, media.parts),
    stream: !count && body.stream === true,
    requestedMaxTokens: count ? undefined : (maxTokens as number),
    ...(count ? {} : thinkingFloor(body.thinking)),
    choices: 1,
    mediaParts: media.parts,
    inlineMediaBytes: media.inlineBytes,
    mediaTokenBound: media.tokenBound,
    toolPromptTokens: toolPromptAllowance(body),
    body,
  };
}

function validateMessages(messages: unknown): void {
  if (messages === undefined || messages === null)
    throw invalidRequest('messages: Field required', 'messages');
  if (!Array.isArray(messages)) throw invalidRequest('messages: Input should be a valid list', 'messages');
  if (messages.length === 0) throw invalidRequest('messages: at least one message is required', 'messages');
  if (messages.length > MAX_MESSAGES)
    throw invalidRequest(`messages: at most ${MAX_MESSAGES} messages are allowed`, 'messages');
  messages.forEach((m, i) => {
    const param = `messages.${i}`;
    if (!isObject(m)) throw invalidRequest(`${param}: Input should be an object`, param);
    if (typeof m.role !== 'string' || !ROLES.has(m.role))
      throw invalidRequest(`${param}.role: Input should be 'user' or 'assistant'`, `${param}.role`);
    const content = m.content;
    const ok =
      typeof content === 'string' ||
      (Array.isArray(content) && content.every((b) => isObject(b) && typeof b.type === 'string'));
    if (!ok) {
      throw invalidRequest(
        `${param}.content: Input should be a string or a list of content blocks`,
        `${param}.content`,
      );
    }
    if (Array.isArray(content)) {
      for (const [j, block] of content.entries()) validateBlock(block, `${param}.content.${j}`);
    }
  });
  validateToolTurns(messages);
}

/**
 * The fields a known content block cannot do without, checked here so that a malformed one is a 400
 * naming it, before any hold or upstream call, rather than the upstream's refusal, which reaches the
 * client without the field's name. A block of another type passes as it is: new kinds of blocks must
 * keep working.
 */
const BLOCK_FIELDS: Readonly<
  Record<string, ReadonlyArray<readonly [string, (v: unknown) => boolean, string]>>
> = {
  text: [['text', isString, 'a valid string']],
  image: [['source', isObject, 'an object']],
  document: [['source', isObject, 'an object']],
  tool_use: [
    ['id', isString, 'a valid string'],
    ['name', isString, 'a valid string'],
    ['input', isObject, 'an object'],
  ],
  tool_result: [['tool_use_id', isString, 'a valid string']],
  thinking: [['thinking', isString, 'a valid string']],
};

function validateBlock(block: Record<string, unknown>, param: string): void {
  for (const [field, valid, expected] of BLOCK_FIELDS[block.type as string] ?? []) {
    if (!valid(block[field]))
      throw invalidRequest(`${param}.${field}: Input should be ${expected}`, `${param}.${field}`);
  }
  const inner = block.type === 'tool_result' ? block.content : undefined;
  if (inner === undefined || typeof inner === 'string') return;
  if (!Array.isArray(inner) || !inner.every((b) => isObject(b) && typeof b.type === 'string'))
    throw invalidRequest(
      `${param}.content: Input should be a string or a list of content blocks`,
      `${param}.content`,
    );
  for (const [k, b] of inner.entries()) validateBlock(b as Record<string, unknown>, `${param}.content.${k}`);
}

/**
 * Image and document blocks, in messages and inside tool results, held as on the chat surface
 * (the same tier may be served by any model): an image at the image allowance whatever its bytes
 * or URL; a PDF (base64, URL or file id) at the file allowance, since neither its bytes nor its
 * URL bound its pages, only the model's context window does. A base64 payload is held by the
 * allowance instead of by its bytes. A plain-text document's text is in the body, so its bytes
 * bound it and it needs no allowance.
 */
function countMedia(messages: unknown): { parts: number; inlineBytes: number; tokenBound: number } {
  let parts = 0;
  let inlineBytes = 0;
  let tokenBound = 0;
  const visit = (blocks: unknown): void => {
    if (!Array.isArray(blocks)) return;
    for (const block of blocks) {
      if (!isObject(block)) continue;
      if (typeof block.type === 'string' && MEDIA_BLOCKS.has(block.type)) {
        parts++;
        const source = isObject(block.source) ? block.source : {};
        if (block.type === 'image') tokenBound += MEDIA_TOKEN_ALLOWANCE.image;
        else if (!TEXT_DOCUMENT_SOURCES.has(source.type as string)) tokenBound += MEDIA_TOKEN_ALLOWANCE.file;
        if (source.type === 'base64' && isString(source.data)) {
          inlineBytes += Buffer.byteLength(source.data as string);
        }
      }
      if (block.type === 'tool_result') visit(block.content);
    }
  };
  if (Array.isArray(messages)) for (const m of messages) if (isObject(m)) visit(m.content);
  return { parts, inlineBytes, tokenBound };
}

/**
 * Opens the sealed tool-use ids a client sends back (on its earlier tool_use blocks and on its
 * tool_result blocks), in place, so they reach the upstream as the upstream minted them.
 */
export function openToolUseIds(messages: unknown, open: (id: string) => string): void {
  if (!Array.isArray(messages)) return;
  for (const m of messages) {
    if (!isObject(m) || !Array.isArray(m.content)) continue;
    for (const block of m.content) {
      if (!isObject(block) || typeof block.type !== 'string') continue;
      if (block.type.endsWith('tool_use') && isString(block.id)) block.id = open(block.id as string);
      if (isString(block.tool_use_id)) block.tool_use_id = open(block.tool_use_id as string);
    }
  }
}

/** Anthropic's least extended-thinking budget. */
export const MIN_THINKING_BUDGET = 1_024;

/**
 * Extended thinking's budget, as Anthropic checks it: an integer of at least 1,024 tokens. Whether
 * it stays below `max_tokens` is not checked: with interleaved thinking (a beta Claude Code sends)
 * it may exceed it, and the upstream call lowers it below the cap it sends anyway.
 */
/**
 * Extended thinking needs `max_tokens` above the least budget: a wallet that covers no more is
 * refused at admission (insufficient_quota) rather than sent a request the upstream rejects.
 */
function thinkingFloor(thinking: unknown): { minOutputTokens?: number } {
  return isObject(thinking) && thinking.type === 'enabled'
    ? { minOutputTokens: MIN_THINKING_BUDGET + 1 }
    : {};
}

function validateThinkingBudget(thinking: unknown): void {
  if (!isObject(thinking) || thinking.type !== 'enabled') return;
  const budget = thinking.budget_tokens;
  if (!Number.isSafeInteger(budget) || (budget as number) < MIN_THINKING_BUDGET) {
    throw invalidRequest(
      `thinking.enabled.budget_tokens: Input should be an integer greater than or equal to ${MIN_THINKING_BUDGET}`,
      'thinking.budget_tokens',
    );
  }
}
