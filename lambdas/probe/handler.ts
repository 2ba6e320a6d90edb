import middy from '@middy/core';
import { createProbeEnv, probeTargetFromEnv } from '../../shared/probe/env.js';
import { createProbeTask } from '../../shared/probe/task.js';
import { createLogger, powertoolsLog } from '../../shared/runtime/logger.js';
import { createMetrics, publishProbeSuccess } from '../../shared/runtime/metrics.js';

// Read once at cold start: a missing URL fails here, with its name.
const target = probeTargetFromEnv();
const metrics = createMetrics();

/** Every task of the synthetic-probe state machine: `{step, state}` in, the next state (or the result) out. */
const probeTask = createProbeTask({
  env: () => createProbeEnv(target),
  log: powertoolsLog(createLogger()),
  probeSucceeded: (passed) => publishProbeSuccess(metrics, passed),
});

export const handler = middy().handler(probeTask);
