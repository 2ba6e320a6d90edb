import { describe, expect, it } from 'vitest';
import { attribute, errorSources, redraw } from '../../scripts/router/diagnose.js';
import type { RuleOutcome } from '../../shared/routing/rules.js';

/** Where a misroute comes from, on out-of-fold predictions (scripts/router/diagnose.ts). */
const thresholds = { temperature: 1, maxDownRisk: 0.3, minConfidence: 0 };
/** Logits whose softmax is (about) the given probabilities. */
const logitsOf = (p: number[]): number[] => p.map((x) => Math.log(x));
const floor = (rule: RuleOutcome['rule']): RuleOutcome => ({ rule, tier: 'tier-2', kind: 'floor' });

describe('attribute', () => {
  it('has no source when the router agrees with the label', () => {
    const a = attribute(
      { label: 'tier-1', rule: undefined, logits: logitsOf([0.9, 0.05, 0.03, 0.02]) },
      thresholds,
    );
    expect(a).toEqual({ label: 'tier-1', chosen: 'tier-1', source: undefined });
  });

  it('blames an exact rule that decides another tier', () => {
    const rule: RuleOutcome = { rule: 'reasoning', tier: 'tier-4', kind: 'exact' };
    const a = attribute({ label: 'tier-1', rule, logits: logitsOf([0.9, 0.05, 0.03, 0.02]) }, thresholds);
    expect(a).toEqual({ label: 'tier-1', chosen: 'tier-4', source: 'rule:reasoning' });
  });

  it('blames a floor above the classifier', () => {
    const a = attribute(
      { label: 'tier-1', rule: floor('tools'), logits: logitsOf([0.9, 0.05, 0.03, 0.02]) },
      thresholds,
    );
    expect(a).toEqual({ label: 'tier-1', chosen: 'tier-2', source: 'floor:tools' });
  });

  it('blames the thresholds when the most likely tier was right', () => {
    const a = attribute(
      { label: 'tier-1', rule: undefined, logits: logitsOf([0.6, 0.2, 0.1, 0.1]) },
      thresholds,
    );
    expect(a).toEqual({ label: 'tier-1', chosen: 'tier-2', source: 'threshold' });
  });

  it('blames the classifier when its most likely tier was wrong, with or without the thresholds', () => {
    const wrong = attribute(
      { label: 'tier-1', rule: undefined, logits: logitsOf([0.05, 0.05, 0.05, 0.85]) },
      thresholds,
    );
    expect(wrong).toEqual({ label: 'tier-1', chosen: 'tier-4', source: 'classifier' });
    const moved = attribute(
      { label: 'tier-4', rule: undefined, logits: logitsOf([0.5, 0.15, 0.1, 0.25]) },
      thresholds,
    );
    expect(moved).toEqual({ label: 'tier-4', chosen: 'tier-3', source: 'classifier+threshold' });
  });
});

describe('errorSources', () => {
  it('counts misroutes by source and direction, most first', () => {
    expect(
      errorSources([
        { label: 'tier-1', chosen: 'tier-4', source: 'classifier' },
        { label: 'tier-2', chosen: 'tier-4', source: 'classifier' },
        { label: 'tier-4', chosen: 'tier-1', source: 'classifier' },
        { label: 'tier-1', chosen: 'tier-2', source: 'floor:media' },
        { label: 'tier-2', chosen: 'tier-2', source: undefined },
      ]),
    ).toEqual([
      ['classifier up', 2],
      ['classifier down', 1],
      ['floor:media up', 1],
    ]);
  });
});

describe('redraw', () => {
  const examples = ['a', 'b', 'c', 'd', 'e', 'f'].map((prompt) => ({ prompt }));

  it('keeps the order on draw 0, the one train-router uses', () => {
    expect(redraw(examples, 0)).toBe(examples);
  });

  it('reorders the same examples the same way for a draw, and differently for another', () => {
    const one = redraw(examples, 1);
    expect([...one].sort((a, b) => a.prompt.localeCompare(b.prompt))).toEqual(examples);
    expect(redraw(examples, 1)).toEqual(one);
    expect(redraw(examples, 2).map((e) => e.prompt)).not.toEqual(one.map((e) => e.prompt));
  });
});
