/**
 * Mean negative log-likelihood of the gold label, −(1/n)·Σ log p(yᵢ | xᵢ), from per-row log-probabilities (nats).
 * Lower is better; its reciprocal is the paper's intrinsic robustness. NaN rows make the mean NaN.
 */
export function negativeLogLikelihood(
  logProbabilities: readonly (readonly number[])[],
  labels: readonly number[],
): number {
  if (logProbabilities.length === 0) return Number.NaN;
  let total = 0;
  logProbabilities.forEach((row, i) => {
    total -= row[labels[i]!]!;
  });
  return total / logProbabilities.length;
}
