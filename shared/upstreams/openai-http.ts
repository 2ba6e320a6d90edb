import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { finished } from 'node:stream';
import { SseParser } from '../domain/sse.js';
import type {
  Upstream,
  UpstreamEvent,
  UpstreamEventIterator,
  UpstreamFailure,
  UpstreamReply,
  UpstreamRequest,
} from '../ports.js';

export interface HttpUpstreamOptions {
  baseUrl: string;
  /** Resolved lazily (Secrets Manager in AWS, env locally) and cached by the caller. */
  apiKey: () => Promise<string | undefined>;
  /** Called with the key the upstream refused, so a rotated key is re-read at once. */
  onUnauthorized?: (refusedKey: string | undefined) => unknown;
  /** How long a pooled connection may sit idle before it is closed (default IDLE_SOCKET_MS). */
  idleSocketMs?: number;
}

/** Error texts longer than this are not read further: only their classification matters. */
const MAX_ERROR_TEXT_BYTES = 16_384;

const CONTEXT_LENGTH = /context[_ ]length|context window|maximum context|too many tokens|prompt is too long/i;

/**
 * Statuses that say this model cannot serve now, whatever the request: overloaded, timed out, down,
 * or not found or gone (a model the catalog names that the upstream no longer serves, or no provider
 * that takes it, as OpenRouter's "No endpoints found" 404): the next model is tried.
 */
const UNAVAILABLE = new Set([404, 408, 410, 429]);

/** Maps an upstream's HTTP status and error text to the lifecycle's typed failure. */
export function classifyFailure(status: number, errorText: string): UpstreamFailure {
  const outcome = `status_${status}`;
  if (UNAVAILABLE.has(status) || status >= 500) return { kind: 'unavailable', outcome };
  // The gateway's own upstream credentials or funding: an operator problem, not the client's.
  if (status === 401 || status === 403 || status === 402) return { kind: 'unauthorized', outcome };
  if (CONTEXT_LENGTH.test(errorText)) return { kind: 'context_length', outcome: 'context_length' };
  return { kind: 'refused', outcome };
}

/**
 * How long a pooled connection may sit idle. Shorter than the idle limits of the load balancers
 * and NAT gateways in front of upstreams, so the pool rarely hands out one they dropped.
 */
const IDLE_SOCKET_MS = 15_000;

/** A pooled connection the upstream closed while it sat idle fails its first write this way. */
const STALE_SOCKET_CODES = new Set(['ECONNRESET', 'EPIPE']);

/**
 * A stale connection's reset comes back within a round trip of the request. One that comes later
 * may be an upstream that read the request and failed while serving it: that is not sent again
 * (it may be billed upstream), but fails the attempt, which is then recorded as such.
 */
const STALE_RESET_WINDOW_MS = 1_000;

/**
 * An OpenAI-compatible HTTP upstream over node:http(s) with a keep-alive pool of its own. The
 * response body is read as it arrives, as strings decoded once (no web-stream layer between the
 * socket and the SSE parser), which is most of a streamed chunk's cost.
 */
export class HttpUpstream implements Upstream {
  private readonly origin: URL;
  private readonly basePath: string;
  private readonly agent: HttpAgent;
  private readonly request: typeof httpRequest;

  constructor(private readonly options: HttpUpstreamOptions) {
    this.origin = new URL(options.baseUrl);
    this.basePath = this.origin.pathname.replace(/\/+$/, '');
    const secure = this.origin.protocol === 'https:';
    if (!secure && this.origin.protocol !== 'http:') {
      throw new Error(`the upstream base URL must be http(s), got ${this.origin.protocol}`);
    }
    // LIFO hands out the most recently used connection, the one least likely to have gone stale;
    // one idle longer than IDLE_SOCKET_MS (or the upstream's own Keep-Alive hint) is closed.
    const pool = {
      keepAlive: true,
      scheduling: 'lifo' as const,
      timeout: options.idleSocketMs ?? IDLE_SOCKET_MS,
    };
    this.agent = secure ? new HttpsAgent(pool) : new HttpAgent(pool);
    this.request = secure ? (httpsRequest as typeof httpRequest) : httpRequest;
  }

  async send(request: UpstreamRequest, signal: AbortSignal): Promise<UpstreamReply> {
    const apiKey = await this.options.apiKey();
    const payload = Buffer.from(JSON.stringify(request.body));
    const headers: Record<string, string | number> = {
      ...request.headers,
      'content-type': 'application/json',
      'content-length': payload.length,
      accept: request.body.stream === true ? 'text/event-stream' : 'application/json',
      ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}),
      ...(apiKey && request.auth === 'bearer+x-api-key' ? { 'x-api-key': apiKey } : {}),
    };
    const stream = request.body.stream === true;
    const { res, reader } = await this.post(
      `${this.basePath}${request.path}`,
      headers,
      payload,
      signal,
      true,
      stream,
    );
    // A reader sees a failed body through its iterator; one that already left (or never came,
    // as when an attempt is abandoned) must not see it as an unhandled error.
    res.on('error', () => {});
    const status = res.statusCode ?? 0;
    if (status >= 200 && status < 300) {
      return {
        ok: true,
        text: () => bodyText(res, Number.POSITIVE_INFINITY),
        events: () => ({ [Symbol.asyncIterator]: () => reader ?? new SseReader(res) }),
      };
    }
    const failure = classifyFailure(status, await bodyText(res, MAX_ERROR_TEXT_BYTES, true));
    if (failure.kind === 'unauthorized') this.options.onUnauthorized?.(apiKey);
    return { ok: false, failure };
  }

  /**
   * Resolves with the response head, and for a successful stream its event reader, attached at
   * once: the events that came with the head are then never lost to a connection that closes
   * before they are asked for (as while the request's hold is placed). A pooled connection found
   * closed is replaced, once.
   */
  private post(
    path: string,
    headers: Record<string, string | number>,
    payload: Buffer,
    signal: AbortSignal,
    retryStale: boolean,
    stream: boolean,
  ): Promise<{ res: IncomingMessage; reader?: SseReader }> {
    return new Promise((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason);
      const req = this.request(
        {
          protocol: this.origin.protocol,
          hostname: this.origin.hostname,
          port: this.origin.port,
          path,
          method: 'POST',
          headers,
          agent: this.agent,
        },
        (res) => {
          response = res;
          const status = res.statusCode ?? 0;
          const reader = stream && status >= 200 && status < 300 ? new SseReader(res) : undefined;
          // Once the body is in or given up, an abort no longer touches the connection.
          res.once('close', () => signal.removeEventListener('abort', onAbort));
          resolve({ res, ...(reader ? { reader } : {}) });
        },
      );
      let response: IncomingMessage | undefined;
      const sentAt = Date.now();
      // An abort ends the exchange at once, before or during the body: the connection is closed.
      const onAbort = (): void => {
        if (response) response.destroy();
        else req.destroy(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      req.on('error', (err: NodeJS.ErrnoException) => {
        // No response came on a reused connection, at once: almost always one the upstream closed
        // while it sat idle, before reading the request. It is sent again, once, on a new
        // connection. After the response head, a reset is the body's failure, not a stale socket.
        if (
          retryStale &&
          response === undefined &&
          req.reusedSocket &&
          STALE_SOCKET_CODES.has(err.code ?? '') &&
          Date.now() - sentAt < STALE_RESET_WINDOW_MS &&
          !signal.aborted
        ) {
          signal.removeEventListener('abort', onAbort);
          resolve(this.post(path, headers, payload, signal, false, stream));
        } else reject(err);
      });
      req.setNoDelay(true);
      req.end(payload);
    });
  }
}

/**
 * A reader that stopped at the stream's end marker leaves only the body's terminator unread: it
 * is drained, so the connection goes back to the pool, unless it takes longer than this.
 */
const DRAIN_MS = 2_000;

/** Decoded text held for a reader that has not caught up, before the response is paused. */
const MAX_UNREAD_CHARS = 16 * 1024;

/**
 * The server-sent events of a response as they arrive. A consumer that stops early either
 * aborts the request (a cancelled attempt: the connection is closed at once) or has read what
 * it needed, and the rest is drained for the connection's reuse.
 *
 * The body is read in flowing mode, each piece parsed as it comes: a reader waiting for the next
 * event is handed it by the 'data' listener itself, with no stream iterator or generator between
 * the socket and the reader (the largest part of a streamed chunk's cost). A reader that falls
 * behind by more than MAX_UNREAD_CHARS pauses the response until it catches up.
 */
class SseReader implements UpstreamEventIterator {
  private readonly parser = new SseParser();
  private queue: UpstreamEvent[] = [];
  private head = 0;
  private unread = 0;
  /** The body ended (null), failed (the error), or is still coming (undefined). */
  private outcome: Error | null | undefined;
  private waiter:
    | { resolve: (r: IteratorResult<UpstreamEvent>) => void; reject: (err: unknown) => void }
    | undefined;
  private released = false;
  private readonly stopWatching: () => void;

  constructor(private readonly res: IncomingMessage) {
    res.setEncoding('utf8');
    res.on('data', this.onData);
    // An error, or a close before the end (a cut connection), fails the reader after the events
    // that arrived whole; the end flushes a last event that had no blank line.
    this.stopWatching = finished(res, { writable: false }, (err) => {
      if (err) this.settle(err);
      else {
        this.enqueue(this.parser.end());
        this.settle(null);
      }
    });
  }

  private readonly onData = (text: string): void => {
    this.enqueue(this.parser.push(text));
    if (this.unread > MAX_UNREAD_CHARS) this.res.pause();
  };

  private enqueue(events: UpstreamEvent[]): void {
    for (const event of events) {
      const waiter = this.waiter;
      if (waiter) {
        this.waiter = undefined;
        waiter.resolve({ value: event, done: false });
      } else {
        this.queue.push(event);
        this.unread += event.data.length;
      }
    }
  }

  private settle(outcome: Error | null): void {
    if (this.outcome !== undefined) return;
    this.outcome = outcome;
    const waiter = this.waiter;
    if (!waiter) return;
    this.waiter = undefined;
    if (outcome) waiter.reject(outcome);
    else waiter.resolve({ value: undefined, done: true });
  }

  /**
   * An event already read (with the last one handed out, in the same upstream read), without a
   * promise; undefined when the next must be waited for with `next`.
   */
  takeBuffered(): UpstreamEvent | undefined {
    if (this.head >= this.queue.length) return undefined;
    const event = this.queue[this.head++] as UpstreamEvent;
    this.unread -= event.data.length;
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    }
    if (this.res.isPaused() && this.unread <= MAX_UNREAD_CHARS && this.outcome === undefined)
      this.res.resume();
    return event;
  }

  next(): Promise<IteratorResult<UpstreamEvent>> {
    const event = this.takeBuffered();
    if (event !== undefined) return Promise.resolve({ value: event, done: false });
    if (this.released) return Promise.resolve({ value: undefined, done: true });
    if (this.outcome === null) {
      this.release();
      return Promise.resolve({ value: undefined, done: true });
    }
    if (this.outcome) {
      const err = this.outcome;
      this.release();
      return Promise.reject(err);
    }
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  return(): Promise<IteratorResult<UpstreamEvent>> {
    this.release();
    return Promise.resolve({ value: undefined, done: true });
  }

  /**
   * The reader is done: a read that waits ends, and what is left of the body is drained for the
   * connection's reuse.
   */
  private release(): void {
    if (this.released) return;
    this.released = true;
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.resolve({ value: undefined, done: true });
    this.queue = [];
    this.head = 0;
    this.res.off('data', this.onData);
    this.stopWatching();
    if (!this.res.complete) drain(this.res);
  }
}

function drain(res: IncomingMessage): void {
  const timer = setTimeout(() => res.destroy(), DRAIN_MS);
  timer.unref();
  res.once('close', () => clearTimeout(timer));
  res.resume();
}

/**
 * The body as text, up to about `limit` characters; what is left is not read. A body cut short
 * rejects, unless `partial` asks for what arrived (an error text still classifies on it).
 */
async function bodyText(res: IncomingMessage, limit: number, partial = false): Promise<string> {
  res.setEncoding('utf8');
  let text = '';
  try {
    for await (const part of res) {
      text += part as string;
      if (text.length >= limit) break;
    }
  } catch (err) {
    if (!partial) throw err;
  } finally {
    if (!res.complete) res.destroy();
  }
  return text;
}
