/** Running a kernel on the inputs a call has: those left undefined (optional ones it lacks) are not passed. */
import { tf, type Tensor } from '../tf.js';

/** A kernel's inputs, any of them possibly undefined. */
export type Given<T> = { readonly [K in keyof T]?: Tensor | undefined };

export function runOnGiven(kernelName: string, inputs: Given<object>, attrs: object) {
  const given = Object.fromEntries(Object.entries(inputs).filter(([, tensor]) => tensor !== undefined));
  return tf.engine().runKernel(kernelName, given as never, attrs as never);
}
