/**
 * An encoder's LayerNorm and exact GELU. On webgpu each is one mceval kernel forward and one backward
 * (engine/kernels/webgpu/layer-norm.ts, gelu.ts), with the gradients written out; elsewhere they are tfjs ops and
 * autodiff, as transformers computes them.
 */
import type { GradSaveFunc, NamedAttrMap, NamedTensorMap } from '@tensorflow/tfjs-core';
import { tf, type Tensor, type Variable } from '../../engine/tf.js';
import { tidyGradient, type CustomGradientFunc } from '../../engine/ops/product.js';
import { hasKernel } from '../../engine/kernels/has-kernel.js';
import { LAYER_NORM, LAYER_NORM_GRAD, type LayerNormAttrs } from '../../engine/kernels/webgpu/layer-norm.js';
import { runMultiOutputOp } from '../../engine/ops/multi-output.js';
import { droppedBy } from '../../engine/ops/dropout.js';
import type { HashedDropout } from '../../engine/dropout-bits.js';
import { GELU, GELU_GRAD } from '../../engine/kernels/webgpu/gelu.js';
import { sumToLastAxis } from './rms-norm.js';

/** What is added to x before the norm, and how the output is read. */
export interface LayerNormOptions {
  /** Added to x (an encoder layer's residual connection: its sublayer's output). */
  readonly residual?: Tensor;
  /** The residual's dropout (the sublayer's hidden dropout), applied as it is added. */
  readonly residualDropout?: HashedDropout;
}

/**
 * LayerNorm over the last axis: (x − mean) / √(var + eps) · weight + bias (biased variance, as torch), of x + residual
 * where a residual is given (an encoder layer's residual connection, added inside the kernels on webgpu), the residual
 * dropped first where a dropout is given (inside the kernels too).
 */
export function layerNorm(
  x: Tensor,
  weight: Variable,
  bias: Variable,
  eps: number,
  options: LayerNormOptions = {},
): Tensor {
  return normOp({ x, weight, bias, eps, ...options }, false)[0]!;
}

/**
 * layerNorm, and its output again as a tensor of its own for a second reader (the next residual connection): on
 * webgpu the gradient kernel adds the two readers' upstream gradients as it reads them, where tfjs would add them by
 * a dispatch of its own.
 */
export function layerNormPassing(
  x: Tensor,
  weight: Variable,
  bias: Variable,
  eps: number,
  options: LayerNormOptions = {},
): [Tensor, Tensor] {
  const [value, passed] = normOp({ x, weight, bias, eps, ...options }, true);
  return [value!, passed!];
}

/** One norm's operands. */
interface NormCall extends LayerNormOptions {
  readonly x: Tensor;
  readonly weight: Variable;
  readonly bias: Variable;
  readonly eps: number;
}

function normOp(call: NormCall, passing: boolean): Tensor[] {
  if (call.residualDropout !== undefined && call.residual === undefined)
    throw new Error('layerNorm: a residual dropout without a residual');
  if (!hasKernel(LAYER_NORM)) {
    const value = composedLayerNorm(call);
    return passing ? [value, tf.clone(value)] : [value];
  }
  return kernelLayerNorm(call, passing);
}

/** x + the residual, dropped where it has a dropout (or x alone), in tfjs ops. */
function normInput(x: Tensor, residual: Tensor | undefined, residualDropout: HashedDropout | undefined): Tensor {
  if (residual === undefined) return x;
  return tf.add(x, residualDropout === undefined ? residual : droppedBy(residual, residualDropout));
}

/** In tfjs ops and autodiff, in a scope of its own, so that its temporaries are freed as it returns. */
function composedLayerNorm({ x, weight, bias, eps, residual, residualDropout }: NormCall): Tensor {
  return tf.tidy(() => {
    const input = normInput(x, residual, residualDropout);
    const { mean, variance } = tf.moments(input, -1, true);
    return tf.add(tf.mul(tf.div(tf.sub(input, mean), tf.sqrt(tf.add(variance, eps))), weight), bias);
  });
}

/**
 * The kernels' LayerNorm. Frozen parameters (every adapter method) are no inputs of the op, so no gradient is made
 * for them; trainable ones (full fine-tuning) get Σ dy·x̂ and Σ dy over the rows. x and the residual get the same
 * gradient, the sum's (the residual's times its mask where it is dropped).
 */
function kernelLayerNorm({ x, weight, bias, eps, residual, residualDropout }: NormCall, passing: boolean): Tensor[] {
  const attrs: LayerNormAttrs = residualDropout === undefined ? { eps } : { eps, residualDropout };
  const trainable = weight.trainable || bias.trainable;
  const summands = residual === undefined ? [x] : [x, residual];
  // The kernels' names for x and the residual.
  const named = ([first, second]: readonly Tensor[]): NamedTensorMap =>
    second === undefined ? { x: first! } : { x: first!, residual: second };
  const run = (name: string, inputs: NamedTensorMap) =>
    tf.engine().runKernel(name, inputs, attrs as unknown as NamedAttrMap) as Tensor | Tensor[];
  return runMultiOutputOp([...summands, ...(trainable ? [weight, bias] : [])], {
    forward: (inputs, save) => {
      const terms = inputs.slice(0, summands.length);
      const [w = weight, b = bias] = inputs.slice(summands.length);
      const [value, stats] = run(LAYER_NORM, { ...named(terms), w, b }) as [Tensor, Tensor];
      save([...terms, stats, w]);
      // A clone shares the value's buffer: no dispatch.
      return passing ? [value, tf.clone(value)] : [value];
    },
    backward: ([dy, dyPlus], saved) => {
      const terms = saved.slice(0, summands.length);
      const [stats, w] = saved.slice(summands.length) as [Tensor, Tensor];
      const plus: NamedTensorMap = passing ? { dyPlus: dyPlus! } : {};
      const written = run(LAYER_NORM_GRAD, { ...named(terms), stats, w, dy: dy!, ...plus });
      const [dx, dResidual] = Array.isArray(written) ? written : [written];
      // A tensor for each term: one of them a clone (engine/ops/multi-output.ts).
      const gradients = terms.length === 1 ? [dx!] : [dx!, dResidual ?? tf.clone(dx!)];
      if (!trainable) return gradients;
      const upstream = passing ? tf.add(dy!, dyPlus!) : dy!;
      const [mean, r] = tf.split(stats, 2, -1) as [Tensor, Tensor];
      const normalized = tf.mul(tf.sub(normInput(terms[0]!, terms[1], residualDropout), mean), r);
      return [...gradients, sumToLastAxis(tf.mul(upstream, normalized)), sumToLastAxis(upstream)];
    },
  });
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
