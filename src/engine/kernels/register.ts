/** Registers mceval's own kernels for a backend, replacing slow or missing ones. Idempotent. */
import { tf } from '../tf.js';
import { unsortedSegmentSumKernel } from './unsorted-segment-sum.js';

/** Backends whose UnsortedSegmentSum is missing (wasm) or pathologically slow (cpu). */
const SCATTER_ADD_BACKENDS = new Set(['wasm', 'cpu']);

export function registerCustomKernels(backendName: string): void {
  if (!SCATTER_ADD_BACKENDS.has(backendName)) return;
  const config = unsortedSegmentSumKernel(backendName);
  if (tf.getKernel(config.kernelName, backendName)?.kernelFunc === config.kernelFunc) return;
  if (tf.getKernel(config.kernelName, backendName) !== undefined) tf.unregisterKernel(config.kernelName, backendName);
  tf.registerKernel(config);
}
