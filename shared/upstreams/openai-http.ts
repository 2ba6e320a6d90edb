import { SseParser } from '../domain/sse.js';
import type { Upstream, UpstreamResponse } from '../ports.js';

export interface HttpUpstreamOptions {
  baseUrl: string;
  /** Resolved lazily (Secrets Manager in AWS, env locally) and cached by the caller. */
  apiKey: () => Promise<string | undefined>;
}

/** The upstream over fetch. Keep-alive connections are pooled by Node's fetch per origin. */
export class HttpUpstream implements Upstream {
  private readonly url: string;

  constructor(private readonly options: HttpUpstreamOptions) {
    this.url = `${options.baseUrl.replace(/\/+$/, '')}/chat/completions`;
  }

  async chat(body: Record<string, unknown>, signal: AbortSignal): Promise<UpstreamResponse> {
    const apiKey = await this.options.apiKey();
    const res = await fetch(this.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: body.stream === true ? 'text/event-stream' : 'application/json',
        ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}),
      },
      body: JSON.stringify(body),
      signal,
    });
    const retryAfter = Number(res.headers.get('retry-after'));
    return {
      status: res.status,
      retryAfterSeconds: Number.isFinite(retryAfter) && retryAfter >= 0 ? retryAfter : undefined,
      text: () => res.text(),
      events: () => sseEvents(res.body),
    };
  }
}

async function* sseEvents(body: ReadableStream<Uint8Array> | null): AsyncIterable<string> {
  if (!body) return;
  const decoder = new TextDecoder();
  const parser = new SseParser();
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      for (const event of parser.push(decoder.decode(value, { stream: true }))) yield event;
    }
    for (const event of parser.push(decoder.decode())) yield event;
    for (const event of parser.end()) yield event;
  } finally {
    // Stops the upstream transfer when the consumer leaves early (client disconnect, error).
    reader.cancel().catch(() => {});
  }
}
