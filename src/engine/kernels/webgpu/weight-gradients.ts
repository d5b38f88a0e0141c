/**
 * The tfjs kernel `McevalLowRankWeightGradients`, on webgpu only: the weight gradients of low-rank layers that read one
 * input x — per layer k, dA_k = (m_k ⊙ x)ᵀ·dDown_k and dB_k = s_k·down_kᵀ·dy_k, m_k its dropout mask made from its
 * hash — in two dispatches for as many layers as one shader can bind, split over the tokens and added in a fixed order
 * (weight-gradients-wgsl.ts); in one where every product's tokens are one chunk (≤ 32 tokens a step, or outputs wide
 * enough to fill a GPU), its results cut apart by buffer copies (stories260K's 1 × 8 step: 20 dispatches fewer). The
 * second pass waits (MCEVAL_WEBGPU_WEIGHT_GRADIENT_SUMS=later; waiting-sums.ts) and runs inside the next call's first
 * dispatch, or alone when its gradients are first asked for: a decoder layer's four calls take one dispatch each.
 * engine/ops/low-rank-weight-gradients.ts uses it where it is registered and MCEVAL_WEBGPU_WEIGHT_GRADIENTS allows.
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { environmentChoice } from '../../environment-choice.js';
import type { HashedDropout } from '../../dropout-bits.js';
import { numberedMembers } from './numbered-members.js';
import { partsByCopies } from './buffer-copies.js';
import { dropoutUniformValues } from './hashed-dropout-wgsl.js';
import { leftOperandOf, type LeftInputs } from './low-rank-product.js';
import {
  CARRIED_PARTIALS,
  SPLIT_WORKGROUP,
  SUM_WORKGROUP,
  carriedSumUniforms,
  carriedTarget,
  chunkSumCode,
  chunkSumUniforms,
  partialCount,
  partialSumsCode,
  productPlan,
  productUniformValues,
  sumTarget,
  weightGradientMaskUniforms,
  weightGradientUniformValues,
  weightGradientUniforms,
  type ProductPlan,
} from './weight-gradients-wgsl.js';
import { keepWaiting, takeWaitingSums, type WaitingSums } from './waiting-sums.js';
import {
  ELEMENT_INDEX,
  elementwiseDispatch,
  runShader,
  shaped,
  storageBuffersPerShader,
  type ShaderUniform,
  type WebGpuBackendLike,
} from './shader.js';

export const LOW_RANK_WEIGHT_GRADIENTS = 'McevalLowRankWeightGradients';

/**
 * Inputs: x [tokens, in] — or, for layers that read SwiGLU's gating, `gate` and `up` in its place (or for GELU,
 * `preActivation`), x formed from them as it is read (vec4 shapes only); per layer k (0, 1, …), dDown`k` and down`k` [tokens, r_k] and dy`k`
 * [tokens, out_k].
 */
export type WeightGradientInputs = Record<string, TensorInfo>;

/**
 * Each layer's dB scale (its update's scaling), which also says how many layers there are, and its dropout on x (none
 * where undefined).
 */
export interface WeightGradientAttrs {
  readonly dyScales: number[];
  readonly dropouts?: readonly (HashedDropout | undefined)[] | undefined;
}

const SETTING = 'MCEVAL_WEBGPU_WEIGHT_GRADIENTS';

/**
 * MCEVAL_WEBGPU_WEIGHT_GRADIENTS: `split` (the default: this kernel) or `tfjs` (tfjs-webgpu's matMul for each product,
 * after the mask's multiplication), so the two can be compared (bench/gpu times both). Read as the engine starts too,
 * so that a bad value stops a run first.
 */
export function splitWeightGradients(): boolean {
  return environmentChoice(SETTING, ['split', 'tfjs']) === 'split';
}

/**
 * MCEVAL_WEBGPU_WEIGHT_GRADIENT_SUMS: `later` (the default) or `now` — whether a call's second pass waits to run
 * inside the next call's first dispatch (or alone when its gradients are first read: waiting-sums.ts), or runs by its
 * own dispatch at once. The same sums either way; the kit times both. Read as the engine starts too.
 */
export function weightGradientSumsLater(): boolean {
  return environmentChoice('MCEVAL_WEBGPU_WEIGHT_GRADIENT_SUMS', ['later', 'now']) === 'later';
}

interface Layer {
  readonly dropout: HashedDropout | undefined;
  readonly dDown: TensorInfo;
  readonly down: TensorInfo;
  readonly dy: TensorInfo;
  readonly dyScale: number;
}

/**
 * Storage buffers the first pass binds for `layers`: x (`inputs` buffers: 1, or SwiGLU's gate and up), each layer's three
 * operands, and the partials.
 */
const partialBindings = (layers: readonly Layer[], inputs: number) => 1 + inputs + 3 * layers.length;

/** The layers in runs that one shader of each pass can bind (the second binds the partials and two per layer). */
function bindable(gpu: WebGpuBackendLike, layers: readonly Layer[], inputs: number): Layer[][] {
  const limit = storageBuffersPerShader(gpu);
  const runs: Layer[][] = [];
  for (const layer of layers) {
    const run = runs[runs.length - 1];
    const fits = (more: Layer[]) => partialBindings(more, inputs) <= limit && 1 + 2 * more.length <= limit;
    if (run !== undefined && fits([...run, layer])) run.push(layer);
    else runs.push([layer]);
  }
  return runs;
}

/**
 * [dA_0, dB_0, dA_1, …] of `layers`, in two dispatches; in one where every product's tokens are one chunk (a step of
 * few tokens), its partials then cut apart by buffer copies. With `later`, the second pass waits (waiting-sums.ts),
 * and the first carries a second pass that waits already where its shader can bind that one's buffers too.
 */
function gradientsTogether(
  gpu: WebGpuBackendLike,
  x: LeftInputs,
  layers: readonly Layer[],
  later: boolean,
): TensorInfo[] {
  const left = leftOperandOf(x, 4);
  const [tokens, inFeatures] = left.shape as [number, number];
  const plans: ProductPlan[] = layers.flatMap(({ down, dy }) => {
    const rank = down.shape[1]!;
    return [productPlan(inFeatures, rank, tokens), productPlan(rank, dy.shape[1]!, tokens)];
  });
  const whole = plans.every((plan) => plan.splits === 1);
  const scales = layers.map((layer) => layer.dyScale);
  const uniforms = weightGradientUniformValues(plans, scales, tokens);
  const masked = layers.map((layer) => layer.dropout !== undefined);
  const fields = weightGradientUniforms(plans.length);
  const widths = [inFeatures, ...layers.flatMap(({ down, dy }) => [down.shape[1]!, dy.shape[1]!])];
  const vectorized = widths.every((size) => size % 4 === 0);
  if (left.activation !== undefined && !vectorized)
    throw new Error(`${LOW_RANK_WEIGHT_GRADIENTS}: an activation needs vec4 shapes`);
  const operands = layers.flatMap(({ dDown, down, dy }, k) => [
    { name: `dDown${k}`, tensor: dDown },
    { name: `down${k}`, tensor: down },
    { name: `dy${k}`, tensor: dy },
  ]);
  const own = [...left.tensors, ...operands.map(({ tensor }) => tensor)];
  const room = storageBuffersPerShader(gpu) - partialBindings(layers, left.tensors.length);
  const carried = later ? takeWaitingSums(gpu, own, room) : undefined;
  const carry = carriedShare(carried);
  const workgroups = plans.reduce((sum, plan) => sum + plan.workgroups, 0);
  const partials = runShader(
    gpu,
    {
      key: `McevalWeightGradientPartials_${Number(vectorized)}_${Number(whole)}_${left.activation ?? 'x'}_${masked.map(Number).join('')}_${carry.products}`,
      inputs: [
        ...[...left.declarations.map(({ name }) => name), ...operands.map(({ name }) => name)].map((name) => ({
          name,
          components: vectorized ? (4 as const) : (1 as const),
        })),
        ...carry.inputs,
      ],
      uniforms: [fields, weightGradientMaskUniforms(masked), ...carry.uniforms].join('\n'),
      workgroupSize: SPLIT_WORKGROUP,
      dispatch: elementwiseDispatch((workgroups + carry.workgroups) * SPLIT_WORKGROUP, SPLIT_WORKGROUP),
      outputSize: partialCount(plans),
      code: () => partialSumsCode(vectorized, masked, whole, left.activation, carry.products),
    },
    [...own, ...carry.tensors],
    [...uniforms, ...dropoutUniformValues(...layers.map((layer) => layer.dropout)), ...carry.values],
  );
  if (carried !== undefined) gpu.disposeData(carried.partials.dataId);
  const shapes = plans.map((plan) => [plan.m, plan.n]);
  const parts = whole ? partsByCopies(gpu, partials, shapes) : undefined;
  if (parts !== undefined) {
    gpu.disposeData(partials.dataId);
    return parts;
  }
  // Whole products were scaled in the first pass: the second only copies them (copies refused, or joins by shaders).
  const values = productUniformValues(plans, whole ? layers.map(() => 1) : scales);
  return secondPass(gpu, partials, plans, values, later);
}

const outputCount = (plans: readonly ProductPlan[]) => plans.reduce((sum, plan) => sum + plan.m * plan.n, 0);

/**
 * What a first pass adds to carry `sums` (none without): its products, bindings (the partials, then each product's
 * target, written), tensors, uniforms and values, and its workgroups (one output an invocation).
 */
function carriedShare(sums: WaitingSums | undefined) {
  if (sums === undefined) return { products: 0, inputs: [], tensors: [], uniforms: [], values: [], workgroups: 0 };
  return {
    products: sums.plans.length,
    inputs: [
      { name: CARRIED_PARTIALS, components: 1 as const },
      ...sums.targets.map((_, s) => ({ name: carriedTarget(s), components: 1 as const, writable: true })),
    ],
    tensors: [sums.partials, ...sums.targets],
    uniforms: [carriedSumUniforms(sums.plans.length)],
    values: sums.values,
    workgroups: Math.ceil(outputCount(sums.plans) / SPLIT_WORKGROUP),
  };
}

/**
 * The gradients the second pass writes from `partials` (made now, written now or, with `later`, when the pass runs:
 * waiting-sums.ts).
 */
function secondPass(
  gpu: WebGpuBackendLike,
  partials: TensorInfo,
  plans: readonly ProductPlan[],
  values: ShaderUniform[],
  later: boolean,
): TensorInfo[] {
  const targets = plans.map((plan) => gpu.makeTensorInfo([plan.m * plan.n], 'float32'));
  const sums: WaitingSums = { partials, targets, plans, values, runAlone: () => sumsAlone(gpu, sums) };
  if (later) keepWaiting(gpu, sums);
  else sums.runAlone();
  return targets.map((target, s) => shaped(target, [plans[s]!.m, plans[s]!.n]));
}

/** The second pass by its own dispatch: each output's chunks added in chunk order, times its product's scale. */
function sumsAlone(gpu: WebGpuBackendLike, { partials, targets, plans, values }: WaitingSums): void {
  runShader(
    gpu,
    {
      key: `McevalWeightGradientSums_${plans.length}`,
      inputs: [
        { name: 'partials', components: 1 },
        ...targets.slice(1).map((_, s) => ({ name: sumTarget(s + 1), components: 1 as const, writable: true })),
      ],
      uniforms: chunkSumUniforms(plans.length),
      workgroupSize: SUM_WORKGROUP,
      dispatch: elementwiseDispatch(outputCount(plans), SUM_WORKGROUP),
      outputSize: plans[0]!.m * plans[0]!.n,
      code: () => chunkSumCode(ELEMENT_INDEX(SUM_WORKGROUP), plans.length),
    },
    [partials, ...targets.slice(1)],
    values,
    targets[0],
  );
  gpu.disposeData(partials.dataId);
}

const weightGradients: KernelFunc = ({ inputs, backend, attrs }) => {
  const gpu = backend as unknown as WebGpuBackendLike;
  const { dyScales, dropouts } = attrs as unknown as WeightGradientAttrs;
  const layers: Layer[] = numberedMembers(inputs, dyScales.length, ['dDown', 'down', 'dy']).map((operands, k) => ({
    ...operands,
    dropout: dropouts?.[k],
    dyScale: dyScales[k]!,
  }));
  const { x, gate, up, preActivation } = inputs as LeftInputs;
  const left = { x, gate, up, preActivation };
  const later = weightGradientSumsLater();
  return bindable(gpu, layers, gate === undefined ? 1 : 2).flatMap((run) => gradientsTogether(gpu, left, run, later));
};

export function webGpuWeightGradientsKernel(): KernelConfig {
  return { kernelName: LOW_RANK_WEIGHT_GRADIENTS, backendName: 'webgpu', kernelFunc: weightGradients };
}
