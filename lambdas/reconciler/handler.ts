import { readReconcilerConfig } from '../../shared/config.js';
import { createReconcilerHandler } from '../../shared/runtime/ledger-handlers.js';
import { createLogger, powertoolsLog } from '../../shared/runtime/logger.js';
import { createMetrics } from '../../shared/runtime/metrics.js';

// Read once at cold start: a missing or bad variable fails here, with its name.
export const handler = createReconcilerHandler(readReconcilerConfig(), {
  log: powertoolsLog(createLogger()),
  metrics: createMetrics(),
});
