import { tf, type Tensor, type Variable } from './tf.js';

/**
 * A variable initialised from a freshly made tensor, with that tensor released: tf.variable(t) shares t's data but
 * leaves t itself alive, which otherwise leaks one tensor per variable.
 */
export function newVariable(make: () => Tensor, trainable: boolean): Variable {
  return tf.tidy(() => tf.variable(make(), trainable));
}
