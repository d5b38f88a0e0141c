/**
 * Shaders that write a result over one of their inputs (AdamW's parameters, accumulated gradients): when that is safe,
 * and how many such inputs one dispatch takes. Writing in place saves a buffer per tensor and, more to the point on a
 * GPU, a binding: a dispatch takes as many tensors as it has storage buffers for.
 */
import type { TensorInfo } from '@tensorflow/tfjs-core';
import type { WebGpuBackendLike } from './shader.js';

interface ReferenceCounting {
  refCount(dataId: object): number;
}

/** How many of a kernel call's inputs are each buffer. */
export function inputsByBuffer(inputs: readonly TensorInfo[]): Map<object, number> {
  const bound = new Map<object, number>();
  for (const input of inputs) bound.set(input.dataId, (bound.get(input.dataId) ?? 0) + 1);
  return bound;
}

/**
 * Whether a result may be written over `t`: no other tensor holds t's buffer (tfjs counts references: a reshape of it,
 * or a tensor it was assigned from and that is still held, would change with it) and no other input of the call is
 * that buffer (WebGPU refuses a buffer bound writable and read-only at once). `bound` counts the call's inputs by
 * buffer (inputsByBuffer).
 */
export function writableInPlace(gpu: WebGpuBackendLike, t: TensorInfo, bound: ReadonlyMap<object, number>): boolean {
  return bound.get(t.dataId) === 1 && (gpu as unknown as ReferenceCounting).refCount(t.dataId) === 1;
}

/**
 * `items` in order, cut into runs whose `needs` (storage buffers each) add up to at most `available`; an item that
 * needs more than that has a run of its own.
 */
export function bindingRuns<T>(items: readonly T[], needs: (item: T) => number, available: number): T[][] {
  const runs: T[][] = [];
  let current: T[] = [];
  let used = 0;
  for (const item of items) {
    if (current.length > 0 && used + needs(item) > available) {
      runs.push(current);
      current = [];
      used = 0;
    }
    current.push(item);
    used += needs(item);
  }
  if (current.length > 0) runs.push(current);
  return runs;
}
