/**
 * The device draw's scales and the regulariser on them as one op (engine/kernels/webgpu/fused-draw.ts): from s [L, r]
 * and p [L, N] (differentiable), the χ² draws [L, M, r] and normals [L, M, N] (constants), Σ and ε√Σ (draw-scales.ts's
 * sampleCovariance), the logistic-normal mixture weights w (groupMixtureWeights) and the regulariser's terms and
 * weighted mean on them (kernel-regularizer.ts's) — one dispatch forward and one backward, where apart they took six and
 * eleven (tfjs's additions of the gradients in w, s and p among them). Only where the backend has the kernels and the
 * device binds their buffers (fusedDrawFits); elsewhere the group sampler draws apart, and the regulariser is formed
 * when asked.
 */
import type { NamedAttrMap, NamedTensorMap } from '@tensorflow/tfjs-core';
import { tf, type Scalar, type Tensor } from '../../engine/tf.js';
import { hasKernel } from '../../engine/kernels/has-kernel.js';
import { runMultiOutputOp } from '../../engine/ops/multi-output.js';
import type { WebGpuBackendLike } from '../../engine/kernels/webgpu/shader.js';
import {
  FUSED_DRAW,
  FUSED_DRAW_GRAD,
  fusedDrawFits,
  type FusedDrawAttrs,
} from '../../engine/kernels/webgpu/fused-draw.js';

/** Whether the backend draws and regularises in one op. */
export function hasFusedDraw(): boolean {
  return hasKernel(FUSED_DRAW) && fusedDrawFits(tf.backend() as unknown as WebGpuBackendLike);
}

/** The draw's Σ, ε√Σ and w, and the regulariser's terms [KL_G/M, KL_W, KL_D, C/M] and weighted mean over the L layers. */
export interface FusedDraw {
  readonly covariance: Tensor;
  readonly columnScale: Tensor;
  readonly weights: Tensor;
  readonly terms: Tensor;
  readonly total: Scalar;
}

/**
 * The op, on a backend with the kernels (hasFusedDraw). `prior` is the symmetric α⁰ or the random-prior ablation's
 * [L, N] (a constant); `attrs` hold ε, the Dirichlet KL's sign and the terms' weights.
 */
export function fusedDraw(
  s: Tensor,
  p: Tensor,
  constants: { readonly chiSquare: Tensor; readonly noise: Tensor },
  prior: number | Tensor,
  attrs: Omit<FusedDrawAttrs, 'symmetricPrior'>,
): FusedDraw {
  const all = { ...attrs, symmetricPrior: typeof prior === 'number' ? prior : 0 } as unknown as NamedAttrMap;
  const run = (name: string, inputs: Record<string, Tensor>) =>
    tf.engine().runKernel(name, inputs as NamedTensorMap, all) as Tensor[];
  const { chiSquare, noise } = constants;
  const [covariance, columnScale, weights, terms, total] = runMultiOutputOp([s, p], {
    forward([sIn, pIn], save) {
      const outputs = run(FUSED_DRAW, {
        s: sIn!,
        chiSquare,
        p: pIn!,
        noise,
        ...(typeof prior === 'number' ? {} : { prior }),
      });
      // The constants too, which the forward pass's scope would free before the backward one.
      save([sIn!, pIn!, outputs[2]!, chiSquare, noise, ...(typeof prior === 'number' ? [] : [prior])]);
      return outputs;
    },
    backward([dCovariance, dColumnScale, dWeights, dTerms, dTotal], [sIn, pIn, w, chi, z, savedPrior]) {
      const upstream = { dCovariance: dCovariance!, dColumnScale: dColumnScale!, dWeights: dWeights! };
      return run(FUSED_DRAW_GRAD, {
        s: sIn!,
        chiSquare: chi!,
        p: pIn!,
        noise: z!,
        weights: w!,
        ...(savedPrior === undefined ? {} : { prior: savedPrior }),
        ...upstream,
        dTerms: dTerms!,
        dTotal: dTotal!,
      });
    },
  });
  return {
    covariance: covariance!,
    columnScale: columnScale!,
    weights: weights!,
    terms: terms!,
    total: tf.reshape(total!, []),
  };
}
