import type { TierId } from '../../domain/catalog.js';
import { isObject, type Json } from '../../domain/json-body.js';
import { tokenCount } from '../../domain/usage-normalise.js';
import type { MeteredUsage } from '../../lifecycle/dialect.js';

/**
 * Rewrites upstream Messages objects so the tier abstraction cannot leak: only fields of
 * Anthropic's schema survive, `model` is the tier, `id` is the gateway's, tool-use ids are sealed,
 * and whatever an upstream adds (provider, cost, native ids, inference region) is dropped.
 */

export interface Identity {
  /** `msg_<request id>`. */
  id: string;
  tier: TierId;
  /** Replaces an upstream tool-use id (`toolu_…` names the provider) with a sealed one. */
  sealId: (upstreamId: string) => string;
}

/** Usage fields the client sees, as Anthropic names them. */
const USAGE_FIELDS = [
  'input_tokens',
  'output_tokens',
  'cache_creation_input_tokens',
  'cache_read_input_tokens',
  'cache_creation',
  'server_tool_use',
  'service_tier',
];

function pick(source: Json, fields: readonly string[]): Json {
  const out: Json = {};
  for (const f of fields) if (source[f] !== undefined) out[f] = source[f];
  return out;
}

/**
 * Anthropic usage counts as reported so far: a stream's message_start, then its final
 * message_delta; and the upstream's own `cost` with OpenRouter's BYOK fields, when it reports them
 * (never shown to the client).
 */
export interface ReportedUsage {
  input_tokens?: number;
  output_tokens?: number;
  cache_creation_input_tokens?: number;
  cache_read_input_tokens?: number;
  cost?: number;
  /** OpenRouter billed the operator's own provider key: `cost` is its fee only (see normaliseUsage). */
  is_byok?: boolean;
  /** Where OpenRouter reports the provider's charge of a BYOK request. */
  cost_details?: Json;
}

/**
 * Merges a usage block into what was reported before. Anthropic's counts are cumulative, so a count
 * never goes down: the larger wins, and a compatible server's placeholder 0 in message_delta does not
 * wipe out the prompt that message_start reported.
 */
export function mergeUsage(before: ReportedUsage | undefined, raw: unknown): ReportedUsage | undefined {
  if (!isObject(raw)) return before;
  const merged: ReportedUsage = { ...before };
  for (const field of [
    'input_tokens',
    'output_tokens',
    'cache_creation_input_tokens',
    'cache_read_input_tokens',
  ] as const) {
    const n = tokenCount(raw[field]);
    if (n !== undefined) merged[field] = Math.max(merged[field] ?? 0, n);
  }
  if (typeof raw.cost === 'number') merged.cost = raw.cost;
  if (typeof raw.is_byok === 'boolean') merged.is_byok = raw.is_byok;
  if (isObject(raw.cost_details)) merged.cost_details = raw.cost_details;
  return merged;
}

/** Anthropic usage for counts the gateway billed on (an estimate when the upstream sent none). */
export function usageOf(billed: MeteredUsage): Json {
  const cached = billed.cachedInputTokens ?? 0;
  const written = billed.cacheWriteTokens ?? 0;
  return {
    input_tokens: Math.max(0, billed.inputTokens - cached - written),
    output_tokens: billed.outputTokens,
    cache_creation_input_tokens: written,
    cache_read_input_tokens: cached,
  };
}

export function sanitizeUsage(raw: unknown): Json | undefined {
  return isObject(raw) ? pick(raw, USAGE_FIELDS) : undefined;
}

/** Fields of each content block type (and delta type) that reach the client. */
const BLOCK_FIELDS: Readonly<Record<string, readonly string[]>> = {
  text: ['type', 'text', 'citations'],
  thinking: ['type', 'thinking', 'signature'],
  redacted_thinking: ['type', 'data'],
  tool_use: ['type', 'id', 'name', 'input'],
  server_tool_use: ['type', 'id', 'name', 'input'],
  text_delta: ['type', 'text'],
  input_json_delta: ['type', 'partial_json'],
  thinking_delta: ['type', 'thinking'],
  signature_delta: ['type', 'signature'],
  citations_delta: ['type', 'citation'],
};

/**
 * The fields of any other block type (server-tool results, MCP, container uploads, tool search and
 * those Anthropic adds later): every top-level field of a content block in Anthropic's schema
 * (@anthropic-ai/sdk 1.10.0's beta content blocks). A field an upstream adds beside them (a
 * provider, a model, a native id) is not among them.
 */
const SCHEMA_BLOCK_FIELDS = [
  'type',
  'id',
  'tool_use_id',
  'name',
  'input',
  'content',
  'text',
  'citations',
  'thinking',
  'signature',
  'data',
  'source',
  'title',
  'url',
  'context',
  'cache_control',
  'caller',
  'is_error',
  'error_code',
  'file_id',
  'file_type',
  'server_name',
  'mcp_server_name',
  'tool_name',
  'toolset_name',
  'tool',
  'tools',
  'tool_changes',
  'tool_references',
  'encrypted_content',
  'encrypted_stdout',
  'stdout',
  'stderr',
  'return_code',
  'page_age',
  'retrieved_at',
  'stop_reason',
  'trigger',
  'from',
  'to',
  'lines',
  'num_lines',
  'total_lines',
  'start_line',
  'is_file_update',
  'old_start',
  'old_lines',
  'new_start',
  'new_lines',
];

/**
 * A content block (or delta) as the client sees it: the fields of its type in Anthropic's schema;
 * every id naming an upstream tool use is sealed.
 */
export function sanitizeBlock(block: unknown, identity: Identity): Json {
  if (!isObject(block)) return { type: 'text', text: '' };
  const type = typeof block.type === 'string' ? block.type : 'text';
  const out = pick(block, BLOCK_FIELDS[type] ?? SCHEMA_BLOCK_FIELDS);
  if (typeof out.id === 'string' && type.endsWith('tool_use')) out.id = identity.sealId(out.id);
  if (typeof out.tool_use_id === 'string') out.tool_use_id = identity.sealId(out.tool_use_id);
  if (type === 'text' && out.text === undefined) out.text = '';
  return out;
}

/**
 * Why the answer stopped. A refusal's `stop_details` keep its type and category; its explanation
 * (free text) and fallback credit token (redeemable only with the upstream's own model) are dropped.
 */
function stopFields(source: Json): Json {
  const out: Json = {
    stop_reason: typeof source.stop_reason === 'string' ? source.stop_reason : null,
    stop_sequence: typeof source.stop_sequence === 'string' ? source.stop_sequence : null,
  };
  if (isObject(source.stop_details)) out.stop_details = pick(source.stop_details, ['type', 'category']);
  else if (source.stop_details === null) out.stop_details = null;
  return out;
}

/** The context-management edits the upstream applied (`context_management`, a beta the client asked for). */
function contextManagement(source: Json): Json {
  const cm = source.context_management;
  if (cm === null) return { context_management: null };
  return isObject(cm) && Array.isArray(cm.applied_edits)
    ? { context_management: { applied_edits: cm.applied_edits.filter(isObject) } }
    : {};
}

/** A Message (a non-streaming body, or the message of a stream's message_start). */
export function sanitizeMessage(upstream: Json, identity: Identity, usage: Json): Json {
  const content = Array.isArray(upstream.content) ? upstream.content : [];
  return {
    id: identity.id,
    type: 'message',
    role: 'assistant',
    model: identity.tier,
    content: content.map((b) => sanitizeBlock(b, identity)),
    ...stopFields(upstream),
    ...contextManagement(upstream),
    usage,
  };
}

/** A message_delta event: the stop reason and the final usage. */
export function messageDelta(upstream: Json, usage: Json): Json {
  const delta = isObject(upstream.delta) ? upstream.delta : {};
  return { type: 'message_delta', delta: stopFields(delta), ...contextManagement(upstream), usage };
}

const GENERATED_FIELDS = ['text', 'thinking', 'partial_json'];

/** Generated text in a content block or a delta (text, thinking, tool input), for usage estimates. */
export function generatedText(blockOrDelta: unknown): string {
  if (!isObject(blockOrDelta)) return '';
  let text = '';
  for (const field of GENERATED_FIELDS) {
    const v = blockOrDelta[field];
    if (typeof v === 'string') text += v;
  }
  if (blockOrDelta.type === 'tool_use' && typeof blockOrDelta.name === 'string') {
    text += blockOrDelta.name;
    if (isObject(blockOrDelta.input)) text += JSON.stringify(blockOrDelta.input);
  }
  return text;
}

/**
 * Characters of a `redacted_thinking` block's `data` per output token it stands for. The data is
 * base64 (4 characters per 3 bytes) of encrypted thinking that the upstream bills as output tokens
 * but that no tokenizer can count; thinking text runs at about 4 UTF-8 bytes per token in English
 * and 3 in code or CJK, so one token per 3 decoded bytes leans towards over- rather than
 * under-counting. The charge is bounded by the hold all the same.
 */
export const REDACTED_THINKING_CHARS_PER_TOKEN = 4;

/** Output tokens of a block whose content is opaque (redacted thinking), for usage estimates. */
export function opaqueOutputTokens(block: unknown): number {
  if (!isObject(block) || block.type !== 'redacted_thinking' || typeof block.data !== 'string') return 0;
  return Math.ceil(block.data.length / REDACTED_THINKING_CHARS_PER_TOKEN);
}
