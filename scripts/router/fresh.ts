import { TIER_IDS } from '../../shared/domain/catalog.js';
import type { LabelledExample } from './dataset.js';
import { comparison, type Evaluation } from './evaluate.js';

/**
 * An evaluation set kept apart from training (data/router/fresh.jsonl): written blind, without
 * reading the labelled set or running the router, and never used to tune anything. The shipped
 * model is only measured on it, so its figures are an estimate nobody has fitted.
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

export function freshReport(version: string, examples: LabelledExample[], e: Evaluation): string {
  return [
    `# tier-auto on the fresh evaluation set (model ${version})`,
    '',
    `data/router/fresh.jsonl: ${examples.length} requests written blind (without reading data/router/labelled.jsonl`,
    'or running the router) and labelled by the tier classes of DESIGN §1. The model was not retrained',
    'and nothing was tuned after these figures were seen; `npm run eval-router` reproduces them.',
    '',
    ...comparison(e),
    '## The set',
    '',
    ...mixTable(examples),
    '',
    '\\* by a rough script test (accented or non-Latin letters): it misses a language written without',
    'accents and counts an English prompt quoting a foreign word. About half of each tier is ordinary',
    'requests; the rest are hard cases:',
    'short-but-hard and long-but-easy prompts, keyword traps ("prove", "calculate", "solve",',
    '"architecture" or "security" on easy work; "simple", "quick", "classify", "extract" on hard',
    'work), follow-ups in a conversation, tool and media requests, and six requests a tier in other',
    'languages (Spanish, French, German, Portuguese, Italian, Japanese, Chinese, Korean, Russian).',
  ].join('\n');
}
