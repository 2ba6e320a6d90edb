import { resolveMessagesTier } from '../dialects/anthropic-messages/request.js';
import { type Catalog, resolveTierId, TIER_IDS, type TierId } from '../domain/catalog.js';
import {
  asGatewayError,
  type GatewayError,
  methodNotAllowed,
  modelNotFound,
  notFound,
} from '../domain/errors.js';
import { presentedKey } from '../domain/keys.js';
import { SSE_DONE } from '../domain/sse.js';
import type { ApiSurface } from '../domain/usage.js';
import { type HttpRequest, type HttpResponse, jsonResponse, type Log } from '../http.js';
import type { KeyHolderApi } from '../keyholder/key-holder-api.js';
import type { RequestContext } from '../lifecycle/lifecycle.js';
import type { IdempotencyStore } from '../ports.js';
import { AUTO_TIER, isAutoModel } from '../routing/auto.js';
import type { Authenticator } from './auth.js';
import { healthResponse, type ProbeResultStore } from './health.js';
import { type RouteHandler, withIdempotency } from './idempotency.js';

type Handler = { handle(req: HttpRequest, ctx: RequestContext): Promise<HttpResponse> };
/** An error in one surface's shape. */
export type ErrorResponder = (error: GatewayError, requestId: string) => HttpResponse;
/** A surface: its handler, where its requests carry their API key, and its rate-limit headers. */
type Surface = Handler & {
  credentials(req: HttpRequest): string | undefined;
  isRateLimitHeader(name: string): boolean;
};

export interface PublicApiDeps {
  /** POST /v1/chat/completions. */
  completions: Surface;
  /** POST /v1/messages. */
  messages: Surface;
  /** POST /v1/messages/count_tokens. */
  countTokens: Handler;
  /** Each surface's error shape; a path's errors take the shape of errorSurfaceOf(path). */
  errorResponses: Readonly<Record<ApiSurface, ErrorResponder>>;
  auth: Authenticator;
  catalog: () => Promise<Catalog>;
  probes: ProbeResultStore;
  probeIntervalMs: number;
  /** Idempotency-Key records of POST /v1/chat/completions. */
  idempotency: IdempotencyStore;
  /** Counts client retries sent without an Idempotency-Key. */
  countRetryWithoutIdempotencyKey?: () => void;
  /** The key holder's own reads (GET /v1/key, /v1/usage, /v1/requests), loaded on first use. */
  keyHolder: () => Promise<KeyHolderApi>;
  log: Log;
  now?: () => number;
}

/** Every public route and the methods it answers; any other path is a 404, any other method a 405. */
export const ROUTES: Readonly<Record<string, readonly string[]>> = {
  // Anthropic's clients probe the base URL.
  '/': ['GET', 'HEAD'],
  '/v1/chat/completions': ['POST'],
  '/v1/messages': ['POST'],
  '/v1/messages/count_tokens': ['POST'],
  '/v1/models': ['GET'],
  '/v1/models/{id}': ['GET'],
  '/v1/key': ['GET'],
  '/v1/usage': ['GET'],
  '/v1/requests': ['GET'],
  '/health': ['GET'],
  '/health/live': ['GET'],
};

/** Key holders' reads of their own account: never cached by a browser or a proxy. */
const KEY_HOLDER_HEADERS = { 'cache-control': 'private, no-store' };

/** `/v1/models/{id}`: one path segment after /v1/models/ (aliases and tier ids have no slash). */
const MODEL_PATH = /^\/v1\/models\/([^/]+)$/;

const routePath = (path: string): string => (path.length > 1 ? path.replace(/\/+$/, '') : path);

/** The path prefix of each surface's routes but chat's; any other path's errors take chat's (OpenAI's) shape. */
const SURFACE_PREFIXES: readonly (readonly [string, ApiSurface])[] = [['/v1/messages', 'messages']];

/**
 * The API surface whose error shape a path's errors take: the one decision, used by the public
 * API and by whatever refuses a request before the public API sees it (an oversized body).
 */
export function errorSurfaceOf(rawPath: string): ApiSurface {
  const path = routePath(rawPath);
  return SURFACE_PREFIXES.find(([prefix]) => path.startsWith(prefix))?.[1] ?? 'chat';
}

/** The route of a path (its ROUTES key), and the model id of /v1/models/{id}. */
function route(path: string): { key: string; modelId?: string } {
  const model = MODEL_PATH.exec(path);
  return model ? { key: '/v1/models/{id}', modelId: model[1] ?? '' } : { key: path };
}

/** Bodies larger than this are not read again for their model on the way out of a refusal. */
const MAX_REREAD_BODY_CHARS = 1_000_000;

/** The tier a Messages body's `model` names, if it parses and names one. */
function requestedMessagesTier(body: string): TierId | undefined {
  if (body.length > MAX_REREAD_BODY_CHARS) return undefined;
  try {
    const model = (JSON.parse(body) as { model?: unknown } | null)?.model;
    return typeof model === 'string' ? resolveMessagesTier(model) : undefined;
  } catch {
    return undefined;
  }
}

/** Both request id headers: OpenAI clients read `x-request-id`, Anthropic clients `request-id`. */
const requestIdHeaders = (requestId: string) => ({ 'request-id': requestId, 'x-request-id': requestId });

/** The public routes of the completions function. */
export class PublicApi {
  private readonly chatCompletions: RouteHandler;
  private readonly messages: RouteHandler;

  constructor(private readonly deps: PublicApiDeps) {
    const common = {
      store: deps.idempotency,
      countRetryWithoutKey: deps.countRetryWithoutIdempotencyKey,
      longestRequestMs: async () =>
        Math.max(...Object.values((await deps.catalog()).tiers).map((tier) => tier.totalTimeoutMs)),
      log: deps.log,
      now: deps.now,
    };
    this.chatCompletions = withIdempotency((req, ctx) => deps.completions.handle(req, ctx), {
      ...common,
      route: 'POST /v1/chat/completions',
      accountOf: async (req) =>
        (await deps.auth.authenticateKey(deps.completions.credentials(req))).accountId,
      errorResponse: deps.errorResponses.chat,
      isRateLimitHeader: (name) => deps.completions.isRateLimitHeader(name),
      // A chat stream that was cut short ends without [DONE] (frames that left together are one write).
      isComplete: (frames) => frames.at(-1)?.endsWith(SSE_DONE) === true,
    });
    this.messages = withIdempotency((req, ctx) => deps.messages.handle(req, ctx), {
      ...common,
      route: 'POST /v1/messages',
      accountOf: async (req) => (await deps.auth.authenticateKey(deps.messages.credentials(req))).accountId,
      errorResponse: deps.errorResponses.messages,
      isRateLimitHeader: (name) => deps.messages.isRateLimitHeader(name),
      // A Messages stream that was cut short ends without message_stop.
      isComplete: (frames) => frames.at(-1)?.includes('event: message_stop\n') === true,
    });
  }

  async handle(req: HttpRequest, ctx: RequestContext): Promise<HttpResponse> {
    const response = await this.dispatch(req, ctx);
    return response.status >= 400 && errorSurfaceOf(req.path) === 'messages'
      ? this.withTierHeaders(req, response)
      : response;
  }

  /**
   * DESIGN §12: every Messages response names the catalog version, and the tier its request names,
   * refusals before the tier was resolved (a bad key, a malformed body, an unknown path) included.
   * A request that names no tier (an unknown model, tier-auto before routing) gets no `x-tier`.
   */
  private async withTierHeaders(req: HttpRequest, response: HttpResponse): Promise<HttpResponse> {
    if (response.headers['x-tier-catalog-version'] !== undefined) return response;
    let version: number;
    try {
      version = (await this.deps.catalog()).version;
    } catch {
      return response;
    }
    const tier = response.headers['x-tier'] ?? requestedMessagesTier(req.body);
    return {
      ...response,
      headers: {
        ...response.headers,
        'x-tier-catalog-version': String(version),
        ...(tier === undefined ? {} : { 'x-tier': tier }),
      },
    };
  }

  private async dispatch(req: HttpRequest, ctx: RequestContext): Promise<HttpResponse> {
    const path = routePath(req.path);
    const { key, modelId } = route(path);
    const allowed = Object.hasOwn(ROUTES, key) ? ROUTES[key] : undefined;
    if (!allowed) return this.errorResponse(path, notFound(path), ctx.requestId);
    if (!allowed.includes(req.method))
      return this.errorResponse(path, methodNotAllowed(req.method, allowed), ctx.requestId);
    try {
      switch (key) {
        case '/v1/chat/completions':
          return await this.chatCompletions(req, ctx);
        case '/v1/messages':
          return await this.messages(req, ctx);
        case '/v1/messages/count_tokens':
          return await this.deps.countTokens.handle(req, ctx);
        case '/':
          // Anthropic clients probe it: both request id headers, as on every Messages response.
          return req.method === 'HEAD'
            ? { status: 200, headers: requestIdHeaders(ctx.requestId), body: '' }
            : jsonResponse(200, { status: 'ok' }, requestIdHeaders(ctx.requestId));
        case '/v1/models':
          return await this.models(req, ctx);
        case '/v1/models/{id}':
          return await this.model(req, ctx, modelId ?? '');
        case '/v1/key':
        case '/v1/usage':
        case '/v1/requests':
          return await this.keyHolderRead(key, req, ctx);
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
    return this.deps.errorResponses[errorSurfaceOf(rawPath)](error, requestId);
  }

  /** A key holder's read of their own account: authenticated by the key, counted against nothing. */
  private async keyHolderRead(route: string, req: HttpRequest, ctx: RequestContext): Promise<HttpResponse> {
    // The key's check and the first read's import of the key-holder code overlap; a bad key is
    // still refused as such, whatever became of the import.
    const readsP = this.deps.keyHolder();
    readsP.catch(() => {});
    const record = await this.deps.auth.authenticateKey(presentedKey(req.headers));
    const reads = await readsP;
    const payload =
      route === '/v1/key'
        ? await reads.key(record)
        : route === '/v1/usage'
          ? await reads.usage(record, req.query)
          : await reads.requests(record, req.query);
    return jsonResponse(200, payload, { ...KEY_HOLDER_HEADERS, 'x-request-id': ctx.requestId });
  }

  private async models(req: HttpRequest, ctx: RequestContext): Promise<HttpResponse> {
    await this.deps.auth.authenticateKey(presentedKey(req.headers));
    const catalog = await this.deps.catalog();
    return jsonResponse(
      200,
      { object: 'list', data: [...TIER_IDS, AUTO_TIER].map((id) => modelObject(id, catalog)) },
      { 'x-request-id': ctx.requestId, 'x-tier-catalog-version': String(catalog.version) },
    );
  }

  /** One tier, by tier id or alias, always as its canonical tier object; anything else is a 404. */
  private async model(req: HttpRequest, ctx: RequestContext, rawId: string): Promise<HttpResponse> {
    await this.deps.auth.authenticateKey(presentedKey(req.headers));
    let id: string;
    try {
      id = decodeURIComponent(rawId);
    } catch {
      throw modelNotFound();
    }
    const tier = isAutoModel(id) ? AUTO_TIER : resolveTierId(id);
    if (!tier) throw modelNotFound();
    const catalog = await this.deps.catalog();
    return jsonResponse(200, modelObject(tier, catalog), {
      'x-request-id': ctx.requestId,
      ...(tier === AUTO_TIER ? {} : { 'x-tier': tier }),
      'x-tier-catalog-version': String(catalog.version),
    });
  }
}

function modelObject(id: TierId | typeof AUTO_TIER, catalog: Catalog) {
  const created = Math.floor(Date.parse(catalog.publishedAt) / 1000);
  return { id, object: 'model', created, owned_by: 'tiergate' };
}
