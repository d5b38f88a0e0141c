/**
 * The known names a mistyped one most likely meant, for the "did you mean" of a refusal (an unknown task, adapter,
 * model, metric or flag): the same name in other letters' case, else those the typed name begins (`mnli` →
 * mnli-matched, mnli-mismatched), else the nearest by the fewest single-character edits — insertions, deletions,
 * substitutions and swaps of neighbours (Damerau's optimal string alignment) — case ignored, no farther than a third of
 * the typed name's length (at least one edit), so that a name unlike any gets no suggestion.
 */

/** Names a prefix may stand for: more than this, and it says too little to suggest any. */
const MOST_BY_PREFIX = 4;

/** Optimal-string-alignment distance between `a` and `b`. */
export function editDistance(a: string, b: string): number {
  const rows = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) rows[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(rows[i - 1]![j]! + 1, rows[i]![j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        best = Math.min(best, rows[i - 2]![j - 2]! + 1);
      rows[i]![j] = best;
    }
  }
  return rows[a.length]![b.length]!;
}

/** The names `typed` most likely meant, in the order of `names` (empty where none is near). */
export function nearestNames(typed: string, names: readonly string[]): string[] {
  const lower = typed.toLowerCase();
  const distances = names.map((name) => editDistance(lower, name.toLowerCase()));
  // The same name in other letters' case (RTE), else the names it begins, else the nearest.
  const least = Math.min(...distances);
  if (least > 0 && lower.length >= 3) {
    const begun = names.filter((name) => name.toLowerCase().startsWith(lower));
    if (begun.length > 0 && begun.length <= MOST_BY_PREFIX) return begun;
  }
  const most = Math.max(1, Math.floor(lower.length / 3));
  return least > most ? [] : names.filter((_, i) => distances[i] === least).slice(0, MOST_BY_PREFIX);
}

/**
 * ` (did you mean a, b or c?)` for the names `typed` most likely meant, each as `shown` writes it; '' where none is
 * near.
 */
export function didYouMean(typed: string, names: readonly string[], shown = (name: string) => name): string {
  const near = nearestNames(typed, names).map(shown);
  return near.length === 0 ? '' : ` (did you mean ${alternatives(near)}?)`;
}

/** `a`, `a or b`, `a, b or c`. */
export function alternatives(names: readonly string[]): string {
  return names.length <= 1 ? names.join('') : `${names.slice(0, -1).join(', ')} or ${names.at(-1)!}`;
}
