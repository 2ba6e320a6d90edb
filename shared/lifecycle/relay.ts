import { asGatewayError, type GatewayError, upstreamError, upstreamTimeout } from '../domain/errors.js';
import { type FrameSink, type HttpResponse, jsonResponse, type Log, type PushBody } from '../http.js';
import type { UpstreamEvent, UpstreamEventIterator } from '../ports.js';
import { type Attempt, AttemptFailed, type Attempts, asAttemptFailure, TimeLimit } from './attempts.js';
import type { Exchange } from './dialect.js';
import type { Meter } from './metering.js';

export interface RelayInit {
  attempts: Attempts;
  meter: Meter;
  /** A fresh exchange (the dialect's framing state) for an attempt. */
  exchange: () => Exchange;
  requestId: string;
  startedAt: number;
  deadline: number;
  streamContentType: string;
  log: Log;
  now: () => number;
}

/** A stream reads ahead of a slow client by at most this many bytes of frames, then waits for it. */
const MAX_QUEUED_BYTES = 8 * 1024 * 1024;

function served(init: RelayInit, attempt: Attempt, exchange: Exchange): void {
  const { meter } = init;
  meter.served = attempt.model;
  // Never negative, should the clock step back: the usage event's schema refuses a negative time.
  meter.ttftMs = Math.max(0, init.now() - init.startedAt);
  meter.usage = () => exchange.usage();
  meter.partialUsage = () => exchange.partialUsage?.();
  meter.generated = () => exchange.generatedText();
  meter.opaqueOutput = () => exchange.opaqueOutputTokens?.() ?? 0;
}

/** A non-streaming attempt: the whole upstream body, recorded, then the client's body. */
export async function relayBody(init: RelayInit, attempt: Attempt): Promise<HttpResponse> {
  const reply = await init.attempts.opened(attempt);
  const limit = new TimeLimit(attempt, init.deadline - init.now());
  const text = await limit
    .within(reply.text())
    .catch((err: unknown) => {
      throw asAttemptFailure(err);
    })
    .finally(() => limit.clear());
  const exchange = init.exchange();
  if (!exchange.complete(text)) throw new AttemptFailed('malformed_response', upstreamError());
  served(init, attempt, exchange);
  const billed = await init.meter.finish('ok');
  return jsonResponse(200, exchange.body(billed));
}

/**
 * A streaming attempt: waits for the first content event (until then another model may still
 * serve), then relays the rest as it arrives.
 */
export async function relayStream(init: RelayInit, attempt: Attempt): Promise<HttpResponse> {
  // One timer for the whole wait for first content: the reply, then every event until content.
  const limit = init.attempts.firstContentLimit(attempt);
  let events: UpstreamEventIterator;
  const exchange = init.exchange();
  const firstFrames: string[] = [];
  try {
    const reply = await init.attempts.opened(attempt, limit);
    events = reply.events()[Symbol.asyncIterator]();
    for (let content = false; !content; ) {
      let next: IteratorResult<UpstreamEvent>;
      try {
        next = await limit.within(events.next());
      } catch (err) {
        throw asAttemptFailure(err);
      }
      if (next.done) throw new AttemptFailed('empty_stream', upstreamError());
      const out = exchange.event(next.value);
      if (out.end === 'failed') throw new AttemptFailed('upstream_error_frame', upstreamError());
      if (out.end === 'done' && !out.content) throw new AttemptFailed('empty_stream', upstreamError());
      firstFrames.push(...out.frames);
      content = out.content;
    }
  } finally {
    limit.clear();
  }
  served(init, attempt, exchange);
  const relay = new StreamRelay(init, attempt, exchange, events, firstFrames);
  return {
    status: 200,
    headers: { 'content-type': init.streamContentType, 'cache-control': 'no-cache' },
    body: relay,
    cancel: () => relay.cancel(),
  };
}

/**
 * Relays a stream. The upstream is read by a pump of its own, not at the client's pace, so the
 * request is metered when the upstream ends, whatever the client does: a client that stalls
 * cannot hold the usage back past the deadline, and one that leaves is billed for what was
 * generated. The deadline stops the upstream and meters at once.
 *
 * A writer that takes frames as they come calls `pushTo`: the pump then writes the frames of each
 * upstream read straight to the sink, in one write, with no promise or tick in between; when the
 * sink is full they queue until it drains. Otherwise the relay is the body's iterator: a read
 * takes every frame queued since the last one, in one string; a read that finds none waits, and
 * is answered once the pump has handled what the upstream sent in one read. A consumer that
 * leaves before the end (return) cancels.
 */
class StreamRelay implements PushBody, AsyncIterableIterator<string> {
  private queue: string[];
  private queuedBytes = 0;
  /** A read waiting for frames. */
  private reader: ((result: IteratorResult<string>) => void) | undefined;
  /** The consumer read to the end, or left: reads end. */
  private finishedReading = false;
  /** An answer to the waiting read is scheduled. */
  private answering = false;
  /** Where frames are pushed, once a writer asked for them (then nothing reads). */
  private sink: FrameSink | undefined;
  /** The sink is full: frames queue until it drains. */
  private full = false;
  /** The sink got its end, or its client left: nothing more goes to it. */
  private sinkDone = false;
  private resume: (() => void) | undefined;
  /** No frame will be added any more. */
  private closed = false;
  /** The upstream is no longer read (ended, failed, timed out, or the client left). */
  private stopped = false;
  private readonly deadlineTimer: NodeJS.Timeout;

  constructor(
    private readonly init: RelayInit,
    private readonly attempt: Attempt,
    private readonly exchange: Exchange,
    events: UpstreamEventIterator,
    firstFrames: string[],
  ) {
    this.queue = firstFrames;
    this.deadlineTimer = setTimeout(
      () => void this.fail(new AttemptFailed('timeout', upstreamTimeout())),
      Math.max(0, init.deadline - init.now()),
    );
    void this.pump(events);
  }

  private add(frames: string[]): void {
    for (const frame of frames) {
      this.queue.push(frame);
      this.queuedBytes += frame.length;
    }
  }

  /** Hands on the frames queued so far: to the sink at once, or to a waiting read. */
  private flush(): void {
    if (this.sink) this.pushQueued();
    else if (this.queue.length > 0) this.answerSoon();
  }

  private close(): void {
    this.closed = true;
    this.stopped = true;
    clearTimeout(this.deadlineTimer);
    this.resume?.();
    if (this.sink) this.pushQueued();
    else this.answerSoon();
  }

  /** Writes the queued frames to the sink in one write, unless it is full; ends it once closed. */
  private pushQueued(): void {
    const sink = this.sink as FrameSink;
    if (this.full || this.sinkDone) return;
    if (this.queue.length > 0 && !sink.write(this.take())) {
      this.full = true;
      sink.waitDrain(this.drained);
      return;
    }
    if (this.closed) {
      this.sinkDone = true;
      sink.end();
    }
  }

  private readonly drained = (): void => {
    this.full = false;
    this.pushQueued();
  };

  pushTo(sink: FrameSink): void {
    this.sink = sink;
    this.pushQueued();
  }

  /**
   * Answers a waiting read once the pump has handled every event already read from upstream
   * (they come in microtasks; this runs after them). Frames that arrived in one read from
   * upstream so leave in one write, one syscall, rather than one write each.
   */
  private answerSoon(): void {
    if (this.reader === undefined || this.answering) return;
    this.answering = true;
    process.nextTick(this.answer);
  }

  private readonly answer = (): void => {
    this.answering = false;
    const reader = this.reader;
    if (reader === undefined) return;
    if (this.queue.length > 0) {
      this.reader = undefined;
      reader({ value: this.take(), done: false });
    } else if (this.closed) {
      this.reader = undefined;
      this.finishedReading = true;
      reader({ value: undefined, done: true });
    }
  };

  /** Every queued frame, in one string. */
  private take(): string {
    const frames = this.queue;
    this.queue = [];
    this.queuedBytes = 0;
    this.resume?.();
    return frames.length === 1 ? (frames[0] as string) : frames.join('');
  }

  private async pump(events: UpstreamEventIterator): Promise<void> {
    const buffered = events.takeBuffered?.bind(events);
    let sawEnd = false;
    try {
      while (!this.stopped) {
        if (this.queuedBytes > MAX_QUEUED_BYTES) {
          await new Promise<void>((resolve) => {
            this.resume = resolve;
          });
          this.resume = undefined;
          continue;
        }
        const next = await events.next();
        if (this.stopped) return;
        if (next.done) break;
        // With it, the events that came in the same upstream read: their frames leave together.
        let event: UpstreamEvent | undefined = next.value;
        let end: 'done' | 'failed' | undefined;
        while (event !== undefined) {
          const out = this.exchange.event(event);
          this.add(out.frames);
          end = out.end;
          event = end === undefined ? buffered?.() : undefined;
        }
        this.flush();
        if (end === 'failed') throw upstreamError();
        if (end === 'done') {
          sawEnd = true;
          break;
        }
      }
      if (this.stopped) return;
      // A stream that stops without its end marker and without usage was cut off upstream.
      if (!sawEnd && !this.exchange.endedCleanly()) throw upstreamError();
      this.stopped = true;
      const billed = await this.init.meter.finish('ok');
      this.add(this.exchange.endFrames(billed));
      this.close();
    } catch (err) {
      await this.fail(err);
    } finally {
      events.return?.().catch(() => {});
    }
  }

  /** Ends the stream with an error frame, after recording the request. */
  private async fail(err: unknown): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.attempt.abort();
    const failure: GatewayError =
      err instanceof AttemptFailed
        ? err.gatewayError
        : asGatewayError(err).code === 'internal_error'
          ? upstreamError(err)
          : asGatewayError(err);
    this.init.log.warn('stream failed after first byte', {
      requestId: this.init.requestId,
      code: failure.code,
    });
    await this.init.meter.finish(
      failure.code === 'upstream_timeout' ? 'timeout' : 'upstream_error',
      failure.code,
    );
    // Ends without the success marker, so the client can tell the answer is truncated.
    this.add([this.exchange.errorFrame(failure)]);
    this.close();
  }

  /**
   * The client went away (possibly before reading a byte): stop upstream now and record what was
   * generated. After the request was recorded it changes nothing.
   */
  cancel(): Promise<void> {
    if (!this.stopped) {
      this.attempt.abort();
      this.init.log.info('client disconnected', { requestId: this.init.requestId });
    }
    // Nothing more is written to a sink whose client left.
    this.sinkDone = true;
    // No frame comes any more: a read that waits ends, and so does every later one.
    this.close();
    return this.init.meter.finish('client_disconnected', 'client_disconnected').then(() => {});
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<string>> {
    if (this.finishedReading) return Promise.resolve({ value: undefined, done: true });
    if (this.queue.length > 0) return Promise.resolve({ value: this.take(), done: false });
    if (this.closed) {
      this.finishedReading = true;
      return Promise.resolve({ value: undefined, done: true });
    }
    return new Promise((resolve) => {
      this.reader = resolve;
    });
  }

  /** The consumer left before the end: the client disconnected. */
  async return(): Promise<IteratorResult<string>> {
    if (!this.finishedReading) {
      this.finishedReading = true;
      const reader = this.reader;
      this.reader = undefined;
      reader?.({ value: undefined, done: true });
      await this.cancel();
    }
    return { value: undefined, done: true };
  }

  /** An error thrown in by the consumer (as Readable.from does on destroy): it left. */
  async throw(err?: unknown): Promise<IteratorResult<string>> {
    await this.return();
    throw err;
  }
}
