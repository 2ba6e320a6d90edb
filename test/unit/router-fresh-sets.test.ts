import { describe, expect, it } from 'vitest';
import { DEFAULT_DATASET, loadDataset } from '../../scripts/router/dataset.js';
import {
  FRESH_DATASET,
  FRESH_FIGURES,
  FRESH_REPORT,
  FRESH_SETS,
  outputsFor,
  RETIRED_SETS,
} from '../../scripts/router/fresh.js';
import { overlap } from '../../scripts/router/overlap.js';
import { TIER_IDS } from '../../shared/domain/catalog.js';

/**
 * The blind evaluation sets (data/router/fresh4.jsonl): their shape, that none repeats a prompt of
 * the training set or of another set, not even nearly, and where `npm run eval-router -- --write`
 * records each one's report and figures. (data/router/fresh.jsonl and fresh2.jsonl, the sets before
 * it, are now part of the labelled set: development data.)
 */

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

it('the blind set does not even nearly repeat a prompt of the training set', () => {
  expect(overlap(loadDataset(FRESH_DATASET), loadDataset(DEFAULT_DATASET))).toEqual({ same: [], near: [] });
});

it.each(RETIRED_SETS.map((set) => [set.pathname.split('/').pop(), set] as const))(
  'the earlier blind set %s is development data now: every one of its prompts is in the training file',
  (_, set) => {
    const retired = loadDataset(set);
    expect(retired).toHaveLength(160);
    expect(overlap(retired, loadDataset(DEFAULT_DATASET)).same).toHaveLength(retired.length);
  },
);

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
  it('names the blind set after its file, beside it', () => {
    expect(outputsFor(FRESH_DATASET)).toEqual({ report: FRESH_REPORT, figures: FRESH_FIGURES });
    expect(FRESH_REPORT.href).toBe(new URL('fresh4-report.md', FRESH_DATASET).href);
    expect(FRESH_FIGURES.href).toBe(new URL('fresh4-figures.json', FRESH_DATASET).href);
  });
});
