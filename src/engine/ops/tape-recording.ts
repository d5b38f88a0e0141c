import { tf } from '../tf.js';

/**
 * Whether an op called now is recorded for a backward pass: inside tf.grads / variableGrads and not inside another
 * op's forward function — tfjs-core's own test before it saves tensors for a gradient (its engine state, read only).
 */
export function tapeRecording(): boolean {
  const state = tf.engine().state;
  return state.gradientDepth > 0 && state.kernelDepth === 0;
}
