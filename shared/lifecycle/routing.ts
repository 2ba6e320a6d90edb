import type { Catalog, TierId } from '../domain/catalog.js';
import type { UsageRoute } from '../domain/usage.js';
import { describeError, type Log } from '../http.js';
import type { Upstream } from '../ports.js';
import { AUTO_TIER, higher } from '../routing/auto.js';
import { escalate } from '../routing/escalation.js';
import type { Router } from '../routing/router.js';
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
  private loaded: Router | undefined;
  private loading: Promise<Router> | undefined;

  constructor(private readonly deps: RoutingDeps) {
    this.loaded = deps.router;
  }

  /**
   * The router of the committed model, loaded on first use (a chunk of its own in the bundle): a
   * function that never routes never reads the model, and no cold start pays for it.
   */
  private router(): Router | Promise<Router> {
    if (this.loaded) return this.loaded;
    this.loading ??= import('../routing/router.js').then(
      ({ Router }) => {
        this.loaded = new Router();
        return this.loaded;
      },
      (err: unknown) => {
        this.loading = undefined;
        throw err;
      },
    );
    return this.loading;
  }

  /** @param mayEscalate false when no upstream call may be made (e.g. the guardrail tripped). */
  async route(
    request: ParsedRequest,
    catalog: Catalog,
    requestId: string,
    mayEscalate: boolean,
  ): Promise<Routed> {
    if (request.auto) return this.auto(request, catalog, mayEscalate);
    if (!catalog.auto.shadow) return { tier: request.tier };
    try {
      const decision = (await this.router()).route(request.routeInput());
      const route: UsageRoute = {
        requested: request.tier,
        chosen: decision.tier,
        reason: decision.reason,
        ...(decision.confidence !== undefined ? { confidence: decision.confidence } : {}),
        mode: 'shadow',
      };
      return { tier: request.tier, route };
    } catch (err) {
      // Shadow mode only observes: it never fails a request.
      this.deps.log.warn('shadow routing failed', { requestId, err: describeError(err) });
      return { tier: request.tier };
    }
  }

  private async auto(request: ParsedRequest, catalog: Catalog, mayEscalate: boolean): Promise<Routed> {
    const input = request.routeInput();
    const decision = (await this.router()).route(input);
    let { tier, reason } = decision;
    let escalation: UsageRoute['escalation'];
    const settings = catalog.auto.escalation;
    const model = catalog.tiers['tier-1'].models[0];
    if (settings && decision.ambiguous && mayEscalate && model) {
      const asked = await escalate(this.deps.upstream, model, input, settings.timeoutMs, this.deps.now);
      escalation = { ms: asked.ms, outcome: asked.outcome, upstreamCostMicros: asked.upstreamCostMicros };
      // The LLM settles an ambiguous case, within the rules' floor; without an answer the
      // classifier's upward decision stands.
      if (asked.tier) {
        tier = decision.floor ? higher(decision.floor, asked.tier) : asked.tier;
        reason = `llm:${asked.tier}`;
      }
    }
    const route: UsageRoute = {
      requested: AUTO_TIER,
      chosen: tier,
      reason,
      ...(decision.confidence !== undefined ? { confidence: decision.confidence } : {}),
      mode: 'auto',
      ...(escalation ? { escalation } : {}),
    };
    return { tier, route, header: `auto; ${reason}` };
  }
}
