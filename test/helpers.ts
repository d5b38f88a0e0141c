import { before, describe } from 'node:test';
import { initEngine } from '../src/engine/backends.js';
import { tf } from '../src/engine/tf.js';

/** Tests compute on wasm, the backend users get here; MCEVAL_TEST_BACKEND=cpu runs them on the other. */
export async function useTestBackend(): Promise<string> {
  const choice = await initEngine((process.env['MCEVAL_TEST_BACKEND'] as 'wasm' | 'cpu' | undefined) ?? 'wasm');
  return choice.tfName;
}

/** Defines the same tests once per local backend (wasm and cpu): kernels and gradients differ between them. */
export function onEachBackend(define: () => void): void {
  for (const backend of ['wasm', 'cpu'] as const) {
    describe(`on ${backend}`, () => {
      before(() => initEngine(backend));
      define();
    });
  }
}

/** Runs `body` and asserts it left no tensor behind. */
export async function withoutLeaks<T>(
  body: () => T | Promise<T>,
): Promise<{ value: T; before: number; after: number }> {
  const before = tf.memory().numTensors;
  const value = await body();
  return { value, before, after: tf.memory().numTensors };
}

export function maxAbsDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}
