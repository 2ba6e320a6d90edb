import { Classifier, type RouterModel } from '../../shared/routing/classifier.js';
import type { RouteInput } from '../../shared/routing/features.js';

/** A routing view of a plain one-turn request, with the given fields replaced. */
export const input = (over: Partial<RouteInput> = {}): RouteInput => ({
  system: '',
  prompt: 'hello',
  history: [],
  chars: 5,
  tools: false,
  media: false,
  jsonSchema: false,
  reasoning: undefined,
  ...over,
});

/** A one-bucket model whose probabilities are the softmax of its biases, whatever the prompt. */
export function fixedModel(bias: number[], thresholds: Partial<RouterModel> = {}): Classifier {
  return new Classifier({
    version: 'test',
    dim: 1,
    scale: 1,
    bias,
    weights: Buffer.alloc(4).toString('base64'),
    temperature: 1,
    maxDownRisk: 0.3,
    minConfidence: 0,
    ...thresholds,
  });
}
