/**
 * The elementwise sum of any number of same-shaped tensors, as a left fold of adds — the order tfjs's AddN kernels
 * add in, so the numbers are AddN's. One AddN binds every input at once, and on WebGPU an unbounded list (one term per
 * layer or per parameter) exceeds the device's storage-buffer bindings.
 */
import { tf, type Tensor } from '../tf.js';

export function sumAll(tensors: readonly Tensor[]): Tensor {
  return tensors.reduce((sum, tensor) => tf.add(sum, tensor));
}
