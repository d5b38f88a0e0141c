/**
 * The tfjs kernel `McevalLowRankProduct`, on webgpu only: x·W′ + bias + scale · mask ⊙ (d·E′) (+ addend) in one shader
 * (low-rank-product-wgsl.ts). engine/ops/low-rank-linear.ts uses it where it is registered, for a LoRA layer's output
 * (x·W + b + s·(x·A)·B) and for its input gradient (dy·Wᵀ + mask ⊙ (dDown·Aᵀ)); elsewhere that op composes tfjs ops.
 * Beside it: the inline variant (x·A formed in the same pass), and that variant for a group of layers that read one x,
 * their outputs in one dispatch and their input gradient in another. A mask is a LoRA layer's dropout, given by its
 * hash (attributes) and made in the shader where it is read: no mask is bound, written or kept — on x's reads in both
 * products (`droppedInput`) and on an input gradient's whole sum (`maskedSum`) too, for a layer split at its dropout
 * (low-rank-linear.ts), whose rest the inline variant may form in the same pass (`restAlongside`; and scale the dropped
 * part by DoRA's magnitude there: `magnitudeScaled`). For forward passes off the tape the inline variant may form x where it reads it: SwiGLU's
 * gating of `gate` and `up`, or x RMS-normalized. A trained down projection (activated-low-rank-linear.ts) has both
 * variants read SwiGLU's gating so, and write the gating's gradient where they would write dx.
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { UserError } from '../../../errors.js';
import type { HashedDropout } from '../../dropout-bits.js';
import { dropoutUniformValues } from './hashed-dropout-wgsl.js';
import { numberedMembers } from './numbered-members.js';
import { environmentChoice } from '../../environment-choice.js';
import { fewRowsColumnTiles, fewRowsDispatch, fewRowsMost, fewRowsShape } from './few-rows.js';
import { cutByCopies, joinedByCopies, joinsSetting } from './buffer-copies.js';
import { FEW_ROWS_TILE, fewRowsProductCode } from './few-rows-product-wgsl.js';
import {
  INLINE_MOST_RANK,
  INLINE_UNIFORMS,
  LOW_RANK_UNIFORMS,
  gradientGroupUniforms,
  gradientGroupWorkgroupBytes,
  groupUniforms,
  inlineGradientGroupCode,
  memberName,
  membersSideBySide,
  PRODUCT_WORKGROUP,
  activationReads,
  inlineLowRankProductCode,
  inlineWorkgroupBytes,
  lowRankProductCode,
  makesMasks,
  maskUniforms,
  productTile,
  type Activation,
  type InlineNarrowShape,
  type LowRankProductShape,
  type ProductBlocks,
  type ProductTiling,
  type RestAlongside,
} from './low-rank-product-wgsl.js';
import {
  floatUniform as float,
  intUniform as int,
  runShader,
  shaped,
  storageBuffersPerShader,
  workgroupStorageBytes,
  type ShaderInput,
  type WebGpuBackendLike,
} from './shader.js';

export const LOW_RANK_PRODUCT = 'McevalLowRankProduct';
/** The same product with its narrow factor formed in the same pass: outputs y and t (inlineLowRankProductCode). */
export const LOW_RANK_PRODUCT_INLINE = 'McevalLowRankProductInline';
/**
 * The inline product of several layers that read the same x, in one dispatch: outputs each member's y, then each
 * member's t (inlineLowRankProductCode with members).
 */
export const LOW_RANK_PRODUCT_GROUP = 'McevalLowRankProductGroup';
/**
 * The input gradient of such a group in one dispatch: outputs dx, then each member's t = s·dy·Bᵀ
 * (inlineGradientGroupCode).
 */
export const LOW_RANK_GRADIENT_GROUP = 'McevalLowRankGradientGroup';

/**
 * Attributes: W′ = Wᵀ when `transposeW` (W stored [columns, inner]), E′ likewise, the low-rank scale, and the dropout
 * whose mask [rows, columns] multiplies the low-rank part (made in the shader from its hash), if any.
 */
export interface LowRankProductAttrs extends ColumnFactorsAttrs {
  readonly transposeW: boolean;
  readonly transposeE: boolean;
  readonly scale: number;
  readonly dropout?: HashedDropout | undefined;
  /** `dropout`'s mask multiplies the whole sum, the base product's too (the input gradient of a dropped-out x). */
  readonly maskedSum?: boolean | undefined;
  /**
   * x is read dropped out by this dropout's mask (shaped like x), in the base product too — and, in the inline
   * variant, in t (which then takes no `inputDropout`).
   */
  readonly droppedInput?: HashedDropout | undefined;
}

/**
 * E (untransposed) holds one more row than the rank: each output column's factor, which multiplies the products' sum
 * before the bias and addend are added — DoRA's c = m / ‖W + s·A·B‖ in a forward pass off the tape, made once per
 * call, so that scaling the columns is not a dispatch of its own.
 */
export interface ColumnFactorsAttrs {
  readonly columnFactors?: boolean | undefined;
}

/** Checks that E (untransposed where it has factors) has `rank` rows, and one more where it holds column factors. */
function checkFactorRow(kernel: string, e: TensorInfo, rank: number, transposeE: boolean, factors: boolean): void {
  const rows = transposeE ? e.shape[1]! : e.shape[0]!;
  if ((factors && transposeE) || rows !== rank + Number(factors))
    throw new Error(`${kernel}: E has ${rows} rows for rank ${rank}${factors ? ' and its column factors' : ''}`);
}

/**
 * Inputs: x [rows, inner], w, d [rows, rank], e (a row more with `columnFactors`); optional bias [columns] and addend
 * [rows, columns] (added last).
 */
export interface LowRankProductInputs {
  readonly x: TensorInfo;
  readonly w: TensorInfo;
  readonly d: TensorInfo;
  readonly e: TensorInfo;
  readonly bias?: TensorInfo;
  readonly addend?: TensorInfo;
}

/**
 * McevalLowRankProduct's inputs as a call gives them: x, or SwiGLU's gate and up in its place (vec4 shapes only; x
 * formed as it is read); and, given both, `gradientGate` and `gradientUp`, whose gating's gradient is written instead
 * of the product (InlineProductInputs' same inputs): outputs dGate and dUp.
 */
export type ActivatedProductInputs = Omit<LowRankProductInputs, 'x'> & LeftInputs & ActivationGradientInputs;

/**
 * Inputs that make a product write the gradient of the activation its dx came from instead of dx: SwiGLU's
 * `gradientGate` and `gradientUp` (outputs dGate, then dUp after the others), or GELU's `gradientInput` (output dh).
 */
export interface ActivationGradientInputs {
  readonly gradientGate?: TensorInfo;
  readonly gradientUp?: TensorInfo;
  readonly gradientInput?: TensorInfo;
}

/**
 * The output tile, MCEVAL_WEBGPU_PRODUCT_TILE: 64 (the default; 4 × 4 outputs per invocation) or 128 (8 × 8: half the
 * workgroup loads per multiply-add, twice the registers) — which is faster depends on the GPU (bench/gpu measures
 * both). Read as the engine starts too, so that a bad value stops a run first.
 */
export function productBlocks(): ProductBlocks {
  const setting = process.env['MCEVAL_WEBGPU_PRODUCT_TILE'];
  if (setting === undefined || setting === '' || setting === '64') return 1;
  if (setting === '128') return 2;
  throw new UserError(`MCEVAL_WEBGPU_PRODUCT_TILE=${setting} is not a tile mceval has: use 64 or 128, or unset it.`);
}

const PRODUCT_CODE_SETTING = 'MCEVAL_WEBGPU_PRODUCT_CODE';

/**
 * MCEVAL_WEBGPU_PRODUCT_CODE: how the product tiles' WGSL is written — `loops` (the default: loops over each
 * invocation's blocks index its accumulators) or `unrolled` (every multiply-add written out with constant indices, as
 * tuned WebGPU matrix products are, so that no driver has to unroll a loop to keep the accumulators in registers). The
 * same operations in the same order either way, so the same bits; which is faster is the GPU's compiler's to say
 * (bench/gpu times both). Read at each call, and as the engine starts, so that a bad value stops a run first.
 */
export function productUnrolled(): boolean {
  return environmentChoice(PRODUCT_CODE_SETTING, ['loops', 'unrolled']) === 'unrolled';
}

/**
 * MCEVAL_WEBGPU_PRODUCT_PREFETCH: `off` (the default) or `on` — the tiles read each operand's next 16 inner indices
 * into registers before the current ones' multiply-adds, so that a GPU waits for memory less at each barrier, for 2
 * vec4 registers an invocation per block. The same operations in the same order, so the same bits; whether it is
 * faster is the GPU's to say (bench/gpu times both). Read at each call, and as the engine starts.
 */
export function productPrefetch(): boolean {
  return environmentChoice('MCEVAL_WEBGPU_PRODUCT_PREFETCH', ['off', 'on']) === 'on';
}

/** The tiles every tiled kernel compiles for now: MCEVAL_WEBGPU_PRODUCT_TILE, _CODE and _PREFETCH. */
export function productTiling(): Required<ProductTiling> {
  return { blocks: productBlocks(), unrolled: productUnrolled(), prefetch: productPrefetch() };
}

/** A tiling's part of a shader's key (one pipeline each): 128-wide tiles, written out, prefetched, as digits. */
export const tilingKey = ({ blocks, unrolled, prefetch }: Required<ProductTiling>): string =>
  [blocks === 2, unrolled, prefetch].map(Number).join('');

/**
 * Attributes of the inline variant: N′ = Nᵀ when `transposeN` (N stored [rank, inner]), t's scale, and the dropout
 * whose mask (shaped like x) multiplies x in t alone, if any.
 */
export interface InlineProductAttrs extends LowRankProductAttrs, NormalizedInputAttrs {
  readonly transposeN: boolean;
  readonly narrowScale: number;
  readonly inputDropout?: HashedDropout | undefined;
  /**
   * A layer split at its dropout forms its rest in the same dispatch (LowRankProductShape's `restAlongside`): `input`
   * (with `droppedInput`; the bias and addend are the rest's, written as a third output) or `gradient` (with
   * `maskedSum`; the input `restInput` is the rest's upstream gradient).
   */
  readonly restAlongside?: RestAlongside | undefined;
  /**
   * With a rest alongside the output: the inputs `magnitude` and `norms` [columns] scale the dropped part, the output
   * is rest + dropped ⊙ (magnitude / norms) and the third output the dropped part (LowRankProductShape's
   * `magnitudeScaled`).
   */
  readonly magnitudeScaled?: boolean | undefined;
}

/** RMSNorm's epsilon, where x is normalized as it is read (a `normWeight` input is given). */
export interface NormalizedInputAttrs {
  readonly normEps?: number;
}

/**
 * Inputs of the inline variant: n [inner, rank] (or [rank, inner]) in place of d; and for one layer's output, in place
 * of x, SwiGLU's gating of `gate` and `up` (x's shape each) may be given, read as x is loaded (LeftInputs).
 */
export interface InlineProductInputs extends Omit<LowRankProductInputs, 'd' | 'x'>, LeftInputs {
  readonly n: TensorInfo;
  /**
   * RMSNorm's weight [inner]: x is normalized as it is read, with McevalRmsNorm's values (attribute normEps), and no
   * t is written — for a forward pass off the tape; the only output is then y.
   */
  readonly normWeight?: TensorInfo;
  /**
   * Given both, the product is the gradient dx of SwiGLU's gating silu(gate)·up (x is then dy): the outputs are dGate
   * (in y's place), t and dUp (LowRankProductShape's `activationGradient`) — one layer's input gradient, no column
   * factors. Given `gradientInput` instead, of GELU(gradientInput): the outputs are dh and t.
   */
  readonly gradientGate?: TensorInfo;
  readonly gradientUp?: TensorInfo;
  readonly gradientInput?: TensorInfo;
  /** The rest's upstream gradient, shaped like x (InlineProductAttrs' `restAlongside` `gradient`). */
  readonly restInput?: TensorInfo;
  /** DoRA's magnitude and its weight's column norms [columns] (InlineProductAttrs' `magnitudeScaled`). */
  readonly magnitude?: TensorInfo;
  readonly norms?: TensorInfo;
}

/**
 * A product's left operand: x, or SwiGLU's gating silu(gate)·up of two tensors shaped like x, or GELU of
 * `preActivation` (McevalLowRankProduct, its inline variant and McevalNarrowProduct only), formed as it is read.
 */
export interface LeftInputs {
  readonly x?: TensorInfo;
  readonly gate?: TensorInfo;
  readonly up?: TensorInfo;
  readonly preActivation?: TensorInfo;
}

/**
 * The left operand's shape (x's, gate's or preActivation's), the activation that forms it (SwiGLU's, GELU's, or none),
 * and its bindings (read as `components`-wide elements) with their tensors.
 */
export function leftOperandOf({ x, gate, up, preActivation }: LeftInputs, components: 1 | 4) {
  const gated = gate !== undefined || up !== undefined;
  if (Number(x !== undefined) + Number(gated) + Number(preActivation !== undefined) !== 1)
    throw new Error('a product needs x, gate and up, or preActivation');
  if (gated && (gate === undefined || up === undefined || gate.shape.join() !== up.shape.join()))
    throw new Error('a product needs gate and up of one shape');
  const named = gated ? { gate: gate!, up: up! } : preActivation !== undefined ? { preActivation } : { x: x! };
  const activation: Activation | undefined = gated ? 'swiglu' : preActivation !== undefined ? 'gelu' : undefined;
  return {
    shape: Object.values(named)[0]!.shape,
    activation,
    declarations: Object.keys(named).map((name) => ({ name, components })),
    tensors: Object.values(named),
  };
}

const INLINE_SETTING = 'MCEVAL_WEBGPU_INLINE_NARROW';

/**
 * Multiply-adds of the base product up to which `auto` forms the narrow product inline, for each dispatch that saves.
 * Inline saves a dispatch — the host's time to record one, tens of microseconds — and costs rank / tile width more
 * multiply-adds; at 14.6 TFLOP/s (tfjs-webgpu's matMul on an H200, ../shared/docs/gpu.md) an eighth of a 2³¹
 * multiply-add product takes ~37 µs, about what the dispatch costs. Above it a step is the GPU's work, below it the
 * host's. (On lavapipe, a CPU, a product alone is 5–15% slower inline, but whole steps are not: docs/gpu.md.)
 */
const INLINE_MOST_MULTIPLY_ADDS = 2 ** 31;

/**
 * MCEVAL_WEBGPU_INLINE_NARROW: `auto` (the default), `always` or `never` — the kit times the step each way. Read as the
 * engine starts too, so that a bad value stops a run first.
 */
export function inlineNarrowSetting(): 'auto' | 'always' | 'never' {
  return environmentChoice(INLINE_SETTING, ['auto', 'always', 'never']);
}

/** The base product's multiply-adds up to which a narrow product is formed inline, by the setting. */
export function inlineMostMultiplyAdds(): number {
  const setting = inlineNarrowSetting();
  return setting === 'always' ? Infinity : setting === 'never' ? 0 : INLINE_MOST_MULTIPLY_ADDS;
}

/** A low-rank product that might form its narrow product inline: its sizes and the optional inputs it binds. */
export interface InlineCandidate {
  readonly rows: number;
  readonly inner: number;
  readonly columns: number;
  readonly rank: number;
  /** A dropout mask on x, made into a workgroup tile beside x's (it binds no buffer). */
  readonly inputMask: boolean;
  /** How many of bias and addend it binds. */
  readonly others: number;
  /**
   * x RMS-normalized as it is read (a forward pass off the tape): its rows' sums take workgroup memory, and the norm
   * weight binds the buffer the unwritten t leaves free.
   */
  readonly normalized?: boolean;
  /**
   * A split layer's rest formed alongside (InlineProductAttrs' `restAlongside`): a tile and a binding more (`others`
   * counts a magnitude's two).
   */
  readonly restAlongside?: boolean;
  /**
   * The dispatches forming the narrow product inline saves, 1 (its own) by default: a split layer's rest alongside
   * saves its rest's and its scaling's too, a layer reading an activation the activation's. The base product's size up
   * to which `auto` inlines grows with them (inlineMostMultiplyAdds).
   */
  readonly dispatchesSaved?: number;
}

/** Storage buffers the inline variant always binds: x, w, n, e, down and the output. */
const INLINE_BINDINGS = 6;

/**
 * Whether a low-rank product of x [rows, inner] into `columns` forms its rank-wide narrow product inline on this
 * device (LOW_RANK_PRODUCT_INLINE), rather than by a dispatch of its own: the shapes it takes, the workgroup memory
 * (the input mask's tile too) and storage buffers it needs (with `others` of bias and addend, as the call has them;
 * masks bind none), then its size against inlineMostMultiplyAdds.
 */
export function inlinesNarrowProduct(backend: WebGpuBackendLike, shape: InlineCandidate): boolean {
  const { rows, inner, columns, rank, inputMask, others, normalized, restAlongside } = shape;
  if ([inner, columns, rank].some((size) => size % 4 !== 0) || rank > INLINE_MOST_RANK) return false;
  const narrow: InlineNarrowShape = { rank, transposeN: false, inputMask };
  const bytes = inlineWorkgroupBytes(productBlocks(), narrow, normalized, restAlongside);
  if (bytes > workgroupStorageBytes(backend)) return false;
  if (INLINE_BINDINGS + Number(restAlongside === true) + others > storageBuffersPerShader(backend)) return false;
  return rows * inner * columns <= inlineMostMultiplyAdds() * (shape.dispatchesSaved ?? 1);
}

const GROUP_SETTING = 'MCEVAL_WEBGPU_GROUPS';

/**
 * MCEVAL_WEBGPU_GROUPS: `auto` (the default: the layers that read one x go in one dispatch each way where the device
 * binds them) or `never` (each layer's own dispatches), so that the kit can time both on a GPU, where a group's
 * per-member switch costs what the dispatches it saves do not show here. Read as the engine starts too, so that a bad
 * value stops a run first.
 */
export function groupSetting(): 'auto' | 'never' {
  return environmentChoice(GROUP_SETTING, ['auto', 'never']);
}

/**
 * Whether a group of `members` (two or more) is allowed (MCEVAL_WEBGPU_GROUPS) and fits the device's storage buffers:
 * the buffer the members share (x, or dx), then five per member (masks bind none) — or, with x normalized as it is
 * read, x and the norm weight, then four per member (no t is written); with biases, x, four per member (W, N, E and
 * the output), the joined t's and the joined biases.
 */
const groupBinds = (backend: WebGpuBackendLike, members: number, normalized = false, biased = false) =>
  groupSetting() === 'auto' &&
  members >= 2 &&
  (normalized ? 2 + members * 4 : biased ? 3 + members * 4 : 1 + members * 5) <= storageBuffersPerShader(backend);

/** A group of inline products that read the same x [rows, inner]: each member's width, their rank and input masks. */
export interface GroupCandidate {
  readonly rows: number;
  readonly inner: number;
  readonly columns: readonly number[];
  readonly rank: number;
  /** Whether every member has an input mask (all or none). */
  readonly inputMask: boolean;
  /** x RMS-normalized as it is read (InlineCandidate's `normalized`). */
  readonly normalized?: boolean;
  /** Every member has a bias (an encoder's query, key and value). */
  readonly biased?: boolean;
}

/**
 * Whether the members' inline products (no output mask or addend; biases every member's or none) run as one dispatch
 * on this device (and MCEVAL_WEBGPU_GROUPS allows): each would be formed inline on its own, and the group's storage
 * buffers fit — x, then per member W, N, E, t and the output. Three layers bind 16 (a decoder's q, k and v at Dawn's
 * 16), with or without dropout; with biases 15 (groupBinds), for products of more rows than the few-rows shader takes,
 * while joins are buffer copies.
 */
export function groupsInlineProducts(backend: WebGpuBackendLike, group: GroupCandidate): boolean {
  const { rows, inner, columns, rank, inputMask, normalized, biased = false } = group;
  if (!groupBinds(backend, columns.length, normalized, biased)) return false;
  // Biases and t's are joined and cut by buffer copies; the few-rows shader takes each biased layer on its own.
  if (biased && (normalized === true || joinsSetting() !== 'copies' || rows <= fewRowsMost())) return false;
  return columns.every((width) =>
    inlinesNarrowProduct(backend, { rows, inner, columns: width, rank, inputMask, others: 0, normalized }),
  );
}

/** The input gradient of a group: dy_l [rows, inners_l] per member into dx [rows, columns]. */
export interface GradientGroupCandidate {
  readonly rows: number;
  readonly inners: readonly number[];
  readonly columns: number;
  readonly rank: number;
}

/**
 * Whether the members' input gradients run as one dispatch on this device (and MCEVAL_WEBGPU_GROUPS allows): each
 * member's would be formed inline on its own, the group's storage buffers fit (dx, then per member dy, W, B, A′ and t: 16 for three) and so does its
 * workgroup memory, which holds every member's t for the tile.
 */
export function groupsInlineGradients(backend: WebGpuBackendLike, group: GradientGroupCandidate): boolean {
  const { rows, inners, columns, rank } = group;
  if (!groupBinds(backend, inners.length)) return false;
  if (gradientGroupWorkgroupBytes(productBlocks(), rank, inners.length) > workgroupStorageBytes(backend)) return false;
  return inners.every((inner) =>
    inlinesNarrowProduct(backend, { rows, inner, columns, rank, inputMask: false, others: 0 }),
  );
}

/** The optional inputs a call has, in the order the shader declares them: bias, addend. */
function optionalInputs(given: Partial<Record<'bias' | 'addend', TensorInfo>>) {
  const present = (['bias', 'addend'] as const).filter((name) => given[name] !== undefined);
  return {
    declarations: present.map((name) => ({ name, components: 1 }) as const),
    tensors: present.map((name) => given[name]!),
  };
}

/** The product's dispatch (a workgroup per output tile) and its uniform values before the variant's own. */
function tiling(rows: number, columns: number, inner: number, rank: number, blocks: ProductBlocks) {
  return {
    dispatch: [Math.ceil(columns / productTile(blocks)), Math.ceil(rows / productTile(blocks))] as const,
    sizes: [rows, columns, inner, rank].map(int),
  };
}

/**
 * The shape a call compiles for: its loads, transposes, the optional inputs and masks it has (an output mask on the
 * low-rank part or the whole sum, x read dropped out), and the tile.
 */
function shapeOf(
  vectorized: boolean,
  attrs: Pick<LowRankProductAttrs, 'transposeW' | 'transposeE' | 'dropout' | 'maskedSum' | 'droppedInput'>,
  { bias, addend }: Partial<Record<'bias' | 'addend', TensorInfo>>,
  tiling: Required<ProductTiling>,
): LowRankProductShape {
  const { transposeW, transposeE, dropout, maskedSum, droppedInput } = attrs;
  const given = (input?: unknown) => input !== undefined;
  if (maskedSum === true && dropout === undefined) throw new Error('a product whose sum is masked needs the mask');
  return {
    vectorized,
    transposeW,
    transposeE,
    bias: given(bias),
    mask: given(dropout),
    addend: given(addend),
    ...tiling,
    ...(maskedSum === true ? { maskedSum } : {}),
    ...(droppedInput === undefined ? {} : { inputMasked: 'kept' as const }),
  };
}

/** Flags of an activation x is formed by, or whose gradient is written, for a shader's key: SwiGLU's, GELU's. */
export const activationFlags = (activation: Activation | undefined) => [activation === 'swiglu', activation === 'gelu'];

/** Flags of the masks a shape has beyond `mask`, for its shader's key: the whole sum masked, x read masked. */
const maskFlags = (shape: LowRankProductShape) => [shape.maskedSum === true, shape.inputMasked !== undefined];

const lowRankProduct: KernelFunc = ({ inputs, backend, attrs }) => {
  const { w, d, e, bias, addend, gradientGate, gradientUp, gradientInput, ...leftInputs } =
    inputs as unknown as ActivatedProductInputs;
  const { scale, dropout, droppedInput, columnFactors, ...sides } = attrs as unknown as LowRankProductAttrs;
  const { transposeW, transposeE } = sides;
  const gpu = backend as unknown as WebGpuBackendLike;
  const left = leftOperandOf(leftInputs, 4);
  const [rows, inner] = left.shape as [number, number];
  const rank = d.shape[1]!;
  const factors = columnFactors === true;
  checkFactorRow(LOW_RANK_PRODUCT, e, rank, transposeE, factors);
  const columns = transposeW ? w.shape[0]! : w.shape[1]!;
  const vectorized = inner % 4 === 0 && columns % 4 === 0 && rank % 4 === 0;
  const gradient = activationGradientOf({ gradientGate, gradientUp, gradientInput }, [rows, columns]);
  if ((left.activation !== undefined || gradient !== undefined) && !vectorized)
    throw new Error(`${LOW_RANK_PRODUCT}: an activation is read as vec4s`);
  const tiles = productTiling();
  const shape = {
    ...shapeOf(vectorized, { ...sides, dropout, droppedInput }, { bias, addend }, tiles),
    columnFactors,
    ...activationReads(left.activation),
    activationGradient: gradient?.kind,
  };
  // One compiled shader per combination (tfjs caches pipelines by key).
  const flags = [
    vectorized,
    transposeW,
    transposeE,
    shape.bias,
    shape.mask,
    shape.addend,
    factors,
    ...activationFlags(left.activation),
    ...activationFlags(gradient?.kind),
    ...maskFlags(shape),
  ];
  const components = vectorized ? 4 : 1;
  const operands = [
    ...left.declarations.map(({ name }) => ({ name, components }) as const),
    ...['w', 'd', 'e'].map((name) => ({ name, components }) as const),
  ];
  const optional = optionalInputs({ bias, addend });
  const dUp = gradient?.kind === 'swiglu' ? gpu.makeTensorInfo([rows * columns], 'float32') : undefined;
  const { dispatch, sizes } = tiling(rows, columns, inner, rank, tiles.blocks);
  const output = runShader(
    gpu,
    {
      key: `McevalLowRankProduct_${flags.map(Number).join('')}_${tilingKey(tiles)}`,
      inputs: [...operands, ...optional.declarations, ...(gradient?.declarations ?? [])],
      uniforms: `${LOW_RANK_UNIFORMS} ${maskUniforms(droppedInput !== undefined, shape.mask)}`,
      workgroupSize: PRODUCT_WORKGROUP,
      dispatch,
      outputSize: rows * columns,
      code: () => lowRankProductCode(shape),
    },
    [...left.tensors, w, d, e, ...optional.tensors, ...(gradient?.tensors ?? []), ...(dUp === undefined ? [] : [dUp])],
    [...sizes, float(scale), ...dropoutUniformValues(droppedInput, dropout)],
  );
  const y = shaped(output, [rows, columns]);
  return dUp === undefined ? y : [y, shaped(dUp, [rows, columns])];
};

const inlineLowRankProduct: KernelFunc = ({ inputs, backend, attrs }) => {
  const { w, n, e, bias, addend, normWeight, gradientGate, gradientUp, gradientInput, restInput, ...others } =
    inputs as unknown as InlineProductInputs;
  const { magnitude, norms, ...leftInputs } = others;
  const { transposeN, scale, narrowScale, inputDropout, normEps, columnFactors, restAlongside, ...masking } =
    attrs as unknown as InlineProductAttrs;
  const magnitudeScaled = masking.magnitudeScaled === true;
  if (magnitudeScaled !== (magnitude !== undefined && norms !== undefined))
    throw new Error(`${LOW_RANK_PRODUCT_INLINE}: a magnitude's scaling reads magnitude and norms`);
  const { transposeW, transposeE, dropout, droppedInput } = masking;
  if ((restAlongside === 'gradient') !== (restInput !== undefined))
    throw new Error(`${LOW_RANK_PRODUCT_INLINE}: a rest alongside an input gradient, and only it, reads restInput`);
  if (droppedInput !== undefined && inputDropout !== undefined)
    throw new Error(`${LOW_RANK_PRODUCT_INLINE}: x is read dropped out once, by droppedInput or by inputDropout`);
  const gpu = backend as unknown as WebGpuBackendLike;
  const left = leftOperandOf(leftInputs, 4);
  const normalized = normWeight !== undefined;
  if (normalized && left.activation !== undefined)
    throw new Error(`${LOW_RANK_PRODUCT_INLINE}: x is normalized or an activation's, not both`);
  const [rows, inner] = left.shape as [number, number];
  const rank = transposeN ? n.shape[0]! : n.shape[1]!;
  const factors = columnFactors === true;
  checkFactorRow(LOW_RANK_PRODUCT_INLINE, e, rank, transposeE, factors);
  const columns = transposeW ? w.shape[0]! : w.shape[1]!;
  const tiles = productTiling();
  const gradient = activationGradientOf({ gradientGate, gradientUp, gradientInput }, [rows, columns]);
  const shape = {
    ...shapeOf(true, masking, { bias, addend }, tiles),
    ...activationReads(left.activation),
    normalizedInput: normalized,
    columnFactors: factors,
    activationGradient: gradient?.kind,
    restAlongside,
    magnitudeScaled,
  };
  const narrow: InlineNarrowShape = { rank, transposeN, inputMask: inputDropout !== undefined };
  const flags = [
    transposeW,
    transposeN,
    transposeE,
    shape.bias,
    narrow.inputMask,
    shape.mask,
    shape.addend,
    left.activation === 'swiglu',
    normalized,
    factors,
    left.activation === 'gelu',
    ...activationFlags(gradient?.kind),
    ...maskFlags(shape),
    restAlongside === 'input',
    restAlongside === 'gradient',
    magnitudeScaled,
  ];
  const down = normalized ? undefined : gpu.makeTensorInfo([rows * rank], 'float32');
  const restOutput = restAlongside === 'input' ? gpu.makeTensorInfo([rows * columns], 'float32') : undefined;
  // The rest's bindings after down: the output it writes (the dropped part, where a magnitude scales it), the
  // magnitude and norms, or the upstream gradient it reads (vec4s, as x).
  const restBindings: (ShaderInput & { readonly tensor: TensorInfo })[] = [];
  if (restOutput !== undefined) {
    const name = magnitudeScaled ? 'droppedOutput' : 'restOutput';
    restBindings.push({ name, components: 1, writable: true, tensor: restOutput });
  }
  if (magnitudeScaled)
    restBindings.push(
      { name: 'magnitude', components: 1, tensor: magnitude! },
      { name: 'norms', components: 1, tensor: norms! },
    );
  if (restInput !== undefined) restBindings.push({ name: 'restInput', components: 4, tensor: restInput });
  const dUp = gradient?.kind === 'swiglu' ? gpu.makeTensorInfo([rows * columns], 'float32') : undefined;
  const normalization = normalizationBinding(normWeight, normEps);
  const optional = optionalInputs({ bias, addend });
  const { dispatch, sizes } = tiling(rows, columns, inner, rank, tiles.blocks);
  const few = fewRowsShape(gpu, {
    rows,
    unsupported:
      transposeW ||
      transposeN ||
      transposeE ||
      narrow.inputMask ||
      makesMasks(shape) ||
      gradient !== undefined ||
      restAlongside !== undefined,
    bias: shape.bias,
    addend: shape.addend,
    ...activationReads(left.activation),
    normalizedInput: normalized,
    narrow: { rank, writesDown: !normalized },
    members: 1,
    columnFactors: factors,
  });
  const output = runShader(
    gpu,
    {
      ...(few === undefined
        ? {
            key: `McevalLowRankProductInline_${rank}_${flags.map(Number).join('')}_${tilingKey(tiles)}`,
            dispatch,
          }
        : {
            key: `McevalLowRankProductInlineFewRows_${rank}_${few.rowsAtOnce}_${flags.map(Number).join('')}`,
            dispatch: fewRowsDispatch(fewRowsColumnTiles(columns), rows, few),
          }),
      inputs: [
        ...left.declarations,
        ...['w', 'n', 'e'].map((name) => ({ name, components: 4 }) as const),
        ...(down === undefined ? [] : [{ name: 'down', components: 1, writable: true } as const]),
        ...restBindings.map(({ tensor: _, ...declaration }) => declaration),
        ...optional.declarations,
        ...normalization.declarations,
        ...(gradient?.declarations ?? []),
      ],
      uniforms: `${INLINE_UNIFORMS} ${maskUniforms(narrow.inputMask || droppedInput !== undefined, shape.mask)}${normalization.uniforms}`,
      workgroupSize: PRODUCT_WORKGROUP,
      outputSize: rows * columns,
      code: () => (few === undefined ? inlineLowRankProductCode(shape, narrow) : fewRowsProductCode(few)),
    },
    [
      ...left.tensors,
      w,
      n,
      e,
      ...(down === undefined ? [] : [down]),
      ...restBindings.map(({ tensor }) => tensor),
      ...optional.tensors,
      ...normalization.tensors,
      ...(gradient?.tensors ?? []),
      ...(dUp === undefined ? [] : [dUp]),
    ],
    [
      ...sizes,
      float(scale),
      float(narrowScale),
      ...dropoutUniformValues(inputDropout ?? droppedInput, dropout),
      ...normalization.values,
    ],
  );
  const y = shaped(output, [rows, columns]);
  if (down === undefined) return [y];
  const t = shaped(down, [rows, rank]);
  if (restOutput !== undefined) return [y, t, shaped(restOutput, [rows, columns])];
  return dUp === undefined ? [y, t] : [y, t, shaped(dUp, [rows, columns])];
};

/**
 * The bindings of an activation's gradient (ActivationGradientInputs, shaped like the output, bound as vec4s; SwiGLU's
 * dUp, written, follows them), or undefined where none is given.
 */
function activationGradientOf({ gradientGate, gradientUp, gradientInput }: ActivationGradientInputs, shape: number[]) {
  const given = [gradientGate, gradientUp, gradientInput].filter((input) => input !== undefined);
  if (given.length === 0) return undefined;
  if (given.some((input) => input!.shape.join() !== shape.join()))
    throw new Error(`an activation's gradient needs its inputs shaped [${shape.join(', ')}]`);
  if (gradientInput !== undefined) {
    if (given.length > 1) throw new Error("a product writes one activation's gradient");
    return {
      kind: 'gelu' as const,
      declarations: [{ name: 'gradientInput', components: 4 } as const],
      tensors: [gradientInput],
    };
  }
  if (gradientGate === undefined || gradientUp === undefined) throw new Error("SwiGLU's gradient needs gate and up");
  return {
    kind: 'swiglu' as const,
    declarations: [
      { name: 'gradientGate', components: 4 } as const,
      { name: 'gradientUp', components: 4 } as const,
      { name: 'dUp', components: 1, writable: true } as const,
    ],
    tensors: [gradientGate, gradientUp],
  };
}

/** The norm weight's binding (after the others) and epsilon's uniform (the last), where x is normalized as read. */
function normalizationBinding(normWeight: TensorInfo | undefined, normEps: number | undefined) {
  if (normWeight === undefined) return { declarations: [], tensors: [], uniforms: '', values: [] };
  if (normEps === undefined) throw new Error('a normalized input needs the attribute normEps');
  return {
    declarations: [{ name: 'normWeight', components: 4 } as const],
    tensors: [normWeight],
    uniforms: ' normEps : f32,',
    values: [float(normEps)],
  };
}

/** One binding of a group's shader: its declaration, named for its member, beside the tensor bound to it. */
interface Binding {
  readonly input: ShaderInput;
  readonly tensor: TensorInfo;
}

/** How a binding is declared: read as vec4s unless said otherwise. */
type BindingKind = Pick<ShaderInput, 'components' | 'writable'>;
/** An output beyond tfjs's one, written by the shader. */
const WRITTEN: BindingKind = { components: 1, writable: true };

/** Member `l`'s binding `name` of `tensor`. */
const bound = (name: string, l: number, tensor: TensorInfo, kind: BindingKind = { components: 4 }): Binding => ({
  input: { name: memberName(name, l), ...kind },
  tensor,
});

/**
 * Attributes of the group variant: each member's low-rank scale (its t is unscaled: x·A) and, for every member or
 * none, the dropout whose mask (shaped like x) multiplies x in its t.
 */
export interface GroupProductAttrs extends NormalizedInputAttrs, ColumnFactorsAttrs {
  readonly scales: readonly number[];
  readonly inputDropouts?: readonly HashedDropout[] | undefined;
  /** The input masks apply to x as it is read, in both products (LowRankProductAttrs' `droppedInput`), not to t alone. */
  readonly droppedInputs?: boolean | undefined;
}

/**
 * Inputs x [rows, inner] and, for member l, w_l [inner, columns_l], n_l [inner, rank] and e_l [rank, columns_l] (a row
 * more with `columnFactors`, every member's).
 */
const groupedInlineProduct: KernelFunc = ({ inputs, backend, attrs }) => {
  const named = inputs as unknown as Record<string, TensorInfo>;
  const { scales, inputDropouts, normEps, columnFactors, droppedInputs } = attrs as unknown as GroupProductAttrs;
  const factors = columnFactors === true;
  // With RMSNorm's weight, x is normalized as it is read (a forward pass off the tape), and no t is written.
  const normalization = normalizationBinding(named['normWeight'], normEps);
  const normalized = named['normWeight'] !== undefined;
  const gpu = backend as unknown as WebGpuBackendLike;
  const x = named['x']!;
  const [rows, inner] = x.shape as [number, number];
  const members = numberedMembers(named, scales.length, ['w', 'n', 'e']);
  const biases = members.map((_, l) => named[`bias${l}`]);
  const biased = biases[0] !== undefined;
  const rank = members[0]!.n.shape[1]!;
  const inputMask = inputDropouts !== undefined;
  const dropped = inputMask && droppedInputs === true;
  const partlyMasked = inputDropouts !== undefined && inputDropouts.length !== scales.length;
  if (partlyMasked || members.some((m) => m.n.shape[1] !== rank || m.w.shape[0] !== inner))
    throw new Error(`${LOW_RANK_PRODUCT_GROUP}: members differ in rank or input width, or not every member has a mask`);
  if (biases.some((bias) => (bias !== undefined) !== biased) || (biased && (normalized || factors)))
    throw new Error(
      `${LOW_RANK_PRODUCT_GROUP}: biases are every member's or none, and not with x normalized or factors`,
    );
  members.forEach((m) => checkFactorRow(LOW_RANK_PRODUCT_GROUP, m.e, rank, false, factors));
  const tiles = productTiling();
  const few = fewRowsShape(gpu, {
    rows,
    unsupported: inputMask || biased,
    bias: false,
    addend: false,
    normalizedInput: normalized,
    narrow: { rank, writesDown: !normalized },
    members: members.length,
    columnFactors: factors,
  });
  const tile = few === undefined ? productTile(tiles.blocks) : FEW_ROWS_TILE;
  const columns = members.map((m) => m.w.shape[1]!);
  const { firstTiles, columnTiles } = membersSideBySide(columns, tile);
  // With biases, the members' biases are joined (buffer copies) and their t's written into one tensor, cut after.
  const joined = biased ? joinedBiases(gpu, biases as TensorInfo[]) : undefined;
  const joinedDowns = biased ? gpu.makeTensorInfo([members.length * rows * rank], 'float32') : undefined;
  const downs = normalized || biased ? [] : members.map(() => gpu.makeTensorInfo([rows * rank], 'float32'));
  const results = columns.slice(1).map((width) => gpu.makeTensorInfo([rows * width], 'float32'));
  const bindings = [
    bound('x', 0, x),
    ...members.flatMap((m, l) => [
      bound('w', l, m.w),
      bound('n', l, m.n),
      bound('e', l, m.e),
      ...(normalized || biased ? [] : [bound('down', l, downs[l]!, WRITTEN)]),
      ...(l === 0 ? [] : [bound('result', l, results[l - 1]!, WRITTEN)]),
    ]),
    ...(biased ? [bound('down', 0, joinedDowns!, WRITTEN), bound('bias', 0, joined!.bias, { components: 1 })] : []),
    ...normalization.declarations.map((input, i) => ({ input, tensor: normalization.tensors[i]! })),
  ];
  const output = runShader(
    gpu,
    {
      ...(few === undefined
        ? {
            key: `${LOW_RANK_PRODUCT_GROUP}_${members.length}_${rank}_${[inputMask, normalized, factors, dropped, biased].map(Number).join('')}_${tilingKey(tiles)}`,
            dispatch: [columnTiles, Math.ceil(rows / tile)] as const,
            code: () =>
              inlineLowRankProductCode(
                {
                  ...shapeOf(true, { transposeW: false, transposeE: false }, { bias: joined?.bias }, tiles),
                  normalizedInput: normalized,
                  columnFactors: factors,
                  ...(dropped ? { inputMasked: 'kept' as const } : {}),
                },
                { rank, transposeN: false, inputMask: inputMask && !dropped },
                members.length,
              ),
          }
        : {
            key: `${LOW_RANK_PRODUCT_GROUP}FewRows_${members.length}_${rank}_${few.rowsAtOnce}_${[normalized, factors].map(Number).join('')}`,
            dispatch: fewRowsDispatch(columnTiles, rows, few),
            code: () => fewRowsProductCode(few),
          }),
      inputs: bindings.map(({ input }) => input),
      uniforms: `${INLINE_UNIFORMS} ${groupUniforms(members.length, inputMask, biased)}${normalization.uniforms}`,
      workgroupSize: PRODUCT_WORKGROUP,
      outputSize: rows * columns[0]!,
    },
    bindings.map(({ tensor }) => tensor),
    [
      ...[rows, columns[0]!, inner, rank].map(int),
      float(scales[0]!),
      float(1),
      ...columns.slice(1).flatMap((width, l) => [int(width), int(firstTiles[l + 1]!), float(scales[l + 1]!)]),
      ...dropoutUniformValues(...(inputDropouts ?? [])),
      ...(joined?.starts.slice(1).map(int) ?? []),
      ...normalization.values,
    ],
  );
  const outputs = [output, ...results].map((info, l) => shaped(info, [rows, columns[l]!]));
  if (joined !== undefined) gpu.disposeData(joined.bias.dataId);
  const written = joinedDowns === undefined ? downs : cutDowns(gpu, joinedDowns, members.length, rows, rank);
  return [...outputs, ...written.map((down) => shaped(down, [rows, rank]))];
};

/** The members' biases as one tensor by buffer copies, and where each member's starts. */
function joinedBiases(gpu: WebGpuBackendLike, biases: readonly TensorInfo[]): { bias: TensorInfo; starts: number[] } {
  const starts: number[] = [];
  let size = 0;
  for (const bias of biases) {
    starts.push(size);
    size += bias.shape[0]!;
  }
  const bias = joinedByCopies(gpu, biases, 0, [size], { hostValuesToo: true });
  if (bias === undefined)
    throw new Error(`${LOW_RANK_PRODUCT_GROUP}: the members' biases could not be joined by copies`);
  return { bias, starts };
}

/** The members' t's, written one after another into `joined`, cut apart by buffer copies ([rows · rank] each). */
function cutDowns(gpu: WebGpuBackendLike, joined: TensorInfo, members: number, rows: number, rank: number) {
  const parts = cutByCopies(gpu, shaped(joined, [members, rows * rank]), 0);
  if (parts === undefined) throw new Error(`${LOW_RANK_PRODUCT_GROUP}: the members' t's could not be cut by copies`);
  gpu.disposeData(joined.dataId);
  return parts;
}

/**
 * Attributes of the gradient group: each member's t scale (its update's scaling) and, for every member or none, the
 * dropout whose mask [rows, columns] multiplies its low-rank part.
 */
export interface GradientGroupAttrs {
  readonly narrowScales: readonly number[];
  readonly dropouts?: readonly HashedDropout[] | undefined;
}

/**
 * Inputs, for member l: dy_l [rows, inner_l], w_l [columns, inner_l] (W as stored, [in, out]), n_l [rank, inner_l]
 * (B) and e_l [columns, rank] (A′).
 */
const gradientGroup: KernelFunc = ({ inputs, backend, attrs }) => {
  const named = inputs as unknown as Record<string, TensorInfo>;
  const { narrowScales, dropouts } = attrs as unknown as GradientGroupAttrs;
  const gpu = backend as unknown as WebGpuBackendLike;
  const members = numberedMembers(named, narrowScales.length, ['dy', 'w', 'n', 'e']);
  const rows = members[0]!.dy.shape[0]!;
  const [columns, rank] = members[0]!.e.shape as [number, number];
  const masked = dropouts !== undefined;
  const partlyMasked = dropouts !== undefined && dropouts.length !== members.length;
  if (partlyMasked || members.some((m) => m.e.shape[1] !== rank || m.w.shape[0] !== columns))
    throw new Error(
      `${LOW_RANK_GRADIENT_GROUP}: members differ in rank or output width, or not every member has a mask`,
    );
  const tiles = productTiling();
  const downs = members.map(() => gpu.makeTensorInfo([rows * rank], 'float32'));
  // dy_l is bound as the product's left operand, x_l.
  const bindings = members.flatMap((m, l) => [
    bound('x', l, m.dy),
    bound('w', l, m.w),
    bound('n', l, m.n),
    bound('e', l, m.e),
    bound('down', l, downs[l]!, WRITTEN),
  ]);
  const inners = members.map((m) => m.dy.shape[1]!);
  const { dispatch, sizes } = tiling(rows, columns, inners[0]!, rank, tiles.blocks);
  const shape = shapeOf(true, { transposeW: true, transposeE: true, dropout: dropouts?.[0] }, {}, tiles);
  const output = runShader(
    gpu,
    {
      key: `${LOW_RANK_GRADIENT_GROUP}_${members.length}_${rank}_${Number(masked)}_${tilingKey(tiles)}`,
      inputs: bindings.map(({ input }) => input),
      uniforms: `${INLINE_UNIFORMS} ${gradientGroupUniforms(members.length, masked)}`,
      workgroupSize: PRODUCT_WORKGROUP,
      dispatch,
      outputSize: rows * columns,
      code: () => inlineGradientGroupCode(shape, rank, members.length),
    },
    bindings.map(({ tensor }) => tensor),
    [
      ...sizes,
      float(1),
      float(narrowScales[0]!),
      ...inners.slice(1).flatMap((inner, l) => [int(inner), float(narrowScales[l + 1]!)]),
      ...dropoutUniformValues(...(dropouts ?? [])),
    ],
  );
  return [shaped(output, [rows, columns]), ...downs.map((down) => shaped(down, [rows, rank]))];
};

export function webGpuLowRankProductKernels(): KernelConfig[] {
  return [
    { kernelName: LOW_RANK_PRODUCT, backendName: 'webgpu', kernelFunc: lowRankProduct },
    { kernelName: LOW_RANK_PRODUCT_INLINE, backendName: 'webgpu', kernelFunc: inlineLowRankProduct },
    { kernelName: LOW_RANK_PRODUCT_GROUP, backendName: 'webgpu', kernelFunc: groupedInlineProduct },
    { kernelName: LOW_RANK_GRADIENT_GROUP, backendName: 'webgpu', kernelFunc: gradientGroup },
  ];
}
