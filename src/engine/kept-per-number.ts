/**
 * A function of a whole number that makes each value once and keeps it: for what a hot path asks for again and again
 * by a small number (a kernel's uniform declarations by member count, a pipeline's bind group layout by index).
 */
export function keptPerNumber<T>(make: (n: number) => T): (n: number) => T {
  const kept = new Map<number, T>();
  return (n) => {
    if (!kept.has(n)) kept.set(n, make(n));
    return kept.get(n)!;
  };
}
