import { DEFAULT_MAX_BODY_BYTES, ENV, intEnv } from '../../shared/config.js';
import { createCompletionsHandler } from '../../shared/runtime/completions-handler.js';
import { createLogger, powertoolsLog } from '../../shared/runtime/logger.js';
import {
  createMetrics,
  errorCounter,
  retryWithoutIdempotencyKeyCounter,
} from '../../shared/runtime/metrics.js';
import { createPublicApi } from '../../shared/runtime/public-api-wiring.js';

// Built once per instance, at cold start; a missing variable fails here, not on a request.
const metrics = createMetrics();
const api = createPublicApi(
  powertoolsLog(createLogger()),
  {},
  { retryWithoutIdempotencyKey: retryWithoutIdempotencyKeyCounter(metrics) },
);
export const handler = createCompletionsHandler(api, {
  maxBodyBytes: intEnv(ENV.maxBodyBytes, DEFAULT_MAX_BODY_BYTES),
  abortMarginMs: intEnv(ENV.abortMarginMs, 10_000),
  countError: errorCounter(metrics),
});
