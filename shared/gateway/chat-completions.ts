import { randomBytes } from 'node:crypto';
import { parseChatRequest } from '../dialects/openai-chat/request.js';
import {
  generatedChars,
  type Identity,
  readUsage,
  sanitizeChunk,
  sanitizeCompletion,
  type Usage,
} from '../dialects/openai-chat/response.js';
import { type Catalog, TIER_IDS, type Tier, type UpstreamModel } from '../domain/catalog.js';
import { utcDay } from '../domain/clock.js';
import {
  asGatewayError,
  budgetExceeded,
  dailySpendLimit,
  type GatewayError,
  insufficientQuota,
  invalidRequest,
  rateLimited,
  upstreamError,
  upstreamTimeout,
} from '../domain/errors.js';
import { parseJsonObject } from '../domain/json-body.js';
import { maxOutputTokensWithin, priceTokens } from '../domain/money.js';
import { SSE_DONE, sseFrame } from '../domain/sse.js';
import { ToolCallIds } from '../domain/tool-call-ids.js';
import type { UsageRecord, UsageStatus } from '../domain/usage.js';
import { errorResponse, type HttpRequest, type HttpResponse, jsonResponse, type Log } from '../http.js';
import type {
  ApiKeyRecord,
  GuardrailReader,
  HoldRequest,
  RateDecision,
  RateLimiter,
  RateLimits,
  Upstream,
  UpstreamResponse,
  UsagePublisher,
  WalletStore,
} from '../ports.js';
import type { Authenticator } from './auth.js';
import { CircuitBreaker } from './circuit-breaker.js';

/** Below this many affordable output tokens a request is refused with insufficient_quota. */
export const MIN_OUTPUT_TOKENS = 16;

/** Input tokens held for each image, audio or file part on top of the body's byte length. */
export const MEDIA_PART_TOKEN_ALLOWANCE = 4_000;

export interface CompletionsDeps {
  auth: Authenticator;
  /** The active catalog, cached by the caller for at most 30 s. */
  catalog: () => Promise<Catalog>;
  wallet: WalletStore;
  usage: UsagePublisher;
  guardrail: GuardrailReader;
  upstream: Upstream;
  /** Counts requests and tokens per minute for keys that have limits. */
  rateLimiter?: RateLimiter;
  breaker?: CircuitBreaker;
  /** Seals upstream tool-call ids for clients and opens them on the way back. */
  toolCallIds?: () => Promise<ToolCallIds>;
  log: Log;
  now?: () => number;
}

/** OpenAI's rate-limit headers for a key with limits. */
function rateHeaders(limits: RateLimits, decision: RateDecision): Record<string, string> {
  const reset = `${decision.resetSeconds}s`;
  return {
    ...(limits.rpm !== undefined
      ? {
          'x-ratelimit-limit-requests': String(limits.rpm),
          'x-ratelimit-remaining-requests': String(decision.remainingRequests ?? 0),
          'x-ratelimit-reset-requests': reset,
        }
      : {}),
    ...(limits.tpm !== undefined
      ? {
          'x-ratelimit-limit-tokens': String(limits.tpm),
          'x-ratelimit-remaining-tokens': String(decision.remainingTokens ?? 0),
          'x-ratelimit-reset-tokens': reset,
        }
      : {}),
  };
}

const limitsOf = (key: ApiKeyRecord): RateLimits | undefined =>
  key.rpm === undefined && key.tpm === undefined
    ? undefined
    : {
        ...(key.rpm !== undefined ? { rpm: key.rpm } : {}),
        ...(key.tpm !== undefined ? { tpm: key.tpm } : {}),
      };

export interface RequestContext {
  requestId: string;
  /** Epoch ms by which the request must be finished (the function's own timeout less a margin). */
  deadline: number;
}

/** Rough token count of generated text when the upstream sent no usage: ~4 characters a token. */
const estimateTokens = (chars: number): number => Math.ceil(chars / 4);

/** A failure of one upstream attempt before the first byte: the next model may serve instead. */
class AttemptFailed extends Error {
  constructor(
    readonly outcome: string,
    readonly gatewayError: GatewayError,
  ) {
    super(outcome);
  }
}

/**
 * POST /v1/chat/completions as a lifecycle: admission (auth, validation, guardrail, wallet hold),
 * upstream (tried model by model until one produces a first byte), stream or body, and
 * completion (exactly one usage event per admitted request).
 */
export class ChatCompletions {
  /** Last balance seen short per account: such accounts hold before calling upstream. */
  private readonly lowBalance = new Map<string, number>();
  private readonly now: () => number;
  private readonly breaker: CircuitBreaker;
  private readonly toolCallIds: () => Promise<ToolCallIds>;

  constructor(private readonly deps: CompletionsDeps) {
    this.now = deps.now ?? Date.now;
    this.breaker = deps.breaker ?? new CircuitBreaker({ now: this.now });
    const ephemeral = new ToolCallIds(randomBytes(32));
    this.toolCallIds = deps.toolCallIds ?? (async () => ephemeral);
  }

  async handle(req: HttpRequest, ctx: RequestContext): Promise<HttpResponse> {
    try {
      return await this.admitAndServe(req, ctx);
    } catch (err) {
      const gatewayError = asGatewayError(err);
      if (gatewayError.status >= 500) {
        this.deps.log.error('request failed', {
          requestId: ctx.requestId,
          code: gatewayError.code,
          err: describe(err),
        });
      }
      return errorResponse(gatewayError, ctx.requestId);
    }
  }

  private async admitAndServe(req: HttpRequest, ctx: RequestContext): Promise<HttpResponse> {
    const startedAt = this.now();
    // Auth, catalog and guardrail are cached reads; start them together and parse meanwhile.
    const keyP = this.deps.auth.authenticate(req.headers.authorization);
    const catalogP = this.deps.catalog();
    const guardrailP = this.deps.guardrail.state();
    const toolIdsP = this.toolCallIds();
    for (const p of [keyP, catalogP, guardrailP, toolIdsP]) p.catch(() => {});
    let parsed: ReturnType<typeof parseChatRequest> | undefined;
    let badRequest: unknown;
    try {
      parsed = parseChatRequest(parseJsonObject(req.body));
    } catch (err) {
      badRequest = err;
    }
    const key = await keyP; // an invalid key is a 401 even when the body is also bad
    if (badRequest !== undefined || !parsed) throw badRequest;
    const [catalog, guardrail, toolIds] = await Promise.all([catalogP, guardrailP, toolIdsP]);
    // Tool-call ids the client got from us go back upstream as the upstream minted them.
    toolIds.openInMessages(parsed.passThrough.messages);
    if (guardrail.tripped) {
      throw dailySpendLimit(Math.max(1, Math.ceil((guardrail.resetsAt - this.now()) / 1000)));
    }
    const tier = catalog.tiers[parsed.tier];
    const identity: Identity = {
      id: `chatcmpl-${ctx.requestId}`,
      tier: tier.id,
      created: Math.floor(startedAt / 1000),
      toolCallId: (upstreamId) => toolIds.seal(upstreamId),
    };
    const headers = {
      'x-request-id': ctx.requestId,
      'x-tier': tier.id,
      'x-tier-catalog-version': String(catalog.version),
    };
    const cap = Math.min(parsed.requestedMaxTokens ?? tier.maxOutputTokens, tier.maxOutputTokens);
    // UTF-8 bytes bound a text prompt's tokens from above; a part that references media by URL
    // (image, audio, file) is a few bytes for many tokens, so each gets an allowance on top.
    const inputBound = req.bodyBytes + parsed.mediaParts * MEDIA_PART_TOKEN_ALLOWANCE;
    const run = new RequestRun(this.deps, this.now, this.breaker, {
      key,
      tier,
      candidates: this.candidates(catalog, tier),
      catalogVersion: catalog.version,
      requestId: ctx.requestId,
      startedAt,
      deadline: Math.min(ctx.deadline, startedAt + tier.totalTimeoutMs),
      stream: parsed.stream,
      includeUsage: parsed.includeUsage,
      choices: parsed.choices,
      passThrough: parsed.passThrough,
      useCompletionTokensParam: parsed.usesCompletionTokens,
      inputBound,
      messages: parsed.passThrough.messages,
      identity,
    });

    // Hold and first upstream call run concurrently, so a funded account pays no storage round
    // trip before its first token; nothing is forwarded until the hold has succeeded.
    // The rate-limit count runs alongside, too: it is a separate update so that it can return the
    // count for the x-ratelimit-* headers, which a transaction cannot.
    const optimistic = this.lowBalance.has(key.accountId) ? undefined : run.startAttempt(0, cap);
    // Let the upstream request reach its socket before the SDK's signing work takes the CPU.
    if (optimistic) await new Promise<void>((resolve) => setImmediate(resolve));
    const limits = limitsOf(key);
    const rateP = limits
      ? this.deps.rateLimiter?.consume(key.keyId, limits, estimateTokens(inputBound) + cap * parsed.choices)
      : undefined;
    const holdP = this.placeHold(run, key, tier, cap, inputBound, parsed.choices);
    const [rate, hold] = await Promise.allSettled([rateP, holdP]);
    const limitHeaders =
      limits && rate.status === 'fulfilled' && rate.value ? rateHeaders(limits, rate.value) : {};
    const rateRefused = rate.status === 'rejected' || rate.value?.allowed === false;
    if (hold.status === 'rejected' || rateRefused) {
      optimistic?.abort();
      if (hold.status === 'fulfilled') {
        // Held, then refused by the rate limit: a zero-charge usage event releases the hold.
        run.admitted(hold.value.holdMicros, hold.value.outputCap);
        await run.finish('rejected', 'rate_limit_exceeded');
      }
      if (rate.status === 'rejected') throw rate.reason;
      const refusal =
        rate.value?.allowed === false
          ? rateLimited(rate.value.resetSeconds)
          : asGatewayError((hold as PromiseRejectedResult).reason);
      Object.assign(refusal.headers, limitHeaders);
      throw refusal;
    }
    const admission = hold.value;
    run.admitted(admission.holdMicros, admission.outputCap);
    const first = optimistic && admission.outputCap === cap ? optimistic : undefined;
    if (optimistic && !first) optimistic.abort();
    return run.serve(first, { ...headers, ...limitHeaders });
  }

  /**
   * The models to try, in order: the tier's, skipping those whose circuit is open, then, when the
   * catalog allows escalation, the next tier's. Never empty: if every circuit is open, all are tried.
   */
  private candidates(catalog: Catalog, tier: Tier): UpstreamModel[] {
    const index = TIER_IDS.indexOf(tier.id);
    const next = tier.escalateToNextTier ? TIER_IDS[index + 1] : undefined;
    const all = [...tier.models, ...(next ? catalog.tiers[next].models : [])];
    const open = all.filter((m) => this.breaker.allows(m.id));
    return open.length > 0 ? open : all;
  }

  private async placeHold(
    run: RequestRun,
    key: ApiKeyRecord,
    tier: Tier,
    requestedCap: number,
    inputBound: number,
    choices: number,
  ): Promise<{ holdMicros: number; outputCap: number }> {
    let cap = requestedCap;
    for (let attempt = 0; attempt < 3; attempt++) {
      const holdMicros = priceTokens(tier.price, inputBound, cap * choices);
      const result = await this.deps.wallet.placeHold(run.holdRequest(holdMicros));
      if (result.ok) {
        this.lowBalance.delete(key.accountId);
        return { holdMicros, outputCap: cap };
      }
      if (result.reason === 'no_wallet') throw insufficientQuota();
      if (result.reason === 'budget') throw budgetExceeded(result.scope);
      this.lowBalance.set(key.accountId, result.balanceMicros);
      // Lower the output cap to what the wallet covers, so the charge can never exceed the hold.
      const affordable = Math.floor(
        maxOutputTokensWithin(tier.price, inputBound, result.balanceMicros) / choices,
      );
      if (affordable < MIN_OUTPUT_TOKENS) throw insufficientQuota();
      cap = Math.min(cap, affordable);
    }
    throw insufficientQuota();
  }
}

interface RunInit {
  key: ApiKeyRecord;
  tier: Tier;
  /** Upstream models in the order they may serve this request. */
  candidates: UpstreamModel[];
  catalogVersion: number;
  requestId: string;
  startedAt: number;
  deadline: number;
  stream: boolean;
  includeUsage: boolean;
  choices: number;
  passThrough: Record<string, unknown>;
  useCompletionTokensParam: boolean;
  inputBound: number;
  /** Only read to estimate usage when the upstream sent none. */
  messages: unknown;
  identity: Identity;
}

interface Attempt {
  model: UpstreamModel;
  index: number;
  outputCap: number;
  startedAt: number;
  controller: AbortController;
  response: Promise<UpstreamResponse>;
  abort(): void;
}

/** One admitted request: its upstream attempts, its stream and its single usage record. */
class RequestRun {
  private holdMicros = 0;
  private outputCap = 0;
  private served: UpstreamModel | undefined;
  private usage: Usage | undefined;
  private outputChars = 0;
  private finishedChoice = false;
  private ttftMs: number | null = null;
  private readonly attempts: NonNullable<UsageRecord['attempts']> = [];
  private finished: Promise<void> | undefined;
  private current: Attempt | undefined;

  constructor(
    private readonly deps: CompletionsDeps,
    private readonly now: () => number,
    private readonly breaker: CircuitBreaker,
    private readonly init: RunInit,
  ) {}

  holdRequest(holdMicros: number): HoldRequest {
    const { key, tier, requestId, catalogVersion, startedAt } = this.init;
    const day = utcDay(startedAt);
    const budgets: NonNullable<HoldRequest['budgets']> = [];
    if (key.dailyBudgetMicros !== undefined)
      budgets.push({ scope: 'key', day, limitMicros: key.dailyBudgetMicros });
    if (key.accountDailyBudgetMicros !== undefined) {
      budgets.push({ scope: 'account', day, limitMicros: key.accountDailyBudgetMicros });
    }
    return {
      ...(budgets.length > 0 ? { budgets } : {}),
      accountId: key.accountId,
      keyId: key.keyId,
      requestId,
      tier: tier.id,
      catalogVersion,
      holdMicros,
      startedAt: new Date(startedAt).toISOString(),
    };
  }

  admitted(holdMicros: number, outputCap: number): void {
    this.holdMicros = holdMicros;
    this.outputCap = outputCap;
  }

  startAttempt(index: number, outputCap: number): Attempt {
    const model = this.init.candidates[index] as UpstreamModel;
    const controller = new AbortController();
    const body: Record<string, unknown> = {
      ...this.init.passThrough,
      model: model.id,
      [this.init.useCompletionTokensParam ? 'max_completion_tokens' : 'max_tokens']: outputCap,
    };
    if (this.init.stream) {
      body.stream = true;
      body.stream_options = { include_usage: true }; // always ask, so streams are billed on real usage
    }
    const response = this.deps.upstream.chat(body, controller.signal);
    response.catch(() => {});
    return {
      model,
      index,
      outputCap,
      startedAt: this.now(),
      controller,
      response,
      abort: () => controller.abort(new Error('attempt abandoned')),
    };
  }

  /** Tries the tier's models in order until one yields a first byte, then serves it. */
  async serve(first: Attempt | undefined, headers: Record<string, string>): Promise<HttpResponse> {
    const { candidates } = this.init;
    let lastError: GatewayError = upstreamError();
    for (let index = 0; index < candidates.length; index++) {
      if (this.now() >= this.init.deadline) {
        first?.abort();
        lastError = upstreamTimeout();
        break;
      }
      const attempt = index === 0 && first ? first : this.startAttempt(index, this.outputCap);
      this.current = attempt;
      try {
        const response = this.init.stream ? await this.openStream(attempt) : await this.complete(attempt);
        this.breaker.record(attempt.model.id, true);
        return { ...response, headers: { ...response.headers, ...headers } };
      } catch (err) {
        attempt.abort();
        if (!(err instanceof AttemptFailed)) {
          await this.finish('upstream_error', 'internal_error');
          throw err;
        }
        this.attempts.push({
          model: attempt.model.id,
          outcome: err.outcome,
          ms: this.now() - attempt.startedAt,
        });
        lastError = err.gatewayError;
        this.deps.log.warn('upstream attempt failed', {
          requestId: this.init.requestId,
          attempt: index,
          outcome: err.outcome,
        });
        if (lastError.status >= 500) {
          this.breaker.record(attempt.model.id, false);
          continue;
        }
        // Too long for this model: only a model with a larger context window can help.
        const next = candidates[index + 1];
        const larger = (next?.contextWindow ?? 0) > (attempt.model.contextWindow ?? Number.POSITIVE_INFINITY);
        if (err.outcome === 'context_length' && larger) continue;
        break; // the request itself was refused: another model would refuse it too
      }
    }
    await this.finish(lastError.code === 'upstream_timeout' ? 'timeout' : 'upstream_error', lastError.code);
    throw lastError;
  }

  /** Waits for an attempt's response headers within the time-to-first-token budget. */
  private async responseOf(attempt: Attempt): Promise<UpstreamResponse> {
    const ttftBudget = Math.min(this.init.tier.ttftTimeoutMs, this.init.deadline - this.now());
    const response = await withTimeout(attempt.response, ttftBudget, attempt).catch((err: unknown) => {
      if (err instanceof AttemptFailed) throw err;
      throw new AttemptFailed('connection_error', upstreamError(err));
    });
    if (response.status >= 200 && response.status < 300) return response;
    const errorText = await withTimeout(response.text(), this.init.deadline - this.now(), attempt).catch(
      () => '',
    );
    if (response.status === 429 || response.status >= 500 || response.status === 408) {
      throw new AttemptFailed(`status_${response.status}`, upstreamError());
    }
    if (response.status === 401 || response.status === 403 || response.status === 402) {
      // The gateway's own upstream credentials or funding: an operator problem, not the client's.
      throw new AttemptFailed(`status_${response.status}`, upstreamError());
    }
    if (/context[_ ]length|context window|maximum context|too many tokens/i.test(errorText)) {
      throw new AttemptFailed(
        'context_length',
        invalidRequest("The request exceeds this tier's context window. Shorten the messages.", 'messages'),
      );
    }
    // 400/404/413/422: the upstream refused the request as formed; say so without its words,
    // which may name the model.
    throw new AttemptFailed(
      `status_${response.status}`,
      invalidRequest(
        'The request was rejected as invalid for this tier (for example an unsupported parameter).',
      ),
    );
  }

  private async complete(attempt: Attempt): Promise<HttpResponse> {
    const response = await this.responseOf(attempt);
    const remaining = this.init.deadline - this.now();
    const text = await withTimeout(response.text(), remaining, attempt).catch((err: unknown) => {
      if (err instanceof AttemptFailed) throw err;
      throw new AttemptFailed('connection_error', upstreamError(err));
    });
    let payload: Record<string, unknown>;
    try {
      payload = JSON.parse(text) as Record<string, unknown>;
    } catch {
      throw new AttemptFailed('malformed_response', upstreamError());
    }
    if (payload.error !== undefined || !Array.isArray(payload.choices)) {
      throw new AttemptFailed('upstream_error_body', upstreamError());
    }
    this.served = attempt.model;
    this.ttftMs = this.now() - this.init.startedAt;
    for (const choice of payload.choices) {
      this.outputChars += generatedChars((choice as Record<string, unknown> | null)?.message);
    }
    this.usage = readUsage(payload.usage);
    await this.finish('ok');
    return jsonResponse(
      200,
      sanitizeCompletion(payload, this.init.identity, this.usage ?? this.estimatedUsage()),
    );
  }

  /** Opens a stream and waits for its first data event: until then a fallback is still possible. */
  private async openStream(attempt: Attempt): Promise<HttpResponse> {
    const response = await this.responseOf(attempt);
    const events = response.events()[Symbol.asyncIterator]();
    const ttftBudget = Math.min(this.init.tier.ttftTimeoutMs, this.init.deadline - this.now());
    const firstFrames: string[] = [];
    // Role-only chunks do not count as the first token: a fallback is still possible until one does.
    while (this.outputChars === 0 && !this.finishedChoice) {
      const next = await withTimeout(
        events.next(),
        ttftBudget - (this.now() - attempt.startedAt),
        attempt,
      ).catch((err: unknown) => {
        if (err instanceof AttemptFailed) throw err;
        throw new AttemptFailed('connection_error', upstreamError(err));
      });
      if (next.done || next.value === '[DONE]') throw new AttemptFailed('empty_stream', upstreamError());
      const chunk = parseChunk(next.value);
      if (!chunk || chunk.error !== undefined)
        throw new AttemptFailed('upstream_error_frame', upstreamError());
      firstFrames.push(...this.forward(chunk));
    }
    this.served = attempt.model;
    this.ttftMs = this.now() - this.init.startedAt;
    return {
      status: 200,
      headers: { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' },
      body: this.streamBody(firstFrames, events, attempt),
      cancel: () => this.cancel(attempt),
    };
  }

  /**
   * The client went away (possibly before reading a byte): stop upstream now and record what was
   * generated. Safe to call at any time; after the request finished it changes nothing.
   */
  private cancel(attempt: Attempt): Promise<void> {
    attempt.abort();
    return this.finish('client_disconnected', 'client_disconnected');
  }

  /** The frames a client sees for one upstream chunk; usage is kept back for the final chunk. */
  private forward(chunk: Record<string, unknown>): string[] {
    const usage = readUsage(chunk.usage);
    if (usage) this.usage = usage;
    const choices = Array.isArray(chunk.choices) ? chunk.choices : [];
    if (choices.length === 0) return [];
    for (const choice of choices as Array<Record<string, unknown> | null>) {
      this.outputChars += generatedChars(choice?.delta);
      if (typeof choice?.finish_reason === 'string') this.finishedChoice = true;
    }
    return [sseFrame(sanitizeChunk(chunk, this.init.identity))];
  }

  private async *streamBody(
    firstFrames: string[],
    events: AsyncIterator<string>,
    attempt: Attempt,
  ): AsyncGenerator<string, void, undefined> {
    let ended = false;
    // An error thrown in while suspended at a yield comes from the consumer (the client went
    // away), not from upstream: it must reach `finally` as a disconnect.
    let yielding = false;
    // One deadline for the whole stream (not a timer per chunk): it aborts upstream and fails the
    // pending read, whichever the upstream honours.
    let deadlineTimer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      deadlineTimer = setTimeout(
        () => {
          reject(new AttemptFailed('timeout', upstreamTimeout()));
          attempt.abort();
        },
        Math.max(0, this.init.deadline - this.now()),
      );
    });
    deadline.catch(() => {});
    try {
      yielding = true;
      yield* firstFrames;
      yielding = false;
      let sawDone = false;
      for (;;) {
        const next = await Promise.race([events.next(), deadline]);
        if (next.done) break;
        if (next.value === '[DONE]') {
          sawDone = true;
          break;
        }
        const chunk = parseChunk(next.value);
        if (!chunk || chunk.error !== undefined) throw upstreamError();
        yielding = true;
        yield* this.forward(chunk);
        yielding = false;
      }
      // A stream that stops without [DONE] and without usage was cut off upstream.
      if (!sawDone && !this.usage) throw upstreamError();
      if (this.init.includeUsage) {
        yielding = true;
        yield sseFrame(
          sanitizeChunk({ choices: [] }, this.init.identity, this.usage ?? this.estimatedUsage()),
        );
        yielding = false;
      }
      ended = true;
      await this.finish('ok');
      yielding = true;
      yield SSE_DONE;
    } catch (err) {
      if (yielding) throw err;
      ended = true;
      attempt.abort();
      const gatewayError = err instanceof AttemptFailed ? upstreamTimeout() : asGatewayError(err);
      const failure = gatewayError.code === 'internal_error' ? upstreamError(err) : gatewayError;
      this.deps.log.warn('stream failed after first byte', {
        requestId: this.init.requestId,
        code: failure.code,
      });
      await this.finish(failure.code === 'upstream_timeout' ? 'timeout' : 'upstream_error', failure.code);
      // Ends without [DONE], so the client can tell the answer is truncated.
      yield sseFrame(failure.toBody(this.init.requestId));
    } finally {
      clearTimeout(deadlineTimer);
      if (!ended) {
        // The consumer left early: the client disconnected. Stop upstream, bill what was generated.
        attempt.abort();
        await this.finish('client_disconnected', 'client_disconnected');
      }
    }
  }

  private estimatedUsage(): Usage {
    const prompt = estimateTokens(JSON.stringify(this.init.messages ?? []).length);
    const completion = estimateTokens(this.outputChars);
    return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
  }

  /** Publishes the one usage record of this request; falls back to the hold's outbox. Never throws. */
  finish(status: UsageStatus, errorCode?: string): Promise<void> {
    this.finished ??= this.publish(status, errorCode);
    return this.finished;
  }

  private async publish(status: UsageStatus, errorCode?: string): Promise<void> {
    const { tier, key } = this.init;
    const fromUpstream = this.usage !== undefined;
    const usage = this.usage ?? this.estimatedUsage();
    const generated = this.served !== undefined || this.outputChars > 0;
    const inputTokens = generated ? usage.prompt_tokens : 0;
    const outputTokens = generated ? usage.completion_tokens : 0;
    const model = this.served ?? this.current?.model;
    // The hold bounds the charge: the cap sent upstream makes this a no-op unless the upstream
    // counts more input than the bound allowed for (e.g. a very large image): say so when it does.
    const fullCharge = priceTokens(tier.price, inputTokens, outputTokens);
    const chargeMicros = Math.min(fullCharge, this.holdMicros);
    if (fullCharge > this.holdMicros) {
      this.deps.log.warn('charge clipped to the hold', {
        requestId: this.init.requestId,
        chargeMicros: fullCharge,
        holdMicros: this.holdMicros,
      });
    }
    const endedAt = this.now();
    const record: UsageRecord = {
      requestId: this.init.requestId,
      accountId: key.accountId,
      keyId: key.keyId,
      tier: tier.id,
      catalogVersion: this.init.catalogVersion,
      model: model?.id ?? '',
      status,
      inputTokens,
      outputTokens,
      usageSource: fromUpstream ? 'upstream' : 'estimated',
      upstreamCostMicros: model ? priceTokens(model.cost, inputTokens, outputTokens) : 0,
      chargeMicros,
      holdMicros: this.holdMicros,
      ttftMs: this.ttftMs,
      latencyMs: Math.max(0, endedAt - this.init.startedAt),
      startedAt: new Date(this.init.startedAt).toISOString(),
      endedAt: new Date(endedAt).toISOString(),
      stream: this.init.stream,
      ...(errorCode ? { errorCode } : {}),
      ...(this.attempts.length > 0 ? { attempts: this.attempts } : {}),
    };
    try {
      await this.deps.usage.publish(record);
    } catch (err) {
      this.deps.log.warn('usage event not published; writing outbox', {
        requestId: record.requestId,
        err: describe(err),
      });
      try {
        await this.deps.wallet.writeOutbox(key.accountId, record.requestId, record);
      } catch (outboxErr) {
        // The reconciler will release the hold in full; the request is logged as abandoned.
        this.deps.log.error('outbox write failed', { requestId: record.requestId, err: describe(outboxErr) });
      }
    }
  }
}

function parseChunk(data: string): Record<string, unknown> | undefined {
  try {
    const value = JSON.parse(data) as unknown;
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** Rejects with a timeout AttemptFailed (and aborts the attempt) if `promise` takes longer than `ms`. */
function withTimeout<T>(promise: Promise<T>, ms: number, attempt: Attempt): Promise<T> {
  if (ms <= 0) {
    attempt.abort();
    return Promise.reject(new AttemptFailed('timeout', upstreamTimeout()));
  }
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      // Settle as a timeout before aborting, so the abort's own rejection cannot win the race.
      reject(new AttemptFailed('timeout', upstreamTimeout()));
      attempt.abort();
    }, ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const describe = (err: unknown): string =>
  err instanceof Error ? `${err.name}: ${err.message}`.slice(0, 500) : String(err).slice(0, 500);
