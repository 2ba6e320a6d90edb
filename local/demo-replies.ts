/**
 * What the demo upstream answers: words, as many as `tokens:N` in a prompt asks for, or a call
 * to one of the offered tools, with arguments that are valid for the tool's `parameters`; and
 * after how long, if `ttft:N` asks for a time to first token of its own.
 */
import { randomBytes } from 'node:crypto';
import { isObject } from '../shared/domain/json-body.js';
import { schemaExample } from './schema-example.js';

const WORDS = (
  'Lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore ' +
  'et dolore magna aliqua Ut enim ad minim veniam quis nostrud exercitation ullamco laboris nisi ut ' +
  'aliquip ex ea commodo consequat'
).split(' ');

export const DEFAULT_OUTPUT_TOKENS = 24;
// A `tokens:N` prompt must not let one request pin the process forever.
export const MAX_OUTPUT_TOKENS = 100_000;
/** A `ttft:N` prompt must not hold a request open longer than this. */
export const MAX_TTFT_MS = 60_000;
const MAX_CHOICES = 16;
/** Tool-call arguments stream in pieces of this many characters, as OpenAI streams fragments. */
const FRAGMENT_CHARS = 4;

/** What one choice will say: text tokens or a tool call whose arguments stream as fragments. */
export type ChoicePlan =
  | { kind: 'text'; units: string[]; finishReason: 'stop' | 'length' }
  | { kind: 'tool'; units: string[]; arguments: string; callId: string; name: string };

const BASE62 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
export function randomToken(length: number): string {
  let out = '';
  for (const b of randomBytes(length)) out += BASE62[b % BASE62.length];
  return out;
}

function messageText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content.map((p) => (isObject(p) && typeof p.text === 'string' ? p.text : '')).join(' ');
  }
  return '';
}

export function userTexts(messages: unknown[]): string[] {
  return messages
    .filter((m): m is Record<string, unknown> => isObject(m) && m.role === 'user')
    .map((m) => messageText(m.content));
}

function nonNegativeInt(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? Math.floor(v) : undefined;
}

/**
 * The time to first token (ms) the last `ttft:N` in any user message asks for, capped at
 * MAX_TTFT_MS; undefined if none does (the upstream's own pacing then applies). The pace of the
 * tokens after the first is untouched, so a reply can be made to last longer without changing
 * how its chunks arrive.
 */
export function promptTtftMs(messages: unknown[]): number | undefined {
  let ms: number | undefined;
  for (const text of userTexts(messages)) {
    for (const m of text.matchAll(/\bttft:(\d+)(?![\w.])/g)) ms = Math.min(Number(m[1]), MAX_TTFT_MS);
  }
  return ms;
}

/** A tool result arrived after the last user message: the model answers it instead of calling again. */
function toolResultSinceLastUser(messages: unknown[]): boolean {
  const lastUser = messages.findLastIndex((m) => isObject(m) && m.role === 'user');
  return messages.slice(lastUser + 1).some((m) => isObject(m) && m.role === 'tool');
}

interface OfferedTool {
  name: string;
  parameters: unknown;
}

function chooseTool(body: Record<string, unknown>, messages: unknown[]): OfferedTool | undefined {
  const tools: OfferedTool[] = (Array.isArray(body.tools) ? body.tools : []).flatMap((t) =>
    isObject(t) && isObject(t.function) && typeof t.function.name === 'string' && t.function.name.length > 0
      ? [{ name: t.function.name, parameters: t.function.parameters }]
      : [],
  );
  const first = tools[0];
  const choice = body.tool_choice;
  if (first === undefined || choice === 'none' || toolResultSinceLastUser(messages)) return undefined;
  if (isObject(choice) && isObject(choice.function) && typeof choice.function.name === 'string') {
    const named = tools.find((t) => t.name === (choice.function as Record<string, unknown>).name);
    if (named) return named;
  }
  const lastUser = (userTexts(messages).at(-1) ?? '').toLowerCase();
  const mentioned = tools.find((t) => lastUser.includes(t.name.toLowerCase()));
  if (mentioned !== undefined) return mentioned;
  if (lastUser.includes('weather') || choice === 'required') return first;
  return undefined;
}

function fragments(text: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length; i += FRAGMENT_CHARS) out.push(text.slice(i, i + FRAGMENT_CHARS));
  return out;
}

/** One plan per choice (`n`), from the request's prompt, tools and output cap. */
export function planChoices(body: Record<string, unknown>, messages: unknown[]): ChoicePlan[] {
  const n = Math.min(MAX_CHOICES, Math.max(1, nonNegativeInt(body.n) ?? 1));
  const tool = chooseTool(body, messages);
  // The last `tokens:N` in any user message wins.
  let requested = DEFAULT_OUTPUT_TOKENS;
  for (const text of userTexts(messages)) {
    for (const m of text.matchAll(/\btokens:(\d+)\b/g)) requested = Number(m[1]);
  }
  requested = Math.min(requested, MAX_OUTPUT_TOKENS);
  const cap = nonNegativeInt(body.max_completion_tokens) ?? nonNegativeInt(body.max_tokens);
  const count = cap !== undefined && cap < requested ? cap : requested;
  const finishReason = count < requested ? 'length' : 'stop';
  const plans: ChoicePlan[] = [];
  for (let index = 0; index < n; index++) {
    if (tool !== undefined) {
      // Tool-call arguments are not truncated by max_tokens: they are a handful of tokens.
      const args = JSON.stringify(schemaExample(tool.parameters));
      plans.push({
        kind: 'tool',
        units: fragments(args),
        arguments: args,
        callId: `call_${randomToken(24)}`,
        name: tool.name,
      });
    } else {
      // Each choice starts at a different word so that n > 1 choices are distinguishable.
      const units = Array.from({ length: count }, (_, i) => `${WORDS[(i + index) % WORDS.length]} `);
      plans.push({ kind: 'text', units, finishReason });
    }
  }
  return plans;
}
