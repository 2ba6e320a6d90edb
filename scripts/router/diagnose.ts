import { TIER_IDS, type TierId } from '../../shared/domain/catalog.js';
import { decide, type RouterModel, softmax } from '../../shared/routing/classifier.js';
import { fnv1a } from '../../shared/routing/features.js';
import type { RuleOutcome } from '../../shared/routing/rules.js';

/**
 * Where the router's misroutes come from, on out-of-fold predictions of the training part (never
 * the held-out part): an exact rule, a rule's floor above the classifier's answer, the classifier's
 * most likely tier being wrong, or the conservative thresholds moving a right most-likely tier up.
 */
export type ErrorSource =
  | `rule:${string}`
  | `floor:${string}`
  | 'classifier'
  | 'classifier+threshold'
  | 'threshold';

export interface Attributed {
  label: TierId;
  chosen: TierId;
  /** Undefined when the router agreed with the label. */
  source: ErrorSource | undefined;
}

type Thresholds = Pick<RouterModel, 'maxDownRisk' | 'minConfidence' | 'temperature'>;

/** One prediction: what the router chose for it and, if that is not the label, why. */
export function attribute(
  p: { label: TierId; rule: RuleOutcome | undefined; logits: number[] },
  thresholds: Thresholds,
): Attributed {
  const label = TIER_IDS.indexOf(p.label);
  if (p.rule?.kind === 'exact') {
    const chosen = TIER_IDS.indexOf(p.rule.tier);
    return {
      label: p.label,
      chosen: p.rule.tier,
      source: chosen === label ? undefined : `rule:${p.rule.rule}`,
    };
  }
  const probabilities = softmax(p.logits.map((l) => l / thresholds.temperature));
  const decision = decide(probabilities, thresholds);
  const model = TIER_IDS.indexOf(decision.tier);
  const likely = TIER_IDS.indexOf(decision.likely);
  const floor = p.rule ? TIER_IDS.indexOf(p.rule.tier) : -1;
  const chosen = Math.max(model, floor);
  const tier = TIER_IDS[chosen] as TierId;
  if (chosen === label) return { label: p.label, chosen: tier, source: undefined };
  let source: ErrorSource;
  if (p.rule && floor > model) source = `floor:${p.rule.rule}`;
  else if (likely === label) source = 'threshold';
  else source = model === likely ? 'classifier' : 'classifier+threshold';
  return { label: p.label, chosen: tier, source };
}

/** Misroutes counted by source and direction (`classifier up`, `floor:tools up`), most first. */
export function errorSources(attributed: Attributed[]): Array<[string, number]> {
  const counts = new Map<string, number>();
  for (const a of attributed) {
    if (a.source === undefined) continue;
    const direction = TIER_IDS.indexOf(a.chosen) > TIER_IDS.indexOf(a.label) ? 'up' : 'down';
    const key = `${a.source} ${direction}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
}

/**
 * The training examples in another order, so that `i % folds` draws other folds: redrawn folds show
 * how much of a cross-validated difference is the draw. Draw 0 is the order `train-router` uses.
 */
export function redraw<T extends { prompt: string }>(examples: T[], draw: number): T[] {
  if (draw === 0) return examples;
  return examples
    .map((example, i) => ({ example, i, key: fnv1a(`${draw}:${example.prompt}`) }))
    .sort((a, b) => a.key - b.key || a.i - b.i)
    .map(({ example }) => example);
}
