/**
 * The group draw's per-layer scales from the stacked priors (group-sampler.ts's device draw): Σ and the columns' scale
 * ε√Σ from s, the mixture weights from p. Defined here as tfjs ops; where the backend has mceval's kernels for them
 * (webgpu: engine/kernels/webgpu/draw-scales.ts) each is one dispatch forward and one backward instead of dozens of
 * dispatches on tensors of a few hundred values.
 */
import type { GradSaveFunc, NamedAttrMap, NamedTensorMap } from '@tensorflow/tfjs-core';
import { tf, type Tensor } from '../../engine/tf.js';
import { hasKernel } from '../../engine/kernels/has-kernel.js';
import { runMultiOutputOp } from '../../engine/ops/multi-output.js';
import { tidyGradient, type CustomGradientFunc } from '../../engine/ops/product.js';
import {
  MIXTURE_WEIGHTS,
  MIXTURE_WEIGHTS_GRAD,
  SAMPLE_COVARIANCE,
  SAMPLE_COVARIANCE_GRAD,
  type SampleCovarianceAttrs,
} from '../../engine/kernels/webgpu/draw-scales.js';
import { mixtureWeights } from './mixture-weights.js';

const runAll = (name: string, inputs: Record<string, Tensor>, attrs: object = {}) =>
  tf.engine().runKernel(name, inputs as NamedTensorMap, attrs as NamedAttrMap) as Tensor[];
const run = (name: string, inputs: Record<string, Tensor>, attrs: object = {}) =>
  tf.engine().runKernel(name, inputs as NamedTensorMap, attrs as NamedAttrMap) as Tensor;

/**
 * Σ = max(e^{2s}·c, 1e-3) and ε√Σ, [L, M, r] each, from s [L, r] and the χ² draws c [L, M, r] (a constant); `scale`
 * is ε (ε² with the reference code's double scaling).
 */
export function sampleCovariance(
  s: Tensor,
  chiSquare: Tensor,
  scale: number,
): { covariance: Tensor; columnScale: Tensor } {
  if (!hasKernel(SAMPLE_COVARIANCE)) {
    const [L, r] = s.shape as [number, number];
    const scaleSquared = tf.exp(tf.mul(tf.reshape(s, [L, 1, r]), 2));
    const covariance = tf.maximum(tf.mul(scaleSquared, chiSquare), 1e-3);
    return { covariance, columnScale: tf.mul(tf.sqrt(covariance), scale) };
  }
  const attrs: SampleCovarianceAttrs = { scale };
  const [covariance, columnScale] = runMultiOutputOp([s], {
    forward([sIn], save) {
      save([sIn!, chiSquare]);
      // Σ and ε√Σ in one dispatch.
      return runAll(SAMPLE_COVARIANCE, { s: sIn!, chiSquare }, attrs);
    },
    backward([dCovariance, dColumnScale], [sIn, chi]) {
      const inputs = { s: sIn!, chiSquare: chi!, dCovariance: dCovariance!, dColumnScale: dColumnScale! };
      return [run(SAMPLE_COVARIANCE_GRAD, inputs, attrs)];
    },
  }) as [Tensor, Tensor];
  return { covariance, columnScale };
}

/**
 * Logistic-normal mixture weights [L, M, N] from p [L, N] and the normals z [L, M, N] (a constant): mixture-weights.ts's
 * softmax(μ + √(v + 1e-6)·z) for every layer and outer sample.
 */
export function groupMixtureWeights(p: Tensor, noise: Tensor): Tensor {
  if (!hasKernel(MIXTURE_WEIGHTS)) {
    const [L, N] = p.shape as [number, number];
    return mixtureWeights(tf.reshape(p, [L, 1, N]), noise);
  }
  const op = tf.customGrad(((pIn: Tensor, save: GradSaveFunc) => {
    const weights = run(MIXTURE_WEIGHTS, { p: pIn, noise });
    save([pIn, noise, weights]);
    return {
      value: weights,
      gradFunc: tidyGradient((upstream: Tensor, [pSaved, noiseSaved, weightsSaved]: Tensor[]) =>
        run(MIXTURE_WEIGHTS_GRAD, { p: pSaved!, noise: noiseSaved!, weights: weightsSaved!, upstream }),
      ),
    };
  }) as unknown as CustomGradientFunc) as unknown as (p: Tensor) => Tensor;
  return op(p);
}
