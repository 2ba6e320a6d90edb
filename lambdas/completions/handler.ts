import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { DynamoCatalogStore } from '../../shared/adapters/dynamodb/catalog-store.js';
import { createDocumentClient } from '../../shared/adapters/dynamodb/client.js';
import { DynamoGuardrailReader } from '../../shared/adapters/dynamodb/guardrail-reader.js';
import { DynamoKeyStore } from '../../shared/adapters/dynamodb/key-store.js';
import { DynamoWalletStore } from '../../shared/adapters/dynamodb/wallet-store.js';
import { fromFunctionUrlEvent } from '../../shared/adapters/function-url.js';
import { HttpUpstream } from '../../shared/adapters/upstream.js';
import { EventBridgeUsagePublisher } from '../../shared/adapters/usage-publisher.js';
import {
  DEFAULT_MAX_BODY_BYTES,
  DEFAULT_UPSTREAM_BASE_URL,
  ENV,
  intEnv,
  optionalEnv,
  requireEnv,
} from '../../shared/config.js';
import { asGatewayError } from '../../shared/domain/errors.js';
import { TtlCache } from '../../shared/domain/ttl-cache.js';
import { Authenticator, MAX_KEY_CACHE_TTL_MS } from '../../shared/gateway/auth.js';
import { ChatCompletions } from '../../shared/gateway/chat-completions.js';
import { DynamoProbeResultStore } from '../../shared/gateway/health.js';
import { PublicApi } from '../../shared/gateway/public-api.js';
import { errorResponse } from '../../shared/http.js';
import { eventBridgeClient } from '../../shared/runtime/event-bridge.js';
import { createLogger, powertoolsLog } from '../../shared/runtime/logger.js';
import { upstreamApiKey } from '../../shared/runtime/upstream-key.js';

// Configuration and clients are built once per instance, at cold start; a missing variable fails here.
const MAX_CATALOG_CACHE_TTL_MS = 30_000;
const ledgerTable = requireEnv(ENV.ledgerTable);
const busName = requireEnv(ENV.eventBus);
const maxBodyBytes = intEnv(ENV.maxBodyBytes, DEFAULT_MAX_BODY_BYTES);
const abortMarginMs = intEnv(ENV.abortMarginMs, 10_000);
const probeIntervalMs = intEnv(ENV.probeIntervalMinutes, 360) * 60_000;

const logger = createLogger();
const log = powertoolsLog(logger);
const db = createDocumentClient(optionalEnv(ENV.dynamodbEndpoint));
const catalogStore = new DynamoCatalogStore(db, ledgerTable);
const catalogCache = new TtlCache<'active', Awaited<ReturnType<DynamoCatalogStore['getActive']>>>(
  Math.min(intEnv(ENV.catalogCacheTtlMs, MAX_CATALOG_CACHE_TTL_MS), MAX_CATALOG_CACHE_TTL_MS),
);
const catalog = () => catalogCache.get('active', () => catalogStore.getActive());
const auth = new Authenticator(
  new DynamoKeyStore(db, ledgerTable),
  intEnv(ENV.keyCacheTtlMs, MAX_KEY_CACHE_TTL_MS),
);

const api = new PublicApi({
  auth,
  catalog,
  probes: new DynamoProbeResultStore(db, ledgerTable),
  probeIntervalMs,
  completions: new ChatCompletions({
    auth,
    catalog,
    wallet: new DynamoWalletStore(db, ledgerTable),
    usage: new EventBridgeUsagePublisher(eventBridgeClient(), busName),
    guardrail: new DynamoGuardrailReader(db, ledgerTable, intEnv(ENV.guardrailCacheTtlMs, 10_000)),
    upstream: new HttpUpstream({
      baseUrl: optionalEnv(ENV.upstreamBaseUrl) ?? DEFAULT_UPSTREAM_BASE_URL,
      apiKey: upstreamApiKey,
    }),
    log,
  }),
});

const newRequestId = (): string => randomBytes(12).toString('hex');

/** Function URL adapter: event in, status + headers + (possibly streamed) body out. */
async function completions(event: APIGatewayProxyEventV2, context: Context) {
  const requestId = newRequestId();
  const remaining =
    typeof context?.getRemainingTimeInMillis === 'function' ? context.getRemainingTimeInMillis() : 900_000;
  const deadline = Date.now() + Math.max(1_000, remaining - abortMarginMs);
  let response: Awaited<ReturnType<PublicApi['handle']>>;
  try {
    response = await api.handle(fromFunctionUrlEvent(event, maxBodyBytes), { requestId, deadline });
  } catch (err) {
    response = errorResponse(asGatewayError(err), requestId);
  }
  const body = typeof response.body === 'string' ? response.body : Readable.from(response.body);
  return { statusCode: response.status, headers: response.headers, body };
}

export const handler = middy<APIGatewayProxyEventV2, Awaited<ReturnType<typeof completions>>>({
  streamifyResponse: true,
  timeoutEarlyInMillis: 0,
}).handler(completions);
