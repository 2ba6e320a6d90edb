import { writeFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { ROUTER_MODEL } from '../shared/routing/model.generated.js';
import { defaultClassifier, Router } from '../shared/routing/router.js';
import { DEFAULT_DATASET, loadDataset } from './router/dataset.js';
import { evaluate } from './router/evaluate.js';
import { FRESH_DATASET, FRESH_SETS, freshReport, outputsFor } from './router/fresh.js';
import { settledTiers } from './router/labels.js';
import { overlap } from './router/overlap.js';

/**
 * `npm run eval-router [-- --data file.jsonl] [--write] [--report file.md] [--figures file.json]`:
 * measures the committed artifact (shared/routing/model.generated.ts) on a whole labelled file, by
 * default the blind evaluation set (data/router/fresh4.jsonl), against both baselines. It never trains and never writes the
 * model. `--write` records the report and the figures a retrain must keep, by default next to the
 * data and named after it (fresh4.jsonl: fresh4-report.md, fresh4-figures.json). It refuses a set that repeats a prompt of the training set
 * or of another evaluation set, and the report counts near copies; only line numbers come out.
 */
const { values } = parseArgs({
  options: {
    data: { type: 'string' },
    write: { type: 'boolean' },
    report: { type: 'string' },
    figures: { type: 'string' },
  },
});
const cwd = pathToFileURL(`${process.cwd()}/`);
const root = fileURLToPath(new URL('..', import.meta.url));
const named = (file: URL): string => relative(root, fileURLToPath(file));
const data = values.data === undefined ? FRESH_DATASET : new URL(values.data, cwd);
const examples = loadDataset(data);

const others = [DEFAULT_DATASET, ...FRESH_SETS].filter((other) => other.href !== data.href);
const found = others.map((other) => ({ name: named(other), ...overlap(examples, loadDataset(other)) }));
const repeats = found.filter((o) => o.same.length > 0).map((o) => `${o.name} (lines ${o.same.join(', ')})`);
if (repeats.length > 0) {
  console.error(`${named(data)} repeats prompts of ${repeats.join(', ')}; an evaluation set must not.`);
  process.exit(1);
}
const near = found.filter((o) => o.near.length > 0).map((o) => `${o.near.length} of ${o.name}`);
const overlapLine =
  near.length === 0
    ? `No prompt repeats or nearly repeats one of ${others.map(named).join(', ')} (scripts/router/overlap.ts).`
    : `No prompt repeats one of ${others.map(named).join(', ')}; near copies (scripts/router/overlap.ts): ${near.join(', ')}.`;

// The blind set was judged by three readers too (data/router/labels.md): its figures also against their labels.
const settled = data.href === FRESH_DATASET.href ? settledTiers(examples, 'fresh4') : undefined;
const evaluation = evaluate(new Router(defaultClassifier()), examples, settled);
const text = freshReport(ROUTER_MODEL.version, examples, evaluation, named(data), overlapLine);

if (values.write) {
  const outputs = outputsFor(data);
  const report = values.report === undefined ? outputs.report : new URL(values.report, cwd);
  const figuresFile = values.figures === undefined ? outputs.figures : new URL(values.figures, cwd);
  writeFileSync(report, `${text}\n`);
  const { confusion: _, ...figures } = evaluation.router;
  const settledFigures = evaluation.settled && { ...evaluation.settled, confusion: undefined };
  writeFileSync(
    figuresFile,
    `${JSON.stringify({ version: ROUTER_MODEL.version, ...figures, settled: settledFigures }, null, 2)}\n`,
  );
}
console.log(text);
