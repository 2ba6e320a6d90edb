/** "Did you mean": the closest known word to a mistyped one, if it is close enough to be the one meant. */

/** Optimal string alignment distance: edits, with a swap of two neighbours counting as one. */
function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  const at = (i: number, j: number): number => d[i]?.[j] ?? Number.POSITIVE_INFINITY;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        best = Math.min(best, at(i - 2, j - 2) + 1);
      (d[i] as number[])[j] = best;
    }
  }
  return at(a.length, b.length);
}

/** The candidate within a third of the word's length in edits (at least 1), or a unique prefix match. */
export function closest(word: string, candidates: Iterable<string>): string | undefined {
  const list = [...new Set(candidates)];
  const lower = word.toLowerCase();
  let best: { candidate: string; distance: number } | undefined;
  for (const candidate of list) {
    const d = distance(lower, candidate.toLowerCase());
    if (best === undefined || d < best.distance) best = { candidate, distance: d };
  }
  if (best && best.distance <= Math.max(1, Math.floor(word.length / 3))) return best.candidate;
  const prefixed = list.filter((c) => lower.length >= 2 && c.toLowerCase().startsWith(lower));
  return prefixed.length === 1 ? prefixed[0] : undefined;
}

/** "; did you mean 'x'?" or nothing. */
export function didYouMean(
  word: string,
  candidates: Iterable<string>,
  quote = (s: string) => `'${s}'`,
): string {
  const match = closest(word, candidates);
  return match === undefined ? '' : `; did you mean ${quote(match)}?`;
}
