/**
 * Input tokens an upstream adds to a request by itself when tools or a response schema are in play,
 * which the body's bytes therefore do not bound. Anthropic documents its tool-use system prompt at
 * up to 530 tokens (Claude 3 Opus; 346 for Claude 4 models, 264–340 for Claude 3 Haiku), and a tier
 * on either surface may be served by a Claude model; OpenAI's rendering of tool definitions is more
 * compact than their JSON, so their bytes bound it. Held once per such request, like the media
 * allowances, and counted by the input estimate of a request that ends without usage.
 */
export const TOOL_PROMPT_TOKENS = 600;

const isNonEmptyArray = (v: unknown): boolean => Array.isArray(v) && v.length > 0;

/** A response format that constrains the answer (anything but plain text). */
const isSchema = (format: unknown): boolean =>
  typeof format === 'object' && format !== null && (format as { type?: unknown }).type !== 'text';

/**
 * Whether a request body (client's or forwarded) declares tools, functions or a response schema:
 * chat's `response_format`, or Messages' `output_format` and `output_config.format`.
 */
export function usesToolPrompt(body: Record<string, unknown>): boolean {
  const config = body.output_config;
  const configFormat =
    typeof config === 'object' && config !== null ? (config as { format?: unknown }).format : undefined;
  return (
    isNonEmptyArray(body.tools) ||
    isNonEmptyArray(body.functions) ||
    isSchema(body.response_format) ||
    isSchema(body.output_format) ||
    isSchema(configFormat)
  );
}

/** The tokens to allow for the upstream's own tool-use prompt: TOOL_PROMPT_TOKENS or 0. */
export const toolPromptAllowance = (body: Record<string, unknown>): number =>
  usesToolPrompt(body) ? TOOL_PROMPT_TOKENS : 0;
