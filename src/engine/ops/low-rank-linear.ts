/**
 * A frozen linear layer with a low-rank update, as one op: y = x·W (+ b) + s·((m ⊙ x)·(A + P))·B, with m an
 * inverted-dropout mask (or none), P a perturbation of A (or none) and s the update's scaling, plus a residual where
 * given; or several such layers that read the same x, as one op. Gradients flow to x, A, B, P and the residual.
 *
 * Written out with its own gradient so that a training step keeps only what the backward pass needs — x and the
 * [tokens, r] product (m ⊙ x)·A — instead of every intermediate (base output, dropped-out input, B-product, scaled
 * update, sum), which tfjs otherwise holds until the end of the step. The mask is a hashed dropout's (dropout-bits.ts):
 * on webgpu the kernels make it from its hash wherever they read it, so it is never written or kept; elsewhere it is
 * made once and kept for the backward pass, as x is. Forward values are the same ops in the same order
 * as composing frozenLinear, dropout and linear, so outputs are bit-identical; the gradients are the same products
 * (product.ts's transposed products; A's and B's by `layersWeightGradients`, every layer's at once), summed in another
 * order. Where the backend has the McevalLowRankProduct kernel (webgpu), the output x·W + b + s·down·B and the input
 * gradient dy·Wᵀ + m ⊙ (dDown·(A + P)ᵀ) are each one shader, which writes neither product on its own, and the narrow
 * products down = (m ⊙ x)·(A + P) and dDown = s·dy·Bᵀ are narrowProduct's, with the mask and the scaling applied inside
 * — or, where inlinesNarrowProduct says so (small products on a hardware GPU, whose steps wait on the host's recording
 * of dispatches), each formed inside the product that needs it (McevalLowRankProductInline): two dispatches a layer
 * fewer. Of layers that read the same x and are formed so, the leading ones the device can bind together run their
 * outputs as one dispatch and their input gradient as another (McevalLowRankProductGroup, McevalLowRankGradientGroup).
 * A layer may be split at its dropout (DoRA's under dropout: splitsAtDropout below).
 */
import { tf, type Tensor, type Tensor2D } from '../tf.js';
import { productTransposedRight } from './product.js';
import { flatten, restore } from './linear.js';
import { runMultiOutputOp } from './multi-output.js';
import { numberedInputs } from './numbered-inputs.js';
import { narrowProduct } from './narrow-product.js';
import { layersWeightGradients, type LayerGradientOperands } from './low-rank-weight-gradients.js';
import {
  LOW_RANK_PRODUCT,
  LOW_RANK_PRODUCT_INLINE,
  LOW_RANK_PRODUCT_GROUP,
  LOW_RANK_GRADIENT_GROUP,
  groupsInlineGradients,
  groupsInlineProducts,
  type GradientGroupAttrs,
  inlinesNarrowProduct,
  type GroupProductAttrs,
  type InlineCandidate,
  type InlineProductAttrs,
  type InlineProductInputs,
  type ActivatedProductInputs,
  type LowRankProductAttrs,
  type LowRankProductInputs,
} from '../kernels/webgpu/low-rank-product.js';
import type { WebGpuBackendLike } from '../kernels/webgpu/shader.js';
import { hasKernel } from '../kernels/has-kernel.js';
import type { HashedDropout } from '../dropout-bits.js';
import { keepMask } from './dropout.js';
import { dropoutHash, dropoutMaskOf, type InputDropout } from './input-dropout.js';
import { withColumnScales, type ColumnScaledUpdate } from './column-scales.js';
import { magnitudeScaled, magnitudeScaleGradients } from './magnitude-scale.js';
import { restGradient, restProduct } from './dropout-rest.js';
import { runOnGiven, type Given } from './run-on-given.js';
import { restsSetting } from '../rests-setting.js';

export interface LowRankUpdate extends ColumnScaledUpdate {
  /** [in, r]. */
  readonly a: Tensor2D;
  /** [r, out]; [r + 1, out] with `columnFactors`. */
  readonly b: Tensor2D;
  readonly scaling: number;
  /** The inverted dropout on x (its mask shaped like x), or none. */
  readonly dropout?: HashedDropout | undefined;
  /** [in, r], added to A inside the op (MonteCLoRA's sample); it receives A's gradient. */
  readonly perturbation?: Tensor2D;
}

/**
 * A layer split at its dropout (an update with a dropout whose base product reads the dropped-out input x_d = m ⊙ x:
 * DoRA's under dropout). The op forms its dropped part x_d·W + s·(x_d·A′)·B and its rest x_r·W + b (+ residual) with
 * x_r = (1 − m) ⊙ x (dropout-rest.ts); the layer's output is rest + c ⊙ dropped, c its column scale (ColumnScaledUpdate's
 * `splitAtDropout`). x's gradient takes (1 − m) ⊙ (d rest·Wᵀ) + m ⊙ (d dropped·Wᵀ + dDown·A′ᵀ): on webgpu the dropped
 * part's inline product reads x through the mask and its input gradient masks its whole sum, and the rest is formed in
 * the same dispatch each way (MCEVAL_WEBGPU_RESTS=alongside: restAlongside below) — the forward's scaling by c too,
 * where the device binds it (`scaledInside`: the op then gives the layer's output, and c's gradient) — or by one
 * McevalMatrixProduct each way, the scaling by magnitudeScaled after the op. Where forming x·W and x_d·W apart took two
 * low-rank ops, x_d's mask and the additions of their gradients. A's and B's gradients are a LoRA layer's, with every
 * layer's of the op.
 */
const splitsAtDropout = (update: LowRankUpdate) => update.splitAtDropout === true;

/**
 * The inline kernel's attributes for a layer's output (nothing transposed, t = x·A unscaled): its update's scaling and
 * column factors.
 */
export function outputInlineAttrs(update: Pick<LowRankUpdate, 'scaling' | 'columnFactors'>): InlineProductAttrs {
  return {
    transposeW: false,
    transposeN: false,
    transposeE: false,
    narrowScale: 1,
    scale: update.scaling,
    columnFactors: update.columnFactors,
  };
}

/**
 * The outputs of the backend's McevalLowRankProduct kernel (webgpu): x·W′ + bias + scale · mask ⊙ (d·E′) + addend,
 * x possibly read as an activation of its inputs; or, given an activation's gradient inputs, their gradients
 * (activated-low-rank-linear.ts).
 */
export function lowRankProductOutputs(inputs: Given<ActivatedProductInputs>, attrs: LowRankProductAttrs): Tensor2D[] {
  return [runOnGiven(LOW_RANK_PRODUCT, inputs, attrs)].flat() as Tensor2D[];
}

/** x·W′ + bias + scale · mask ⊙ (d·E′) + addend by the backend's McevalLowRankProduct kernel (webgpu). */
const lowRankProduct = (inputs: Given<LowRankProductInputs>, attrs: LowRankProductAttrs): Tensor2D =>
  lowRankProductOutputs(inputs, attrs)[0]!;

/**
 * [y, t]: x·W′ + bias + scale · mask ⊙ (t·E′) + addend and t = narrowScale · (inputMask ⊙ x)·N′ in one dispatch, by
 * the backend's McevalLowRankProductInline kernel (webgpu); with SwiGLU's gradient inputs, dUp after them.
 */
export function inlineLowRankProduct(
  inputs: Given<InlineProductInputs>,
  attrs: InlineProductAttrs,
): [Tensor2D, Tensor2D, Tensor2D?] {
  return runOnGiven(LOW_RANK_PRODUCT_INLINE, inputs, attrs) as unknown as [Tensor2D, Tensor2D, Tensor2D?];
}

/**
 * Whether the product of x [rows, inner] into `columns` forms its narrow product in the same dispatch, given the
 * optional inputs it binds (`inputMask`: a dropout on x, whose mask takes workgroup memory; `others` of bias and
 * addend).
 */
function inlines(shape: InlineCandidate): boolean {
  if (!hasKernel(LOW_RANK_PRODUCT_INLINE)) return false;
  return inlinesNarrowProduct(tf.backend() as unknown as WebGpuBackendLike, shape);
}

/**
 * Whether a layer split at its dropout forms its rest in its dropped part's inline product (McevalLowRankProductInline
 * with a rest alongside: one dispatch, not two), for the product of x [rows, inner] into `columns` at `rank` with
 * `others` buffers more (bias, addend, the magnitude's scaling, an activation's inputs): MCEVAL_WEBGPU_RESTS, a mask
 * the kernel makes from its hash, and the device's room. `dispatchesSaved` (InlineCandidate's): the narrow product's
 * and the rest's at least, so inline up to twice the size a lone product is.
 */
export function restAlongside(
  dropout: InputDropout | undefined,
  shape: Omit<InlineCandidate, 'inputMask' | 'restAlongside'>,
): boolean {
  if (dropoutHash(dropout) === undefined || restsSetting() !== 'alongside') return false;
  return inlines({ dispatchesSaved: 2, ...shape, inputMask: false, restAlongside: true });
}

/** What a group member's forward product reads besides x: A′ (A plus its perturbation), B and its addend. */
interface MemberOperands {
  readonly factor: Tensor2D;
  readonly b: Tensor2D;
  readonly addend: Tensor2D | undefined;
}

/** The part of a layer that decides whether it can join a group's dispatch. */
interface GroupMember {
  /** Split at its dropout: it runs its own dispatches. */
  readonly split: boolean;
  readonly weight: Tensor2D;
  readonly flatBias: Tensor | undefined;
  readonly dropout: InputDropout | undefined;
  readonly scaling: number;
  /** B holds the columns' factors as one more row (ColumnScaledUpdate's `columnFactors`). */
  readonly columnFactors: boolean;
  /** Split, its rest formed in its dropped part's dispatch (restAlongside): a dispatch of its own, in no group. */
  readonly restAlongside: boolean;
}

/**
 * The most leading layers, two or more, that `fits` says can go together (0 if not two): a group's dispatch takes as
 * many as the device binds, the rest keep their own.
 */
function leadingGroup(count: number, fits: (members: number) => boolean): number {
  for (let members = count; members >= 2; members--) if (fits(members)) return members;
  return 0;
}

/**
 * The leading layers' [output, down] when the backend runs their inline products as one dispatch
 * (McevalLowRankProductGroup: a decoder's q, k and v, or its gate and up, an encoder's query, key and value, on
 * webgpu), else undefined: no member may have an addend, their biases, input masks and column factors must be all or
 * none and their ranks agree, and the device must bind them (groupsInlineProducts). Layers after the group are not in
 * the list.
 */
function groupedProducts(
  x: Tensor2D,
  members: readonly GroupMember[],
  operands: readonly MemberOperands[],
): [Tensor2D, Tensor2D][] | undefined {
  if (!hasKernel(LOW_RANK_PRODUCT_GROUP)) return undefined;
  const rank = operands[0]!.factor.shape[1];
  const masked = members[0]!.dropout !== undefined;
  // Layers split at their dropout read x through their masks in both products: all or none of a group.
  const split = members[0]!.split;
  const factors = members[0]!.columnFactors;
  // Biases go into the group's dispatch (joined), but not beside column factors.
  const biased = !split && members[0]!.flatBias !== undefined;
  if (biased && factors) return undefined;
  // Split layers whose rests go alongside run a dispatch each: fewer than a group's and their rests' own.
  if (members[0]!.restAlongside) return undefined;
  // A split layer's bias and residual are its rest's, not its dropped part's.
  const joins = (m: GroupMember, l: number) =>
    m.split === split &&
    (split || ((m.flatBias !== undefined) === biased && operands[l]!.addend === undefined)) &&
    (m.dropout !== undefined) === masked &&
    m.columnFactors === factors &&
    operands[l]!.factor.shape[1] === rank;
  // A split layer's mask takes no workgroup tile: it is made as x is loaded.
  const candidate = { rows: x.shape[0], inner: x.shape[1], rank, inputMask: masked && !split, biased };
  const count = leadingGroup(members.length, (n) => {
    const group = members.slice(0, n);
    const columns = group.map((m) => m.weight.shape[1]);
    return (
      group.every(joins) &&
      groupsInlineProducts(tf.backend() as unknown as WebGpuBackendLike, { ...candidate, columns })
    );
  });
  if (count === 0) return undefined;
  const group = members.slice(0, count);
  const inputs = {
    x,
    ...numberedInputs(
      group.map((m, l) => ({
        w: m.weight,
        n: operands[l]!.factor,
        e: operands[l]!.b,
        bias: biased ? m.flatBias : undefined,
      })),
    ),
  };
  const attrs: GroupProductAttrs = {
    scales: group.map((m) => m.scaling),
    inputDropouts: masked ? group.map((m) => dropoutHash(m.dropout)!) : undefined,
    columnFactors: factors,
    droppedInputs: split,
  };
  const outputs = tf.engine().runKernel(LOW_RANK_PRODUCT_GROUP, inputs as never, attrs as never) as Tensor2D[];
  return group.map((_, l) => [outputs[l]!, outputs[count + l]!]);
}

/** What a group member's backward pass reads: dy, and what its forward pass saved. */
interface GradientMember {
  readonly dy: Tensor2D;
  readonly weight: Tensor2D;
  readonly b: Tensor2D;
  readonly factor: Tensor2D;
  readonly dropout: InputDropout | undefined;
  readonly part: { readonly scaling: number; readonly split: boolean };
}

/**
 * The leading layers' share of x's gradient and their dDown = s·dy·Bᵀ when the backend runs their inline input
 * gradients as one dispatch (McevalLowRankGradientGroup), else undefined: their ranks must agree, their masks be all or
 * none, and the device must bind them (groupsInlineGradients). dDowns has the group's layers only.
 */
function groupedGradients(members: readonly GradientMember[]): { dx: Tensor2D; dDowns: Tensor2D[] } | undefined {
  if (!hasKernel(LOW_RANK_GRADIENT_GROUP)) return undefined;
  const [rows, columns] = [members[0]!.dy.shape[0], members[0]!.weight.shape[0]];
  const rank = members[0]!.factor.shape[1];
  const masked = members[0]!.dropout !== undefined;
  const joins = (m: GradientMember) =>
    !m.part.split && m.factor.shape[1] === rank && (m.dropout !== undefined) === masked;
  const count = leadingGroup(members.length, (n) => {
    const group = members.slice(0, n);
    const candidate = { rows, inners: group.map((m) => m.weight.shape[1]), columns, rank };
    return group.every(joins) && groupsInlineGradients(tf.backend() as unknown as WebGpuBackendLike, candidate);
  });
  if (count === 0) return undefined;
  const group = members.slice(0, count);
  const inputs = numberedInputs(group.map((m) => ({ dy: m.dy, w: m.weight, n: m.b, e: m.factor })));
  const attrs: GradientGroupAttrs = {
    narrowScales: group.map((m) => m.part.scaling),
    dropouts: masked ? group.map((m) => dropoutHash(m.dropout)!) : undefined,
  };
  const [dx, ...dDowns] = tf.engine().runKernel(LOW_RANK_GRADIENT_GROUP, inputs as never, attrs as never) as Tensor2D[];
  return { dx: dx!, dDowns };
}

/** How many of these optional inputs a call has. */
const given = (...inputs: readonly unknown[]) => inputs.filter((input) => input !== undefined).length;

/** One low-rank layer of a group reading the same x. */
export interface LowRankLayer {
  /** [in, out], frozen. */
  readonly weight: Tensor2D;
  readonly bias?: Tensor | undefined;
  readonly update: LowRankUpdate;
  /** [..., out], added to this layer's output (a decoder's residual stream, inside the product on webgpu). */
  readonly residual?: Tensor | undefined;
}

/**
 * The layer's output for x [..., in]; with `residual` [..., out] given, residual + the output (a decoder's residual
 * stream, added inside the product on webgpu).
 */
export function lowRankLinear(
  x: Tensor,
  weight: Tensor2D,
  bias: Tensor | undefined,
  update: LowRankUpdate,
  residual?: Tensor,
): Tensor {
  return lowRankLinears(x, [{ weight, bias, update, residual }])[0]!;
}

/**
 * The outputs of low-rank layers that read the same x (a decoder layer's q, k and v, or its gate and up), as one op.
 * x's gradient is their input gradients' sum. tfjs would add them one by one, each addition a dispatch. On webgpu each
 * layer's input-gradient product adds the one before as it writes its own (the fused product's addend). On the host
 * they are added in the order tfjs's tape adds them, last layer first, so the sums are the same bits as separate ops
 * gave.
 */
export function lowRankLinears(x: Tensor, layers: readonly LowRankLayer[]): Tensor[] {
  if (!layers.some((layer) => splitsAtDropout(layer.update)))
    return withColumnScales(layers, (plain) => lowRankLinearsOp(x, plain))!;
  if (layers.some(({ update }) => !splitsAtDropout(update) && update.columnScale !== undefined))
    throw new Error('lowRankLinears: a column-scaled layer beside layers split at their dropout');
  return lowRankLinearsOp(x, layers);
}

/**
 * lowRankLinears as one op, for layers without a column scale but those split at their dropout (splitsAtDropout),
 * whose output is rest + c ⊙ dropped (rest + dropped without a column scale): the scaling inside the op where the layer
 * is `scaledInside`, else by magnitudeScaled after it.
 */
function lowRankLinearsOp(x: Tensor, layers: readonly LowRankLayer[]): Tensor[] {
  if (layers.some(({ update }) => splitsAtDropout(update) && update.dropout === undefined))
    throw new Error('lowRankLinears: a layer split at its dropout has none');
  const inFeatures = x.shape[x.shape.length - 1]!;
  // The op takes x and the residuals in their shapes and gives its outputs in theirs, flattened and restored inside
  // it (ops/linear.ts's flatten and restore): reshapes there are not recorded on the tape, where each was a kernel
  // call, a tape node and a gradient's reshape.
  // Where the backend has the fused kernel, the base and low-rank products are summed in one pass (forward and dx).
  const fused = hasKernel(LOW_RANK_PRODUCT);
  // On webgpu the kernels make a dropout's mask from its hash; elsewhere it is made here, once.
  const rows = x.size / inFeatures;
  const inputDropout = (dropout?: HashedDropout): InputDropout | undefined =>
    dropout === undefined ? undefined : fused ? { hash: dropout } : { mask: keepMask([rows, inFeatures], dropout) };
  // The op's output of a split layer's rest: after every layer's own, in the layers' order.
  let rests = layers.length;
  const parts = layers.map(({ weight, bias, update, residual }) => {
    const split = splitsAtDropout(update);
    const flatBias = fused && bias !== undefined ? tf.reshape(bias, [-1]) : undefined;
    const dropout = inputDropout(update.dropout);
    const magnitude = split ? update.columnScale : undefined;
    // Decided once for the forward pass: a split layer's rest formed in its dropped part's product, and its scaling by
    // its magnitude there too (two more bindings), where the op then outputs the layer's output and no rest.
    const shape = { rows, inner: inFeatures, columns: weight.shape[1], rank: update.a.shape[1] };
    const others = given(flatBias, residual);
    // Scaled inside, the scaling's dispatch is saved too.
    const scaledInside =
      split && magnitude !== undefined && restAlongside(dropout, { ...shape, others: others + 2, dispatchesSaved: 3 });
    const alongside = scaledInside || (split && restAlongside(dropout, { ...shape, others }));
    return {
      split,
      restAt: split && !scaledInside ? rests++ : -1,
      weight,
      bias,
      flatBias,
      dropout,
      scaling: update.scaling,
      columnFactors: update.columnFactors === true,
      magnitude,
      restAlongside: alongside,
      scaledInside,
      // The op's inputs for this layer: A, B, and when given A's perturbation, the residual and the magnitude it
      // scales by inside.
      inputs: [
        update.a,
        update.b,
        ...(update.perturbation === undefined ? [] : [update.perturbation]),
        ...(residual === undefined ? [] : [residual]),
        ...(scaledInside ? [magnitude!.magnitude] : []),
      ],
      perturbed: update.perturbation !== undefined,
      added: residual !== undefined,
      /** Added to the output; its gradient is the output's, in its shape. */
      residual,
    };
  });
  type Part = (typeof parts)[number];
  // [x·W + b + s·down·B (+ addend), down] with down = (m ⊙ x)·A′ by a dispatch of its own: one fused product, or
  // tfjs ops (the addend added last, as the model's tf.add(residual, output) did).
  const separateProducts = (part: Part, input: Tensor2D, factor: Tensor2D, b: Tensor2D, addend?: Tensor2D) => {
    const { dropout, weight, bias, flatBias, scaling, columnFactors } = part;
    const down = narrowProduct(input, factor, { dropout });
    if (fused) {
      const value = lowRankProduct(
        { x: input, w: weight, d: down, e: b, bias: flatBias, addend },
        { transposeW: false, transposeE: false, scale: scaling, columnFactors },
      );
      return [value, down] as const;
    }
    // withColumnScales gives factored Bs only where the backend has the kernels.
    if (columnFactors) throw new Error('lowRankLinears: column factors need the fused kernels');
    const product = tf.matMul(input, weight);
    const base = bias === undefined ? product : tf.add(product, bias);
    const value = tf.add(base, tf.mul(tf.matMul(down, b), scaling)) as Tensor2D;
    return [addend === undefined ? value : (tf.add(addend, value) as Tensor2D), down] as const;
  };
  // [dy·Wᵀ + m ⊙ (dDown·A′ᵀ) (+ addend), dDown] with dDown = s·dy·Bᵀ by a dispatch of its own: one fused product
  // (the addend inside it), or tfjs ops (the addend added last).
  // With `maskedSum` (a split layer's dropped part) the mask multiplies dy·Wᵀ too.
  const separateGradients = (
    scaling: number,
    dy: Tensor2D,
    { weight, b, factor, dropout }: { weight: Tensor2D; b: Tensor2D; factor: Tensor2D; dropout?: InputDropout },
    addend?: Tensor2D,
    maskedSum = false,
  ) => {
    const dDown = narrowProduct(dy, b, { transposeW: true, scale: scaling });
    if (fused) {
      const dx = lowRankProduct(
        { x: dy, w: weight, d: dDown, e: factor, addend },
        { transposeW: true, transposeE: true, scale: 1, dropout: dropoutHash(dropout), maskedSum },
      );
      return [dx, dDown] as const;
    }
    const low = productTransposedRight(dDown, factor);
    const mask = dropout === undefined ? undefined : dropoutMaskOf(dropout, low.shape);
    const product = productTransposedRight(dy, weight);
    const dx = (
      mask === undefined
        ? tf.add(product, low)
        : maskedSum
          ? tf.mul(tf.add(product, low), mask)
          : tf.add(product, tf.mul(low, mask))
    ) as Tensor2D;
    return [addend === undefined ? dx : (tf.add(addend, dx) as Tensor2D), dDown] as const;
  };
  // A split layer's dropped part, [x_d·W + s·down·B, down] with down = x_d·A′: on webgpu x read through the mask by the
  // inline product (or the fused one after the narrow product), else x_d formed first.
  const droppedProducts = (part: Part, input: Tensor2D, factor: Tensor2D, b: Tensor2D) => {
    const { weight, scaling, dropout } = part;
    const hash = dropoutHash(dropout);
    if (hash === undefined) {
      const dropped = tf.mul(input, dropoutMaskOf(dropout!, input.shape)) as Tensor2D;
      return separateProducts(
        { ...part, dropout: undefined, bias: undefined, flatBias: undefined },
        dropped,
        factor,
        b,
      );
    }
    const shape = { rows, inner: inFeatures, columns: weight.shape[1], rank: factor.shape[1], inputMask: false };
    if (inlines({ ...shape, others: 0 }))
      return inlineLowRankProduct(
        { x: input, w: weight, n: factor, e: b },
        { ...outputInlineAttrs(part), droppedInput: hash },
      );
    const down = narrowProduct(input, factor, { dropout });
    const value = lowRankProduct(
      { x: input, w: weight, d: down, e: b },
      { transposeW: false, transposeE: false, scale: scaling, droppedInput: hash },
    );
    return [value, down] as const;
  };
  // A split layer's value, down and third output: in one dispatch where its rest goes alongside — the layer's output
  // and its dropped part, with the magnitude and norms it was scaled by (`scaling`), where scaled inside; else its
  // dropped part and rest — otherwise the dropped part's (a group's, where the layer was in one) and the rest's own.
  const splitProducts = (
    part: Part,
    input: Tensor2D,
    { factor, b, addend, magnitude }: MemberOperands & { readonly magnitude: Tensor2D | undefined },
    grouped: readonly [Tensor2D, Tensor2D] | undefined,
  ) => {
    if (part.restAlongside) {
      // The norms formed here, off the tape, as magnitudeScaled forms them.
      const scaling = part.scaledInside ? { magnitude: magnitude!, norms: part.magnitude!.norms() } : undefined;
      const [value, down, third] = inlineLowRankProduct(
        { x: input, w: part.weight, n: factor, e: b, bias: part.flatBias, addend, ...scaling },
        {
          ...outputInlineAttrs(part),
          droppedInput: dropoutHash(part.dropout),
          restAlongside: 'input',
          magnitudeScaled: scaling !== undefined,
        },
      );
      return { value, down, third: third!, scaling };
    }
    const [value, down] = grouped ?? droppedProducts(part, input, factor, b);
    const rest = restProduct(input, part.weight, part.dropout!, part.flatBias ?? part.bias, addend);
    return { value, down, third: rest, scaling: undefined };
  };
  // Per layer, what its backward pass reads: A′ (A plus its perturbation), B, down, W and a mask made already (saved,
  // so that they outlive any scope the forward pass ran in), from this offset in the saved list.
  const madeMask = (part: Part) =>
    part.dropout !== undefined && 'mask' in part.dropout ? part.dropout.mask : undefined;
  // A layer scaled inside saves its dropped part, magnitude and norms after them.
  const savedCount = (part: Part) => 4 + Number(madeMask(part) !== undefined) + (part.scaledInside ? 3 : 0);
  const savedAt = parts.map((_, l) => 1 + parts.slice(0, l).reduce((n, part) => n + savedCount(part), 0));
  const outputs = runMultiOutputOp([x, ...parts.flatMap((part) => part.inputs)], {
    forward: ([input, ...rest], save) => {
      const xs = flatten(input!);
      let at = 0;
      const operands = parts.map((part) => {
        const [a, b, ...optional] = rest.slice(at, (at += part.inputs.length)) as Tensor2D[];
        const perturbation = part.perturbed ? optional.shift() : undefined;
        const residual = part.added ? optional.shift() : undefined;
        const magnitude = part.scaledInside ? optional.shift() : undefined;
        const factor = perturbation === undefined ? a! : (tf.add(a!, perturbation) as Tensor2D);
        return { factor, b: b!, addend: residual === undefined ? undefined : flatten(residual), magnitude };
      });
      const grouped = groupedProducts(xs as Tensor2D, parts, operands);
      const values: Tensor[] = [];
      const rests: Tensor[] = [];
      const saved: Tensor[] = [xs!];
      parts.forEach((part, l) => {
        const { factor, b, addend } = operands[l]!;
        const [rank, outFeatures] = [factor.shape[1], part.weight.shape[1]];
        if (part.split) {
          const { value, down, third, scaling } = splitProducts(part, xs as Tensor2D, operands[l]!, grouped?.[l]);
          values.push(value);
          if (scaling === undefined) rests.push(third);
          const mask = madeMask(part);
          // Scaled inside: the dropped part, magnitude and norms, for the scaling's gradient.
          const scaled = scaling === undefined ? [] : [third, scaling.magnitude, scaling.norms];
          saved.push(factor, b, down, part.weight, ...(mask === undefined ? [] : [mask]), ...scaled);
          return;
        }
        const [value, down] =
          grouped?.[l] ??
          (inlines({
            rows,
            inner: inFeatures,
            columns: outFeatures,
            rank,
            inputMask: part.dropout !== undefined,
            others: given(part.flatBias, addend),
          })
            ? inlineLowRankProduct(
                { x: xs, w: part.weight, n: factor, e: b, bias: part.flatBias, addend },
                { ...outputInlineAttrs(part), inputDropout: dropoutHash(part.dropout) },
              )
            : separateProducts(part, xs as Tensor2D, factor, b, addend));
        values.push(value);
        const mask = madeMask(part);
        saved.push(factor, b, down, part.weight, ...(mask === undefined ? [] : [mask]));
      });
      save(saved);
      return [...values, ...rests].map((y) => restore(y as Tensor2D, input!));
    },
    backward: (shapedDys, saved) => {
      const dys = shapedDys.map(flatten);
      // withColumnScales gives factored Bs only off the tape.
      if (parts.some((part) => part.columnFactors)) throw new Error('lowRankLinears: column factors have no gradient');
      const xs = saved[0] as Tensor2D;
      const grads: Tensor[][] = [];
      const savedOf = (part: Part, l: number) => saved.slice(savedAt[l], savedAt[l]! + savedCount(part)) as Tensor2D[];
      // Scaled inside: the output's gradient is the rest's; the dropped part's, and the magnitude's, are
      // magnitudeScaled's — every such layer's at once (one dispatch for as many as the device binds).
      const insideAt = parts.flatMap((part, l) => (part.scaledInside ? [l] : []));
      const scalings = magnitudeScaleGradients(
        insideAt.map((l) => {
          const [dropped, magnitude, norms] = savedOf(parts[l]!, l).slice(
            4 + Number(madeMask(parts[l]!) !== undefined),
          );
          return { dy: dys[l]!, z: dropped!, m: magnitude!, n: norms! };
        }),
        0,
      );
      const members = parts.map((part, l) => {
        const [factor, b, down, weight, ...after] = savedOf(part, l);
        const dropout = madeMask(part) === undefined ? part.dropout : { mask: after[0]! };
        const dy = dys[l] as Tensor2D;
        const scaled = part.scaledInside ? scalings[insideAt.indexOf(l)] : undefined;
        const restDy = part.scaledInside ? dy : part.split ? (dys[part.restAt] as Tensor2D) : undefined;
        return {
          factor: factor!,
          b: b!,
          down: down!,
          weight: weight!,
          dropout,
          part,
          dy: (scaled?.[0] ?? dy) as Tensor2D,
          restDy,
          dMagnitude: scaled?.[1],
        };
      });
      // The leading layers in one dispatch where the backend can; the others last first, each input gradient adding
      // the ones before it in this loop (the order tfjs's tape would add them in) and the group's.
      const grouped = groupedGradients(members);
      let dx = grouped?.dx;
      const dDowns: Tensor2D[] = [...(grouped?.dDowns ?? [])];
      const firstChained = dDowns.length;
      for (let l = parts.length - 1; l >= firstChained; l--) {
        const { factor, b, weight, dropout, dy, part } = members[l]!;
        const [rank, outFeatures] = [factor.shape[1], weight.shape[1]];
        const shape = { rows, inner: outFeatures, columns: inFeatures, rank, others: given(dx) };
        // The scaling multiplies the [tokens, r] and [r, out] products rather than dy [tokens, out] (less work; on
        // webgpu inside their kernels).
        const inlineAttrs: InlineProductAttrs = {
          transposeW: true,
          transposeN: true,
          transposeE: true,
          narrowScale: part.scaling,
          scale: 1,
          dropout: dropoutHash(dropout),
          maskedSum: part.split,
        };
        // A split layer's rest, (1 − m) ⊙ (d rest·Wᵀ), then its dropped part's, the mask on the whole sum: in one
        // dispatch where the rest goes alongside.
        const restDy = members[l]!.restDy;
        if (restDy !== undefined && restAlongside(dropout, shape)) {
          [dx, dDowns[l]] = inlineLowRankProduct(
            { x: dy, w: weight, n: b, e: factor, addend: dx, restInput: restDy },
            { ...inlineAttrs, restAlongside: 'gradient' },
          );
          continue;
        }
        if (restDy !== undefined) dx = restGradient(restDy, weight, dropout!, dx);
        [dx, dDowns[l]] = inlines({ ...shape, inputMask: false })
          ? inlineLowRankProduct({ x: dy, w: weight, n: b, e: factor, addend: dx }, inlineAttrs)
          : separateGradients(part.scaling, dy, { weight, b, factor, dropout }, dx, part.split);
      }
      const operands = members.map(({ dropout, down, dy, part }, l): LayerGradientOperands => ({
        dropout,
        dDown: dDowns[l]!,
        down,
        dy,
        dyScale: part.scaling,
      }));
      // Every layer's weight gradients at once: on webgpu two dispatches for as many layers as one shader binds.
      layersWeightGradients(xs, operands).forEach(([dA, dB], l) => {
        const part = parts[l]!;
        // A perturbation added to A receives A's gradient, as a clone (one tensor for two inputs; multi-output.ts),
        // and the residual the output's, passed on. A split layer's residual is in its rest.
        const upstream = shapedDys[part.restAt >= 0 ? part.restAt : l]!;
        // A tensor of its own, not upstream: tfjs disposes a gradient it has added into another.
        const residual = part.residual === undefined ? [] : [tf.reshape(upstream, part.residual.shape)];
        const dMagnitude = members[l]!.dMagnitude;
        grads[l] = [
          dA,
          dB,
          ...(part.perturbed ? [tf.clone(dA)] : []),
          ...residual,
          ...(dMagnitude === undefined ? [] : [dMagnitude]),
        ];
      });
      return [restore(dx!, x), ...grads.flat()];
    },
  });
  // A split layer's output where the op gave its parts: rest + c ⊙ dropped (rest + dropped without a scale).
  return parts.map((part, l) => {
    if (part.restAt < 0) return outputs[l]!;
    const [dropped, rest] = [outputs[l]!, outputs[part.restAt]!];
    return part.magnitude === undefined ? tf.add(rest, dropped) : magnitudeScaled(dropped, part.magnitude, 0, rest);
  });
}
