/**
 * The demo upstream's faults: rules a test injects (`injectFault`), and fault words a person
 * types in a prompt when trying the gateway with `npm start` (`fault:503`, `fault:hang`, …).
 */

export type DemoFault =
  /** Answer with this HTTP status and an OpenAI-shaped error body (and retry-after if given). */
  | { kind: 'status'; status: number; retryAfterSeconds?: number }
  /** Accept the request and send nothing at all until the client aborts. */
  | { kind: 'hang' }
  /**
   * Streaming: destroy the socket after N content chunks (0 = right after the SSE preamble and
   * TTFT; if the reply is shorter than N, just before the finish chunk). Non-streaming: destroy
   * the socket instead of sending the body.
   */
  | { kind: 'disconnect'; afterChunks: number }
  /**
   * Streaming: after the role chunk and the first content chunk, send a `data: {not json` frame
   * and end without `[DONE]`. Non-streaming: a truncated, unparseable JSON body with status 200.
   */
  | { kind: 'malformed-sse' }
  /** Omit the usage block (non-stream: no `usage` field; stream: no usage chunk). */
  | { kind: 'no-usage' }
  /** Override pacing for this request. */
  | { kind: 'slow'; tokensPerSecond: number };

/**
 * `model`: only requests whose body.model equals this; `times`: how many requests (default unlimited);
 * `probability`: the chance (0..1, default 1) that the rule applies to a matching request, for random
 * faults under load. A rule that does not fire uses up none of its `times`, and the next matching rule
 * gets its chance.
 */
export interface FaultRule {
  fault: DemoFault;
  model?: string;
  times?: number;
  probability?: number;
}

/** Injected fault rules, in order; a rule that has fired `times` times is dropped. */
export class FaultRules {
  private slots: Array<{ rule: FaultRule; remaining: number }> = [];

  inject(rule: FaultRule): void {
    const p = rule.probability;
    if (p !== undefined && !(p >= 0 && p <= 1)) throw new RangeError('probability must be between 0 and 1');
    this.slots.push({ rule, remaining: rule.times ?? Number.POSITIVE_INFINITY });
  }

  clear(): void {
    this.slots = [];
  }

  /** The fault for a request to `model`, using up one of its rule's `times`. */
  take(model: string): DemoFault | undefined {
    const slot = this.slots.find(
      (f) =>
        f.remaining > 0 &&
        (f.rule.model === undefined || f.rule.model === model) &&
        (f.rule.probability === undefined || Math.random() < f.rule.probability),
    );
    if (slot === undefined) return undefined;
    slot.remaining--;
    this.slots = this.slots.filter((f) => f.remaining > 0);
    return slot.rule.fault;
  }
}

/** Prompt words and the fault each one asks for (README: "Demo upstream"). */
export const FAULT_WORDS = {
  'fault:<status>': 'that HTTP status (400-599) with an upstream-style error, e.g. fault:429, fault:503',
  'fault:hang': 'accepts the request and sends nothing (the tier timeout answers)',
  'fault:disconnect[:N]': 'drops the connection after N content chunks (default 0)',
  'fault:malformed': 'a reply that is not valid JSON / SSE',
  'fault:no-usage': 'a reply without a usage block (the gateway estimates)',
  'fault:slow': 'streams at 5 tokens per second',
} as const;

const FAULT_WORD = /\bfault:(\d{3}|hang|disconnect(?::(\d+))?|malformed|no-usage|slow)(?![\w-])/g;

/** The fault the last fault word in `text` asks for, if any. */
export function promptFault(text: string): DemoFault | undefined {
  let fault: DemoFault | undefined;
  for (const [, word = '', after] of text.matchAll(FAULT_WORD)) {
    if (/^\d{3}$/.test(word)) {
      const status = Number(word);
      if (status >= 400 && status <= 599) fault = { kind: 'status', status };
    } else if (word === 'hang') fault = { kind: 'hang' };
    else if (word.startsWith('disconnect')) fault = { kind: 'disconnect', afterChunks: Number(after ?? 0) };
    else if (word === 'malformed') fault = { kind: 'malformed-sse' };
    else if (word === 'no-usage') fault = { kind: 'no-usage' };
    else if (word === 'slow') fault = { kind: 'slow', tokensPerSecond: 5 };
  }
  return fault;
}

/** Type and code per status roughly as OpenAI/OpenRouter send them. */
export const STATUS_ERRORS: Readonly<Record<number, { type: string; code: string }>> = {
  400: { type: 'invalid_request_error', code: 'bad_request' },
  401: { type: 'authentication_error', code: 'invalid_api_key' },
  402: { type: 'insufficient_quota', code: 'insufficient_credits' },
  403: { type: 'invalid_request_error', code: 'moderation_blocked' },
  404: { type: 'invalid_request_error', code: 'model_not_found' },
  408: { type: 'server_error', code: 'timeout' },
  429: { type: 'rate_limit_error', code: 'rate_limit_exceeded' },
  500: { type: 'server_error', code: 'internal_error' },
  502: { type: 'server_error', code: 'upstream_error' },
  503: { type: 'server_error', code: 'service_unavailable' },
  529: { type: 'server_error', code: 'overloaded' },
};
