import { createParser } from 'eventsource-parser';
import type { UpstreamEvent } from '../ports.js';

/**
 * Server-sent events: parsing (eventsource-parser, which keeps `event:` names) and framing.
 * Each event is yielded as soon as its terminating blank line arrives.
 */
export class SseParser {
  private pending: UpstreamEvent[] = [];
  private readonly parser = createParser({
    onEvent: (e) => this.pending.push({ event: e.event, data: e.data }),
  });

  /** Feeds decoded text; returns every event it completed. */
  push(text: string): UpstreamEvent[] {
    this.parser.feed(text);
    return this.drain();
  }

  /** Flushes a final event that was not followed by a blank line. */
  end(): UpstreamEvent[] {
    this.parser.feed('\n\n');
    return this.drain();
  }

  private drain(): UpstreamEvent[] {
    const events = this.pending;
    this.pending = [];
    return events;
  }
}

/** The events of an SSE body as they arrive. Leaving early cancels the transfer. */
export async function* sseEvents(body: ReadableStream<Uint8Array> | null): AsyncIterable<UpstreamEvent> {
  if (!body) return;
  const decoder = new TextDecoder();
  const parser = new SseParser();
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      yield* parser.push(decoder.decode(value, { stream: true }));
    }
    yield* parser.push(decoder.decode());
    yield* parser.end();
  } finally {
    // Stops the upstream transfer when the consumer leaves early (client disconnect, error).
    reader.cancel().catch(() => {});
  }
}

/** One SSE frame carrying a JSON payload, with an event name when the dialect uses them. */
export const sseFrame = (payload: unknown, event?: string): string =>
  event === undefined
    ? `data: ${JSON.stringify(payload)}\n\n`
    : `event: ${event}\ndata: ${JSON.stringify(payload)}\n\n`;

export const SSE_DONE = 'data: [DONE]\n\n';
