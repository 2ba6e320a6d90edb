import { money, type UsageRow, usd } from './api.js';

/** A hand-written SVG chart: one column per UTC day, stacked by tier. No library needed. */

const SVG = 'http://www.w3.org/2000/svg';
const WIDTH = 600;
const HEIGHT = 200;
const AXIS = 16;
/** Tier colours with at least 3:1 contrast against the white background. */
export const TIER_COLOURS: Record<string, string> = {
  'tier-1': '#1f6feb',
  'tier-2': '#8250df',
  'tier-3': '#bf3989',
  'tier-4': '#9a6700',
  'tier-auto': '#1a7f37',
};
const OTHER_COLOUR = '#57606a';

function el<K extends keyof SVGElementTagNameMap>(name: K, attrs: Record<string, string | number>) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

/** Every UTC day from `since` to `until`, inclusive. */
export function daysBetween(since: string, until: string): string[] {
  const days: string[] = [];
  for (let t = Date.parse(`${since}T00:00:00Z`); t <= Date.parse(`${until}T00:00:00Z`); t += 86_400_000)
    days.push(new Date(t).toISOString().slice(0, 10));
  return days;
}

/** Draws `rows` (keyed `YYYY-MM-DD,tier`) into `svg`: one `g.day` per day, one `rect` per tier with spend. */
export function drawSpendChart(
  svg: SVGSVGElement,
  days: string[],
  rows: UsageRow[],
  legend: HTMLElement,
): void {
  svg.replaceChildren();
  svg.setAttribute('viewBox', `0 0 ${WIDTH} ${HEIGHT + AXIS}`);
  const byDay = new Map<string, Map<string, number>>();
  const tiers = new Set<string>();
  for (const row of rows) {
    const [day = '', tier = ''] = row.key.split(',');
    if (row.chargeMicros <= 0) continue;
    tiers.add(tier);
    const tiersOfDay = byDay.get(day) ?? new Map<string, number>();
    tiersOfDay.set(tier, (tiersOfDay.get(tier) ?? 0) + row.chargeMicros);
    byDay.set(day, tiersOfDay);
  }
  const dayTotals = days.map((day) => [...(byDay.get(day)?.values() ?? [])].reduce((a, b) => a + b, 0));
  const max = Math.max(1, ...dayTotals);
  const slot = WIDTH / Math.max(1, days.length);
  const sortedTiers = [...tiers].sort();
  let total = 0;
  days.forEach((day, i) => {
    const group = el('g', { class: 'day', 'data-day': day });
    const title = el('title', {});
    const spent = dayTotals[i] ?? 0;
    total += spent;
    title.textContent = `${day}: ${money(spent)}`;
    group.append(title);
    // An empty day still has a (flat) column, so every day of the range is there to hover.
    group.append(
      el('rect', { class: 'slot', x: i * slot, y: 0, width: slot, height: HEIGHT, fill: 'transparent' }),
    );
    let y = HEIGHT;
    for (const tier of sortedTiers) {
      const micros = byDay.get(day)?.get(tier) ?? 0;
      if (micros <= 0) continue;
      const h = Math.max(1, (micros / max) * (HEIGHT - 16));
      y -= h;
      const rect = el('rect', {
        class: 'bar',
        'data-tier': tier,
        x: i * slot + slot * 0.15,
        y,
        width: slot * 0.7,
        height: h,
        fill: TIER_COLOURS[tier] ?? OTHER_COLOUR,
      });
      const t = el('title', {});
      t.textContent = `${day} ${tier}: ${money(micros)}`;
      rect.append(t);
      group.append(rect);
    }
    svg.append(group);
  });
  svg.append(el('line', { x1: 0, y1: HEIGHT, x2: WIDTH, y2: HEIGHT, stroke: '#57606a' }));
  for (const [i, text] of [
    [0, days[0] ?? ''],
    [days.length - 1, days.at(-1) ?? ''],
  ] as const) {
    const label = el('text', {
      x: i === 0 ? 0 : WIDTH,
      y: HEIGHT + AXIS - 3,
      'text-anchor': i === 0 ? 'start' : 'end',
      class: 'axis',
    });
    label.textContent = text;
    svg.append(label);
  }
  // The scale: the tallest day's spend, at the top.
  const scale = el('text', { x: 0, y: 10, class: 'axis' });
  scale.textContent = usd(max, max < 1_000_000 ? 4 : 2);
  svg.append(scale);
  svg.setAttribute(
    'aria-label',
    `Spend per day from ${days[0]} to ${days.at(-1)}: ${money(total)} in all, highest day ${money(Math.max(0, ...dayTotals))}.`,
  );
  legend.replaceChildren(
    ...sortedTiers.map((tier) => {
      const item = document.createElement('li');
      const swatch = document.createElement('span');
      swatch.className = 'swatch';
      swatch.style.background = TIER_COLOURS[tier] ?? OTHER_COLOUR;
      item.append(swatch, tier);
      return item;
    }),
  );
}
