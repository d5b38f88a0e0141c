/**
 * Accuracy of argmax predictions. A row whose scores contain NaN (a diverged model) counts as wrong, never as a
 * lucky guess.
 */
export function accuracy(scores: readonly (readonly number[])[], labels: readonly number[]): number {
  if (scores.length === 0) return Number.NaN;
  let correct = 0;
  scores.forEach((row, i) => {
    if (row.some(Number.isNaN)) return;
    let best = 0;
    for (let k = 1; k < row.length; k++) if (row[k]! > row[best]!) best = k;
    if (best === labels[i]) correct += 1;
  });
  return correct / scores.length;
}
