/**
 * An op with several outputs and a hand-written gradient, taped as one node. tf.customGrad allows a single output;
 * tfjs's engine runs custom ops through `runKernelFunc`, which takes any number of outputs (customGrad wraps it but
 * does not expose that), so this calls it directly. Outputs that do not reach the differentiated value receive zeros
 * as their upstream gradient.
 */
import type { GradSaveFunc } from '@tensorflow/tfjs-core';
import { tf, type Tensor } from '../tf.js';

interface CustomKernelInvocation {
  forwardFunc: (backend: unknown, save: GradSaveFunc) => Tensor[];
  backwardsFunc: (dy: Tensor | Tensor[], saved: Tensor[]) => Record<number, () => Tensor>;
  inputs: Record<number, Tensor>;
}

/** `runKernelFunc` is private in tfjs-core's typings, public at run time (the engine's own customGrad calls it). */
interface EngineWithKernelFunc {
  runKernelFunc(invocation: CustomKernelInvocation): Tensor[];
}

export interface MultiOutputOp {
  /** The outputs, made from the inputs (read them on the host if need be); `save` keeps tensors for the backward. */
  forward(inputs: readonly Tensor[], save: GradSaveFunc): Tensor[];
  /**
   * One gradient per input, shaped like it, from the upstream gradient of every output (in output order). An upstream
   * gradient may be returned as it is for one input (a residual's, a sum's term's): tfjs's tape reads an output's
   * gradient only for its op's backward and disposes an input's when it adds another to it, so the tensor passed on
   * has one holder left. Returned for two inputs, one of them must be a clone (an Identity call): the sum formed for
   * either would dispose the other's.
   */
  backward(dys: readonly Tensor[], saved: readonly Tensor[]): Tensor[];
}

export function runMultiOutputOp(inputs: readonly Tensor[], op: MultiOutputOp): Tensor[] {
  const engine = tf.engine() as unknown as EngineWithKernelFunc;
  return engine.runKernelFunc({
    forwardFunc: (_backend, save) => op.forward(inputs, save),
    backwardsFunc: (dy, saved) => {
      // The engine passes a lone tensor when the op has one output.
      const dys = Array.isArray(dy) ? dy : [dy];
      const grads = tf.tidy(() => op.backward(dys, saved));
      return Object.fromEntries(grads.map((grad, i) => [i, () => grad]));
    },
    inputs: Object.fromEntries(inputs.map((input, i) => [i, input])),
  });
}
