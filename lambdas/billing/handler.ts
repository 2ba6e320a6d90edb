import { readBillingConfig } from '../../shared/config.js';
import { createBillingHandler } from '../../shared/runtime/ledger-handlers.js';
import { createLogger } from '../../shared/runtime/logger.js';
import { createMetrics } from '../../shared/runtime/metrics.js';

// Read once at cold start: a missing or bad variable fails here, with its name.
export const handler = createBillingHandler(readBillingConfig(), {
  logger: createLogger(),
  metrics: createMetrics(),
});
