/**
 * Splits read on first access, each once: a task's `load` returns them so that scoring, which reads only the
 * evaluation split, never opens (or needs) the training files.
 */
export function lazySplits<S extends object>(readers: { readonly [K in keyof S]: () => S[K] }): S {
  const splits = {} as S;
  for (const key of Object.keys(readers) as (keyof S)[]) {
    let cached: { value: S[keyof S] } | undefined;
    Object.defineProperty(splits, key, {
      enumerable: true,
      get: () => (cached ??= { value: readers[key]() }).value,
    });
  }
  return splits;
}
