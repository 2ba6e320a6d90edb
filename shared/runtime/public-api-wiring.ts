import { DynamoCatalogStore } from '../adapters/dynamodb/catalog-store.js';
import { createDocumentClient } from '../adapters/dynamodb/client.js';
import { DynamoGuardrailReader, MAX_GUARDRAIL_CACHE_TTL_MS } from '../adapters/dynamodb/guardrail-reader.js';
import { DynamoIdempotencyStore } from '../adapters/dynamodb/idempotency-store.js';
import { DynamoKeyStore } from '../adapters/dynamodb/key-store.js';
import { DynamoRateLimiter } from '../adapters/dynamodb/rate-limiter.js';
import { DynamoWalletStore } from '../adapters/dynamodb/wallet-store.js';
import { EventBridgeUsagePublisher } from '../adapters/usage-publisher.js';
import { type CompletionsConfig, TOOL_CALL_ID_KEY_MAX_AGE_MS } from '../config.js';
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
import { lazy } from '../lazy.js';
import { CircuitBreaker } from '../lifecycle/circuit-breaker.js';
import { Funds } from '../lifecycle/funds.js';
import { type LifecycleDeps, RequestLifecycle } from '../lifecycle/lifecycle.js';
import type { GuardrailReader, Upstream, UsagePublisher, WalletStore } from '../ports.js';
import { HttpUpstream } from '../upstreams/openai-http.js';
import { eventBridgeClient } from './event-bridge.js';
import { createSecretProvider, type FetchSecret, type SecretProvider } from './secret-provider.js';
import { SURFACE_ERROR_RESPONSES } from './surface-errors.js';

/** Handlers cache the active catalog for at most 30 s. */
export const MAX_CATALOG_CACHE_TTL_MS = 30_000;

export interface PublicApiOverrides {
  wallet?: WalletStore;
  usage?: UsagePublisher;
  guardrail?: GuardrailReader;
  upstream?: Upstream;
  fetchSecret?: FetchSecret;
}

export interface PublicApiCounters {
  /** Client retries sent without an Idempotency-Key (`x-stainless-retry-count` > 0). */
  retryWithoutIdempotencyKey?: () => void;
}

export interface PublicApiWiring {
  api: PublicApi;
  /** The upstream key, re-read when it ages out or the upstream refuses it. */
  upstreamKey: SecretProvider;
}

const capped = (ttlMs: number | undefined, max: number): number => Math.min(ttlMs ?? max, max);

/**
 * Builds the completions function's API from its configuration: the one wiring used by the
 * Lambda handler (and by the benchmark, which swaps single ports to measure their cost).
 */
export function createPublicApi(
  config: CompletionsConfig,
  log: Log,
  overrides: PublicApiOverrides = {},
  counters: PublicApiCounters = {},
): PublicApiWiring {
  const { ledgerTable } = config;
  const db = createDocumentClient(config.dynamodbEndpoint);
  const catalogStore = new DynamoCatalogStore(db, ledgerTable);
  const catalogCache = new TtlCache<'active', Catalog>(
    capped(config.catalogCacheTtlMs, MAX_CATALOG_CACHE_TTL_MS),
  );
  const catalog = () => catalogCache.get('active', () => catalogStore.getActive());
  const auth = new Authenticator(
    new DynamoKeyStore(db, ledgerTable),
    capped(config.keyCacheTtlMs, MAX_KEY_CACHE_TTL_MS),
  );
  const secrets = overrides.fetchSecret ? { fetchSecret: overrides.fetchSecret } : {};
  const upstreamKey = createSecretProvider(config.upstreamKey, {
    maxAgeMs: config.upstreamKeyMaxAgeMs,
    ...secrets,
  });
  const toolCallIdKey = createSecretProvider(config.toolCallIdKey, {
    maxAgeMs: TOOL_CALL_ID_KEY_MAX_AGE_MS,
    ...secrets,
  });
  const wallet = overrides.wallet ?? new DynamoWalletStore(db, ledgerTable);
  // One set of per-instance knowledge for every surface: balances and the circuit breaker.
  const deps: LifecycleDeps = {
    auth,
    catalog,
    wallet,
    rateLimiter: new DynamoRateLimiter(db, ledgerTable),
    usage: overrides.usage ?? new EventBridgeUsagePublisher(eventBridgeClient(), config.eventBus),
    guardrail:
      overrides.guardrail ??
      new DynamoGuardrailReader(
        db,
        ledgerTable,
        capped(config.guardrailCacheTtlMs, MAX_GUARDRAIL_CACHE_TTL_MS),
      ),
    upstream:
      overrides.upstream ??
      new HttpUpstream({
        baseUrl: config.upstreamBaseUrl,
        apiKey: upstreamKey.get,
        // A rotated key takes effect on the next request, not at the next refresh.
        onUnauthorized: (refused) => upstreamKey.onUnauthorized(refused).catch(() => false),
      }),
    funds: new Funds(wallet),
    breaker: new CircuitBreaker(),
    log,
  };
  // A key of their own (not the upstream key), so sealed ids survive upstream key rotations
  // and every instance opens every instance's ids.
  const toolCallIds = toolCallIdsFrom(toolCallIdKey);
  const messages = new AnthropicMessagesDialect(toolCallIds);
  const api = new PublicApi({
    auth,
    // A chunk of its own, imported on the first key-holder read: chat requests never load it.
    keyHolder: lazy(() =>
      import('../keyholder/dynamo-key-holder.js').then(({ createKeyHolderApi }) =>
        createKeyHolderApi(db, ledgerTable, config.requestLogTable),
      ),
    ),
    catalog,
    probes: new DynamoProbeResultStore(db, ledgerTable),
    probeIntervalMs: config.probeIntervalMs,
    idempotency: new DynamoIdempotencyStore(db, ledgerTable),
    countRetryWithoutIdempotencyKey: counters.retryWithoutIdempotencyKey,
    log,
    completions: new RequestLifecycle(deps, new OpenAiChatDialect(toolCallIds)),
    messages: new RequestLifecycle(deps, messages),
    countTokens: new MessagesTokenCounter({ auth, catalog, upstream: deps.upstream, dialect: messages, log }),
    errorResponses: SURFACE_ERROR_RESPONSES,
  });
  return { api, upstreamKey };
}

/** One ToolCallIds per key value: rebuilt only if the secret ever changes. */
function toolCallIdsFrom(key: SecretProvider): () => Promise<ToolCallIds> {
  let current: { secret: string; ids: ToolCallIds } | undefined;
  return async () => {
    const secret = await key.get().catch((err: unknown) => {
      throw upstreamError(err); // cannot seal or open ids: the request cannot be served
    });
    if (secret === undefined) throw upstreamError(new Error('The tool-call id key is not set'));
    if (current?.secret !== secret) current = { secret, ids: new ToolCallIds(secret) };
    return current.ids;
  };
}
