import { TIER_IDS, type TierId } from '../domain/catalog.js';
import { extractFeatures, type RouteInput } from './features.js';

/**
 * A linear model over hashed features (multinomial logistic regression), trained by
 * `npm run train-router` and shipped as a small generated module. Weights are int8 with one
 * scale, so the artifact stays small; scoring a request touches only its own features.
 */
export interface RouterModel {
  /** Content hash of the training data and settings: names the artifact. */
  version: string;
  /** Feature buckets (a power of two). */
  dim: number;
  /** A weight is its int8 value times this. */
  scale: number;
  /** One bias per tier. */
  bias: number[];
  /** base64 of int8 weights, row-major: bucket × tier. */
  weights: string;
  /** Logits are divided by this before the softmax (calibrated on held-back folds). */
  temperature: number;
  /** The decision may leave at most this probability that the request needed a higher tier. */
  maxDownRisk: number;
  /** Below this top-class probability the classifier is unsure and answers at least tier-2. */
  minConfidence: number;
}

export interface ClassifierDecision {
  tier: TierId;
  /** Probability that the chosen tier is enough (the request's tier is not above it). */
  confidence: number;
  /** Per tier, tier-1 first. */
  probabilities: number[];
  /** The top class was below the confidence threshold, so the decision went up. */
  unsure: boolean;
  /** The most likely tier (the decision may be above it). */
  likely: TierId;
}

const CLASSES = TIER_IDS.length;
/** The tier an unsure classifier falls back to at least (DESIGN §14: the default is tier-2). */
const UNSURE_FLOOR = 1;

/** A model ready to score: weights decoded once. */
export class Classifier {
  private readonly weights: Int8Array;

  constructor(readonly model: RouterModel) {
    const bytes = Buffer.from(model.weights, 'base64');
    this.weights = new Int8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (this.weights.length !== model.dim * CLASSES)
      throw new Error('router model: weights do not match dim');
  }

  /** Per-tier probabilities. */
  probabilities(input: RouteInput): number[] {
    const { dim, scale, bias } = this.model;
    const { indices, values } = extractFeatures(input, dim);
    const logits = bias.slice(0, CLASSES);
    for (let f = 0; f < indices.length; f++) {
      const row = (indices[f] as number) * CLASSES;
      const v = (values[f] as number) * scale;
      for (let c = 0; c < CLASSES; c++)
        logits[c] = (logits[c] as number) + (this.weights[row + c] as number) * v;
    }
    return softmax(logits.map((l) => l / this.model.temperature));
  }

  classify(input: RouteInput): ClassifierDecision {
    return decide(this.probabilities(input), this.model);
  }
}

export function softmax(logits: number[]): number[] {
  const max = Math.max(...logits);
  const exps = logits.map((l) => Math.exp(l - max));
  const sum = exps.reduce((a, b) => a + b, 0);
  return exps.map((e) => e / sum);
}

/**
 * The conservative decision: the lowest tier, from the most likely one up, that leaves at most
 * `maxDownRisk` probability that the request needed a higher tier (the probability mass above it),
 * and at least tier-2 when even the most likely tier is below `minConfidence`. Uncertainty only
 * ever moves the answer up.
 */
export function decide(
  probabilities: number[],
  thresholds: Pick<RouterModel, 'maxDownRisk' | 'minConfidence'>,
): ClassifierDecision {
  const top = Math.max(...probabilities);
  const likely = probabilities.indexOf(top);
  let index = likely;
  let above = 0;
  for (let c = likely + 1; c < CLASSES; c++) above += probabilities[c] as number;
  while (above > thresholds.maxDownRisk && index < CLASSES - 1) {
    index++;
    above -= probabilities[index] as number;
  }
  const unsure = top < thresholds.minConfidence;
  if (unsure) index = Math.max(index, UNSURE_FLOOR);
  let enough = 0;
  for (let c = 0; c <= index; c++) enough += probabilities[c] as number;
  return {
    tier: TIER_IDS[index] as TierId,
    confidence: Math.min(1, enough),
    probabilities,
    unsure,
    likely: TIER_IDS[likely] as TierId,
  };
}
