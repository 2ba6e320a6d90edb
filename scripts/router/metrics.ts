import { TIER_IDS, type TierId } from '../../shared/domain/catalog.js';

export interface Routed {
  label: TierId;
  chosen: TierId;
}

export interface RoutingMetrics {
  n: number;
  /** Share routed to exactly the labelled tier. */
  agreement: number;
  /** Share routed below the labelled tier (the costly error: a weaker model than needed). */
  downward: number;
  /** Share routed above it (the cheap error: paying more than needed). */
  upward: number;
  /** confusion[label][chosen], tier-1 first. */
  confusion: number[][];
}

export function measure(routed: Routed[]): RoutingMetrics {
  const confusion = TIER_IDS.map(() => TIER_IDS.map(() => 0));
  let same = 0;
  let down = 0;
  for (const { label, chosen } of routed) {
    const l = TIER_IDS.indexOf(label);
    const c = TIER_IDS.indexOf(chosen);
    (confusion[l] as number[])[c] = ((confusion[l] as number[])[c] as number) + 1;
    if (l === c) same++;
    else if (c < l) down++;
  }
  const n = routed.length;
  const share = (k: number) => (n === 0 ? 0 : k / n);
  return { n, agreement: share(same), downward: share(down), upward: share(n - same - down), confusion };
}
