import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { type LabelledExample, loadDataset } from '../../scripts/router/dataset.js';
import { evaluate } from '../../scripts/router/evaluate.js';
import { FRESH_DATASET, FRESH_FIGURES, freshReport, overlapping } from '../../scripts/router/fresh.js';
import { TIER_IDS } from '../../shared/domain/catalog.js';
import { defaultClassifier, Router } from '../../shared/routing/router.js';

/**
 * data/router/fresh.jsonl was a blind set (74.4% agreement, 5.0% downward with the model that had
 * never seen it); it is now development data, part of the labelled set. The committed artifact must
 * keep the development figures committed with it (data/router/fresh-figures.json, written by
 * `npm run eval-router -- --write`). A future blind set is measured with
 * `npm run eval-router -- --data FILE`, whose report counts the prompts it shares with the labelled set.
 */
const figures = JSON.parse(readFileSync(FRESH_FIGURES, 'utf8')) as {
  n: number;
  agreement: number;
  downward: number;
};
const fresh = loadDataset(FRESH_DATASET);
const labelled = loadDataset();

describe('the fresh set (development data)', () => {
  it('holds 40 requests a tier', () => {
    expect(fresh).toHaveLength(160);
    for (const tier of TIER_IDS) expect(fresh.filter((e) => e.tier === tier)).toHaveLength(40);
  });

  it('is part of the labelled set, so training learns from it', () => {
    expect(overlapping(fresh, labelled)).toHaveLength(fresh.length);
  });
});

describe('a blind set check', () => {
  const example = (prompt: string): LabelledExample => ({ tier: 'tier-1', prompt });
  const result = evaluate(new Router(defaultClassifier()), [example('Who wrote Hamlet?')]);

  it('finds prompts shared with the labelled set, case and surrounding spaces aside', () => {
    const shared = labelled[0] as LabelledExample;
    const set = [
      example(`  ${shared.prompt.toUpperCase()} `),
      example('A prompt no one has labelled, 7f3a.'),
    ];
    expect(overlapping(set, labelled)).toEqual([set[0]]);
  });

  it('calls a set with no shared prompt an unbiased estimate, and one with shared prompts not blind', () => {
    const blind = freshReport('v', [example('x')], result, { name: 'blind.jsonl', overlap: 0 });
    expect(blind).toContain('unbiased estimate');
    const dev = freshReport('v', [example('x')], result, { name: 'dev.jsonl', overlap: 1 });
    expect(dev).toContain('not a blind estimate');
  });
});

describe('the committed router model on the fresh set', () => {
  const result = evaluate(new Router(defaultClassifier()), fresh);

  it('is measured on the whole set the committed figures describe', () => {
    expect(result.router.n).toBe(figures.n);
  });

  it('keeps at least the committed agreement and at most the committed downward misroutes', () => {
    expect(result.router.agreement).toBeGreaterThanOrEqual(figures.agreement);
    expect(result.router.downward).toBeLessThanOrEqual(figures.downward);
  });
});
