import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { TIER_IDS } from '../../shared/domain/catalog.js';
import { Classifier, type RouterModel, softmax } from '../../shared/routing/classifier.js';
import { extractFeatures, type Features } from '../../shared/routing/features.js';
import { Router } from '../../shared/routing/router.js';
import { type LabelledExample, toRouteInput } from './dataset.js';
import { measure } from './metrics.js';

/**
 * Training: multinomial logistic regression over the hashed features, full-batch gradient descent
 * in a fixed order (so the same data gives the same artifact, byte for byte), weights quantised to
 * int8. The two decision thresholds are then chosen on out-of-fold predictions of the training part
 * only: the fewest misroutes, a downward one counting `downwardCost` times an upward one.
 */
export const TRAINING = {
  dim: 4096,
  epochs: 1000,
  learningRate: 4,
  l2: 1e-4,
  folds: 5,
  /** When choosing thresholds, a downward misroute costs this many upward ones. */
  downwardCost: 8,
  riskGrid: [0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.6, 1],
  confidenceGrid: [0, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6],
  temperatureGrid: [0.2, 0.35, 0.5, 0.75, 1],
} as const;

const CLASSES = TIER_IDS.length;
type Thresholds = Pick<RouterModel, 'maxDownRisk' | 'minConfidence' | 'temperature'>;

interface Weights {
  w: Float64Array;
  b: Float64Array;
}

function gradientDescent(xs: Features[], ys: number[], dim: number): Weights {
  const w = new Float64Array(dim * CLASSES);
  const b = new Float64Array(CLASSES);
  const n = xs.length;
  for (let epoch = 0; epoch < TRAINING.epochs; epoch++) {
    const gw = new Float64Array(dim * CLASSES);
    const gb = new Float64Array(CLASSES);
    for (let i = 0; i < n; i++) {
      const { indices, values } = xs[i] as Features;
      const logits = Array.from(b);
      for (let f = 0; f < indices.length; f++) {
        const row = (indices[f] as number) * CLASSES;
        for (let c = 0; c < CLASSES; c++)
          logits[c] = (logits[c] as number) + (w[row + c] as number) * (values[f] as number);
      }
      const p = softmax(logits);
      for (let c = 0; c < CLASSES; c++) {
        const err = (p[c] as number) - (c === ys[i] ? 1 : 0);
        gb[c] = (gb[c] as number) + err;
        for (let f = 0; f < indices.length; f++) {
          const k = (indices[f] as number) * CLASSES + c;
          gw[k] = (gw[k] as number) + err * (values[f] as number);
        }
      }
    }
    const rate = TRAINING.learningRate / n;
    for (let k = 0; k < w.length; k++)
      w[k] = (w[k] as number) - rate * ((gw[k] as number) + TRAINING.l2 * n * (w[k] as number));
    for (let c = 0; c < CLASSES; c++) b[c] = (b[c] as number) - rate * (gb[c] as number);
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

function train(examples: LabelledExample[], thresholds: Thresholds, version: string): RouterModel {
  const xs = examples.map((e) => extractFeatures(toRouteInput(e), TRAINING.dim));
  const ys = examples.map((e) => TIER_IDS.indexOf(e.tier));
  return quantise(gradientDescent(xs, ys, TRAINING.dim), TRAINING.dim, thresholds, version);
}

/** Picks the thresholds on out-of-fold predictions of the training examples. */
function chooseThresholds(examples: LabelledExample[]): Thresholds {
  const folds: LabelledExample[][] = Array.from({ length: TRAINING.folds }, () => []);
  for (const [i, e] of examples.entries()) folds[i % TRAINING.folds]?.push(e);
  const classifiers = folds.map(
    (_, k) =>
      new Classifier(
        train(
          examples.filter((_, i) => i % TRAINING.folds !== k),
          { maxDownRisk: 0, minConfidence: 0, temperature: 1 },
          'fold',
        ),
      ),
  );
  let best: Thresholds = { maxDownRisk: 0, minConfidence: 0, temperature: 1 };
  let bestCost = Number.POSITIVE_INFINITY;
  const grid = TRAINING.temperatureGrid.flatMap((temperature) =>
    TRAINING.riskGrid.flatMap((maxDownRisk) =>
      TRAINING.confidenceGrid.map((minConfidence) => ({ temperature, maxDownRisk, minConfidence })),
    ),
  );
  for (const thresholds of grid) {
    {
      const routed = folds.flatMap((fold, k) => {
        const classifier = classifiers[k] as Classifier;
        const router = new Router(new Classifier({ ...classifier.model, ...thresholds }));
        return fold.map((e) => ({ label: e.tier, chosen: router.route(toRouteInput(e)).tier }));
      });
      const m = measure(routed);
      const cost = m.upward + TRAINING.downwardCost * m.downward;
      if (cost < bestCost) {
        bestCost = cost;
        best = thresholds;
      }
    }
  }
  return best;
}

/** Trains the shipped model on the training part of a labelled set. */
export function trainRouter(train_: LabelledExample[], dataText: string): RouterModel {
  // The feature code is part of the artifact's identity: a new cue changes the version too.
  const featureCode = readFileSync(new URL('../../shared/routing/features.ts', import.meta.url), 'utf8');
  const version = `r1-${createHash('sha256').update(dataText).update(JSON.stringify(TRAINING)).update(featureCode).digest('hex').slice(0, 12)}`;
  return train(train_, chooseThresholds(train_), version);
}
