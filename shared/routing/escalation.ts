import { TIER_IDS, type TierId, type UpstreamModel } from '../domain/catalog.js';
import { priceTokens, priceUsage } from '../domain/money.js';
import { normaliseUsage } from '../domain/usage-normalise.js';
import type { Upstream } from '../ports.js';
import { higher } from './auto.js';
import type { RouteInput } from './features.js';
import type { RouteDecision } from './router.js';

/**
 * Optional LLM escalation for prompts the classifier is unsure of: one tier-1 call with a few-shot
 * prompt, as in the classifier-router recipe. Off unless the catalog enables it; bounded by a
 * timeout, after which the classifier's (upward) answer stands. Its time and upstream cost are
 * recorded with the request.
 */
export interface EscalationResult {
  /** The tier the LLM named, when it answered in time with one. */
  tier: TierId | undefined;
  outcome: 'ok' | 'timeout' | 'failed' | 'unparsed';
  ms: number;
  upstreamCostMicros: number;
}

const INSTRUCTIONS = `You route requests to one of four model tiers. Answer with one digit only.
1: classification, extraction, yes/no, formatting, short translation.
2: code writing or review, generation, summaries, support replies, explanations.
3: architecture, hard debugging, security, legal or high-stakes analysis.
4: multi-step reasoning, mathematical proofs, optimisation, planning.`;

const SHOTS: Array<[string, string]> = [
  ['Is this review positive or negative? "Arrived broken."', '1'],
  ['Write a Python function that deduplicates a list, with tests.', '2'],
  ['Our Kafka consumers double-process after rebalances and corrupt balances. Find the root cause.', '3'],
  ['Prove that the square root of 2 is irrational.', '4'],
];

/** Characters of the request shown to the escalation model, of which the system prompt's at most. */
const EXCERPT_CHARS = 2_000;
const SYSTEM_EXCERPT_CHARS = 500;

/** What the escalation model is shown: the start of the system prompt, then of the request itself. */
export function excerptOf(input: Pick<RouteInput, 'system' | 'prompt'>): string {
  const system = input.system.slice(0, SYSTEM_EXCERPT_CHARS);
  const budget = EXCERPT_CHARS - (system ? system.length + 1 : 0);
  return [system, input.prompt.slice(0, budget)].filter(Boolean).join('\n');
}

export async function escalate(
  upstream: Upstream,
  model: UpstreamModel,
  input: RouteInput,
  timeoutMs: number,
  now: () => number = Date.now,
): Promise<EscalationResult> {
  const started = now();
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  const result = (outcome: EscalationResult['outcome'], tier?: TierId, cost = 0): EscalationResult => ({
    tier,
    outcome,
    ms: Math.max(0, Math.round(now() - started)),
    upstreamCostMicros: cost,
  });
  const messages = [
    { role: 'system', content: INSTRUCTIONS },
    ...SHOTS.flatMap(([q, a]) => [
      { role: 'user', content: q },
      { role: 'assistant', content: a },
    ]),
    { role: 'user', content: excerptOf(input) },
  ];
  // A call given up at the timeout may still be billed for its prompt: its UTF-8 bytes bound the
  // prompt's tokens from above, so the spend recorded is never less than the upstream's.
  const promptBound = (): number => priceTokens(model.cost, Buffer.byteLength(JSON.stringify(messages)), 0);
  let answered = false;
  try {
    const reply = await upstream.send(
      { path: '/chat/completions', body: { model: model.id, messages, max_tokens: 2, temperature: 0 } },
      controller.signal,
    );
    if (!reply.ok) return result('failed');
    answered = true;
    const body = JSON.parse(await reply.text()) as {
      choices?: Array<{ message?: { content?: unknown } }>;
      usage?: unknown;
    };
    // The upstream's own cost when it reports one, else the model's price of the usage it
    // reports (cached tokens included), else the bound of the prompt.
    const usage = normaliseUsage(body.usage);
    const cost = usage ? (usage.upstreamCostMicros ?? priceUsage(model.cost, usage)) : promptBound();
    const content = body.choices?.[0]?.message?.content;
    const digit = typeof content === 'string' ? /[1-4]/.exec(content)?.[0] : undefined;
    return digit ? result('ok', TIER_IDS[Number(digit) - 1], cost) : result('unparsed', undefined, cost);
  } catch {
    // Given up at the timeout, or an answer that could not be read: the call may still be billed.
    if (controller.signal.aborted) return result('timeout', undefined, promptBound());
    return answered ? result('unparsed', undefined, promptBound()) : result('failed');
  } finally {
    clearTimeout(timer);
  }
}

/**
 * An ambiguous decision settled by an escalation's answer. The answer may take the tier down from
 * the classifier's upward choice, but never below its most likely tier nor a rule's floor; the
 * reason names what set the tier.
 */
export function settle(decision: RouteDecision, asked: TierId): { tier: TierId; reason: string } {
  const likely = decision.likely ?? asked;
  const floor = decision.floor ?? likely;
  if (higher(floor, higher(asked, likely)) !== higher(asked, likely)) {
    return { tier: floor, reason: `rule:${decision.floorRule}` };
  }
  if (higher(asked, likely) !== asked) return { tier: likely, reason: decision.reason };
  return { tier: asked, reason: `llm:${asked}` };
}
