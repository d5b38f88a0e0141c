/**
 * The regulariser terms by the backend's `McevalRegularizerTerms` kernels (engine/kernels/webgpu/regularizer-terms.ts:
 * webgpu, where tensors cannot be read back synchronously for host-regularizer.ts's op): one dispatch forward and four
 * backward where kl.ts's ops take ~500.
 */
import type { GradSaveFunc, NamedAttrMap, NamedTensorMap } from '@tensorflow/tfjs-core';
import { tf, type Tensor } from '../../engine/tf.js';
import { tidyGradient, type CustomGradientFunc } from '../../engine/ops/product.js';
import {
  REGULARIZER_TERMS,
  REGULARIZER_TERMS_GRAD,
  type RegularizerTermsAttrs,
} from '../../engine/kernels/webgpu/regularizer-terms.js';
import type { RegularizerTermsOp } from './host-regularizer.js';
import { hasKernel } from '../../engine/kernels/has-kernel.js';

/** Whether the current backend has the kernels. */
export function hasRegularizerKernel(): boolean {
  return hasKernel(REGULARIZER_TERMS);
}

export const kernelRegularizerTerms: RegularizerTermsOp = (covariance, weights, s, alpha, prior, shape) => {
  const attributes: RegularizerTermsAttrs = {
    components: shape.components,
    outerSamples: shape.outerSamples,
    referenceSign: shape.referenceSign,
    symmetricPrior: typeof prior === 'number' ? prior : 0,
  };
  const attrs = attributes as unknown as NamedAttrMap;
  const run = (name: string, inputs: Record<string, Tensor>) =>
    tf.engine().runKernel(name, inputs as NamedTensorMap, attrs) as Tensor | Tensor[];
  // A prior tensor (the random-prior ablation) is a constant input: its gradient is zero.
  const op = tf.customGrad(((...args: unknown[]) => {
    const save = args.pop() as GradSaveFunc;
    const [c, w, sv, a, p] = args as [Tensor, Tensor, Tensor, Tensor, Tensor?];
    save([c, w, sv, a, ...(p === undefined ? [] : [p])]);
    const named = (t: Tensor[]) => ({
      covariance: t[0]!,
      weights: t[1]!,
      s: t[2]!,
      alpha: t[3]!,
      ...(t[4] === undefined ? {} : { prior: t[4] }),
    });
    return {
      value: run(REGULARIZER_TERMS, named([c, w, sv, a, ...(p === undefined ? [] : [p])])) as Tensor,
      gradFunc: tidyGradient((dy: Tensor, saved: Tensor[]) => {
        const gradients = run(REGULARIZER_TERMS_GRAD, { ...named(saved), upstream: dy }) as Tensor[];
        return saved[4] === undefined ? gradients : [...gradients, tf.zerosLike(saved[4])];
      }),
    };
  }) as unknown as CustomGradientFunc) as unknown as (...inputs: Tensor[]) => Tensor;
  return typeof prior === 'number' ? op(covariance, weights, s, alpha) : op(covariance, weights, s, alpha, prior);
};
