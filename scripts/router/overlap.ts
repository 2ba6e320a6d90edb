import type { LabelledExample } from './dataset.js';

/**
 * Whether an evaluation set repeats prompts of another set: the same prompt once lower-cased and with
 * punctuation and runs of white space collapsed, or a near copy (half or more of the word 5-grams of the
 * shorter prompt shared). Only counts and the checked set's own line numbers come out, never text.
 */
const normalise = (prompt: string): string =>
  prompt
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, ' ')
    .trim();

function shingles(prompt: string): Set<string> {
  const words = normalise(prompt).split(' ');
  const out = new Set<string>();
  for (let i = 0; i + 5 <= words.length; i++) out.add(words.slice(i, i + 5).join(' '));
  return out;
}

const NEAR = 0.5;

function near(a: Set<string>, b: Set<string>): boolean {
  if (a.size === 0 || b.size === 0) return false;
  const [small, large] = a.size <= b.size ? [a, b] : [b, a];
  let shared = 0;
  for (const s of small) if (large.has(s)) shared++;
  return shared / small.size >= NEAR;
}

export interface Overlap {
  /** 1-based line numbers (among non-empty lines) of the checked set. */
  same: number[];
  near: number[];
}

export function overlap(checked: LabelledExample[], other: LabelledExample[]): Overlap {
  const exact = new Set(other.map((e) => normalise(e.prompt)));
  const otherShingles = other.map((e) => shingles(e.prompt));
  const result: Overlap = { same: [], near: [] };
  checked.forEach((e, i) => {
    if (exact.has(normalise(e.prompt))) result.same.push(i + 1);
    else {
      const mine = shingles(e.prompt);
      if (otherShingles.some((s) => near(mine, s))) result.near.push(i + 1);
    }
  });
  return result;
}
