import { ConsoleError, call, getJson, networkError, type RecentRequest } from './api.js';

/** The playground: one streamed chat completion from a chosen tier, then its tokens and charge. */

export interface PlaygroundResult {
  requestId: string;
  inputTokens: number;
  outputTokens: number;
  /** The charge billed for it, once the request log has it (undefined if it did not arrive in time). */
  chargeMicros: number | undefined;
}

interface Chunk {
  choices?: Array<{ delta?: { content?: string | null } }>;
  usage?: { prompt_tokens?: number; completion_tokens?: number } | null;
  error?: { message?: string };
}

/** Server-sent events of `body`, one `data:` payload at a time, as they arrive. */
async function* sseData(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    let read: ReadableStreamReadResult<Uint8Array>;
    try {
      read = await reader.read();
    } catch {
      throw networkError();
    }
    if (read.done) return;
    buffer += decoder.decode(read.value, { stream: true });
    let end = buffer.indexOf('\n\n');
    while (end >= 0) {
      const frame = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = frame
        .split('\n')
        .filter((line) => line.startsWith('data:'))
        .map((line) => line.slice(5).trimStart())
        .join('\n');
      if (data) yield data;
      end = buffer.indexOf('\n\n');
    }
  }
}

/** Streams a reply into `output` one text node per token as it arrives. */
export async function runPlayground(
  key: string,
  tier: string,
  prompt: string,
  output: HTMLElement,
  signal: AbortSignal,
): Promise<PlaygroundResult> {
  const res = await call('/v1/chat/completions', key, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      model: tier,
      stream: true,
      stream_options: { include_usage: true },
      messages: [{ role: 'user', content: prompt }],
    }),
    signal,
  });
  const requestId = res.headers.get('x-request-id') ?? '';
  if (!res.body) throw networkError();
  let usage: Chunk['usage'];
  let finished = false;
  for await (const data of sseData(res.body)) {
    if (data === '[DONE]') {
      finished = true;
      break;
    }
    const chunk = JSON.parse(data) as Chunk;
    if (chunk.error)
      throw new ConsoleError(`The reply stopped: ${chunk.error.message ?? 'upstream error'}.`, 'server');
    const text = chunk.choices?.[0]?.delta?.content;
    if (text) output.append(document.createTextNode(text));
    if (chunk.usage) usage = chunk.usage;
  }
  if (!finished) throw new ConsoleError('The reply was cut off before it finished. Try again.', 'network');
  return {
    requestId,
    inputTokens: usage?.prompt_tokens ?? 0,
    outputTokens: usage?.completion_tokens ?? 0,
    chargeMicros: await chargeOf(key, requestId),
  };
}

/** Billing settles a request just after its response ends: looks for it among the recent requests. */
async function chargeOf(key: string, requestId: string): Promise<number | undefined> {
  for (let attempt = 0; attempt < 30; attempt++) {
    const recent = await getJson<{ data: RecentRequest[] }>('/v1/requests?limit=20', key);
    const found = recent.data.find((r) => r.requestId === requestId);
    if (found) return found.chargeMicros;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  return undefined;
}
