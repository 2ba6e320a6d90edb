import { toolPromptAllowance } from '../domain/tool-prompt-allowance.js';

/**
 * Usage estimates for a request that ended without the upstream's usage block: a client that left,
 * a cut stream, an upstream that failed mid-stream. The rule: never under-bill, never above the hold.
 *
 * Counting vocabulary: OpenAI's cl100k_base, loaded by a dynamic import() on the first estimate only,
 * so no function pays for it at cold start. It is half the size of o200k_base, and it counts more tokens
 * than o200k_base for every script measured (Chinese, Japanese, Korean, Russian, German; within 1% for
 * English and code), which is the safe side for Gemini, Llama, DeepSeek and Qwen, whose larger vocabularies
 * count fewer still.
 *
 * Margin: Anthropic's tokenizer, the one in the default catalog that counts more than OpenAI's, has been
 * measured at up to +30% on code (+16% on English, +21% on maths) against GPT-4o's; GPT-3's 50k vocabulary
 * counts +25% (English) to +28% (code) against cl100k_base. So the count is multiplied by 1.3. The input
 * is counted as the forwarded JSON, whose quotes, keys and escapes add 2–12% on top, and each message gets
 * the chat template's tokens, each tool-using request the tool-use system prompt an upstream adds.
 *
 * Bound: an input estimate never exceeds the hold's input bound (the body's UTF-8 bytes plus the media
 * allowances and the tool-prompt allowance). A byte-level BPE token covers at least one byte, so the text's
 * bytes bound every real tokenizer's count of it; the clip only takes what the margin adds beyond that.
 */

/** Multiplier over the cl100k_base count, as a fraction (13/10): integer arithmetic, no float rounding. */
const MARGIN_NUMERATOR = 13;
const MARGIN_DENOMINATOR = 10;
/** Chat-template tokens per message (OpenAI documents 3, plus 1 for a `name`). */
export const TOKENS_PER_MESSAGE = 4;
/** Tokens that prime the reply, once per request (OpenAI documents 3). */
export const TOKENS_PER_REQUEST = 3;
export { TOOL_PROMPT_TOKENS } from '../domain/tool-prompt-allowance.js';

/**
 * Longest piece handed to the tokenizer. Its BPE merge is quadratic in the length of one pre-token, and a
 * run of CJK or emoji is one pre-token however long (100,000 "漢" took 71 s in one piece); pieces of at
 * most 128 characters take the same time per MB as any shorter split.
 */
const PIECE_CHARS = 128;
/** A piece may end this much earlier so that it ends before whitespace, where the tokenizer splits anyway. */
const PIECE_CUT_SEARCH = 48;
/** Characters counted between two yields to the event loop, so one large estimate never stalls a process. */
const CHARS_PER_SLICE = 32_768;
/** Merge-cache entries the tokenizer keeps between estimates (its default, 100,000, can hold tens of MB). */
const MERGE_CACHE_ENTRIES = 4_096;

type CountText = (text: string) => number;

let tokenizer: Promise<CountText> | undefined;

/** The cl100k_base counter, imported on first use. A failed import is retried by the next estimate. */
function loadTokenizer(): Promise<CountText> {
  tokenizer ??= import('gpt-tokenizer/encoding/cl100k_base').then(
    (encoding) => {
      encoding.setMergeCacheSize(MERGE_CACHE_ENTRIES);
      // Text that spells a special token (`<|endoftext|>`) is counted as the text it is, never refused.
      const asText = { disallowedSpecial: new Set<string>() };
      return (text: string) => encoding.countTokens(text, asText);
    },
    (err: unknown) => {
      tokenizer = undefined;
      throw err;
    },
  );
  return tokenizer;
}

const isWhitespace = (code: number): boolean =>
  code === 0x20 || code === 0x0a || code === 0x0d || code === 0x09;
const isHighSurrogate = (code: number): boolean => code >= 0xd800 && code <= 0xdbff;

/**
 * Where the piece starting at `start` ends: at most PIECE_CHARS on, preferably just before a whitespace
 * that follows a non-whitespace (the tokenizer keeps a leading space with the next word, so the count is
 * unchanged there), and never between the two halves of a surrogate pair.
 */
export function pieceEnd(text: string, start: number): number {
  const limit = start + PIECE_CHARS;
  if (limit >= text.length) return text.length;
  for (let i = limit; i > limit - PIECE_CUT_SEARCH; i--) {
    if (isWhitespace(text.charCodeAt(i)) && !isWhitespace(text.charCodeAt(i - 1))) return i;
  }
  return isHighSurrogate(text.charCodeAt(limit - 1)) ? limit - 1 : limit;
}

/**
 * cl100k_base count of `text`, piece by piece. Stops early, returning `Infinity`, once the count reaches
 * `stopAt` or `Date.now()` passes `deadline`: the caller then uses its bound.
 */
async function countPieces(text: string, stopAt: number, deadline: number): Promise<number> {
  const count = await loadTokenizer();
  let tokens = 0;
  let sliceEnd = CHARS_PER_SLICE;
  for (let start = 0; start < text.length; ) {
    const end = pieceEnd(text, start);
    tokens += count(text.slice(start, end));
    start = end;
    if (tokens >= stopAt) return Number.POSITIVE_INFINITY;
    if (start >= sliceEnd && start < text.length) {
      sliceEnd = start + CHARS_PER_SLICE;
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (Date.now() > deadline) return Number.POSITIVE_INFINITY;
    }
  }
  return tokens;
}

/** `tokens` with the tokenizer margin, rounded up. */
const withMargin = (tokens: number): number => Math.ceil((tokens * MARGIN_NUMERATOR) / MARGIN_DENOMINATOR);

/** A count from the caller as a whole number: negative, NaN or absent is 0, so no NaN reaches the ledger. */
const wholeCount = (n: number | undefined): number => (n !== undefined && n > 0 ? Math.floor(n) : 0);

/** Template tokens the upstream adds around what the body says: per message, per request, tool prompt. */
function templateTokens(body: Record<string, unknown>): number {
  const messages = Array.isArray(body.messages) ? body.messages.length : 0;
  const system = body.system === undefined || body.system === null ? 0 : 1;
  return TOKENS_PER_REQUEST + (messages + system) * TOKENS_PER_MESSAGE + toolPromptAllowance(body);
}

export interface InputEstimateOptions {
  /** Content parts that are media (image, audio, file). */
  mediaParts: number;
  /** Tokens allowed for each media part, as the hold allows them. */
  mediaAllowance: number;
  /**
   * The hold's input bound (`inputTokenBound`): the body's bytes less its inline media payloads, plus the
   * media and tool-prompt allowances. The estimate never exceeds it; inline media left in `forwardedBody`
   * are counted as text and then clipped to it.
   */
  byteBound: number;
  /** Epoch milliseconds after which counting stops and the estimate is the bound (safe, if generous). */
  deadline?: number;
}

/**
 * The input tokens a request can count at most, as its hold is sized: UTF-8 bytes bound a text
 * prompt's tokens from above; a media part (image, audio, file) counts at its kind's allowance
 * instead, whether a short URL or inline base64; the tool-use prompt an upstream adds for tools at
 * its allowance. No model reads more input than its context window, when every model that may
 * serve the request states one.
 */
export function inputTokenBound(
  bodyBytes: number,
  request: { inlineMediaBytes: number; mediaTokenBound: number; toolPromptTokens: number },
  contextWindows: ReadonlyArray<number | undefined>,
): number {
  const windows = contextWindows.every((w) => w !== undefined) && contextWindows.length > 0;
  return Math.min(
    Math.max(0, bodyBytes - request.inlineMediaBytes) + request.mediaTokenBound + request.toolPromptTokens,
    windows ? Math.max(...(contextWindows as number[])) : Number.POSITIVE_INFINITY,
  );
}

/** The tokens held per media part on average, for an estimate that counts parts × allowance. */
export const mediaAllowancePerPart = (request: { mediaParts: number; mediaTokenBound: number }): number =>
  request.mediaParts > 0 ? Math.ceil(request.mediaTokenBound / request.mediaParts) : 0;

/**
 * Input tokens of everything forwarded upstream: messages, system prompt, tools, response schemas and every
 * other field, with the margin, the template tokens and the media allowances, clipped to the hold's bound.
 * Never below cl100k_base's count of the body's text; never above `byteBound`. If the tokenizer cannot be
 * loaded, the bound itself.
 */
export async function estimateInputTokens(
  forwardedBody: Record<string, unknown>,
  opts: InputEstimateOptions,
): Promise<number> {
  const bound = wholeCount(opts.byteBound);
  const media = wholeCount(opts.mediaParts) * wholeCount(opts.mediaAllowance);
  const fixed = templateTokens(forwardedBody) + media;
  if (fixed >= bound) return bound;
  // From this count on the estimate reaches the bound, so counting further is pointless.
  const stopAt = Math.ceil(((bound - fixed) * MARGIN_DENOMINATOR) / MARGIN_NUMERATOR);
  let counted: number;
  try {
    counted = await countPieces(
      JSON.stringify(forwardedBody),
      stopAt,
      opts.deadline ?? Number.POSITIVE_INFINITY,
    );
  } catch {
    return bound;
  }
  return Math.min(bound, withMargin(counted) + fixed);
}

/**
 * Output tokens of text the upstream generated and the gateway relayed, with the margin. CJK, emoji and
 * any other script are counted by the tokenizer, never by characters. If the tokenizer cannot be loaded,
 * the text's UTF-8 bytes, which bound any byte-level tokenizer's count.
 */
export async function estimateOutputTokens(generatedText: string): Promise<number> {
  if (generatedText.length === 0) return 0;
  try {
    return withMargin(await countPieces(generatedText, Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY));
  } catch {
    return Buffer.byteLength(generatedText);
  }
}
