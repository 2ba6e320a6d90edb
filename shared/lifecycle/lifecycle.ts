import { randomBytes } from 'node:crypto';
import { type Catalog, TIER_IDS, type Tier, type UpstreamModel } from '../domain/catalog.js';
import { asGatewayError, type GatewayError } from '../domain/errors.js';
import type { Authenticator } from '../gateway/auth.js';
import { describeError, type HttpRequest, type HttpResponse, type Log } from '../http.js';
import type { GuardrailReader, RateLimiter, Upstream, UsagePublisher, WalletStore } from '../ports.js';
import type { Router } from '../routing/router.js';
import { Admission, type AdmissionRequest, RefusedAfterHold } from './admission.js';
import { Attempts } from './attempts.js';
import { CircuitBreaker } from './circuit-breaker.js';
import type { Dialect, ParsedRequest } from './dialect.js';
import { estimateInputTokens, inputTokenBound, mediaAllowancePerPart } from './estimate.js';
import { Funds, type FundsOptions } from './funds.js';
import { Meter } from './metering.js';
import { type RelayInit, relayBody, relayStream } from './relay.js';
import { type Routed, Routing } from './routing.js';

export interface LifecycleDeps {
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
  /** What this instance knows of account balances; shared by every surface of an instance. */
  funds?: Funds;
  fundsOptions?: FundsOptions;
  /** tier-auto's router; the committed model by default. */
  router?: Router;
  log: Log;
  now?: () => number;
}

export interface RequestContext {
  requestId: string;
  /** Epoch ms by which the request must be finished (the function's own timeout less a margin). */
  deadline: number;
}

/** How long an input estimate may count before it settles for the hold's bound. */
export const ESTIMATE_BUDGET_MS = 2_000;

export const newRequestId = (): string => randomBytes(12).toString('hex');

/**
 * One request, whatever its surface: admission (auth, guardrail, rate limit, hold with cap
 * lowering) → attempts (model by model, fallback, circuit breaker, deadlines) → relay (body or
 * stream) → metering (exactly one usage record, one exit). The dialect parses, frames and
 * shapes errors; nothing here reads a body or a frame.
 */
export class RequestLifecycle<R extends ParsedRequest> {
  private readonly now: () => number;
  private readonly breaker: CircuitBreaker;
  private readonly admission: Admission;
  private readonly routing: Routing;

  constructor(
    private readonly deps: LifecycleDeps,
    private readonly dialect: Dialect<R>,
  ) {
    this.now = deps.now ?? Date.now;
    this.breaker = deps.breaker ?? new CircuitBreaker({ now: this.now });
    this.admission = new Admission({
      wallet: deps.wallet,
      rateLimiter: deps.rateLimiter,
      funds: deps.funds ?? new Funds(deps.wallet, { now: this.now, ...deps.fundsOptions }),
      now: this.now,
      rateLimitHeaders: (limits, decision) => dialect.rateLimitHeaders(limits, decision),
    });
    this.routing = new Routing({
      router: deps.router,
      breaker: this.breaker,
      upstream: deps.upstream,
      log: deps.log,
      now: this.now,
    });
  }

  /** The API key a request carries, where this surface carries it. */
  credentials(req: HttpRequest): string | undefined {
    return this.dialect.credentials(req);
  }

  /** Whether a response header describes the request's rate-limit window (not for replays). */
  isRateLimitHeader(name: string): boolean {
    return this.dialect.isRateLimitHeader(name);
  }

  /** Every outcome is a response in the dialect's shape: this is the surface's error boundary. */
  async handle(req: HttpRequest, ctx: RequestContext): Promise<HttpResponse> {
    try {
      return await this.serve(req, ctx);
    } catch (err) {
      const error = asGatewayError(err);
      if (error.status >= 500) {
        this.deps.log.error('request failed', {
          requestId: ctx.requestId,
          code: error.code,
          err: describeError(err),
        });
      }
      return this.dialect.errorResponse(error, ctx.requestId);
    }
  }

  private async serve(req: HttpRequest, ctx: RequestContext): Promise<HttpResponse> {
    const startedAt = this.now();
    const { key, request, catalog, guardrail } = await this.parse(req);
    // A deleted account or a tripped guardrail is refused before anything is spent on it, an
    // optional tier-auto escalation call included; the refusal is thrown once the tier is known.
    let refusedEarly: unknown;
    try {
      this.admission.precheck(key, guardrail);
    } catch (err) {
      refusedEarly = err;
    }
    // tier-auto picks the tier here, before the hold: price, caps and fallbacks are the chosen tier's.
    const routed = await this.routing.route(
      request,
      catalog,
      ctx.requestId,
      refusedEarly === undefined && this.admission.mayEscalate(key),
      ctx.deadline,
    );
    request.tier = routed.tier;
    const tier = catalog.tiers[request.tier];
    // Every response from here on names its tier, refusals included.
    const headers: Record<string, string> = {
      ...this.dialect.headers?.(ctx.requestId),
      'x-request-id': ctx.requestId,
      'x-tier': tier.id,
      'x-tier-catalog-version': String(catalog.version),
      ...(routed.header ? { 'x-tier-route': routed.header } : {}),
    };
    if (refusedEarly !== undefined) throw withHeaders(refusedEarly, headers);
    const plan = this.plan({ req, ctx, key, request, catalog, tier, routed, startedAt });
    const { admitted, first } = await this.admit(plan, headers);
    try {
      const response = await plan.attempts.run(first, admitted.outputCap, (attempt) =>
        request.stream ? relayStream(plan.relay, attempt) : relayBody(plan.relay, attempt),
      );
      return { ...response, headers: { ...response.headers, ...headers, ...admitted.limitHeaders } };
    } catch (err) {
      throw withHeaders(err, { ...headers, ...admitted.limitHeaders });
    }
  }

  /** The key, the parsed request, the catalog and the guardrail: cached reads started together. */
  private async parse(req: HttpRequest) {
    const { dialect, deps } = this;
    // Auth, catalog and guardrail are cached reads; start them together and parse meanwhile.
    const keyP = deps.auth.authenticateKey(dialect.credentials(req));
    const catalogP = deps.catalog();
    const guardrailP = deps.guardrail.state();
    for (const p of [keyP, catalogP, guardrailP]) p.catch(() => {});
    let request: R | undefined;
    let badRequest: unknown;
    try {
      request = dialect.parse(req);
    } catch (err) {
      badRequest = err;
    }
    const key = await keyP; // an invalid key is a 401 even when the body is also bad
    if (badRequest !== undefined || !request) throw badRequest;
    const [catalog, guardrail] = await Promise.all([catalogP, guardrailP, dialect.prepare?.(request)]);
    return { key, request, catalog, guardrail };
  }

  /** What serving the request at its tier takes: bounds, the meter, the attempts and the relay. */
  private plan(p: {
    req: HttpRequest;
    ctx: RequestContext;
    key: AdmissionRequest['key'];
    request: R;
    catalog: Catalog;
    tier: Tier;
    routed: Routed;
    startedAt: number;
  }) {
    const { req, ctx, key, request, catalog, tier, routed, startedAt } = p;
    const { dialect, deps } = this;
    const cap = Math.min(request.requestedMaxTokens ?? tier.maxOutputTokens, tier.maxOutputTokens);
    const deadline = Math.min(ctx.deadline, startedAt + tier.totalTimeoutMs);
    const candidates = this.candidates(catalog, tier);
    const inputBound = inputTokenBound(
      req.bodyBytes,
      request,
      candidates.map((m) => m.contextWindow),
    );
    const upstreamRequest = (model: UpstreamModel, outputCap: number) =>
      dialect.upstreamRequest(request, model, outputCap);
    const meter: Meter = new Meter(
      { usage: deps.usage, wallet: deps.wallet, log: deps.log, now: this.now },
      {
        key,
        tier,
        catalogVersion: catalog.version,
        requestId: ctx.requestId,
        startedAt,
        stream: request.stream,
        surface: dialect.surface,
        choices: request.choices,
        ...(routed.route ? { route: routed.route } : {}),
        ...(routed.route?.mode === 'shadow' ? { shadowPrice: catalog.tiers[routed.route.chosen].price } : {}),
        estimateInput: (): Promise<number> =>
          estimateInputTokens(upstreamRequest(meter.current ?? (tier.models[0] as UpstreamModel), cap).body, {
            // The bound already holds media at their allowance in place of their inline bytes.
            mediaParts: request.mediaParts,
            mediaAllowance: mediaAllowancePerPart(request),
            byteBound: inputBound,
            // Counting a huge body must not hold up the request's record: past this, the bound.
            deadline: this.now() + ESTIMATE_BUDGET_MS,
          }),
      },
    );
    const attempts = new Attempts(
      { upstream: deps.upstream, breaker: this.breaker, log: deps.log, now: this.now },
      { tier, candidates, requestId: ctx.requestId, deadline, upstreamRequest, meter },
    );
    const admission: AdmissionRequest = {
      key,
      tier,
      requestId: ctx.requestId,
      catalogVersion: catalog.version,
      startedAt,
      cap,
      inputBound,
      minOutputTokens: request.minOutputTokens,
      choices: request.choices,
      surface: dialect.surface,
    };
    const relay: RelayInit = {
      attempts,
      meter,
      exchange: () =>
        dialect.exchange(request, {
          requestId: ctx.requestId,
          tier: tier.id,
          created: Math.floor(startedAt / 1000),
        }),
      requestId: ctx.requestId,
      startedAt,
      deadline,
      streamContentType: dialect.streamContentType,
      log: deps.log,
      now: this.now,
    };
    return { cap, meter, attempts, admission, relay };
  }

  /**
   * The hold. For an account whose admission is near-certain, the hold and the first upstream call
   * run concurrently, so it pays no storage round trip before its first token; nothing is
   * forwarded until the hold has succeeded. Every other request is admitted before any upstream
   * call. Resolves to the admission and the attempt already started, if it may go on.
   */
  private async admit(plan: ReturnType<RequestLifecycle<R>['plan']>, headers: Record<string, string>) {
    const { cap, meter, attempts, admission } = plan;
    const overlap = this.admission.mayOverlap(admission);
    const optimistic = overlap ? attempts.start(0, cap) : undefined;
    if (optimistic) {
      meter.current = optimistic.model;
      // Let the upstream request reach its socket before the SDK's signing work takes the CPU.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    let admitted: Awaited<ReturnType<Admission['admit']>>;
    try {
      admitted = await this.admission.admit(admission, overlap);
    } catch (err) {
      throw withHeaders(await this.refused(err, meter, optimistic?.abort), headers);
    }
    meter.admitted(admitted.holdMicros, admitted.outputCap);
    if (admitted.outputCap < cap) headers['x-wallet-output-cap'] = String(admitted.outputCap);
    const first = optimistic && admitted.outputCap === cap ? optimistic : undefined;
    if (optimistic && !first) {
      // The wallet lowered the cap: the call made at the full cap is stopped and made again.
      optimistic.abort();
      meter.promptAbandoned(optimistic.model);
    }
    return { admitted, first };
  }

  /**
   * A refusal at admission. A hold already placed is released by a zero-charge usage record; an
   * upstream call already started is aborted and its prompt counted as upstream spend, as is a
   * tier-auto escalation call already made: each is recorded, with nothing charged.
   */
  private async refused(
    err: unknown,
    meter: Meter,
    abortUpstream: (() => void) | undefined,
  ): Promise<GatewayError> {
    abortUpstream?.();
    const refusal = err instanceof RefusedAfterHold ? err.refusal : asGatewayError(err);
    if (err instanceof RefusedAfterHold) meter.admitted(err.held.holdMicros, err.held.outputCap);
    if (abortUpstream) {
      meter.upstreamAbandoned();
      this.deps.log.warn('upstream call stopped: admission refused', {
        requestId: meter.requestId,
        reason: refusal.code,
      });
    }
    if (err instanceof RefusedAfterHold || abortUpstream || meter.escalated) {
      await meter.finish('rejected', refusal.code);
    }
    return refusal;
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
}

/** The error with the request's gateway headers added (its own, e.g. retry-after, are kept). */
function withHeaders(err: unknown, headers: Record<string, string>): GatewayError {
  const error = asGatewayError(err);
  Object.assign(error.headers, headers);
  return error;
}
