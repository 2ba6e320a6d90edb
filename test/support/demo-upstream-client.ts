import OpenAI from 'openai';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { type DemoUpstream, type RecordedRequest, startDemoUpstream } from '../../local/demo-upstream.js';

/** Shared by the demo upstream test files: an SSE reader, and one upstream with an SDK client for a describe block. */

export interface SseEvent {
  /** ms since the request was sent, when the bytes carrying this event arrived */
  at: number;
  comment?: string;
  data?: string;
}

export interface ChunkJson {
  id: string;
  object: string;
  model: string;
  provider: string;
  system_fingerprint: string;
  created: number;
  choices: {
    index: number;
    delta: {
      role?: string;
      content?: string | null;
      tool_calls?: {
        index: number;
        id?: string;
        type?: string;
        function?: { name?: string; arguments?: string };
      }[];
    };
    finish_reason: string | null;
  }[];
  usage?: { prompt_tokens: number; completion_tokens: number; total_tokens: number; cost: number };
}

/** Reads an SSE body frame by frame, stamping each with its arrival time; `error` is set if the body broke. */
export async function readSse(
  res: Response,
  started: number,
): Promise<{ events: SseEvent[]; error?: unknown }> {
  const events: SseEvent[] = [];
  const reader = res.body?.getReader();
  if (!reader) throw new Error('no body');
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      const at = performance.now() - started;
      buffer += decoder.decode(value, { stream: true });
      let sep = buffer.indexOf('\n\n');
      while (sep >= 0) {
        const frame = buffer.slice(0, sep);
        buffer = buffer.slice(sep + 2);
        for (const line of frame.split('\n')) {
          if (line.startsWith(':')) events.push({ at, comment: line.slice(1).trim() });
          else if (line.startsWith('data: ')) events.push({ at, data: line.slice(6) });
        }
        sep = buffer.indexOf('\n\n');
      }
    }
  } catch (error) {
    return { events, error };
  }
  return { events };
}

export function dataEvents(events: SseEvent[]): SseEvent[] {
  return events.filter((e) => e.data !== undefined);
}

export function jsonChunks(events: SseEvent[]): ChunkJson[] {
  return dataEvents(events)
    .filter((e) => e.data !== '[DONE]')
    .map((e) => JSON.parse(e.data ?? '') as ChunkJson);
}

export async function waitFor(cond: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

export const MODEL = 'openai/gpt-4o-mini';

/**
 * The upstream of the calling describe block and an SDK client on it, set by `useDemoUpstream`'s
 * beforeAll: read them inside tests and hooks only. Each test file has its own copy of this module.
 */
export let upstream: DemoUpstream;
export let client: OpenAI;

export function post(body: unknown, init: RequestInit = {}): Promise<Response> {
  return fetch(`${upstream.baseUrl}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    ...init,
  });
}

export async function stream(
  body: Record<string, unknown>,
): Promise<{ events: SseEvent[]; error?: unknown; res: Response }> {
  const started = performance.now();
  const res = await post({ model: MODEL, stream: true, ...body });
  return { ...(await readSse(res, started)), res };
}

export function last(): RecordedRequest {
  const rec = upstream.requests.at(-1);
  if (!rec) throw new Error('no request recorded');
  return rec;
}

/** Starts one upstream for the calling describe block (beforeAll), resets its faults and pacing after each test, and closes it afterwards. */
export function useDemoUpstream(): void {
  beforeAll(async () => {
    upstream = await startDemoUpstream({ ttftMs: 5, tokensPerSecond: 2000 });
    client = new OpenAI({ baseURL: upstream.baseUrl, apiKey: 'unused', maxRetries: 0 });
  });

  afterEach(() => {
    upstream.clearFaults();
    upstream.setPacing({ ttftMs: 5, tokensPerSecond: 2000 });
  });

  afterAll(async () => {
    await upstream.close();
  });
}
