import type { ProbeEnv } from './env.js';
import { PROBE_STEPS, type ProbeResult, type ProbeStepResult, redactSecrets } from './result.js';
import { type ProbeState, ProbeStepError, type TaskError } from './state.js';

/** How a probe run's tasks end: failures as the state machine carries them, and the run's recorded result. */

function tryJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * A failed task as a step result. A ProbeStepError arrives as its JSON (see `asTaskFailure`); in AWS wrapped in
 * Lambda's `{errorType, errorMessage}` envelope. Anything else (a timeout, a crash) is named by its type.
 */
export function failedStepResult(
  step: string,
  error: TaskError | undefined,
  fallbackMs: number,
): ProbeStepResult {
  const cause = error?.Cause ?? '';
  const envelope = tryJson(cause) as { errorMessage?: unknown } | undefined;
  const message = typeof envelope?.errorMessage === 'string' ? envelope.errorMessage : cause;
  const detail = tryJson(message) as { ms?: unknown; error?: unknown } | undefined;
  if (typeof detail?.error === 'string') {
    const ms = typeof detail.ms === 'number' && detail.ms >= 0 ? Math.round(detail.ms) : fallbackMs;
    return { name: step, passed: false, ms, error: redactSecrets(detail.error) };
  }
  const type = error?.Error ?? 'unknown error';
  return {
    name: step,
    passed: false,
    ms: fallbackMs,
    error: redactSecrets(message && message !== type ? `${type}: ${message}` : type),
  };
}

/** How a thrown step error leaves a task: a ProbeStepError as JSON Record can read back, timing included. */
export function asTaskFailure(err: unknown): Error {
  if (err instanceof ProbeStepError) {
    const failure = new Error(JSON.stringify({ step: err.step, ms: err.ms, error: err.message }));
    failure.name = err.name;
    return failure;
  }
  return err instanceof Error ? err : new Error(String(err));
}

/** The `{Error, Cause}` a Catch would hand on for this error. */
export function taskErrorOf(err: unknown): TaskError {
  const failure = asTaskFailure(err);
  return { Error: failure.name, Cause: failure.message };
}

/** The run's result from the final state: every step in order, the first failure, and whether all passed. */
export function probeResult(state: ProbeState, now: number): ProbeResult {
  const elapsed = Math.max(0, now - Date.parse(state.startedAt));
  const known = state.steps.reduce((sum, step) => sum + step.ms, 0);
  // Without its own timing (a Lambda timeout, say), a failed step gets what is left of the run's time.
  const rest = Number.isFinite(elapsed) ? Math.max(0, Math.round(elapsed - known)) : 0;
  const steps = state.steps.filter((step) => step.name !== 'Cleanup');
  if (state.failedStep !== undefined && state.failedStep !== 'Cleanup') {
    steps.push(failedStepResult(state.failedStep, state.error, rest));
  }
  steps.push(...state.steps.filter((step) => step.name === 'Cleanup'));
  if (state.failedStep === 'Cleanup') steps.push(failedStepResult('Cleanup', state.error, rest));
  if (state.cleanupError) steps.push(failedStepResult('Cleanup', state.cleanupError, rest));
  const failingStep =
    state.failedStep ??
    steps.find((step) => !step.passed)?.name ??
    // A state that skipped a step cannot pass: name the first one missing.
    PROBE_STEPS.find((name) => !steps.some((step) => step.name === name));
  const passed = failingStep === undefined;
  return {
    passed,
    startedAt: state.startedAt,
    at: new Date(now).toISOString(),
    ...(failingStep === undefined ? {} : { failingStep }),
    steps,
    ...(state.account ? { probeAccountId: state.account.id } : {}),
  };
}

/**
 * Writes a result to the ledger through the admin API, so /health and GET /admin/probe show it. False when the
 * ledger already holds a result that finished later (this one is then not stored).
 */
export async function saveProbeResult(env: ProbeEnv, result: ProbeResult): Promise<boolean> {
  const answer = await env.admin.send({ method: 'PUT', path: '/admin/probe', body: result });
  return (answer as { recorded?: unknown } | undefined)?.recorded !== false;
}
