import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { TIER_IDS, type TierId } from '../../shared/domain/catalog.js';
import { isObject } from '../../shared/domain/json-body.js';
import type { LabelledExample } from './dataset.js';

/**
 * A second and third opinion on the labels (data/router/labels.md). Every example of the labelled
 * set and of the blind set was judged blind by a second reader, from the tier classes of DESIGN §1
 * only (data/router/judge-brief.md); where that judge differed from the writer's tier, a third
 * reader judged it blind too, among examples the first two agreed on so the disputed ones could not
 * be told apart. `data/router/judgements.jsonl` records every example judged three times: its set
 * and line, a digest of its prompt, the writer's tier and the two judges'. The sets keep the
 * writers' tiers (training on the settled ones did worse on both: labels.md); the settled label,
 * the tier most of the three chose, is a second yardstick for the router's figures.
 */
export interface Judgement {
  set: 'labelled' | 'fresh4';
  /** One-based line of the example in its set. */
  line: number;
  /** First 12 hex digits of the SHA-256 of the example's prompt. */
  sha256: string;
  written: TierId;
  judges: [TierId, TierId];
}

export const DEFAULT_JUDGEMENTS = new URL('../../data/router/judgements.jsonl', import.meta.url);

const rank = (tier: TierId): number => TIER_IDS.indexOf(tier);

/** The tier most of the votes chose; with no majority, the middle vote in tier order. */
export function adjudicate(votes: readonly TierId[]): TierId {
  const counts = new Map<TierId, number>();
  for (const vote of votes) counts.set(vote, (counts.get(vote) ?? 0) + 1);
  for (const [tier, count] of counts) if (count * 2 > votes.length) return tier;
  const sorted = [...votes].sort((a, b) => rank(a) - rank(b));
  return sorted[(sorted.length - 1) >> 1] as TierId;
}

export const promptDigest = (prompt: string): string =>
  createHash('sha256').update(prompt).digest('hex').slice(0, 12);

const isTier = (value: unknown): value is TierId => TIER_IDS.includes(value as TierId);

export function parseJudgements(text: string): Judgement[] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line, i) => {
      const row: unknown = JSON.parse(line);
      if (
        !isObject(row) ||
        (row.set !== 'labelled' && row.set !== 'fresh4') ||
        !Number.isInteger(row.line) ||
        typeof row.sha256 !== 'string' ||
        !isTier(row.written) ||
        !Array.isArray(row.judges) ||
        row.judges.length !== 2 ||
        !row.judges.every(isTier)
      ) {
        throw new Error(`judgements line ${i + 1}: needs set, line, sha256, written and two judges' tiers`);
      }
      return row as unknown as Judgement;
    });
}

export const loadJudgements = (path: URL | string = DEFAULT_JUDGEMENTS): Judgement[] =>
  parseJudgements(readFileSync(path, 'utf8'));

/**
 * The settled tier of each example of `set` (in order): the tier most of the three readers chose
 * where it was judged three times, else the writer's, which its first judge shared. Throws when a
 * judgement no longer matches its example (the set was edited since).
 */
export function settledTiers(
  examples: readonly LabelledExample[],
  set: Judgement['set'],
  judgements: readonly Judgement[] = loadJudgements(),
): TierId[] {
  const settled = examples.map((e) => e.tier);
  for (const j of judgements) {
    if (j.set !== set) continue;
    const example = examples[j.line - 1];
    if (!example || promptDigest(example.prompt) !== j.sha256 || example.tier !== j.written) {
      throw new Error(`judgements: ${set} line ${j.line} no longer matches its example`);
    }
    settled[j.line - 1] = adjudicate([j.written, ...j.judges]);
  }
  return settled;
}
