import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadDataset } from '../../scripts/router/dataset.js';
import { evaluate } from '../../scripts/router/evaluate.js';
import { FRESH_DATASET, FRESH_FIGURES } from '../../scripts/router/fresh.js';
import { TIER_IDS } from '../../shared/domain/catalog.js';
import { defaultClassifier, Router } from '../../shared/routing/router.js';

/**
 * The committed artifact on the fresh evaluation set, which no training or tuning has seen: a
 * retrained model must route it at least as well as the figures committed with the set
 * (data/router/fresh-figures.json, written by `npm run eval-router -- --write`).
 */
const figures = JSON.parse(readFileSync(FRESH_FIGURES, 'utf8')) as {
  n: number;
  agreement: number;
  downward: number;
};
const fresh = loadDataset(FRESH_DATASET);

describe('the fresh evaluation set', () => {
  it('holds 40 requests a tier', () => {
    expect(fresh).toHaveLength(160);
    for (const tier of TIER_IDS) expect(fresh.filter((e) => e.tier === tier)).toHaveLength(40);
  });

  it('shares no prompt with the training set, so training cannot absorb it', () => {
    const labelled = new Set(loadDataset().map((e) => e.prompt.trim().toLowerCase()));
    expect(fresh.filter((e) => labelled.has(e.prompt.trim().toLowerCase()))).toEqual([]);
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
