import { basename } from 'node:path';
import { TIER_IDS } from '../../shared/domain/catalog.js';
import type { LabelledExample } from './dataset.js';
import { comparison, type Evaluation } from './evaluate.js';

/**
 * The evaluation set kept apart from training (data/router/fresh4.jsonl): written blind, without
 * reading the labelled set or running the router, and never used to tune anything. The shipped
 * model is only measured on it, so its figures are an estimate nobody has fitted.
 *
 * The sets before it have joined the labelled set as development data, so they are no longer
 * evaluation sets: data/router/fresh.jsonl (measured blind once, model r1-ab528bc6911c: agreement
 * 74.4%, downward 5.0%, upward 20.6%, in fresh-report.md) and data/router/fresh2.jsonl (measured
 * blind on three artifacts, the last r1-252c78f10d3f: 68.8%, 1.9%, 29.4%, in fresh2-report.md) and
 * data/router/fresh3.jsonl (measured blind on two artifacts, the last r1-6e9c2c9f34c8: 73.8%, 0.0%,
 * 26.3%, in fresh3-report.md).
 */
export const FRESH_DATASET = new URL('../../data/router/fresh4.jsonl', import.meta.url);
export const FRESH_REPORT = new URL('../../data/router/fresh4-report.md', import.meta.url);
export const FRESH_FIGURES = new URL('../../data/router/fresh4-figures.json', import.meta.url);

/** The blind sets of earlier artifacts, now part of the labelled set. */
export const RETIRED_SETS = [
  new URL('../../data/router/fresh.jsonl', import.meta.url),
  new URL('../../data/router/fresh2.jsonl', import.meta.url),
  new URL('../../data/router/fresh3.jsonl', import.meta.url),
];

/** Every set that is only ever measured; a new blind set joins here. */
export const FRESH_SETS = [FRESH_DATASET];

/** Where `--write` records a set's report and figures: next to it, named after it (fresh4-report.md). */
export function outputsFor(data: URL): { report: URL; figures: URL } {
  const stem = basename(data.pathname).replace(/\.jsonl$/, '');
  return { report: new URL(`${stem}-report.md`, data), figures: new URL(`${stem}-figures.json`, data) };
}

/** Each blind set's keyword traps and languages other than English, as its author recorded them. */
const NOTES: Record<string, { traps: string[]; languages: string }> = {
  'fresh2.jsonl': {
    traps: [
      '"prove", "proof", "theorem",',
      '"quantum", "plan", "step by step" on easy work; "simple", "quick", "classify", "format" on hard',
    ],
    languages:
      'six requests a tier in other languages (French, Spanish, German, Italian, Portuguese, Japanese, Chinese, Korean, Russian)',
  },
  'fresh3.jsonl': {
    traps: [
      '"prove", "rigorously", "step by step", "architecture", "theorem", "optimise", "strategy"',
      'on easy and ordinary work; "quick", "simple", "just classify", "just format" on hard',
    ],
    languages:
      'seven or eight requests a tier in other languages (French, Spanish, German, Italian, Portuguese, Dutch, Polish, Turkish, Indonesian, Vietnamese, Arabic, Russian, Japanese, Chinese, Korean)',
  },
  'fresh4.jsonl': {
    traps: [
      '"prove … correct", "distributed systems", "URGENT sev-1"',
      'on easy and ordinary work; one-line concurrency, tiling, limit and factorial asks on hard',
    ],
    languages:
      'eight or nine requests a tier in other languages (Spanish, French, German, Portuguese, Italian, Dutch, Swedish, Polish, Turkish, Russian, Arabic, Hindi, Vietnamese, Indonesian, Japanese, Chinese, Korean)',
  },
};

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

export function freshReport(
  version: string,
  examples: LabelledExample[],
  e: Evaluation,
  data: string = 'data/router/fresh4.jsonl',
  overlapLine?: string,
): string {
  const name = basename(data);
  const notes = NOTES[name] ?? {
    traps: ['both ways: hard-sounding words on easy', 'work and easy-sounding words on hard'],
    languages: 'requests in other languages',
  };
  const blind = name === basename(FRESH_DATASET.pathname);
  const command = blind ? 'npm run eval-router' : `npm run eval-router -- --data ${data}`;
  const title = blind ? 'the blind evaluation set' : `the evaluation set ${name}`;
  return [
    `# tier-auto on ${title} (model ${version})`,
    '',
    `${data}: ${examples.length} requests written blind (without reading data/router/labelled.jsonl`,
    'or running the router) and labelled by its writer by the tier classes of DESIGN §1. The model was',
    `not retrained and nothing was tuned after these figures were seen; \`${command}\` reproduces them.`,
    ...(e.settled
      ? [
          "The last row measures the router against the tier most of three blind readers chose instead of the writer's",
          '(data/router/labels.md).',
        ]
      : []),
    ...(overlapLine === undefined ? [] : [overlapLine]),
    '',
    ...comparison(e),
    '## The set',
    '',
    ...mixTable(examples),
    '',
    '\\* by a rough script test (accented or non-Latin letters): it misses a language written without',
    'accents and counts an English prompt quoting a foreign word. About half of each tier is ordinary',
    'requests; the rest are hard cases:',
    `short-but-hard and long-but-easy prompts, keyword traps (${notes.traps[0]}`,
    notes.traps[1],
    'work), follow-ups in a conversation, tool and media requests, and',
    `${notes.languages}.`,
  ].join('\n');
}
