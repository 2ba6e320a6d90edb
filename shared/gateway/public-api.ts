import { type Catalog, TIER_IDS } from '../domain/catalog.js';
import { asGatewayError, methodNotAllowed, notFound } from '../domain/errors.js';
import { errorResponse, type HttpRequest, type HttpResponse, jsonResponse } from '../http.js';
import type { RequestContext } from '../lifecycle/lifecycle.js';
import type { Authenticator } from './auth.js';
import { healthResponse, type ProbeResultStore } from './health.js';

export interface PublicApiDeps {
  /** POST /v1/chat/completions. */
  completions: { handle(req: HttpRequest, ctx: RequestContext): Promise<HttpResponse> };
  auth: Authenticator;
  catalog: () => Promise<Catalog>;
  probes: ProbeResultStore;
  probeIntervalMs: number;
  now?: () => number;
}

const ROUTES: Record<string, readonly string[]> = {
  '/v1/chat/completions': ['POST'],
  '/v1/models': ['GET'],
  '/health': ['GET'],
  '/health/live': ['GET'],
};

/** The public routes of the completions function. */
export class PublicApi {
  constructor(private readonly deps: PublicApiDeps) {}

  async handle(req: HttpRequest, ctx: RequestContext): Promise<HttpResponse> {
    const path = req.path.length > 1 ? req.path.replace(/\/+$/, '') : req.path;
    const allowed = ROUTES[path];
    if (!allowed) return errorResponse(notFound(path), ctx.requestId);
    if (!allowed.includes(req.method))
      return errorResponse(methodNotAllowed(req.method, allowed), ctx.requestId);
    try {
      switch (path) {
        case '/v1/chat/completions':
          return await this.deps.completions.handle(req, ctx);
        case '/v1/models':
          return await this.models(req, ctx);
        case '/health':
          return await healthResponse(
            this.deps.probes,
            this.deps.probeIntervalMs,
            (this.deps.now ?? Date.now)(),
            ctx.requestId,
          );
        default:
          return jsonResponse(
            200,
            { status: 'live' },
            { 'x-request-id': ctx.requestId, 'cache-control': 'no-store' },
          );
      }
    } catch (err) {
      return errorResponse(asGatewayError(err), ctx.requestId);
    }
  }

  private async models(req: HttpRequest, ctx: RequestContext): Promise<HttpResponse> {
    await this.deps.auth.authenticate(req.headers.authorization);
    const catalog = await this.deps.catalog();
    const created = Math.floor(Date.parse(catalog.publishedAt) / 1000);
    return jsonResponse(
      200,
      {
        object: 'list',
        data: TIER_IDS.map((id) => ({ id, object: 'model', created, owned_by: 'tiergate' })),
      },
      { 'x-request-id': ctx.requestId, 'x-tier-catalog-version': String(catalog.version) },
    );
  }
}
