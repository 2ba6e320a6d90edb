import { readGuardrailConfig } from '../../shared/config.js';
import { createGuardrailHandler } from '../../shared/runtime/ledger-handlers.js';
import { createLogger } from '../../shared/runtime/logger.js';
import { createMetrics } from '../../shared/runtime/metrics.js';

// Read once at cold start: a missing or bad variable fails here, with its name.
export const handler = createGuardrailHandler(readGuardrailConfig(), {
  logger: createLogger(),
  metrics: createMetrics(),
});
