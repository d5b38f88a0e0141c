/**
 * Low-rank layers' weight gradients, per layer dA = (m ⊙ x)ᵀ·dDown [in, r] and dB = s·downᵀ·dy [r, out], for x
 * [tokens, in] (shared by the layers that read one input), a hashed dropout's mask m shaped like x (or none), dDown and
 * down [tokens, r], dy [tokens, out]. On webgpu one kernel computes them all, split over the tokens, the masks made
 * where x is read, two dispatches for as many layers as a shader can bind (kernels/webgpu/weight-gradients.ts), unless
 * MCEVAL_WEBGPU_WEIGHT_GRADIENTS=tfjs; elsewhere each is a `transposedProduct`, after the mask's multiplication. No
 * gradient: it is used inside gradient functions.
 */
import { tf, type Tensor2D } from '../tf.js';
import { transposedProduct } from './transposed-product.js';
import { numberedInputs } from './numbered-inputs.js';
import { dropoutHash, dropoutMaskOf, kernelTakes, type InputDropout } from './input-dropout.js';
import { hasKernel } from '../kernels/has-kernel.js';
import {
  LOW_RANK_WEIGHT_GRADIENTS,
  splitWeightGradients,
  type WeightGradientAttrs,
} from '../kernels/webgpu/weight-gradients.js';

/** One layer's share: what it multiplied x by and the gradients that reached it. */
export interface LayerGradientOperands {
  /** The dropout on x. */
  readonly dropout?: InputDropout | undefined;
  readonly dDown: Tensor2D;
  readonly down: Tensor2D;
  readonly dy: Tensor2D;
  /** Multiplies dB (the update's scaling); 1 by default. */
  readonly dyScale?: number;
}

export interface WeightGradientOperands extends LayerGradientOperands {
  readonly x: Tensor2D;
}

/**
 * The layers' input for the kernel: x, or SwiGLU's gate and up, or GELU's preActivation, x formed from them as the
 * kernel reads it.
 */
export type KernelInput =
  { readonly x: Tensor2D } | { readonly gate: Tensor2D; readonly up: Tensor2D } | { readonly preActivation: Tensor2D };

/** [dA, dB] of each layer, by McevalLowRankWeightGradients (webgpu; dropouts by their hashes). */
export function kernelWeightGradients(
  input: KernelInput,
  layers: readonly LayerGradientOperands[],
): [Tensor2D, Tensor2D][] {
  const inputs = { ...input, ...numberedInputs(layers.map(({ dDown, down, dy }) => ({ dDown, down, dy }))) };
  const attrs: WeightGradientAttrs = {
    dyScales: layers.map(({ dyScale = 1 }) => dyScale),
    dropouts: layers.map(({ dropout }) => dropoutHash(dropout)),
  };
  const outputs = tf.engine().runKernel(LOW_RANK_WEIGHT_GRADIENTS, inputs as never, attrs as never) as Tensor2D[];
  return layers.map((_, k) => [outputs[2 * k]!, outputs[2 * k + 1]!]);
}

/** [dA, dB] of each layer that read x. */
export function layersWeightGradients(x: Tensor2D, layers: readonly LayerGradientOperands[]): [Tensor2D, Tensor2D][] {
  if (hasKernel(LOW_RANK_WEIGHT_GRADIENTS) && splitWeightGradients() && layers.every((l) => kernelTakes(l.dropout)))
    return kernelWeightGradients({ x }, layers);
  return layers.map(({ dropout, dDown, down, dy, dyScale = 1 }) => {
    const dropped = dropout === undefined ? x : (tf.mul(x, dropoutMaskOf(dropout, x.shape)) as Tensor2D);
    const dB = transposedProduct(down, dy);
    return [transposedProduct(dropped, dDown), dyScale === 1 ? dB : (tf.mul(dB, dyScale) as Tensor2D)];
  });
}

/** [dA, dB] of one layer. */
export function lowRankWeightGradients(operands: WeightGradientOperands): [Tensor2D, Tensor2D] {
  return layersWeightGradients(operands.x, [operands])[0]!;
}
