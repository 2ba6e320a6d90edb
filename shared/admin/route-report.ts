import { TIER_IDS } from '../domain/catalog.js';
import type { UsageRoute } from '../domain/usage.js';

type Item = Record<string, unknown>;

/** One cell of the agreement matrix: requests asked for `requested` that tier-auto put on `chosen`. */
export interface RouteCell {
  requested: string;
  chosen: string;
  mode: UsageRoute['mode'];
  requests: number;
  /** What the requests were charged. */
  chargeMicros: number;
  /** What the chosen tier would have charged (shadow mode); the charge itself for tier-auto traffic. */
  autoChargeMicros: number;
}

/** `GET /admin/usage?by=route`: how tier-auto routes, and how it would route explicit traffic. */
export interface RouteReport {
  /** requested × chosen, tier-auto traffic first (requested `tier-auto`). */
  matrix: RouteCell[];
  /** tier-auto traffic: requests per chosen tier and their share of it. */
  autoShares: Array<{ tier: string; requests: number; share: number }>;
  /** Shadow mode: how often tier-auto agreed with the tier the client asked for. */
  shadow: {
    requests: number;
    agreeing: number;
    agreement: number | null;
    /** Charged minus what tier-auto's tiers would have charged: positive means it would save. */
    savedMicros: number;
  };
}

const isRoute = (v: unknown): v is UsageRoute =>
  typeof v === 'object' && v !== null && typeof (v as UsageRoute).chosen === 'string';

const share = (part: number, whole: number): number =>
  whole === 0 ? 0 : Math.round((part / whole) * 1e4) / 1e4;

const order = (tier: string): number => {
  const i = (TIER_IDS as readonly string[]).indexOf(tier);
  return i < 0 ? -1 : i;
};

/** Aggregates the request-log items that carry a route. */
export function routeReport(items: Item[]): RouteReport {
  const cells = new Map<string, RouteCell>();
  const auto = new Map<string, number>();
  const shadow = { requests: 0, agreeing: 0, savedMicros: 0 };
  let autoTotal = 0;
  for (const item of items) {
    const route = item.route;
    if (!isRoute(route)) continue;
    const charge = Number(item.chargeMicros ?? 0);
    const autoCharge = route.mode === 'shadow' ? Number(route.chargeMicros ?? 0) : charge;
    const key = `${route.mode} ${route.requested} ${route.chosen}`;
    const cell = cells.get(key) ?? {
      requested: route.requested,
      chosen: route.chosen,
      mode: route.mode,
      requests: 0,
      chargeMicros: 0,
      autoChargeMicros: 0,
    };
    cell.requests++;
    cell.chargeMicros += charge;
    cell.autoChargeMicros += autoCharge;
    cells.set(key, cell);
    if (route.mode === 'auto') {
      autoTotal++;
      auto.set(route.chosen, (auto.get(route.chosen) ?? 0) + 1);
    } else {
      shadow.requests++;
      if (route.requested === route.chosen) shadow.agreeing++;
      shadow.savedMicros += charge - autoCharge;
    }
  }
  const matrix = [...cells.values()].sort(
    (a, b) =>
      (a.mode === b.mode ? 0 : a.mode === 'auto' ? -1 : 1) ||
      order(a.requested) - order(b.requested) ||
      order(a.chosen) - order(b.chosen),
  );
  return {
    matrix,
    autoShares: TIER_IDS.filter((t) => auto.has(t)).map((tier) => ({
      tier,
      requests: auto.get(tier) ?? 0,
      share: share(auto.get(tier) ?? 0, autoTotal),
    })),
    shadow: {
      ...shadow,
      agreement: shadow.requests === 0 ? null : share(shadow.agreeing, shadow.requests),
    },
  };
}
