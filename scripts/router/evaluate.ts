import { TIER_IDS, type TierId } from '../../shared/domain/catalog.js';
import type { RouteInput } from '../../shared/routing/features.js';
import type { Router } from '../../shared/routing/router.js';
import { alwaysTier2, keywordHeuristic } from './baselines.js';
import { type LabelledExample, toRouteInput } from './dataset.js';
import { measure, type RoutingMetrics } from './metrics.js';
import { type CrossValidation, TRAINING } from './train.js';

export interface Evaluation {
  router: RoutingMetrics;
  alwaysTier2: RoutingMetrics;
  keyword: RoutingMetrics;
  /** The router against the labels three readers settled on (data/router/labels.md). */
  settled?: RoutingMetrics;
}

/** Agreement and downward misroutes the committed artifact must reach on the held-out part. */
export const TARGETS = { agreement: 0.9, downward: 0.03 } as const;

const run = (examples: LabelledExample[], pick: (input: RouteInput) => TierId): RoutingMetrics =>
  measure(examples.map((e) => ({ label: e.tier, chosen: pick(toRouteInput(e)) })));

/** The router and both baselines on `heldOut`; with `settled` (its settled tiers), the router against those too. */
export function evaluate(
  router: Router,
  heldOut: LabelledExample[],
  settled?: readonly TierId[],
): Evaluation {
  const chosen = heldOut.map((e) => router.route(toRouteInput(e)).tier);
  const against = (label: (i: number) => TierId): RoutingMetrics =>
    measure(heldOut.map((_, i) => ({ label: label(i), chosen: chosen[i] as TierId })));
  return {
    router: against((i) => (heldOut[i] as LabelledExample).tier),
    alwaysTier2: run(heldOut, alwaysTier2),
    keyword: run(heldOut, keywordHeuristic),
    ...(settled ? { settled: against((i) => settled[i] as TierId) } : {}),
  };
}

function confusionTable(m: RoutingMetrics): string[] {
  return [
    `| label \\ chosen | ${TIER_IDS.join(' | ')} |`,
    `|---|${TIER_IDS.map(() => '---:').join('|')}|`,
    ...TIER_IDS.map((t, i) => `| ${t} | ${(m.confusion[i] as number[]).join(' | ')} |`),
  ];
}

export const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;

/** The router against both baselines: one summary table, then each one's confusion matrix. */
export function comparison(e: Evaluation): string[] {
  const rows: Array<[string, RoutingMetrics]> = [
    ['tier-auto (rules + classifier)', e.router],
    ['always tier-2', e.alwaysTier2],
    ['keyword/length heuristic', e.keyword],
    ...(e.settled
      ? [['tier-auto, against the labels three readers settled on', e.settled] as [string, RoutingMetrics]]
      : []),
  ];
  return [
    '| router | agreement | downward | upward |',
    '|---|---:|---:|---:|',
    ...rows.map(([name, m]) => `| ${name} | ${pct(m.agreement)} | ${pct(m.downward)} | ${pct(m.upward)} |`),
    '',
    ...rows.flatMap(([name, m]) => [`## ${name}`, '', ...confusionTable(m), '']),
  ];
}

/** The evaluation report in Markdown (data/router/report.md). */
export function report(
  version: string,
  counts: { train: number; heldOut: number },
  e: Evaluation,
  cv: CrossValidation,
): string {
  return [
    `# tier-auto evaluation (model ${version})`,
    '',
    `Labelled set: ${counts.train + counts.heldOut} examples, ${counts.train} for training, ${counts.heldOut} held out.`,
    `Targets on the held-out part: agreement ≥ ${pct(TARGETS.agreement)}, downward misroutes ≤ ${pct(TARGETS.downward)}.`,
    '',
    ...comparison(e),
    '## Settings chosen by cross-validation on the training part',
    '',
    `${cv.folds}-fold cross-validation over the ${counts.train} training examples only (the held-out part is`,
    'never read while training): the regularisation strength, the under-prediction weight of the loss,',
    'the temperature and both decision thresholds with the highest out-of-fold agreement among those',
    `whose out-of-fold downward misroutes stay within ${pct(TRAINING.maxDownward)} (ties: the fewest misroutes, a downward one`,
    `counting ${TRAINING.downwardCost} upward ones).`,
    '',
    `Chosen: l2 ${cv.setting.l2}, underCost ${cv.setting.underCost}, temperature ${cv.setting.temperature}, maxDownRisk ${cv.setting.maxDownRisk}, minConfidence ${cv.setting.minConfidence}.`,
    `Out-of-fold: agreement ${pct(cv.metrics.agreement)}, downward ${pct(cv.metrics.downward)}, upward ${pct(cv.metrics.upward)}.`,
    '',
    ...confusionTable(cv.metrics),
  ].join('\n');
}
