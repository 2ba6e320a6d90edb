import { DEFAULT_DATASET, loadDataset, split } from './router/dataset.js';
import { attribute, errorSources } from './router/diagnose.js';
import { pct } from './router/evaluate.js';
import { crossValidate } from './router/train.js';

/**
 * `npm run diagnose-router`: where the out-of-fold misroutes of the training part come from (an
 * exact rule, a rule's floor, the classifier's most likely tier, the conservative thresholds), for
 * the settings cross-validation chooses, as `npm run train-router` would. It reads the training
 * part only: the held-out part stays unseen. Writes nothing.
 */
const { train } = split(loadDataset(DEFAULT_DATASET));
const cv = crossValidate(train);
const attributed = cv.predictions.map((p) => attribute(p, cv.setting));
const { l2, underCost, temperature, maxDownRisk, minConfidence } = cv.setting;
console.log(
  `${cv.folds}-fold cross-validation on ${train.length} training examples: l2 ${l2}, underCost ${underCost}, temperature ${temperature}, maxDownRisk ${maxDownRisk}, minConfidence ${minConfidence}`,
);
console.log(
  `agreement ${pct(cv.metrics.agreement)}, downward ${pct(cv.metrics.downward)}, upward ${pct(cv.metrics.upward)}`,
);
console.log('\n| source of the misroute | direction | count |\n|---|---|---:|');
for (const [key, count] of errorSources(attributed)) {
  const [source, direction] = key.split(' ');
  console.log(`| ${source} | ${direction} | ${count} |`);
}
