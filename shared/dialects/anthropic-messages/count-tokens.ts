import type { Catalog } from '../../domain/catalog.js';
import { asGatewayError } from '../../domain/errors.js';
import { isObject } from '../../domain/json-body.js';
import type { Authenticator } from '../../gateway/auth.js';
import { type HttpRequest, type HttpResponse, jsonResponse, type Log } from '../../http.js';
import { estimateInputTokens, inputTokenBound, mediaAllowancePerPart } from '../../lifecycle/estimate.js';
import type { RequestContext } from '../../lifecycle/lifecycle.js';
import type { Upstream } from '../../ports.js';
import { type AnthropicMessagesDialect, type MessagesParsed, upstreamHeaders } from './dialect.js';

export interface TokenCounterDeps {
  auth: Authenticator;
  catalog: () => Promise<Catalog>;
  upstream: Upstream;
  dialect: AnthropicMessagesDialect;
  log: Log;
}

/**
 * `POST /v1/messages/count_tokens`: the upstream's count for the tier's primary model, or, when
 * the upstream cannot answer (no such endpoint, an error, no connection, too slow), a local
 * estimate bounded like a hold's input. Authenticated; neither charged nor rate-limited.
 */
export class MessagesTokenCounter {
  constructor(private readonly deps: TokenCounterDeps) {}

  async handle(req: HttpRequest, ctx: RequestContext): Promise<HttpResponse> {
    const { deps } = this;
    const headers: Record<string, string> = { 'request-id': ctx.requestId, 'x-request-id': ctx.requestId };
    try {
      const keyP = deps.auth.authenticateKey(deps.dialect.credentials(req));
      keyP.catch(() => {});
      let request: MessagesParsed | undefined;
      let badRequest: unknown;
      try {
        request = deps.dialect.parseCount(req);
      } catch (err) {
        badRequest = err;
      }
      await keyP; // an invalid key is a 401 even when the body is also bad
      if (badRequest !== undefined || !request) throw badRequest;
      const [catalog] = await Promise.all([deps.catalog(), deps.dialect.prepare(request)]);
      const tier = catalog.tiers[request.tier];
      headers['x-tier'] = tier.id;
      headers['x-tier-catalog-version'] = String(catalog.version);
      const body = { ...request.body, model: tier.models[0]?.id };
      const counted = await this.upstreamCount(request, body, tier.ttftTimeoutMs, ctx.requestId);
      const inputTokens =
        counted ??
        (await estimateInputTokens(body, {
          mediaParts: request.mediaParts,
          mediaAllowance: mediaAllowancePerPart(request),
          // As a hold's bound.
          byteBound: inputTokenBound(
            req.bodyBytes,
            request,
            tier.models.map((m) => m.contextWindow),
          ),
        }));
      return jsonResponse(200, { input_tokens: inputTokens }, headers);
    } catch (err) {
      const response = deps.dialect.errorResponse(asGatewayError(err), ctx.requestId);
      return { ...response, headers: { ...response.headers, ...headers } };
    }
  }

  /** The upstream's count, or undefined when it gave none. */
  private async upstreamCount(
    request: MessagesParsed,
    body: Record<string, unknown>,
    timeoutMs: number,
    requestId: string,
  ): Promise<number | undefined> {
    try {
      const reply = await this.deps.upstream.send(
        { path: '/messages/count_tokens', body, headers: upstreamHeaders(request), auth: 'bearer+x-api-key' },
        AbortSignal.timeout(timeoutMs),
      );
      if (!reply.ok) {
        this.deps.log.info('token count estimated', { requestId, outcome: reply.failure.outcome });
        return undefined;
      }
      const payload = JSON.parse(await reply.text()) as unknown;
      const n = isObject(payload) ? payload.input_tokens : undefined;
      if (Number.isSafeInteger(n) && (n as number) >= 0) return n as number;
    } catch {
      // No connection, too slow, or not JSON: estimated below.
    }
    this.deps.log.info('token count estimated', { requestId, outcome: 'no_count' });
    return undefined;
  }
}
