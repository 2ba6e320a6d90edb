import * as z from 'zod/v4';
import { type ProbeStepName, type ProbeStepResult, redactSecrets } from './result.js';

/** The state that flows from task to task of the probe, and the error a failed step throws. */

/** An error from the failure path of the state machine: a Catch's `{Error, Cause}`. */
export interface TaskError {
  Error: string;
  Cause?: string;
}

export interface ProbeAccount {
  id: string;
  keyId: string;
  creditMicros: number;
}

/** What flows from task to task (the state machine's JSON state). */
export interface ProbeState {
  startedAt: string;
  /** Steps that passed so far, in order. */
  steps: ProbeStepResult[];
  account?: ProbeAccount;
  /** The throwaway key Complete uses. It dies with the account, and Cleanup drops it from the state. */
  apiKey?: string;
  /** Gateway request ids of the probe's completions (chat and Messages), for VerifyBilling. */
  requestIds?: string[];
  /** The streamed Messages completion: its request id and the usage its client was told, for VerifyBilling. */
  messages?: { requestId: string; inputTokens: number; outputTokens: number };
  /** Set on the failure path: the failed step (by a Pass state) and its error (by the Catch). */
  failedStep?: string;
  error?: TaskError;
  /** Set when the cleanup that followed a failure failed too. */
  cleanupError?: TaskError;
}

const stepResult = z.object({
  name: z.string(),
  passed: z.boolean(),
  ms: z.number(),
  error: z.string().optional(),
});
const taskError = z.object({ Error: z.string(), Cause: z.string().optional() });

/** Validates the state a task receives; unknown fields are dropped. */
export const probeStateSchema = z.object({
  startedAt: z.string(),
  steps: z.array(stepResult),
  account: z.object({ id: z.string(), keyId: z.string(), creditMicros: z.number() }).optional(),
  apiKey: z.string().optional(),
  requestIds: z.array(z.string()).optional(),
  messages: z.object({ requestId: z.string(), inputTokens: z.number(), outputTokens: z.number() }).optional(),
  failedStep: z.string().optional(),
  error: taskError.optional(),
  cleanupError: taskError.optional(),
});

/** A step that did not pass. The name is the error type Step Functions sees. */
export class ProbeStepError extends Error {
  override readonly name = 'ProbeStepFailed';
  constructor(
    readonly step: ProbeStepName,
    readonly ms: number,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(redactSecrets(message), options);
  }
}

/** The state a run starts from. */
export function initialState(now: number): ProbeState {
  return { startedAt: new Date(now).toISOString(), steps: [] };
}
