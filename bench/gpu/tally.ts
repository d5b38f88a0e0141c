/** Counting what a backend does while a benchmark runs: calls of one of its methods, weighed, until stopped. */
import { tf } from '../../src/engine/tf.js';
import { wrapMethod, type AnyMethod } from '../../src/engine/replay/wrap-method.js';

export { wrapMethod, type AnyMethod };

/**
 * Wraps `target[name]` so that each call adds `weigh(args)` to a tally, until the returned function is called: it
 * restores the method and returns the tally.
 */
export function tally(
  target: Record<string, AnyMethod>,
  name: string,
  weigh: (args: unknown[]) => number,
): () => number {
  let total = 0;
  const restore = wrapMethod(target, name, (method) => (...args: unknown[]) => {
    total += weigh(args);
    return method(...args);
  });
  return () => {
    restore();
    return total;
  };
}

/** Counts the compute dispatches the webgpu backend records from now on (tfjs runs each through recordAndSubmit). */
export const dispatches = () => tally(tf.backend() as unknown as Record<string, AnyMethod>, 'recordAndSubmit', () => 1);

/** The bytes tfjs-webgpu's buffer pool holds, in use or kept free for reuse (0 on another backend). */
export function poolBytes(): number {
  const pool = (tf.backend() as unknown as { bufferManager?: { numBytesAllocated: number } }).bufferManager;
  return pool?.numBytesAllocated ?? 0;
}
