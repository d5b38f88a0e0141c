/**
 * The regulariser by the backend's `McevalRegularizerTerms` kernels (engine/kernels/webgpu/regularizer-terms.ts:
 * webgpu, where tensors cannot be read back synchronously for host-regularizer.ts's op): the terms and their weighted
 * mean over the layers from the stacked covariance, weights, s and p, in one dispatch forward and four backward where
 * kl.ts's ops take ~500.
 */
import type { NamedAttrMap, NamedTensorMap } from '@tensorflow/tfjs-core';
import { tf, type Scalar, type Tensor } from '../../engine/tf.js';
import { runMultiOutputOp } from '../../engine/ops/multi-output.js';
import {
  REGULARIZER_TERMS,
  REGULARIZER_TERMS_GRAD,
  type RegularizerTermsAttrs,
} from '../../engine/kernels/webgpu/regularizer-terms.js';
import { REGULARIZER_LOG, type RegularizerLogAttrs } from '../../engine/kernels/webgpu/regularizer-log.js';
import type { RegularizerShape } from './host-regularizer.js';
import { hasKernel } from '../../engine/kernels/has-kernel.js';

/** Whether the current backend has the kernels. */
export function hasRegularizerKernel(): boolean {
  return hasKernel(REGULARIZER_TERMS);
}

/**
 * [KL_G/M, KL_W, KL_D, C/M] summed over the L layers, and the regulariser (Σ_k termWeights_k · term_k) / L, from
 * covariance [L·M, r], weights [L·M, N], s [L, r] and p [L, N] (the concentration α = max(e^p, 1e-6) is formed in the
 * kernel), differentiable in those four. A prior tensor (the random-prior ablation) is a constant, not an input of
 * the op: it has no gradient to form.
 */
export function kernelRegularizer(
  inputs: { covariance: Tensor; weights: Tensor; s: Tensor; p: Tensor },
  prior: number | Tensor,
  shape: RegularizerShape,
  termWeights: RegularizerTermsAttrs['termWeights'],
): { terms: Tensor; total: Scalar } {
  const attributes: RegularizerTermsAttrs = {
    components: shape.components,
    outerSamples: shape.outerSamples,
    referenceSign: shape.referenceSign,
    symmetricPrior: typeof prior === 'number' ? prior : 0,
    termWeights,
  };
  const attrs = attributes as unknown as NamedAttrMap;
  const named = ([covariance, weights, s, p]: readonly Tensor[]) => ({
    covariance: covariance!,
    weights: weights!,
    s: s!,
    p: p!,
    ...(typeof prior === 'number' ? {} : { prior }),
  });
  const run = (name: string, kernelInputs: Record<string, Tensor>) =>
    tf.engine().runKernel(name, kernelInputs as NamedTensorMap, attrs) as Tensor[];
  const { covariance, weights, s, p } = inputs;
  const [terms, total] = runMultiOutputOp([covariance, weights, s, p], {
    forward(values, save) {
      save([...values]);
      return run(REGULARIZER_TERMS, named(values));
    },
    backward([upstream, upstreamTotal], saved) {
      return run(REGULARIZER_TERMS_GRAD, { ...named(saved), upstream: upstream!, upstreamTotal: upstreamTotal! });
    },
  });
  return { terms: terms!, total: tf.reshape(total!, []) };
}

/**
 * The values of layer.ts's REGULARIZER_LOG_KEYS by the `McevalRegularizerLog` kernel: `terms` / `layers`, then
 * ‖P‖ / ‖A‖ from the draw's sums of squares in parts ([parts, 2]: Σ P², Σ A²); undefined where the backend has no such
 * kernel. Not differentiable: a diagnostic.
 */
export function kernelRegularizerLog(terms: Tensor, layers: number, squares: Tensor): Tensor | undefined {
  if (!hasKernel(REGULARIZER_LOG)) return undefined;
  const attrs: RegularizerLogAttrs = { layers };
  return tf
    .engine()
    .runKernel(REGULARIZER_LOG, { terms, squares } as NamedTensorMap, attrs as unknown as NamedAttrMap) as Tensor;
}
