import { describe, expect, it } from 'vitest';
import { DEFAULT_DATASET, type LabelledExample, loadDataset } from '../../scripts/router/dataset.js';
import { FRESH_DATASET } from '../../scripts/router/fresh.js';
import {
  adjudicate,
  type Judgement,
  loadJudgements,
  parseJudgements,
  promptDigest,
  settledTiers,
} from '../../scripts/router/labels.js';

/**
 * The second and third readers' judgements (data/router/labels.md): each still names the example
 * it was made on, and the settled label is the tier most of the three readers chose.
 */
describe('adjudicate', () => {
  it('takes the tier most votes chose', () => {
    expect(adjudicate(['tier-4', 'tier-2', 'tier-2'])).toBe('tier-2');
    expect(adjudicate(['tier-1', 'tier-3', 'tier-1'])).toBe('tier-1');
    expect(adjudicate(['tier-3', 'tier-3'])).toBe('tier-3');
  });

  it('takes the middle tier when every vote differs', () => {
    expect(adjudicate(['tier-4', 'tier-1', 'tier-2'])).toBe('tier-2');
    expect(adjudicate(['tier-1', 'tier-4', 'tier-3'])).toBe('tier-3');
  });
});

describe('settledTiers', () => {
  const examples: LabelledExample[] = [
    { tier: 'tier-4', prompt: 'Prove that the square root of 2 is irrational.' },
    { tier: 'tier-1', prompt: 'Uppercase: hello' },
    { tier: 'tier-3', prompt: 'Design a sharded ledger.' },
  ];
  const judged = (line: number, judges: Judgement['judges']): Judgement => {
    const example = examples[line - 1] as LabelledExample;
    return { set: 'labelled', line, sha256: promptDigest(example.prompt), written: example.tier, judges };
  };

  it('moves a label where two readers of three chose another tier, and only there', () => {
    const judgements = [judged(1, ['tier-2', 'tier-2']), judged(3, ['tier-2', 'tier-3'])];
    expect(settledTiers(examples, 'labelled', judgements)).toEqual(['tier-2', 'tier-1', 'tier-3']);
    expect(settledTiers(examples, 'fresh4', judgements)).toEqual(['tier-4', 'tier-1', 'tier-3']);
  });

  it('refuses a judgement whose example has changed', () => {
    const stale = { ...judged(2, ['tier-2', 'tier-2']), sha256: promptDigest('another prompt') };
    expect(() => settledTiers(examples, 'labelled', [stale])).toThrow(/labelled line 2 no longer matches/);
    const relabelled = { ...judged(2, ['tier-2', 'tier-2']), written: 'tier-3' as const };
    expect(() => settledTiers(examples, 'labelled', [relabelled])).toThrow(/labelled line 2/);
  });

  it('refuses a judgement line without two judges', () => {
    const row = { set: 'labelled', line: 1, sha256: 'abc', written: 'tier-1' };
    expect(() => parseJudgements(JSON.stringify({ ...row, judges: ['tier-1'] }))).toThrow(
      /judgements line 1/,
    );
    expect(() => parseJudgements(JSON.stringify({ ...row, judges: ['tier-1', 'big'] }))).toThrow(
      /judgements line 1/,
    );
  });
});

describe.each([
  ['labelled', DEFAULT_DATASET, 1000],
  ['fresh4', FRESH_DATASET, 20],
] as const)('the judgements on the %s set', (name, path, atLeast) => {
  const examples = loadDataset(path);
  const judgements = loadJudgements().filter((j) => j.set === name);

  it('were made on the examples as they stand (prompt and writer tier)', () => {
    expect(judgements.length).toBeGreaterThan(atLeast);
    expect(() => settledTiers(examples, name)).not.toThrow();
  });

  it('settle some labels lower, none higher: the writers reached up, not down (labels.md)', () => {
    const settled = settledTiers(examples, name);
    const rank = (t: string) => Number(t.slice(-1));
    const moved = examples.filter((e, i) => e.tier !== settled[i]);
    expect(moved.length).toBeGreaterThan(0);
    expect(examples.filter((e, i) => rank(settled[i] as string) > rank(e.tier))).toEqual([]);
  });
});
