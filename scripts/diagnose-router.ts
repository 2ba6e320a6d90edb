import { parseArgs } from 'node:util';
import { DEFAULT_DATASET, loadDataset, split } from './router/dataset.js';
import { attribute, errorSources, redraw } from './router/diagnose.js';
import { pct } from './router/evaluate.js';
import { crossValidate } from './router/train.js';

/**
 * `npm run diagnose-router [-- --draws N]`: where the out-of-fold misroutes of the training part
 * come from (an exact rule, a rule's floor, the classifier's most likely tier, the conservative
 * thresholds), for the settings cross-validation chooses, as `npm run train-router` would. With
 * `--draws N` it also cross-validates on N-1 other fold draws (each a full settings search, about
 * two minutes) and prints each draw's figures and the mean agreement: a feature or setting change
 * should beat the current code on the mean, not on one draw. It reads the training part only: the
 * held-out part stays unseen. Writes nothing.
 */
const { values } = parseArgs({ options: { draws: { type: 'string' } } });
const draws = Math.max(1, Number(values.draws ?? 1));
const { train } = split(loadDataset(DEFAULT_DATASET));
const cv = crossValidate(train);
const attributed = cv.predictions.map((p) => attribute(p, cv.setting));
const { l2, underCost, temperature, maxDownRisk, minConfidence } = cv.setting;
const figures = (m: typeof cv.metrics): string =>
  `agreement ${pct(m.agreement)}, downward ${pct(m.downward)}, upward ${pct(m.upward)}`;
console.log(
  `${cv.folds}-fold cross-validation on ${train.length} training examples: l2 ${l2}, underCost ${underCost}, temperature ${temperature}, maxDownRisk ${maxDownRisk}, minConfidence ${minConfidence}`,
);
console.log(figures(cv.metrics));
console.log('\n| source of the misroute | direction | count |\n|---|---|---:|');
for (const [key, count] of errorSources(attributed)) {
  const [source, direction] = key.split(' ');
  console.log(`| ${source} | ${direction} | ${count} |`);
}
if (draws > 1) {
  const agreements = [cv.metrics.agreement];
  console.log(`\nfold draw 0 (train-router's): ${figures(cv.metrics)}`);
  for (let draw = 1; draw < draws; draw++) {
    const other = crossValidate(redraw(train, draw));
    agreements.push(other.metrics.agreement);
    console.log(`fold draw ${draw}: ${figures(other.metrics)}`);
  }
  const mean = agreements.reduce((a, b) => a + b, 0) / agreements.length;
  console.log(`mean agreement over ${draws} fold draws: ${pct(mean)}`);
}
