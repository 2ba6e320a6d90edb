import { DynamoCatalogStore } from '../adapters/dynamodb/catalog-store.js';
import { createDocumentClient } from '../adapters/dynamodb/client.js';
import { DynamoGuardrailReader, MAX_GUARDRAIL_CACHE_TTL_MS } from '../adapters/dynamodb/guardrail-reader.js';
import { DynamoKeyStore } from '../adapters/dynamodb/key-store.js';
import { DynamoRateLimiter } from '../adapters/dynamodb/rate-limiter.js';
import { DynamoWalletStore } from '../adapters/dynamodb/wallet-store.js';
import { EventBridgeUsagePublisher } from '../adapters/usage-publisher.js';
import { DEFAULT_UPSTREAM_BASE_URL, ENV, intEnv, optionalEnv, requireEnv } from '../config.js';
import { MessagesTokenCounter } from '../dialects/anthropic-messages/count-tokens.js';
import { AnthropicMessagesDialect } from '../dialects/anthropic-messages/dialect.js';
import { OpenAiChatDialect } from '../dialects/openai-chat/dialect.js';
import type { Catalog } from '../domain/catalog.js';
import { upstreamError } from '../domain/errors.js';
import { ToolCallIds } from '../domain/tool-call-ids.js';
import { TtlCache } from '../domain/ttl-cache.js';
import { Authenticator, MAX_KEY_CACHE_TTL_MS } from '../gateway/auth.js';
import { DynamoProbeResultStore } from '../gateway/health.js';
import { PublicApi } from '../gateway/public-api.js';
import type { Log } from '../http.js';
import { CircuitBreaker } from '../lifecycle/circuit-breaker.js';
import { Funds } from '../lifecycle/funds.js';
import { type LifecycleDeps, RequestLifecycle } from '../lifecycle/lifecycle.js';
import type { GuardrailReader, Upstream, UsagePublisher, WalletStore } from '../ports.js';
import { HttpUpstream } from '../upstreams/openai-http.js';
import { eventBridgeClient } from './event-bridge.js';
import { upstreamApiKey } from './upstream-key.js';

/** Handlers cache the active catalog for at most 30 s. */
export const MAX_CATALOG_CACHE_TTL_MS = 30_000;

export interface PublicApiOverrides {
  wallet?: WalletStore;
  usage?: UsagePublisher;
  guardrail?: GuardrailReader;
  upstream?: Upstream;
}

/**
 * Builds the completions function's API from the environment: the one wiring used by the Lambda
 * handler (and by the benchmark, which swaps single ports to measure their cost).
 */
export function createPublicApi(log: Log, overrides: PublicApiOverrides = {}): PublicApi {
  const ledgerTable = requireEnv(ENV.ledgerTable);
  const busName = requireEnv(ENV.eventBus);
  const db = createDocumentClient(optionalEnv(ENV.dynamodbEndpoint));
  const catalogStore = new DynamoCatalogStore(db, ledgerTable);
  const catalogCache = new TtlCache<'active', Catalog>(
    Math.min(intEnv(ENV.catalogCacheTtlMs, MAX_CATALOG_CACHE_TTL_MS), MAX_CATALOG_CACHE_TTL_MS),
  );
  const catalog = () => catalogCache.get('active', () => catalogStore.getActive());
  const auth = new Authenticator(
    new DynamoKeyStore(db, ledgerTable),
    intEnv(ENV.keyCacheTtlMs, MAX_KEY_CACHE_TTL_MS),
  );
  const upstream =
    overrides.upstream ??
    new HttpUpstream({
      baseUrl: optionalEnv(ENV.upstreamBaseUrl) ?? DEFAULT_UPSTREAM_BASE_URL,
      apiKey: upstreamApiKey,
    });
  const wallet = overrides.wallet ?? new DynamoWalletStore(db, ledgerTable);
  // One set of per-instance knowledge for every surface: balances and the circuit breaker.
  const deps: LifecycleDeps = {
    auth,
    catalog,
    wallet,
    rateLimiter: new DynamoRateLimiter(db, ledgerTable),
    usage: overrides.usage ?? new EventBridgeUsagePublisher(eventBridgeClient(), busName),
    guardrail:
      overrides.guardrail ??
      new DynamoGuardrailReader(db, ledgerTable, intEnv(ENV.guardrailCacheTtlMs, MAX_GUARDRAIL_CACHE_TTL_MS)),
    upstream,
    funds: new Funds(wallet),
    breaker: new CircuitBreaker(),
    log,
  };
  // Sealed with a key derived from the upstream key, so every instance opens every instance's ids.
  const toolCallIds = once(async () => {
    const secret = await upstreamApiKey().catch((err: unknown) => {
      throw upstreamError(err); // no upstream key: no upstream call could succeed either
    });
    return new ToolCallIds(secret ?? 'tiergate-local-tool-ids');
  });
  const messages = new AnthropicMessagesDialect(toolCallIds);
  return new PublicApi({
    auth,
    catalog,
    probes: new DynamoProbeResultStore(db, ledgerTable),
    probeIntervalMs: intEnv(ENV.probeIntervalMinutes, 360) * 60_000,
    completions: new RequestLifecycle(deps, new OpenAiChatDialect(toolCallIds)),
    messages: new RequestLifecycle(deps, messages),
    countTokens: new MessagesTokenCounter({ auth, catalog, upstream, dialect: messages, log }),
    messagesError: (error, requestId) => messages.errorResponse(error, requestId),
  });
}

function once<T>(load: () => Promise<T>): () => Promise<T> {
  let value: Promise<T> | undefined;
  return () => {
    value ??= load().catch((err: unknown) => {
      value = undefined;
      throw err;
    });
    return value;
  };
}
