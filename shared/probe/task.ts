import * as z from 'zod/v4';
import type { Log } from '../http.js';
import type { ProbeEnv } from './env.js';
import { asTaskFailure, PROBE_TASKS, type ProbeTaskName, probeStateSchema, recordRun } from './steps.js';

/** The event each state machine task sends the probe function: which step, and the state so far. */
export const probeTaskEvent = z.object({
  step: z.enum(Object.keys(PROBE_TASKS) as [ProbeTaskName, ...ProbeTaskName[]]),
  state: probeStateSchema,
});
export type ProbeTaskEvent = z.infer<typeof probeTaskEvent>;

export interface ProbeTaskDeps {
  /** A fresh environment per invocation (credentials are read at that moment). */
  env: () => ProbeEnv;
  log: Log;
  /** Publishes ProbeSuccess: 1 when the run passed and its result was recorded, else 0. */
  probeSucceeded: (passed: boolean) => void;
}

/** Thrown for an event that is not a probe task; Step Functions sees the name as the error type. */
export class InvalidProbeTaskError extends Error {
  override readonly name = 'InvalidProbeTask';
}

/**
 * The probe function's logic: dispatches on `event.step` to the step functions. A failed step leaves as a
 * `ProbeStepFailed` error for the state machine's Catch; the Record task also publishes the ProbeSuccess metric.
 */
export function createProbeTask(deps: ProbeTaskDeps) {
  return async (event: unknown): Promise<unknown> => {
    const parsed = probeTaskEvent.safeParse(event);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new InvalidProbeTaskError(
        `Not a probe task event: ${issue?.path.map(String).join('.') || 'event'} (${issue?.code ?? 'invalid'})`,
      );
    }
    const { step, state } = parsed.data;
    const env = deps.env();
    if (step === 'record') {
      let passed = false;
      try {
        const { result, recorded } = await recordRun(env, state);
        // As the local runner counts a run: a pass that is not what /health shows is no success.
        passed = result.passed && recorded;
        deps.log.info('probe recorded', {
          passed: result.passed,
          recorded,
          failingStep: result.failingStep,
          startedAt: state.startedAt,
        });
        return result;
      } finally {
        // Also when recording failed: then /health will not show this run, so it must not count as a success.
        deps.probeSucceeded(passed);
      }
    }
    try {
      return await PROBE_TASKS[step](env, state);
    } catch (err) {
      const failure = asTaskFailure(err);
      deps.log.warn('probe step failed', { step, error: failure.message });
      throw failure;
    }
  };
}
