/**
 * How many tokens of each sequence survive longest_first truncation to `budget` tokens (tokenizers' Rust
 * truncate_encodings): with n1 ≤ n2, the shorter keeps min(n1, budget), the longer max(n1, budget − n1) capped by
 * its length, and if that still does not fit both get half the budget (the extra token to the longer one).
 */
export function longestFirst(length1: number, length2: number, budget: number, isPair: boolean): [number, number] {
  if (!isPair) return [Math.min(length1, budget), 0];
  if (length1 + length2 <= budget) return [length1, length2];
  const swap = length1 > length2;
  let n1 = swap ? length2 : length1;
  let n2 = swap ? length1 : length2;
  const long = n2;
  if (n1 > budget) n2 = n1;
  else n2 = Math.max(n1, budget - n1);
  if (n1 + n2 > budget) {
    n1 = Math.floor(budget / 2);
    n2 = n1 + (budget % 2);
  }
  n2 = Math.min(n2, long);
  return swap ? [n2, n1] : [n1, n2];
}
