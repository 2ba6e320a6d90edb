import { sseEvents } from '../domain/sse.js';
import type { Upstream, UpstreamFailure, UpstreamReply, UpstreamRequest } from '../ports.js';

export interface HttpUpstreamOptions {
  baseUrl: string;
  /** Resolved lazily (Secrets Manager in AWS, env locally) and cached by the caller. */
  apiKey: () => Promise<string | undefined>;
  /** Called with the key the upstream refused, so a rotated key is re-read at once. */
  onUnauthorized?: (refusedKey: string | undefined) => unknown;
}

/** Error texts longer than this are not read further: only their classification matters. */
const MAX_ERROR_TEXT_BYTES = 16_384;

const CONTEXT_LENGTH = /context[_ ]length|context window|maximum context|too many tokens|prompt is too long/i;

/** Maps an upstream's HTTP status and error text to the lifecycle's typed failure. */
export function classifyFailure(status: number, errorText: string): UpstreamFailure {
  const outcome = `status_${status}`;
  if (status === 429 || status === 408 || status >= 500) return { kind: 'unavailable', outcome };
  // The gateway's own upstream credentials or funding: an operator problem, not the client's.
  if (status === 401 || status === 403 || status === 402) return { kind: 'unauthorized', outcome };
  if (CONTEXT_LENGTH.test(errorText)) return { kind: 'context_length', outcome: 'context_length' };
  return { kind: 'refused', outcome };
}

/** An OpenAI-compatible HTTP upstream over fetch; keep-alive connections are pooled per origin. */
export class HttpUpstream implements Upstream {
  private readonly baseUrl: string;

  constructor(private readonly options: HttpUpstreamOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
  }

  async send(request: UpstreamRequest, signal: AbortSignal): Promise<UpstreamReply> {
    const apiKey = await this.options.apiKey();
    const res = await fetch(`${this.baseUrl}${request.path}`, {
      method: 'POST',
      headers: {
        ...request.headers,
        'content-type': 'application/json',
        accept: request.body.stream === true ? 'text/event-stream' : 'application/json',
        ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}),
        ...(apiKey && request.auth === 'bearer+x-api-key' ? { 'x-api-key': apiKey } : {}),
      },
      body: JSON.stringify(request.body),
      signal,
    });
    if (res.status >= 200 && res.status < 300) {
      return { ok: true, text: () => res.text(), events: () => sseEvents(res.body) };
    }
    const failure = classifyFailure(res.status, await boundedText(res.body));
    if (failure.kind === 'unauthorized') this.options.onUnauthorized?.(apiKey);
    return { ok: false, failure };
  }
}

async function boundedText(body: ReadableStream<Uint8Array> | null): Promise<string> {
  if (!body) return '';
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let text = '';
  try {
    while (text.length < MAX_ERROR_TEXT_BYTES) {
      const { done, value } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
  } catch {
    // A body cut short still classifies on what arrived.
  } finally {
    reader.cancel().catch(() => {});
  }
  return text;
}
