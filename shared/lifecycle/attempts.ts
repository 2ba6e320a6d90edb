import type { Tier, UpstreamModel } from '../domain/catalog.js';
import { type GatewayError, invalidRequest, upstreamError, upstreamTimeout } from '../domain/errors.js';
import type { HttpResponse, Log } from '../http.js';
import type { Upstream, UpstreamFailure, UpstreamReply, UpstreamRequest } from '../ports.js';
import type { CircuitBreaker } from './circuit-breaker.js';
import type { Meter } from './metering.js';

/** A failure of one attempt before the client got a byte: the next model may serve instead. */
export class AttemptFailed extends Error {
  constructor(
    readonly outcome: string,
    readonly gatewayError: GatewayError,
  ) {
    super(outcome);
  }
}

export interface Attempt {
  model: UpstreamModel;
  outputCap: number;
  startedAt: number;
  reply: Promise<UpstreamReply>;
  signal: AbortSignal;
  abort(): void;
}

export interface AttemptsDeps {
  upstream: Upstream;
  breaker: CircuitBreaker;
  log: Log;
  now: () => number;
}

export interface AttemptsInit {
  tier: Tier;
  /** Upstream models in the order they may serve this request. */
  candidates: UpstreamModel[];
  requestId: string;
  /** Epoch ms by which the request must be finished. */
  deadline: number;
  upstreamRequest: (model: UpstreamModel, outputCap: number) => UpstreamRequest;
  meter: Meter;
}

/** Serves one attempt: a response for the client, or an AttemptFailed before its first byte. */
export type Serve = (attempt: Attempt) => Promise<HttpResponse>;

/** The gateway error a typed upstream failure becomes, when no other model can help. */
function failureError(failure: UpstreamFailure): GatewayError {
  switch (failure.kind) {
    case 'unavailable':
    case 'unauthorized':
      return upstreamError();
    case 'context_length':
      return invalidRequest(
        "The request exceeds this tier's context window. Shorten the messages.",
        'messages',
      );
    case 'refused':
      // The upstream refused the request as formed; say so without its words, which may name the model.
      return invalidRequest(
        'The request was rejected as invalid for this tier (for example an unsupported parameter).',
      );
  }
}

/**
 * The attempts of one admitted request: model by model (fallback and circuit breaker), each
 * within the time-to-first-token budget and the request's deadline, until one serves.
 */
export class Attempts {
  constructor(
    private readonly deps: AttemptsDeps,
    private readonly init: AttemptsInit,
  ) {}

  start(index: number, outputCap: number): Attempt {
    const model = this.init.candidates[index] as UpstreamModel;
    const controller = new AbortController();
    const reply = this.deps.upstream.send(this.init.upstreamRequest(model, outputCap), controller.signal);
    reply.catch(() => {});
    return {
      model,
      outputCap,
      startedAt: this.deps.now(),
      reply,
      signal: controller.signal,
      abort: () => controller.abort(new Error('attempt abandoned')),
    };
  }

  /** The limit of an attempt's first content: its first-token budget, within the deadline. */
  firstContentLimit(attempt: Attempt): TimeLimit {
    const { tier, deadline } = this.init;
    const now = this.deps.now();
    return new TimeLimit(attempt, Math.min(tier.ttftTimeoutMs - (now - attempt.startedAt), deadline - now));
  }

  /**
   * The attempt's successful reply within its first-content limit (one made for the call unless
   * given, to go on serving the caller's next waits), or an AttemptFailed.
   */
  async opened(attempt: Attempt, limit?: TimeLimit): Promise<Extract<UpstreamReply, { ok: true }>> {
    const own = limit ?? this.firstContentLimit(attempt);
    let reply: UpstreamReply;
    try {
      reply = await own.within(attempt.reply);
    } catch (err) {
      throw asAttemptFailure(err);
    } finally {
      if (own !== limit) own.clear();
    }
    if (reply.ok) return reply;
    throw new AttemptFailed(reply.failure.outcome, failureError(reply.failure));
  }

  /** Tries the candidates in order (the first may already be under way) until one serves. */
  async run(first: Attempt | undefined, outputCap: number, serve: Serve): Promise<HttpResponse> {
    const { candidates, meter } = this.init;
    // Made only when no model served: an error's stack trace costs more than serving a chunk.
    let lastError: GatewayError | undefined;
    for (let index = 0; index < candidates.length; index++) {
      if (this.deps.now() >= this.init.deadline) {
        first?.abort();
        lastError = upstreamTimeout();
        break;
      }
      const attempt = index === 0 && first ? first : this.start(index, outputCap);
      meter.current = attempt.model;
      try {
        const response = await serve(attempt);
        this.deps.breaker.record(attempt.model.id, true);
        return response;
      } catch (err) {
        attempt.abort();
        if (!(err instanceof AttemptFailed)) {
          await meter.finish('upstream_error', 'internal_error');
          throw err;
        }
        meter.attempts.push({
          model: attempt.model.id,
          outcome: err.outcome,
          ms: Math.max(0, this.deps.now() - attempt.startedAt),
        });
        if (PROMPT_READ.has(err.outcome)) meter.promptAbandoned(attempt.model);
        lastError = err.gatewayError;
        this.deps.log.warn('upstream attempt failed', {
          requestId: this.init.requestId,
          attempt: index,
          outcome: err.outcome,
          ...(err.cause ? { cause: String((err.cause as Error).message ?? err.cause).slice(0, 200) } : {}),
        });
        if (lastError.status >= 500) {
          this.deps.breaker.record(attempt.model.id, false);
          continue;
        }
        // Too long for this model: only a model with a larger context window can help.
        const next = candidates[index + 1];
        const larger = (next?.contextWindow ?? 0) > (attempt.model.contextWindow ?? Number.POSITIVE_INFINITY);
        if (err.outcome === 'context_length' && larger) continue;
        break; // the request itself was refused: another model would refuse it too
      }
    }
    lastError ??= upstreamError();
    await meter.finish(lastError.code === 'upstream_timeout' ? 'timeout' : 'upstream_error', lastError.code);
    throw lastError;
  }
}

/**
 * Attempt outcomes after which the upstream had the prompt and may bill it: it timed out, or it
 * accepted the request and then answered with nothing, an error frame or a broken body. A refusal
 * by status or a connection that failed is not billed.
 */
const PROMPT_READ = new Set(['timeout', 'empty_stream', 'upstream_error_frame', 'malformed_response']);

/** A network error or timeout before the first byte, as an attempt failure. */
export function asAttemptFailure(err: unknown): AttemptFailed {
  if (err instanceof AttemptFailed) return err;
  const failed = new AttemptFailed('connection_error', upstreamError(err));
  failed.cause = err;
  return failed;
}

/**
 * A time limit for the waits of one attempt (its first-token budget, or its deadline): one timer,
 * however many waits it covers. A wait still pending when it is reached rejects as a timeout
 * AttemptFailed, settled before the attempt is aborted so the abort's own rejection cannot win;
 * once reached, every later wait rejects at once. `clear` stops the timer when no wait is left.
 */
export class TimeLimit {
  private timer: NodeJS.Timeout | undefined;
  private reached = false;
  /** Fails the wait under way, if any. */
  private failWait: ((err: AttemptFailed) => void) | undefined;

  constructor(
    private readonly attempt: Attempt,
    ms: number,
  ) {
    if (ms <= 0) this.reached = true;
    else this.timer = setTimeout(this.expire, ms);
  }

  private readonly expire = (): void => {
    this.reached = true;
    this.timer = undefined;
    const failWait = this.failWait;
    this.failWait = undefined;
    failWait?.(new AttemptFailed('timeout', upstreamTimeout()));
    this.attempt.abort();
  };

  /** What `promise` settles with, if it does within the limit; else a timeout AttemptFailed. */
  within<T>(promise: Promise<T>): Promise<T> {
    if (this.reached) {
      // The abort may reject `promise` (a read already waiting): that rejection is expected here.
      promise.catch(() => {});
      this.attempt.abort();
      return Promise.reject(new AttemptFailed('timeout', upstreamTimeout()));
    }
    return new Promise<T>((resolve, reject) => {
      this.failWait = reject;
      promise.then(
        (value) => {
          this.failWait = undefined;
          resolve(value);
        },
        (err: unknown) => {
          this.failWait = undefined;
          reject(err);
        },
      );
    });
  }

  clear(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
