import { TIER_IDS } from '../../shared/domain/catalog.js';
import type { LabelledExample } from './dataset.js';
import { comparison, type Evaluation } from './evaluate.js';

/**
 * A labelled set measured as a whole with the shipped model (`npm run eval-router`). A blind set
 * (written without reading the labelled set or running the router, never trained on) gives an
 * estimate nobody has fitted; its report says how many of its prompts are also in the labelled set.
 * data/router/fresh.jsonl was such a blind set for model r1-ab528bc6911c (74.4% agreement, 5.0%
 * downward, 20.6% upward); it has since been added to labelled.jsonl and is development data.
 */
export const FRESH_DATASET = new URL('../../data/router/fresh.jsonl', import.meta.url);
export const FRESH_REPORT = new URL('../../data/router/fresh-report.md', import.meta.url);
export const FRESH_FIGURES = new URL('../../data/router/fresh-figures.json', import.meta.url);

/** A letter outside ASCII (accented or another script): a rough marker of a non-English request. */
const NON_ASCII_LETTER = /[^\s!-~\u00a0-\u00bf\u2000-\u206f\u2190-\u22ff]/u;

/** What the set holds per tier, by the request shapes the router can see. */
function mixTable(examples: LabelledExample[]): string[] {
  const count = (tier: string, f: (e: LabelledExample) => boolean): number =>
    examples.filter((e) => e.tier === tier && f(e)).length;
  const columns: Array<[string, (e: LabelledExample) => boolean]> = [
    ['examples', () => true],
    ['multi-turn', (e) => (e.history ?? []).length > 0],
    ['system prompt', (e) => (e.system ?? '') !== ''],
    [
      'tools/media/schema/effort',
      (e) => e.tools === true || e.media === true || e.jsonSchema === true || e.reasoning !== undefined,
    ],
    ['non-English*', (e) => NON_ASCII_LETTER.test(e.prompt)],
    ['prompt ≥ 1,000 chars', (e) => e.prompt.length >= 1_000],
    ['prompt < 60 chars', (e) => e.prompt.length < 60],
  ];
  return [
    `| tier | ${columns.map(([name]) => name).join(' | ')} |`,
    `|---|${columns.map(() => '---:').join('|')}|`,
    ...TIER_IDS.map((t) => `| ${t} | ${columns.map(([, f]) => count(t, f)).join(' | ')} |`),
  ];
}

/** The examples of `set` whose prompt (trimmed, case-folded) is also in `labelled`. */
export function overlapping(set: LabelledExample[], labelled: LabelledExample[]): LabelledExample[] {
  const key = (e: LabelledExample): string => e.prompt.trim().toLowerCase();
  const known = new Set(labelled.map(key));
  return set.filter((e) => known.has(key(e)));
}

/** What the figures are worth: a blind estimate only when no prompt of the set was trained on. */
function provenance(name: string, n: number, overlap: number): string[] {
  if (overlap === 0)
    return [
      `${name}: ${n} requests, none of them in data/router/labelled.jsonl: if the set was written blind`,
      'and nothing was tuned on it, these figures are an unbiased estimate.',
    ];
  return [
    `${name}: ${n} requests, ${overlap} of them also in data/router/labelled.jsonl (development data, about`,
    'four in five of those in the training part): these figures are not a blind estimate.',
  ];
}

export function freshReport(
  version: string,
  examples: LabelledExample[],
  e: Evaluation,
  source: { name: string; overlap: number } = { name: 'data/router/fresh.jsonl', overlap: 0 },
): string {
  return [
    `# tier-auto on ${source.name} (model ${version})`,
    '',
    ...provenance(source.name, examples.length, source.overlap),
    '`npm run eval-router` reproduces these figures.',
    '',
    ...(source.name.endsWith('fresh.jsonl')
      ? [
          'History: fresh.jsonl was written blind and first measured with model r1-ab528bc6911c, which had',
          'never seen it: agreement 74.4%, downward 5.0%, upward 20.6%. It was then added to the labelled',
          'set, so the figures below are development figures.',
          '',
        ]
      : []),
    ...comparison(e),
    '## The set',
    '',
    ...mixTable(examples),
    '',
    '\\* by a rough script test (accented or non-Latin letters): it misses a language written without',
    'accents and counts an English prompt quoting a foreign word.',
  ].join('\n');
}
