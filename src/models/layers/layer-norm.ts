/**
 * An encoder's LayerNorm and exact GELU. On webgpu each is one mceval kernel forward and one backward
 * (engine/kernels/webgpu/layer-norm.ts, gelu.ts), with the gradients written out; elsewhere they are tfjs ops and
 * autodiff, as transformers computes them.
 */
import type { GradSaveFunc, NamedAttrMap, NamedTensorMap } from '@tensorflow/tfjs-core';
import { tf, type Tensor, type Variable } from '../../engine/tf.js';
import { tidyGradient, type CustomGradientFunc } from '../../engine/ops/product.js';
import { hasKernel } from '../../engine/kernels/has-kernel.js';
import { LAYER_NORM, LAYER_NORM_GRAD } from '../../engine/kernels/webgpu/layer-norm.js';
import { GELU, GELU_GRAD } from '../../engine/kernels/webgpu/gelu.js';
import { sumToLastAxis } from './rms-norm.js';

/**
 * LayerNorm over the last axis: (x − mean) / √(var + eps) · weight + bias (biased variance, as torch), of x + residual
 * where a residual is given (an encoder layer's residual connection, added inside the kernels on webgpu).
 */
export function layerNorm(x: Tensor, weight: Variable, bias: Variable, eps: number, residual?: Tensor): Tensor {
  if (hasKernel(LAYER_NORM)) return kernelLayerNorm(x, residual, weight, bias, eps);
  // In a scope of its own, so that its temporaries are freed as it returns (a recorded op keeps what its gradient
  // needs).
  return tf.tidy(() => {
    const input = residual === undefined ? x : tf.add(x, residual);
    const { mean, variance } = tf.moments(input, -1, true);
    return tf.add(tf.mul(tf.div(tf.sub(input, mean), tf.sqrt(tf.add(variance, eps))), weight), bias);
  });
}

/**
 * The kernels' LayerNorm. Frozen parameters (every adapter method) are no inputs of the op, so no gradient is made
 * for them; trainable ones (full fine-tuning) get Σ dy·x̂ and Σ dy over the rows. x and the residual get the same
 * gradient, the sum's.
 */
function kernelLayerNorm(x: Tensor, residual: Tensor | undefined, weight: Variable, bias: Variable, eps: number) {
  const attrs = { eps } as unknown as NamedAttrMap;
  const trainable = weight.trainable || bias.trainable;
  const summands = residual === undefined ? [x] : [x, residual];
  // The kernels' names for x and the residual.
  const named = ([first, second]: Tensor[]): NamedTensorMap =>
    second === undefined ? { x: first! } : { x: first!, residual: second };
  const norm = tf.customGrad(((...args: unknown[]) => {
    const save = args.pop() as GradSaveFunc;
    const inputs = (args as Tensor[]).slice(0, summands.length);
    const [w = weight, b = bias] = (args as Tensor[]).slice(summands.length);
    const [value, stats] = tf.engine().runKernel(LAYER_NORM, { ...named(inputs), w, b }, attrs) as [Tensor, Tensor];
    save([...inputs, stats, w]);
    return {
      value,
      gradFunc: tidyGradient((dy: Tensor, saved: Tensor[]) => {
        const terms = saved.slice(0, summands.length);
        const [st, ws] = saved.slice(summands.length) as [Tensor, Tensor];
        const dx = tf.engine().runKernel(LAYER_NORM_GRAD, { ...named(terms), stats: st, w: ws, dy }, attrs) as Tensor;
        // Its own tensor for each term (tfjs's Identity shares the buffer): tfjs disposes a gradient it adds to.
        const gradients = terms.map((_, i) => (i === 0 ? dx : tf.clone(dx)));
        if (!trainable) return gradients;
        const [mean, r] = tf.split(st, 2, -1) as [Tensor, Tensor];
        const normalized = tf.mul(tf.sub(terms.length === 1 ? terms[0]! : tf.add(terms[0]!, terms[1]!), mean), r);
        return [...gradients, sumToLastAxis(tf.mul(dy, normalized)), sumToLastAxis(dy)];
      }),
    };
  }) as unknown as CustomGradientFunc) as unknown as (...inputs: Tensor[]) => Tensor;
  return norm(...summands, ...(trainable ? [weight, bias] : []));
}

/** Exact GELU, x·Φ(x) = ½x(1 + erf(x/√2)): transformers' "gelu" activation. */
export function gelu(x: Tensor): Tensor {
  if (hasKernel(GELU)) return kernelGelu(x);
  // Its temporaries, each as large as x, freed as it returns (layerNorm's scope).
  return tf.tidy(() => tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1)));
}

const kernelGelu = tf.customGrad(((input: Tensor, save: GradSaveFunc) => {
  save([input]);
  return {
    value: tf.engine().runKernel(GELU, { x: input }) as Tensor,
    gradFunc: tidyGradient((dy: Tensor, saved: Tensor[]) => [
      tf.engine().runKernel(GELU_GRAD, { x: saved[0]!, dy }) as Tensor,
    ]),
  };
}) as unknown as CustomGradientFunc) as unknown as (x: Tensor) => Tensor;
