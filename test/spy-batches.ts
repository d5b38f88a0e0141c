/**
 * Records the batch size of each call of `target[method]` — its first argument's `batchSize` (a padded batch, a
 * decoding input) — while still calling it. Returns the list it appends to.
 */
export function spyBatches<T extends object>(target: T, method: keyof T): number[] {
  const seen: number[] = [];
  const original = (target[method] as (...args: unknown[]) => unknown).bind(target);
  (target as Record<keyof T, unknown>)[method] = (input: { batchSize: number }, ...rest: unknown[]) => {
    seen.push(input.batchSize);
    return original(input, ...rest);
  };
  return seen;
}
