import type { Catalog, TierId } from '../domain/catalog.js';
import type { UsageRoute } from '../domain/usage.js';
import { describeError, type Log } from '../http.js';
import { lazy } from '../lazy.js';
import type { Upstream } from '../ports.js';
import { AUTO_DEFAULT_TIER, AUTO_TIER } from '../routing/auto.js';
import { escalate, settle } from '../routing/escalation.js';
import type { RouteDecision, Router } from '../routing/router.js';
import type { ParsedRequest } from './dialect.js';

export interface Routed {
  /** The tier that serves the request. */
  tier: TierId;
  /** What the usage record carries, for tier-auto and for shadow mode. */
  route?: UsageRoute;
  /** `x-tier-route`, for tier-auto requests. */
  header?: string;
}

export interface RoutingDeps {
  router?: Router;
  /** Loads the committed model's router when none is given (a dynamic import by default). */
  loadRouter?: () => Promise<Router>;
  /** Whether a model's circuit lets a call through: an escalation skips a model that is down. */
  breaker?: { allows(modelId: string): boolean };
  upstream: Upstream;
  log: Log;
  now: () => number;
}

/**
 * The routing step of the lifecycle, after validation and before the hold: a tier-auto request
 * gets its tier here (the hold, price, caps and fallbacks are then the chosen tier's); with shadow
 * mode on, an explicit-tier request is served as asked and the decision is only recorded.
 */
export class Routing {
  /** The router of the committed model, loaded on first use (a chunk of its own in the bundle). */
  private readonly router: () => Promise<Router>;

  constructor(private readonly deps: RoutingDeps) {
    const given = deps.router;
    // A function that never routes never reads the model, and no cold start pays for it.
    this.router = given
      ? () => Promise.resolve(given)
      : lazy(deps.loadRouter ?? (() => import('../routing/router.js').then(({ Router }) => new Router())));
  }

  /**
   * @param mayEscalate false when no upstream call may be made (e.g. the guardrail tripped).
   * @param deadline an escalation call ends by then at the latest.
   */
  async route(
    request: ParsedRequest,
    catalog: Catalog,
    requestId: string,
    mayEscalate: boolean,
    deadline = Number.POSITIVE_INFINITY,
  ): Promise<Routed> {
    if (request.auto) return this.auto(request, catalog, mayEscalate, deadline);
    if (!catalog.auto.shadow) return { tier: request.tier };
    try {
      const decision = (await this.router()).route(request.routeInput());
      return { tier: request.tier, route: routeOf(request.tier, decision.tier, decision, 'shadow') };
    } catch (err) {
      // Shadow mode only observes: it never fails a request.
      this.deps.log.warn('shadow routing failed', { requestId, err: describeError(err) });
      return { tier: request.tier };
    }
  }

  private async auto(
    request: ParsedRequest,
    catalog: Catalog,
    mayEscalate: boolean,
    deadline: number,
  ): Promise<Routed> {
    const input = request.routeInput();
    let router: Router;
    try {
      router = await this.router();
    } catch (err) {
      // The router's chunk did not load (it is tried again next time): the default tier serves.
      this.deps.log.error('tier-auto router unavailable', { err: describeError(err) });
      const route = routeOf(AUTO_TIER, AUTO_DEFAULT_TIER, { reason: 'fallback' }, 'auto');
      return { tier: AUTO_DEFAULT_TIER, route, header: 'auto; fallback' };
    }
    const decision = router.route(input);
    let { tier, reason } = decision;
    let escalation: UsageRoute['escalation'];
    const settings = catalog.auto.escalation;
    const model = catalog.tiers['tier-1'].models[0];
    // Never past the request's own deadline, and not to a model whose circuit is open.
    const timeoutMs = Math.min(settings?.timeoutMs ?? 0, deadline - this.deps.now());
    const available = model !== undefined && (this.deps.breaker?.allows(model.id) ?? true);
    if (settings && decision.ambiguous && mayEscalate && model && available && timeoutMs > 0) {
      const asked = await escalate(this.deps.upstream, model, input, timeoutMs, this.deps.now);
      escalation = { ms: asked.ms, outcome: asked.outcome, upstreamCostMicros: asked.upstreamCostMicros };
      // The LLM settles an ambiguous case (escalation.ts, settle); without an answer the classifier's
      // upward decision stands.
      if (asked.tier) ({ tier, reason } = settle(decision, asked.tier));
    }
    const route = routeOf(AUTO_TIER, tier, { reason, confidence: decision.confidence }, 'auto');
    return { tier, route: escalation ? { ...route, escalation } : route, header: `auto; ${reason}` };
  }
}

/** What the usage record carries of a routing decision. */
function routeOf(
  requested: UsageRoute['requested'],
  chosen: TierId,
  decision: Pick<RouteDecision, 'reason' | 'confidence'>,
  mode: UsageRoute['mode'],
): UsageRoute {
  return {
    requested,
    chosen,
    reason: decision.reason,
    ...(decision.confidence !== undefined ? { confidence: decision.confidence } : {}),
    mode,
  };
}
