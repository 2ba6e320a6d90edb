import type { ProbeEnv } from './env.js';
import { completeMessages } from './messages-step.js';
import type { ProbeResult } from './result.js';
import {
  cleanup,
  complete,
  initialState,
  type ProbeState,
  probeResult,
  saveProbeResult,
  signUp,
  taskErrorOf,
  verifyBilling,
} from './steps.js';

export interface ProbeRunOptions {
  /**
   * Pause before VerifyBilling, as the state machine's Wait state does. Default 0: VerifyBilling polls anyway,
   * and in the state machine the pause only saves Lambda time.
   */
  billingWaitMs?: number;
}

export interface ProbeRun {
  result: ProbeResult;
  /** Whether PUT /admin/probe stored the result (so /health reflects it). */
  recorded: boolean;
  recordError?: string;
}

/** What ProbeSuccess reports for a run: it passed and /health reflects it, as the Record task counts it. */
export const probeRunSucceeded = (run: ProbeRun): boolean => run.result.passed && run.recorded;

/**
 * One probe run outside Step Functions, with the state machine's semantics: the same step functions in the same
 * order, the first failure skips the remaining steps, Cleanup runs on every path, and the result is recorded.
 */
export async function runProbe(env: ProbeEnv, options: ProbeRunOptions = {}): Promise<ProbeRun> {
  let state: ProbeState = initialState(env.now());
  const steps = [
    ['SignUp', signUp],
    ['Complete', complete],
    ['Messages', completeMessages],
    ['VerifyBilling', verifyBilling],
  ] as const;
  for (const [name, step] of steps) {
    if (name === 'VerifyBilling' && options.billingWaitMs) await env.sleep(options.billingWaitMs);
    try {
      state = await step(env, state);
    } catch (err) {
      // What the state machine's Catch (ResultPath $.error) and the Pass state naming the step do.
      state = { ...state, failedStep: name, error: taskErrorOf(err) };
      break;
    }
  }
  try {
    state = await cleanup(env, state);
  } catch (err) {
    state =
      state.failedStep === undefined
        ? { ...state, failedStep: 'Cleanup', error: taskErrorOf(err) }
        : { ...state, cleanupError: taskErrorOf(err) };
  }
  const result = probeResult(state, env.now());
  try {
    if (await saveProbeResult(env, result)) return { result, recorded: true };
    return { result, recorded: false, recordError: 'a result that finished later is already recorded' };
  } catch (err) {
    return { result, recorded: false, recordError: err instanceof Error ? err.message : String(err) };
  }
}
