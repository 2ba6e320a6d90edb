import type { TierId } from '../../shared/domain/catalog.js';
import type { RouteInput } from '../../shared/routing/features.js';

/** The two baselines the router is measured against, on the same held-out split. */

export const alwaysTier2 = (_input: RouteInput): TierId => 'tier-2';

const REASONING_WORDS =
  /\b(prove|proof|solve|probability|calculate|compute|derive|step by step|puzzle|optimi[sz]e)\b/i;
const FRONTIER_WORDS =
  /\b(architecture|design|debug|root cause|security|vulnerab\w*|legal|risk|deadlock|race condition)\b/i;
const SIMPLE_WORDS = /\b(classify|extract|translate|yes or no|convert|label|format|true or false|which)\b/i;

/** A naive keyword and length heuristic, as keyword routers do it. */
export function keywordHeuristic(input: RouteInput): TierId {
  const text = `${input.system}\n${input.prompt}`;
  if (REASONING_WORDS.test(text)) return 'tier-4';
  if (FRONTIER_WORDS.test(text)) return 'tier-3';
  if (SIMPLE_WORDS.test(text) || input.prompt.length < 60) return 'tier-1';
  return input.prompt.length > 2_000 ? 'tier-3' : 'tier-2';
}
