import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { TIER_IDS, type TierId } from '../../shared/domain/catalog.js';
import { seededRandom } from '../../shared/domain/seeded-random.js';
import { higher } from '../../shared/routing/auto.js';
import { Classifier, decide, type RouterModel, softmax } from '../../shared/routing/classifier.js';
import { extractFeatures, type Features } from '../../shared/routing/features.js';
import { applyRules, type RuleOutcome } from '../../shared/routing/rules.js';
import { type LabelledExample, toRouteInput } from './dataset.js';
import { measure, type RoutingMetrics } from './metrics.js';

/**
 * Training: multinomial logistic regression over the hashed features, fitted by Adam on minibatches
 * in a fixed shuffled order (a seeded generator, so the same data gives the same artifact, byte for
 * byte), weights quantised to int8. Adam's per-weight step sizes matter here: most n-grams occur in
 * a few examples, and a single full-batch step size either leaves them unfitted or overshoots the
 * frequent ones. The loss adds `underCost` times the probability left below the labelled tier, so
 * training itself penalises under-prediction more than over-prediction. That weight, the
 * regularisation, the temperature and the two decision thresholds are chosen by k-fold
 * cross-validation on the training part only (the held-out part is never read here): the highest
 * out-of-fold agreement among settings whose out-of-fold downward misroutes stay within
 * `maxDownward` (a margin under the 3% target), ties going to the fewest misroutes with a downward
 * one counting `downwardCost` upward ones; if none stays within it, the fewest such weighted
 * misroutes.
 */
export const TRAINING = {
  dim: 16384,
  epochs: 10,
  batch: 16,
  learningRate: 0.01,
  /** Seeds the order examples are visited in. */
  seed: 1,
  /** Regularisation strengths tried by cross-validation (model capacity). */
  l2Grid: [0, 1e-6, 1e-5],
  folds: 5,
  /** When choosing thresholds, a downward misroute costs this many upward ones. */
  downwardCost: 10,
  /** Settings whose cross-validated downward misroutes exceed this are not chosen (if any stay within). */
  maxDownward: 0.02,
  underCostGrid: [0, 3],
  riskGrid: [0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.6, 1],
  confidenceGrid: [0, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6],
  temperatureGrid: [0.1, 0.15, 0.2, 0.35, 0.5, 0.75, 1, 2],
} as const;

const CLASSES = TIER_IDS.length;
type Thresholds = Pick<RouterModel, 'maxDownRisk' | 'minConfidence' | 'temperature'>;

interface Weights {
  w: Float64Array;
  b: Float64Array;
}

/** Adam's moment estimates for one parameter vector, updated only where a gradient was gathered. */
class Adam {
  private readonly m: Float64Array;
  private readonly v: Float64Array;
  constructor(size: number) {
    this.m = new Float64Array(size);
    this.v = new Float64Array(size);
  }

  /** One step on `params[k]` for each k in `keys`, with `grad[k]` (then cleared) plus `l2`·param. */
  step(params: Float64Array, grad: Float64Array, keys: Iterable<number>, t: number, l2: number): void {
    const rate = TRAINING.learningRate;
    const c1 = 1 - 0.9 ** t;
    const c2 = 1 - 0.999 ** t;
    const { m, v } = this;
    for (const k of keys) {
      const g = (grad[k] as number) + l2 * (params[k] as number);
      grad[k] = 0;
      m[k] = 0.9 * (m[k] as number) + 0.1 * g;
      v[k] = 0.999 * (v[k] as number) + 0.001 * g * g;
      params[k] =
        (params[k] as number) - (rate * ((m[k] as number) / c1)) / (Math.sqrt((v[k] as number) / c2) + 1e-8);
    }
  }
}

function fitAdam(xs: Features[], ys: number[], dim: number, underCost: number, l2: number): Weights {
  const w = new Float64Array(dim * CLASSES);
  const b = new Float64Array(CLASSES);
  const gw = new Float64Array(dim * CLASSES);
  const gb = new Float64Array(CLASSES);
  const adamW = new Adam(w.length);
  const adamB = new Adam(CLASSES);
  const classes = Array.from({ length: CLASSES }, (_, c) => c);
  const random = seededRandom(TRAINING.seed);
  const order = xs.map((_, i) => i);
  let t = 0;
  for (let epoch = 0; epoch < TRAINING.epochs; epoch++) {
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [order[i], order[j]] = [order[j] as number, order[i] as number];
    }
    for (let start = 0; start < order.length; start += TRAINING.batch) {
      const batch = order.slice(start, start + TRAINING.batch);
      const touched = new Set<number>();
      for (const i of batch) {
        const { indices, values } = xs[i] as Features;
        const logits = Array.from(b);
        for (let f = 0; f < indices.length; f++) {
          const row = (indices[f] as number) * CLASSES;
          for (let c = 0; c < CLASSES; c++)
            logits[c] = (logits[c] as number) + (w[row + c] as number) * (values[f] as number);
        }
        const p = softmax(logits);
        const y = ys[i] as number;
        // d/dz_c of the mass below the label, S = Σ_{k<y} p_k, is p_c·([c<y] − S).
        let below = 0;
        for (let c = 0; c < y; c++) below += p[c] as number;
        for (let c = 0; c < CLASSES; c++) {
          const pc = p[c] as number;
          const err = (pc - (c === y ? 1 : 0) + underCost * pc * ((c < y ? 1 : 0) - below)) / batch.length;
          gb[c] = (gb[c] as number) + err;
          for (let f = 0; f < indices.length; f++) {
            const k = (indices[f] as number) * CLASSES + c;
            gw[k] = (gw[k] as number) + err * (values[f] as number);
            touched.add(k);
          }
        }
      }
      t++;
      adamW.step(w, gw, touched, t, l2);
      adamB.step(b, gb, classes, t, 0);
    }
  }
  return { w, b };
}

function quantise(weights: Weights, dim: number, thresholds: Thresholds, version: string): RouterModel {
  let max = 0;
  for (const v of weights.w) max = Math.max(max, Math.abs(v));
  const scale = max > 0 ? Number((max / 127).toPrecision(6)) : 1;
  const ints = Int8Array.from(weights.w, (v) => Math.max(-127, Math.min(127, Math.round(v / scale))));
  return {
    version,
    dim,
    scale,
    bias: Array.from(weights.b, (v) => Number(v.toFixed(4))),
    weights: Buffer.from(ints.buffer).toString('base64'),
    ...thresholds,
  };
}

interface Setting extends Thresholds {
  underCost: number;
  l2: number;
}

/** The chosen setting and its out-of-fold figures on the training part. */
export interface CrossValidation {
  folds: number;
  setting: Setting;
  metrics: RoutingMetrics;
  /** The out-of-fold predictions of the chosen setting's loss weight and regularisation. */
  predictions: OutOfFold[];
}

function train(examples: LabelledExample[], setting: Setting, version: string): RouterModel {
  const xs = examples.map((e) => extractFeatures(toRouteInput(e), TRAINING.dim));
  const ys = examples.map((e) => TIER_IDS.indexOf(e.tier));
  const { underCost, l2, ...thresholds } = setting;
  return quantise(fitAdam(xs, ys, TRAINING.dim, underCost, l2), TRAINING.dim, thresholds, version);
}

/** An out-of-fold prediction: the rules' outcome and the fold model's logits (temperature 1). */
export interface OutOfFold {
  label: TierId;
  rule: RuleOutcome | undefined;
  logits: number[];
}

/** What the router would choose (as Router.route does) for a setting's thresholds. */
export function routeOutOfFold(p: OutOfFold, thresholds: Thresholds): TierId {
  if (p.rule?.kind === 'exact') return p.rule.tier;
  const chosen = decide(softmax(p.logits.map((l) => l / thresholds.temperature)), thresholds).tier;
  return p.rule ? higher(p.rule.tier, chosen) : chosen;
}

export function outOfFold(examples: LabelledExample[], underCost: number, l2: number): OutOfFold[] {
  const k = TRAINING.folds;
  const predictions: OutOfFold[] = [];
  for (let fold = 0; fold < k; fold++) {
    const model = train(
      examples.filter((_, i) => i % k !== fold),
      { underCost, l2, maxDownRisk: 1, minConfidence: 0, temperature: 1 },
      'fold',
    );
    const classifier = new Classifier(model);
    for (const [i, e] of examples.entries()) {
      if (i % k !== fold) continue;
      const input = toRouteInput(e);
      const logits = classifier.probabilities(input).map((p) => Math.log(Math.max(p, 1e-12)));
      predictions.push({ label: e.tier, rule: applyRules(input), logits });
    }
  }
  return predictions;
}

interface Candidate {
  metrics: RoutingMetrics;
  /** Misroutes, a downward one counting `downwardCost` upward ones. */
  cost: number;
  /** Out-of-fold downward misroutes within `maxDownward`. */
  within: boolean;
}

/** Within the downward bound beats outside it; within it, higher agreement, then lower cost; outside, lower cost. */
function isBetter(a: Candidate, b: Candidate): boolean {
  if (a.within !== b.within) return a.within;
  if (a.within && a.metrics.agreement !== b.metrics.agreement)
    return a.metrics.agreement > b.metrics.agreement;
  return a.cost < b.cost;
}

/** Picks the loss weight and the thresholds on out-of-fold predictions of the training examples. */
export function crossValidate(examples: LabelledExample[]): CrossValidation {
  let best: (Candidate & { setting: Setting; predictions: OutOfFold[] }) | undefined;
  for (const l2 of TRAINING.l2Grid)
    for (const underCost of TRAINING.underCostGrid) {
      const predictions = outOfFold(examples, underCost, l2);
      for (const temperature of TRAINING.temperatureGrid)
        for (const maxDownRisk of TRAINING.riskGrid)
          for (const minConfidence of TRAINING.confidenceGrid) {
            const setting = { underCost, l2, temperature, maxDownRisk, minConfidence };
            const metrics = measure(
              predictions.map((p) => ({ label: p.label, chosen: routeOutOfFold(p, setting) })),
            );
            const cost = metrics.upward + TRAINING.downwardCost * metrics.downward;
            const within = metrics.downward <= TRAINING.maxDownward;
            if (!best || isBetter({ metrics, cost, within }, best))
              best = { setting, metrics, cost, within, predictions };
          }
    }
  if (!best) throw new Error('train-router: empty grid');
  return {
    folds: TRAINING.folds,
    setting: best.setting,
    metrics: best.metrics,
    predictions: best.predictions,
  };
}

/** Trains the shipped model on the training part of a labelled set. */
export function trainRouter(
  train_: LabelledExample[],
  dataText: string,
): { model: RouterModel; cv: CrossValidation } {
  // The feature code is part of the artifact's identity: a new cue changes the version too.
  const featureCode = readFileSync(new URL('../../shared/routing/features.ts', import.meta.url), 'utf8');
  const version = `r1-${createHash('sha256').update(dataText).update(JSON.stringify(TRAINING)).update(featureCode).digest('hex').slice(0, 12)}`;
  const cv = crossValidate(train_);
  return { model: train(train_, cv.setting, version), cv };
}
