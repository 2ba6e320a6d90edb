import { readCompletionsConfig } from '../../shared/config.js';
import { createCompletionsHandler } from '../../shared/runtime/completions-handler.js';
import { createLogger, powertoolsLog } from '../../shared/runtime/logger.js';
import {
  createMetrics,
  errorCounter,
  retryWithoutIdempotencyKeyCounter,
} from '../../shared/runtime/metrics.js';
import { createPublicApi } from '../../shared/runtime/public-api-wiring.js';

// Read once at cold start: a missing or bad variable fails here, with its name, not on a request.
const config = readCompletionsConfig();
const metrics = createMetrics();
const { api } = createPublicApi(
  config,
  powertoolsLog(createLogger()),
  {},
  { retryWithoutIdempotencyKey: retryWithoutIdempotencyKeyCounter(metrics) },
);
export const handler = createCompletionsHandler(api, {
  maxBodyBytes: config.maxBodyBytes,
  abortMarginMs: config.abortMarginMs,
  countError: errorCounter(metrics),
});
