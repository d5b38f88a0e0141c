/** Timing and comparing single calls on the GPU, for the kit's sections that time one kernel or product alone. */
import { tf, type Tensor } from '../../src/engine/tf.js';

/** Seconds per call of `product`, over `repeats` calls queued back to back after two warm-up calls. */
export async function timePerCall(product: () => Tensor, repeats: number): Promise<number> {
  for (let i = 0; i < 2; i++) {
    const warm = product();
    await warm.data();
    warm.dispose();
  }
  const started = performance.now();
  let last: Tensor | undefined;
  for (let i = 0; i < repeats; i++) {
    last?.dispose();
    last = product();
  }
  await last!.data();
  last!.dispose();
  return (performance.now() - started) / 1000 / repeats;
}

/** The largest absolute difference of two arrays, relative to the largest magnitude of `expected`. */
export function relativeDifference(actual: Float32Array, expected: Float32Array): number {
  let worst = 0;
  let largest = 0;
  actual.forEach((value, j) => {
    worst = Math.max(worst, Math.abs(value - expected[j]!));
    largest = Math.max(largest, Math.abs(expected[j]!));
  });
  return worst / largest;
}

/** Runs `body` with a tfjs flag set, then puts it back. */
export async function withFlag<T>(name: string, value: number, body: () => Promise<T>): Promise<T> {
  const saved = tf.env().get(name);
  tf.env().set(name, value);
  try {
    return await body();
  } finally {
    tf.env().set(name, saved);
  }
}
