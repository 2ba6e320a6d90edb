import * as z from 'zod/v4';

/**
 * The synthetic probe's result: what the Record step writes (PUT /admin/probe) and what /health reads. Shared by
 * the Lambda, the admin API, the local runtime and `npm run probe`.
 */

/** The probe's steps in the order they run; also the names of the state machine's step tasks. */
export const PROBE_STEPS = ['SignUp', 'Complete', 'Messages', 'VerifyBilling', 'Cleanup'] as const;
export type ProbeStepName = (typeof PROBE_STEPS)[number];

export interface ProbeStepResult {
  name: string;
  passed: boolean;
  ms: number;
  /** Why the step failed: never a key, a prompt or a completion. */
  error?: string;
}

export interface ProbeResult {
  passed: boolean;
  /** ISO time the run started (absent on results recorded before it existed). */
  startedAt?: string;
  /** ISO time the run finished. */
  at: string;
  failingStep?: string;
  steps?: ProbeStepResult[];
  /** The throwaway account of the run, so an operator can find it if its cleanup failed. */
  probeAccountId?: string;
}

export const MAX_STEP_ERROR_CHARS = 500;
/** How far in the future a result's `at` may lie (clock skew): a later one would keep /health fresh for ever. */
export const MAX_CLOCK_SKEW_MS = 5 * 60_000;

// Tiergate API keys (tg-), admin tokens (tga-), upstream keys (sk-…) and bearer headers.
const SECRET_PATTERNS: readonly RegExp[] = [
  /\btga?-[A-Za-z0-9_-]{16,}/g,
  /\bsk-[A-Za-z0-9_-]{16,}/g,
  /\bBearer\s+\S+/gi,
];

/** A step error as it may be stored: secrets masked, one line, bounded. */
export function redactSecrets(text: string): string {
  let out = text.replace(/\s+/g, ' ').trim();
  for (const pattern of SECRET_PATTERNS) out = out.replace(pattern, '[redacted]');
  return out.length > MAX_STEP_ERROR_CHARS ? `${out.slice(0, MAX_STEP_ERROR_CHARS - 1)}…` : out;
}

const stepName = z.string().trim().min(1).max(64);

const probeStepBody = z.strictObject({
  name: stepName,
  passed: z.boolean(),
  ms: z.number().int().nonnegative().max(86_400_000),
  error: z.string().max(MAX_STEP_ERROR_CHARS).optional(),
});

/** The body of PUT /admin/probe. */
export const probeResultBody = z
  .strictObject({
    passed: z.boolean(),
    startedAt: z.iso.datetime(),
    at: z.iso.datetime(),
    failingStep: stepName.optional(),
    steps: z.array(probeStepBody).min(1).max(20),
    probeAccountId: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,128}$/)
      .optional(),
  })
  .superRefine((body, ctx) => {
    if (body.passed && body.failingStep !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['failingStep'], message: 'must be absent when passed is true' });
    }
    if (body.passed && body.steps.some((step) => !step.passed)) {
      ctx.addIssue({ code: 'custom', path: ['steps'], message: 'every step must pass when passed is true' });
    }
    if (!body.passed && body.failingStep === undefined) {
      ctx.addIssue({ code: 'custom', path: ['failingStep'], message: 'is required when passed is false' });
    }
    if (Date.parse(body.startedAt) > Date.parse(body.at)) {
      ctx.addIssue({ code: 'custom', path: ['startedAt'], message: 'must not be after at' });
    }
    if (Date.parse(body.at) > Date.now() + MAX_CLOCK_SKEW_MS) {
      ctx.addIssue({ code: 'custom', path: ['at'], message: 'must not be in the future' });
    }
  });
