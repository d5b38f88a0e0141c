/**
 * The engine's self-check: a matmul on seeded random data compared with a float64 JavaScript reference, and the
 * backend's matmul throughput.
 */
import { tf, type Tensor2D } from './tf.js';
import { Rng } from './rng.js';

export interface MatmulCheck {
  readonly size: number;
  /** ‖C − C_ref‖_F / ‖C_ref‖_F. */
  readonly relativeError: number;
  readonly gflops: number;
}

/** C = A·B in float64, row-major, A [m, k], B [k, n]. */
export function referenceMatmul(a: Float32Array, b: Float32Array, m: number, k: number, n: number): Float64Array {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let p = 0; p < k; p++) {
      const aip = a[i * k + p]!;
      for (let j = 0; j < n; j++) c[i * n + j]! += aip * b[p * n + j]!;
    }
  }
  return c;
}

export function relativeFrobeniusError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < expected.length; i++) {
    diff += (actual[i]! - expected[i]!) ** 2;
    norm += expected[i]! ** 2;
  }
  return Math.sqrt(diff / norm);
}

/** Reads results asynchronously, so it also runs on backends without synchronous reads (WebGPU in Node). */
export async function matmulSelfCheck(size = 256, repeats = 10): Promise<MatmulCheck> {
  const rng = new Rng(7);
  const a = rng.normalArray(size * size);
  const b = rng.normalArray(size * size);
  const ta = tf.tensor2d(a, [size, size]);
  const tb = tf.tensor2d(b, [size, size]);
  try {
    const product = tf.matMul(ta, tb);
    const actual = await product.data();
    product.dispose();
    const relativeError = relativeFrobeniusError(actual, referenceMatmul(a, b, size, size, size));
    const started = performance.now();
    for (let i = 0; i < repeats; i++) {
      const c = tf.matMul(ta as Tensor2D, tb as Tensor2D);
      await c.data();
      c.dispose();
    }
    const seconds = (performance.now() - started) / 1000;
    return { size, relativeError, gflops: (2 * size ** 3 * repeats) / seconds / 1e9 };
  } finally {
    ta.dispose();
    tb.dispose();
  }
}
