/**
 * The benchmark's HTTP client: raw fetch (Node's global undici pool, keep-alive) and a minimal
 * SSE reader, identical for the direct and the gateway path so client overhead cancels out.
 */
import { performance } from 'node:perf_hooks';
import { SseParser } from '../shared/domain/sse.js';

export interface Target {
  name: string;
  /** Full URL of the chat completions endpoint. */
  url: string;
  /** Sent as `Authorization: Bearer …` when set. */
  apiKey?: string;
  /** Value of `model` in the request body. */
  model: string;
}

export interface Sample {
  ok: boolean;
  status: number;
  /** Request start to the end of the body. */
  latencyMs: number;
  /**
   * Streaming: request start to the first SSE `data:` frame carrying content.
   * Non-streaming: request start to the response headers.
   */
  ttftMs: number;
  /** Streaming: SSE data frames received, [DONE] included. */
  frames?: number;
  error?: string;
}

export interface RequestSpec {
  stream: boolean;
  prompt: string;
  timeoutMs: number;
}

const encoder = new TextEncoder();

export function requestBody(target: Target, spec: RequestSpec): Uint8Array {
  const body: Record<string, unknown> = {
    model: target.model,
    messages: [{ role: 'user', content: spec.prompt }],
  };
  // Both paths ask for usage: the gateway always asks its upstream, so the direct call matches.
  if (spec.stream) Object.assign(body, { stream: true, stream_options: { include_usage: true } });
  return encoder.encode(JSON.stringify(body));
}

/** True when an SSE data payload is a chunk with non-empty content or a tool-call fragment. */
function hasContent(payload: string): boolean {
  let chunk: unknown;
  try {
    chunk = JSON.parse(payload);
  } catch {
    return false;
  }
  const choices = (chunk as { choices?: unknown } | null)?.choices;
  if (!Array.isArray(choices)) return false;
  for (const c of choices as Array<{ delta?: { content?: unknown; tool_calls?: unknown } } | null>) {
    const content = c?.delta?.content;
    if (typeof content === 'string' && content.length > 0) return true;
    if (Array.isArray(c?.delta?.tool_calls) && c.delta.tool_calls.length > 0) return true;
  }
  return false;
}

/** One timed request. Never throws: failures come back as `ok: false` with a reason. */
export async function timedRequest(target: Target, body: Uint8Array, spec: RequestSpec): Promise<Sample> {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    accept: spec.stream ? 'text/event-stream' : 'application/json',
  };
  if (target.apiKey) headers.authorization = `Bearer ${target.apiKey}`;
  const t0 = performance.now();
  let ttft = Number.NaN;
  let status = 0;
  const fail = (error: string): Sample => ({
    ok: false,
    status,
    latencyMs: performance.now() - t0,
    ttftMs: ttft,
    error,
  });
  try {
    const res = await fetch(target.url, {
      method: 'POST',
      headers,
      body,
      signal: AbortSignal.timeout(spec.timeoutMs),
    });
    status = res.status;
    if (!spec.stream) {
      ttft = performance.now() - t0;
      const text = await res.text();
      const latencyMs = performance.now() - t0;
      if (status !== 200) return fail(`HTTP ${status}: ${text.slice(0, 200)}`);
      const parsed = JSON.parse(text) as { choices?: unknown };
      if (!Array.isArray(parsed.choices) || parsed.choices.length === 0) return fail('no choices in body');
      return { ok: true, status, latencyMs, ttftMs: ttft };
    }
    if (status !== 200 || !res.body) {
      const text = await res.text().catch(() => '');
      return fail(`HTTP ${status}: ${text.slice(0, 200)}`);
    }
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    const parser = new SseParser();
    let sawDone = false;
    let frames = 0;
    let errorFrame: string | undefined;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      for (const { data: payload } of parser.push(decoder.decode(value, { stream: true }))) {
        frames++;
        if (payload === '[DONE]') {
          sawDone = true;
          continue;
        }
        if (payload.startsWith('{"error"')) errorFrame = payload.slice(0, 200);
        // Parse only until the first content frame; after that only the end matters.
        else if (Number.isNaN(ttft) && hasContent(payload)) ttft = performance.now() - t0;
      }
    }
    const latencyMs = performance.now() - t0;
    if (errorFrame) return fail(`error frame: ${errorFrame}`);
    if (!sawDone) return fail('stream ended without [DONE]');
    if (Number.isNaN(ttft)) return fail('stream carried no content');
    return { ok: true, status, latencyMs, ttftMs: ttft, frames };
  } catch (err) {
    return fail(err instanceof Error ? `${err.name}: ${err.message}` : String(err));
  }
}
