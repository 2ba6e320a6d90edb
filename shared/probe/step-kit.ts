import { catalogModelIds, headerLeaks, leakTerms, PROBE_TIER } from './checks.js';
import type { ProbeEnv } from './env.js';
import type { ProbeStepName, ProbeStepResult } from './result.js';
import { ProbeStepError } from './state.js';

/** What every probe step uses: its timer, its failure texts, and one call of the public API as a client makes it. */

/**
 * Output cap of the probe's completions. On chat `max_completion_tokens`, because reasoning models refuse
 * `max_tokens`; large enough that a reasoning model still has tokens left to answer after it has thought.
 */
export const PROBE_MAX_COMPLETION_TOKENS = 512;
export const PROBE_PROMPT = 'This is a health check. Reply with the single word OK.';

export interface Timer {
  ms(): number;
  fail(message: string, cause?: unknown): ProbeStepError;
  pass(): ProbeStepResult;
}

export function timer(env: ProbeEnv, step: ProbeStepName): Timer {
  const started = env.now();
  const ms = () => Math.max(0, Math.round(env.now() - started));
  return {
    ms,
    fail: (message, cause) => new ProbeStepError(step, ms(), message, cause === undefined ? {} : { cause }),
    pass: () => ({ name: step, passed: true, ms: ms() }),
  };
}

/** One line about a failure: its message. Admin API messages hold no secrets; ProbeStepError masks any anyway. */
export function describeFailure(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}

export const statusOf = (err: unknown): number | undefined => {
  const status = (err as { status?: unknown } | null)?.status;
  return typeof status === 'number' ? status : undefined;
};

export function need<T>(value: T | undefined, what: string, step: ProbeStepName): T {
  if (value === undefined) throw new ProbeStepError(step, 0, `${what} is missing from the probe state`);
  return value;
}

export interface CallResult {
  status: number;
  headers: Headers;
  text: string;
}

/** One POST to the public API with the probe key's headers, bounded in time; a timeout or network error throws. */
export async function callPublicApi(
  env: ProbeEnv,
  path: string,
  headers: Record<string, string>,
  body: unknown,
): Promise<CallResult> {
  const response = await env.fetch(`${env.publicUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(env.requestTimeoutMs),
  });
  return { status: response.status, headers: response.headers, text: await response.text() };
}

/** The words no response may contain: the active catalog's model ids and provider names. */
export async function catalogLeakTerms(env: ProbeEnv, t: Timer): Promise<string[]> {
  try {
    return leakTerms(catalogModelIds(await env.admin.send({ method: 'GET', path: '/admin/tiers' })));
  } catch (err) {
    throw t.fail(`reading the catalog: ${describeFailure(err)}`, err);
  }
}

/** Why a call got no answer, in a few words. */
export const noAnswer = (err: unknown): string =>
  err instanceof Error && err.name === 'TimeoutError' ? 'timed out' : describeFailure(err);

/**
 * "HTTP 502 upstream_error": the status and the gateway's error code (OpenAI's `error.code`, Anthropic's
 * `error.type`), never its message.
 */
export function failedCall(result: CallResult): string {
  let code = '';
  try {
    const parsed = JSON.parse(result.text) as { error?: { code?: unknown; type?: unknown } };
    const named = parsed.error?.code ?? parsed.error?.type;
    if (typeof named === 'string') code = ` ${named.slice(0, 64)}`;
  } catch {
    // Not JSON: the status says enough.
  }
  return `HTTP ${result.status}${code}`;
}

/** The gateway's own headers: the probe's tier, a request id, and nothing that names an upstream. */
export function gatewayHeaderProblems(
  result: CallResult,
  terms: readonly string[],
  tier: string = PROBE_TIER,
): string[] {
  const problems = headerLeaks(result.headers, terms);
  if (result.headers.get('x-tier') !== tier) problems.push(`header x-tier is not ${tier}`);
  if (!result.headers.get('x-request-id')) problems.push('header x-request-id is missing');
  return problems;
}
