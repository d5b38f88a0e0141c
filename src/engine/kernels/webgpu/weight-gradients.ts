/**
 * The tfjs kernel `McevalLowRankWeightGradients`, on webgpu only: a low-rank layer's dA = (m ⊙ x)ᵀ·dDown and
 * dB = s·downᵀ·dy in two dispatches, split over the tokens and added in a fixed order (weight-gradients-wgsl.ts).
 * engine/ops/low-rank-weight-gradients.ts uses it where it is registered and MCEVAL_WEBGPU_WEIGHT_GRADIENTS allows.
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { UserError } from '../../../errors.js';
import {
  SPLIT_WORKGROUP,
  SUM_WORKGROUP,
  WEIGHT_GRADIENT_UNIFORMS,
  chunkSumCode,
  partialCount,
  partialSumsCode,
  productPlan,
  weightGradientUniformValues,
} from './weight-gradients-wgsl.js';
import { ELEMENT_INDEX, elementwiseDispatch, runShader, shaped, type WebGpuBackendLike } from './shader.js';

export const LOW_RANK_WEIGHT_GRADIENTS = 'McevalLowRankWeightGradients';

/** Inputs: x [tokens, in], dDown [tokens, r], down [tokens, r], dy [tokens, out]; mask shaped like x, optional. */
export interface WeightGradientInputs {
  readonly x: TensorInfo;
  readonly mask?: TensorInfo;
  readonly dDown: TensorInfo;
  readonly down: TensorInfo;
  readonly dy: TensorInfo;
}

/** dB's scale (the update's scaling, applied as the chunks are added). */
export interface WeightGradientAttrs {
  readonly dyScale: number;
}

const SETTING = 'MCEVAL_WEBGPU_WEIGHT_GRADIENTS';

/**
 * MCEVAL_WEBGPU_WEIGHT_GRADIENTS: `split` (the default: this kernel) or `tfjs` (tfjs-webgpu's matMul for each product,
 * after the mask's multiplication), so the two can be compared (bench/gpu times both). Read as the engine starts too,
 * so that a bad value stops a run first.
 */
export function splitWeightGradients(): boolean {
  const setting = process.env[SETTING];
  if (setting === undefined || setting === '' || setting === 'split') return true;
  if (setting === 'tfjs') return false;
  throw new UserError(`${SETTING}=${setting} is not a choice mceval has: use split or tfjs, or unset it.`);
}

const weightGradients: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, mask, dDown, down, dy } = inputs as unknown as WeightGradientInputs;
  const { dyScale } = attrs as unknown as WeightGradientAttrs;
  const gpu = backend as unknown as WebGpuBackendLike;
  const [tokens, inFeatures] = x.shape as [number, number];
  const rank = dDown.shape[1]!;
  const outFeatures = dy.shape[1]!;
  const plans = [productPlan(inFeatures, rank, tokens), productPlan(rank, outFeatures, tokens)] as const;
  const uniforms = [
    ...weightGradientUniformValues(plans, tokens).map((value) => ({ type: 'int32' as const, data: [value] })),
    { type: 'float32' as const, data: [dyScale] },
  ];
  const vectorized = [inFeatures, rank, outFeatures].every((size) => size % 4 === 0);
  const names = ['x', ...(mask ? ['mask'] : []), 'dDown', 'down', 'dy'];
  const workgroups = plans[0].workgroups + plans[1].workgroups;
  const partials = runShader(
    gpu,
    {
      key: `McevalWeightGradientPartials_${Number(vectorized)}${Number(mask !== undefined)}`,
      inputs: names.map((name) => ({ name, components: vectorized ? 4 : 1 })),
      uniforms: WEIGHT_GRADIENT_UNIFORMS,
      workgroupSize: SPLIT_WORKGROUP,
      dispatch: elementwiseDispatch(workgroups * SPLIT_WORKGROUP, SPLIT_WORKGROUP),
      outputSize: partialCount(plans),
      code: partialSumsCode(vectorized, mask !== undefined),
    },
    [x, ...(mask ? [mask] : []), dDown, down, dy],
    uniforms,
  );
  const dB = gpu.makeTensorInfo([rank * outFeatures], 'float32');
  const outputs = inFeatures * rank + rank * outFeatures;
  const dA = runShader(
    gpu,
    {
      key: 'McevalWeightGradientSums',
      inputs: [
        { name: 'partials', components: 1 },
        { name: 'second', components: 1, writable: true },
      ],
      uniforms: WEIGHT_GRADIENT_UNIFORMS,
      workgroupSize: SUM_WORKGROUP,
      dispatch: elementwiseDispatch(outputs, SUM_WORKGROUP),
      outputSize: inFeatures * rank,
      code: chunkSumCode(ELEMENT_INDEX(SUM_WORKGROUP)),
    },
    [partials, dB],
    uniforms,
  );
  gpu.disposeData(partials.dataId);
  return [shaped(dA, [inFeatures, rank]), shaped(dB, [rank, outFeatures])];
};

export function webGpuWeightGradientsKernel(): KernelConfig {
  return { kernelName: LOW_RANK_WEIGHT_GRADIENTS, backendName: 'webgpu', kernelFunc: weightGradients };
}
