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

/** One SSE frame carrying a JSON payload, with an event name when the dialect uses them. */
export const sseFrame = (payload: unknown, event?: string): string =>
  event === undefined
    ? `data: ${JSON.stringify(payload)}\n\n`
    : `event: ${event}\ndata: ${JSON.stringify(payload)}\n\n`;

export const SSE_DONE = 'data: [DONE]\n\n';
