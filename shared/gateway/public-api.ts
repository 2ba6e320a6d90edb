import { type Catalog, TIER_IDS } from '../domain/catalog.js';
import { asGatewayError, type GatewayError, methodNotAllowed, notFound } from '../domain/errors.js';
import { errorResponse, type HttpRequest, type HttpResponse, jsonResponse } from '../http.js';
import type { RequestContext } from '../lifecycle/lifecycle.js';
import type { Authenticator } from './auth.js';
import { healthResponse, type ProbeResultStore } from './health.js';

type Handler = { handle(req: HttpRequest, ctx: RequestContext): Promise<HttpResponse> };

export interface PublicApiDeps {
  /** POST /v1/chat/completions. */
  completions: Handler;
  /** POST /v1/messages. */
  messages: Handler;
  /** POST /v1/messages/count_tokens. */
  countTokens: Handler;
  /** An error in the Messages API's shape, for any path under /v1/messages. */
  messagesError: (error: GatewayError, requestId: string) => HttpResponse;
  auth: Authenticator;
  catalog: () => Promise<Catalog>;
  probes: ProbeResultStore;
  probeIntervalMs: number;
  now?: () => number;
}

const ROUTES: Record<string, readonly string[]> = {
  // Anthropic's clients probe the base URL.
  '/': ['GET', 'HEAD'],
  '/v1/chat/completions': ['POST'],
  '/v1/messages': ['POST'],
  '/v1/messages/count_tokens': ['POST'],
  '/v1/models': ['GET'],
  '/health': ['GET'],
  '/health/live': ['GET'],
};

const routePath = (path: string): string => (path.length > 1 ? path.replace(/\/+$/, '') : path);

/** The public routes of the completions function. */
export class PublicApi {
  constructor(private readonly deps: PublicApiDeps) {}

  async handle(req: HttpRequest, ctx: RequestContext): Promise<HttpResponse> {
    const path = routePath(req.path);
    const allowed = ROUTES[path];
    if (!allowed) return this.errorResponse(path, notFound(path), ctx.requestId);
    if (!allowed.includes(req.method))
      return this.errorResponse(path, methodNotAllowed(req.method, allowed), ctx.requestId);
    try {
      switch (path) {
        case '/v1/chat/completions':
          return await this.deps.completions.handle(req, ctx);
        case '/v1/messages':
          return await this.deps.messages.handle(req, ctx);
        case '/v1/messages/count_tokens':
          return await this.deps.countTokens.handle(req, ctx);
        case '/':
          return req.method === 'HEAD'
            ? { status: 200, headers: { 'x-request-id': ctx.requestId }, body: '' }
            : jsonResponse(200, { status: 'ok' }, { 'x-request-id': ctx.requestId });
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
      return this.errorResponse(path, asGatewayError(err), ctx.requestId);
    }
  }

  /** An error in the shape of the surface a path belongs to. */
  errorResponse(rawPath: string, error: GatewayError, requestId: string): HttpResponse {
    return routePath(rawPath).startsWith('/v1/messages')
      ? this.deps.messagesError(error, requestId)
      : errorResponse(error, requestId);
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
