import { MetricUnit } from '@aws-lambda-powertools/metrics';
import middy from '@middy/core';
import { createProbeEnv, probeTargetFromEnv } from '../../shared/probe/env.js';
import { PROBE_SUCCESS_METRIC } from '../../shared/probe/result.js';
import { createProbeTask } from '../../shared/probe/task.js';
import { createLogger, powertoolsLog } from '../../shared/runtime/logger.js';
import { createMetrics } from '../../shared/runtime/metrics.js';

// Read once at cold start: a missing URL fails here, with its name.
const target = probeTargetFromEnv();
const metrics = createMetrics();

/** Every task of the synthetic-probe state machine: `{step, state}` in, the next state (or the result) out. */
const probeTask = createProbeTask({
  env: () => createProbeEnv(target),
  log: powertoolsLog(createLogger()),
  probeSucceeded: (passed) => {
    // Dimensions: only Powertools' `service`, the set the probe alarms watch (metricDimensions()).
    metrics.addMetric(PROBE_SUCCESS_METRIC, MetricUnit.Count, passed ? 1 : 0);
    metrics.publishStoredMetrics();
  },
});

export const handler = middy().handler(probeTask);
