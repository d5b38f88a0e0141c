import { tf } from '../tf.js';

/**
 * Whether the current backend has `kernelName` registered: ops that have one of mceval's kernels run it where it is,
 * and compose tfjs ops elsewhere.
 */
export function hasKernel(kernelName: string): boolean {
  return tf.getKernel(kernelName, tf.getBackend()) !== undefined;
}
