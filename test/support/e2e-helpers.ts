import { randomBytes } from 'node:crypto';
import type { DemoUpstream, RecordedRequest } from '../../local/demo-upstream.js';
import type { LocalRuntime } from '../../local/runtime.js';
import type { TierId } from '../../shared/domain/catalog.js';
import { DEFAULT_CATALOG } from '../../shared/domain/default-catalog.js';
import { SseParser } from '../../shared/domain/sse.js';

/** Helpers shared by the e2e tests: raw HTTP, SSE reading, upstream inspection and bounded polling. */

/** The runtime's demo upstream; every e2e test runs against it. */
export function demoUpstream(runtime: LocalRuntime): DemoUpstream {
  if (!runtime.upstream) throw new Error('the e2e tests need the demo upstream');
  return runtime.upstream;
}

/** A unique tag to put in a prompt, so the upstream request it caused can be found again. */
export const MINUTE_MS = 60_000;

/** Waits for the next minute when fewer than `needMs` of the current one are left (rate limits count per minute). */
export async function roomInMinute(needMs: number): Promise<void> {
  const left = MINUTE_MS - (Date.now() % MINUTE_MS);
  if (left < needMs) await new Promise((resolve) => setTimeout(resolve, left + 100));
}

const DAY_MS = 86_400_000;

/**
 * Waits for the next UTC day when fewer than `needMs` of the current one are left: daily budgets,
 * the spend guardrail and usage reports count per UTC day, so a test that spends and then reads
 * must not straddle midnight.
 */
export async function roomInUtcDay(needMs: number): Promise<void> {
  const left = DAY_MS - (Date.now() % DAY_MS);
  if (left < needMs) await new Promise((resolve) => setTimeout(resolve, left + 100));
}

export function marker(label = 'm'): string {
  return `${label}${randomBytes(6).toString('hex')}`;
}

/** The upstream requests whose messages contain `tag`, in arrival order. */
export function upstreamRequestsWith(runtime: LocalRuntime, tag: string): RecordedRequest[] {
  return demoUpstream(runtime).requests.filter((r) => JSON.stringify(r.body.messages ?? null).includes(tag));
}

/** The single upstream request that served a prompt containing `tag` (the last one that completed). */
export function servedUpstreamRequest(runtime: LocalRuntime, tag: string): RecordedRequest {
  const all = upstreamRequestsWith(runtime, tag);
  const served = all.filter((r) => !r.aborted).at(-1) ?? all.at(-1);
  if (!served) throw new Error(`no upstream request carried ${tag}`);
  return served;
}

/** The model of the default catalog that a tier asks the upstream for first. */
export const primaryModel = (tier: TierId): string => {
  const id = DEFAULT_CATALOG.tiers[tier].models[0]?.id;
  if (!id) throw new Error(`catalog tier ${tier} has no model`);
  return id;
};

/** Polls `check` until it returns a value other than undefined/false, for at most `timeoutMs`. */
export async function waitFor<T>(
  check: () => Promise<T | undefined | false> | T | undefined | false,
  { timeoutMs = 5_000, intervalMs = 100, what = 'condition' } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const detail = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

export interface ChatOptions {
  /** The bearer key; `null` sends no Authorization header. Default: the runtime's demo key. */
  apiKey?: string | null;
  headers?: Record<string, string>;
  method?: string;
  path?: string;
}

/** A raw request to the public API; the body is JSON-encoded unless it is a string or bytes. */
export function rawRequest(
  runtime: LocalRuntime,
  body: unknown,
  { apiKey, headers = {}, method = 'POST', path = '/v1/chat/completions' }: ChatOptions = {},
): Promise<Response> {
  const key = apiKey === undefined ? runtime.apiKey : apiKey;
  const payload =
    body === undefined
      ? undefined
      : typeof body === 'string' || body instanceof Uint8Array
        ? body
        : JSON.stringify(body);
  return fetch(`${runtime.url}${path}`, {
    method,
    headers: {
      'content-type': 'application/json',
      ...(key === null ? {} : { authorization: `Bearer ${key}` }),
      ...headers,
    },
    ...(payload === undefined ? {} : { body: payload }),
  });
}

export interface SseFrame {
  /** The `data:` payload of the event. */
  data: string;
  /** performance.now() when the frame's terminating blank line arrived. */
  at: number;
}

export interface SseResult {
  status: number;
  headers: Headers;
  text: string;
  frames: SseFrame[];
}

/** Reads an SSE response to its end, timestamping each event as it completes. */
export async function readSse(res: Response): Promise<SseResult> {
  const frames: SseFrame[] = [];
  let text = '';
  const decoder = new TextDecoder();
  const parser = new SseParser();
  const take = (events: Array<{ data: string }>): void => {
    const at = performance.now();
    for (const { data } of events) if (data !== '') frames.push({ data, at });
  };
  if (res.body) {
    const reader = res.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      const chunk = decoder.decode(value, { stream: true });
      text += chunk;
      take(parser.push(chunk));
    }
  }
  const rest = decoder.decode();
  text += rest;
  take([...parser.push(rest), ...parser.end()]);
  return { status: res.status, headers: res.headers, text, frames };
}

/** JSON payloads of the frames (everything but `[DONE]`). */
export function jsonFrames(result: SseResult): Array<Record<string, unknown>> {
  return result.frames
    .filter((f) => f.data !== '[DONE]')
    .map((f) => JSON.parse(f.data) as Record<string, unknown>);
}

/** The tool the demo upstream calls when a prompt mentions the weather. */
export const WEATHER_TOOL = {
  type: 'function' as const,
  function: {
    name: 'get_weather',
    description: 'Current weather for a city',
    parameters: {
      type: 'object',
      properties: { location: { type: 'string' } },
      required: ['location'],
    },
  },
};
