import { describe, expect, it } from 'vitest';
import { DEFAULT_DATASET, loadDataset } from '../../scripts/router/dataset.js';
import {
  FRESH_DATASET,
  FRESH_FIGURES,
  FRESH_REPORT,
  FRESH_SETS,
  outputsFor,
} from '../../scripts/router/fresh.js';
import { overlap } from '../../scripts/router/overlap.js';
import { TIER_IDS } from '../../shared/domain/catalog.js';

/**
 * The blind evaluation sets (data/router/fresh.jsonl, fresh2.jsonl): their shape, that none repeats a
 * prompt of the training set or of another set (the second not even nearly), and where
 * `npm run eval-router -- --write` records each one's report and figures.
 */
const [, second] = FRESH_SETS as [URL, URL];

describe.each(FRESH_SETS.map((set) => [set.pathname.split('/').pop(), set] as const))(
  'the set %s',
  (_, set) => {
    const examples = loadDataset(set);

    it('holds 40 requests a tier', () => {
      expect(examples).toHaveLength(160);
      for (const tier of TIER_IDS) expect(examples.filter((e) => e.tier === tier)).toHaveLength(40);
    });

    it('shares no prompt with the training set or another set, so training cannot absorb it', () => {
      for (const other of [DEFAULT_DATASET, ...FRESH_SETS].filter((o) => o.href !== set.href)) {
        expect(overlap(examples, loadDataset(other)).same).toEqual([]);
      }
    });
  },
);

it('the second set does not even nearly repeat a prompt of the training set or the first set', () => {
  const fresh2 = loadDataset(second);
  for (const other of [DEFAULT_DATASET, FRESH_DATASET]) {
    expect(overlap(fresh2, loadDataset(other))).toEqual({ same: [], near: [] });
  }
});

describe('overlap', () => {
  const example = (prompt: string) => ({ tier: 'tier-1' as const, prompt });

  it('finds the same prompt whatever its case, punctuation or spacing, and near copies', () => {
    const other = [example('What is the capital of France?'), example('one two three four five six seven')];
    const checked = [
      example('what is the  capital of france'),
      example('one two three four five six eight'),
      example('something else entirely, at some length here'),
    ];
    expect(overlap(checked, other)).toEqual({ same: [1], near: [2] });
  });
});

describe('where a set records its report and figures', () => {
  it('keeps the first set on fresh-report.md and fresh-figures.json', () => {
    expect(outputsFor(FRESH_DATASET)).toEqual({ report: FRESH_REPORT, figures: FRESH_FIGURES });
  });

  it('names the second set after its file, beside it', () => {
    const outputs = outputsFor(second);
    expect(outputs.report.href).toBe(new URL('fresh2-report.md', second).href);
    expect(outputs.figures.href).toBe(new URL('fresh2-figures.json', second).href);
  });
});
