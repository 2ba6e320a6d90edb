import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ROUTER_MODEL } from '../shared/routing/model.generated.js';
import { defaultClassifier, Router } from '../shared/routing/router.js';
import { loadDataset } from './router/dataset.js';
import { evaluate } from './router/evaluate.js';
import { FRESH_DATASET, FRESH_FIGURES, FRESH_REPORT, freshReport, overlapping } from './router/fresh.js';

/**
 * `npm run eval-router [-- --data file.jsonl] [--write]`: measures the committed artifact
 * (shared/routing/model.generated.ts) on a whole labelled file, by default the fresh evaluation
 * set, against both baselines, and says how many of its prompts are in the labelled set (0 for a
 * blind set). It never trains and never writes the model. `--write` records the fresh set's report
 * and the figures a retrain must keep (data/router/fresh-report.md, fresh-figures.json).
 */
const { values } = parseArgs({ options: { data: { type: 'string' }, write: { type: 'boolean' } } });
const path = values.data ?? FRESH_DATASET;
const examples = loadDataset(path);
const evaluation = evaluate(new Router(defaultClassifier()), examples);
const name = values.data ?? 'data/router/fresh.jsonl';
const overlap = overlapping(examples, loadDataset()).length;
const text = freshReport(ROUTER_MODEL.version, examples, evaluation, { name, overlap });

if (values.write) {
  writeFileSync(FRESH_REPORT, `${text}\n`);
  const { confusion: _, ...figures } = evaluation.router;
  writeFileSync(FRESH_FIGURES, `${JSON.stringify({ version: ROUTER_MODEL.version, ...figures }, null, 2)}\n`);
}
console.log(text);
