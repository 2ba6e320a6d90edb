import type { TierId } from '../domain/catalog.js';
import { higher } from './auto.js';
import { Classifier } from './classifier.js';
import type { RouteInput } from './features.js';
import { ROUTER_MODEL } from './model.generated.js';
import { applyRules } from './rules.js';

/** Why a tier was chosen: a rule, the classifier, or an LLM escalation. */
export interface RouteDecision {
  tier: TierId;
  /** Short code for `x-tier-route` and the request log: `rule:tools`, `model:0.82`, `llm:tier-3`. */
  reason: string;
  /** The classifier's confidence that the tier is enough, when it was consulted. */
  confidence?: number;
  /** The classifier was unsure (its answer went up from the most likely tier): an escalation may settle it. */
  ambiguous: boolean;
  /** The classifier's most likely tier, when it was consulted. */
  likely?: TierId;
  /** The tier the rules require at least, when one applies, and the rule's name. */
  floor?: TierId;
  floorRule?: string;
}

const round2 = (n: number): number => Math.floor(n * 100) / 100;

/** Rules first, then the classifier; in-process, synchronous, no network. */
export class Router {
  constructor(private readonly classifier: Classifier = defaultClassifier()) {}

  route(input: RouteInput): RouteDecision {
    const rule = applyRules(input);
    if (rule?.kind === 'exact') return { tier: rule.tier, reason: `rule:${rule.rule}`, ambiguous: false };
    const model = this.classifier.classify(input);
    const confidence = round2(model.confidence);
    const floor = rule ? { floor: rule.tier, floorRule: rule.rule } : {};
    if (rule && higher(rule.tier, model.tier) !== model.tier) {
      return {
        tier: rule.tier,
        reason: `rule:${rule.rule}`,
        confidence,
        ambiguous: false,
        likely: model.likely,
        ...floor,
      };
    }
    const ambiguous = model.unsure || model.tier !== model.likely;
    return {
      tier: model.tier,
      reason: `model:${confidence.toFixed(2)}`,
      confidence,
      ambiguous,
      likely: model.likely,
      ...floor,
    };
  }
}

let shared: Classifier | undefined;
/** The classifier of the committed artifact, decoded on first use. */
export function defaultClassifier(): Classifier {
  shared ??= new Classifier(ROUTER_MODEL);
  return shared;
}
