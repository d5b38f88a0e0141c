/**
 * A low-rank layer reading an activation of its input, trained, as one op on the tape: a decoder's down projection
 * reading SwiGLU's gating x = silu(gate)·up, or an encoder's output projection reading x = GELU(h). y = residual +
 * x·W + b + s·((m ⊙ x)·(A + P))·B, with gradients to the activation's inputs, A, B, P and the residual (W and b
 * frozen). On webgpu x is never formed. The forward product reads it from the activation's inputs as it loads its
 * tiles (with t = (m ⊙ x)·A′ inside it, McevalLowRankProductInline, or by McevalNarrowProduct, which reads x so too,
 * then McevalLowRankProduct), the input gradient's product writes the activation's input gradients where it would
 * write dx (its `gradientGate` and `gradientUp`, or `gradientInput`), and the weight gradients read x from the
 * activation's inputs too (McevalLowRankWeightGradients). The activation's own kernels (McevalSwiGlu and
 * McevalSwiGluGrad, McevalGelu and McevalGeluGrad), a dispatch each, are left out, and so are the [tokens,
 * intermediate] x kept for the backward pass and its gradient dx. The values are the same expressions as the
 * activation's kernels' (swiglu.ts's, gelu.ts's) in the same products as lowRankLinear's, so the same bits
 * (test/webgpu/activated-training.test.ts).
 *
 * Only where every part runs on those kernels (activatedLowRankLinearTrained returns undefined otherwise, before
 * drawing anything, and the caller forms the activation first): no column scale, not split at its dropout, vec4
 * shapes, a rank the narrow product takes, and each product's narrow product inside it where lowRankLinear's would be
 * — that inline product then binding one buffer more forward for SwiGLU (gate and up for x) and backward the
 * activation's inputs (and SwiGLU's dUp): nine for SwiGLU, which WebGPU's default eight do not take.
 * MCEVAL_WEBGPU_ACTIVATIONS=apart (activation-setting.ts) forms the activation first everywhere, as before this op.
 */
import { tf, type Tensor, type Tensor1D, type Tensor2D } from '../tf.js';
import { hasKernel } from '../kernels/has-kernel.js';
import { activationSetting } from '../activation-setting.js';
import {
  LOW_RANK_PRODUCT,
  LOW_RANK_PRODUCT_INLINE,
  inlinesNarrowProduct,
  type ActivationGradientInputs,
  type InlineCandidate,
  type LeftInputs,
} from '../kernels/webgpu/low-rank-product.js';
import {
  NARROW_PRODUCT,
  NARROW_PRODUCT_MAX_COLUMNS,
  type NarrowProductAttrs,
} from '../kernels/webgpu/narrow-product.js';
import { LOW_RANK_WEIGHT_GRADIENTS, splitWeightGradients } from '../kernels/webgpu/weight-gradients.js';
import { storageBuffersPerShader, type WebGpuBackendLike } from '../kernels/webgpu/shader.js';
import { runMultiOutputOp } from './multi-output.js';
import { flatten, restore } from './linear.js';
import {
  inlineLowRankProduct,
  lowRankProductOutputs,
  outputInlineAttrs,
  type LowRankUpdate,
} from './low-rank-linear.js';
import { narrowProduct } from './narrow-product.js';
import { kernelWeightGradients, type KernelInput } from './low-rank-weight-gradients.js';
import { runOnGiven, type Given } from './run-on-given.js';

/** The activation x is formed by, from its inputs: SwiGLU's gating of gate and up, or GELU of h. */
export type Activated =
  | { readonly kind: 'swiglu'; readonly gate: Tensor; readonly up: Tensor }
  | { readonly kind: 'gelu'; readonly input: Tensor };

/** The activation's inputs, as the op takes them. */
const activationInputs = (activated: Activated): Tensor[] =>
  activated.kind === 'swiglu' ? [activated.gate, activated.up] : [activated.input];

/** Those inputs flattened, as the kernels bind them in x's place, and as they bind them to write their gradients. */
function bindings(kind: Activated['kind'], inputs: readonly Tensor2D[]) {
  const [first, second] = inputs;
  return kind === 'swiglu'
    ? { left: { gate: first, up: second }, gradient: { gradientGate: first, gradientUp: second } }
    : { left: { preActivation: first }, gradient: { gradientInput: first } };
}

/** Where each of the layer's products forms its narrow product: inside itself, or by a dispatch of its own. */
interface Plan {
  readonly forwardInline: boolean;
  readonly backwardInline: boolean;
}

/** A layer the op might take: its W, its update, and whether it adds a bias and a residual. */
interface Candidate {
  readonly weight: Tensor2D;
  readonly update: LowRankUpdate;
  readonly bias: boolean;
  readonly residual: boolean;
}

/**
 * How the layer's products run on the kernels that read the activation, on this device, for x of `rows` rows;
 * undefined where they do not. Each is inline where lowRankLinear's would be for x formed first (so that the values
 * are the same bits), and then only where the device also binds the activation's buffers.
 */
function planOf(
  kind: Activated['kind'],
  rows: number,
  { weight, update, bias, residual }: Candidate,
): Plan | undefined {
  if (activationSetting() !== 'inside') return undefined;
  if (!hasKernel(LOW_RANK_PRODUCT) || !hasKernel(LOW_RANK_WEIGHT_GRADIENTS) || !splitWeightGradients())
    return undefined;
  if (update.columnScale !== undefined || update.columnFactors === true || update.splitAtDropout === true)
    return undefined;
  const [inner, columns] = weight.shape;
  const rank = update.a.shape[1];
  // x is read as vec4s, and the narrow products run on McevalNarrowProduct where not inline.
  if ([inner, columns, rank].some((size) => size % 4 !== 0) || rank > NARROW_PRODUCT_MAX_COLUMNS) return undefined;
  const backend = tf.backend() as unknown as WebGpuBackendLike;
  const inlined = (shape: InlineCandidate, more: number) =>
    !hasKernel(LOW_RANK_PRODUCT_INLINE) || !inlinesNarrowProduct(backend, shape)
      ? false
      : inlinesNarrowProduct(backend, { ...shape, others: shape.others + more })
        ? true
        : undefined;
  // Buffers beyond x's one: forward, the activation's other inputs; backward, its inputs (and SwiGLU's dUp).
  const inputs = kind === 'swiglu' ? 2 : 1;
  const backwardMore = inputs + Number(kind === 'swiglu');
  const others = Number(bias) + Number(residual);
  const forward = { rows, inner, columns, rank, inputMask: update.dropout !== undefined, others };
  const forwardInline = inlined(forward, inputs - 1);
  const backwardInline = inlined(
    { rows, inner: columns, columns: inner, rank, inputMask: false, others: 0 },
    backwardMore,
  );
  if (forwardInline === undefined || backwardInline === undefined) return undefined;
  // Not inline, McevalLowRankProduct binds the activation's inputs, W, t, B, the bias, the addend and its output;
  // dy, W, dDown, A′, the activation's inputs, dUp and the output.
  const bound = storageBuffersPerShader(backend);
  if ((!forwardInline && inputs + 4 + others > bound) || (!backwardInline && 5 + backwardMore > bound))
    return undefined;
  return { forwardInline, backwardInline };
}

/** McevalNarrowProduct's (m ⊙ x)·A′ with x read as an activation of its inputs (narrow-product.ts's op takes x). */
const activatedNarrowProduct = (inputs: Given<LeftInputs & { w: unknown }>, attrs: NarrowProductAttrs) =>
  runOnGiven(NARROW_PRODUCT, inputs, attrs) as Tensor2D;

/**
 * residual + x·W + b + s·((m ⊙ x)·(A + P))·B for x the activation of `activated` ([..., in] each) and a frozen W [in,
 * out] and b, on the tape; undefined where its kernels do not take the layer (module comment), having drawn nothing.
 */
export function activatedLowRankLinearTrained(
  activated: Activated,
  weight: Tensor2D,
  bias: Tensor | undefined,
  update: LowRankUpdate,
  residual?: Tensor,
): Tensor | undefined {
  const like = activationInputs(activated);
  const first = like[0]!;
  const inFeatures = weight.shape[0];
  if (first.shape[first.shape.length - 1] !== inFeatures || like.some((t) => t.shape.join() !== first.shape.join()))
    return undefined;
  const candidate = { weight, update, bias: bias !== undefined, residual: residual !== undefined };
  const plan = planOf(activated.kind, first.size / inFeatures, candidate);
  if (plan === undefined) return undefined;
  const hash = update.dropout;
  const perturbed = update.perturbation !== undefined;
  const flatBias = bias === undefined ? undefined : (tf.reshape(bias, [-1]) as Tensor1D);
  const inputs = [
    ...like,
    update.a,
    update.b,
    ...(perturbed ? [update.perturbation!] : []),
    ...(residual === undefined ? [] : [residual]),
  ];
  const [output] = runMultiOutputOp(inputs, {
    forward: (given, save) => {
      const flats = given.slice(0, like.length).map(flatten);
      const [a, b, ...rest] = given.slice(like.length) as Tensor2D[];
      const perturbation = perturbed ? rest.shift() : undefined;
      const addend = rest.length > 0 ? flatten(rest[0]!) : undefined;
      const factor = perturbation === undefined ? a! : (tf.add(a!, perturbation) as Tensor2D);
      const { left } = bindings(activated.kind, flats);
      const [value, down] = plan.forwardInline
        ? inlineLowRankProduct(
            { ...left, w: weight, n: factor, e: b, bias: flatBias, addend },
            { ...outputInlineAttrs(update), inputDropout: hash },
          )
        : separateOutput(left, { weight, factor, b: b!, bias: flatBias, addend }, update);
      save([...flats, factor, b!, down!]);
      return [restore(value!, first)];
    },
    backward: ([upstream], saved) => {
      const flats = saved.slice(0, like.length) as Tensor2D[];
      const [factor, b, down] = saved.slice(like.length) as Tensor2D[];
      const dy = flatten(upstream!);
      const { left, gradient } = bindings(activated.kind, flats);
      // SwiGLU: [dGate, dDown, dUp]; GELU: [dh, dDown].
      const [dFirst, dDown, dSecond] = plan.backwardInline
        ? inlineLowRankProduct(
            { x: dy, w: weight, n: b, e: factor, ...gradient },
            {
              transposeW: true,
              transposeN: true,
              transposeE: true,
              narrowScale: update.scaling,
              scale: 1,
              dropout: hash,
            },
          )
        : separateGradients(dy, gradient, { weight, factor: factor!, b: b! }, update);
      const dropout = hash === undefined ? undefined : { hash };
      const [[dA, dB]] = kernelWeightGradients(left as KernelInput, [
        { dropout, dDown: dDown!, down: down!, dy, dyScale: update.scaling },
      ]) as [[Tensor2D, Tensor2D]];
      const dInputs = activated.kind === 'swiglu' ? [dFirst!, dSecond!] : [dFirst!];
      // A perturbation added to A receives A's gradient, as a clone (multi-output.ts), and the residual the output's.
      return [
        ...dInputs.map((d, i) => restore(d, like[i]!)),
        dA!,
        dB!,
        ...(perturbed ? [tf.clone(dA!)] : []),
        ...(residual === undefined ? [] : [tf.reshape(upstream!, residual.shape)]),
      ];
    },
  });
  flatBias?.dispose();
  return output;
}

/** What a layer's products read besides x (or dy): W, A′, B, and the bias and addend where it has them. */
interface Operands {
  readonly weight: Tensor2D;
  readonly factor: Tensor2D;
  readonly b: Tensor2D;
  readonly bias?: Tensor1D | undefined;
  readonly addend?: Tensor2D | undefined;
}

/**
 * [y, t]: the output and t = (m ⊙ x)·A′ by dispatches of their own, x read from the activation's inputs (`left`) —
 * lowRankLinear's separate products' order.
 */
function separateOutput(left: Given<LeftInputs>, operands: Operands, update: LowRankUpdate): Tensor2D[] {
  const { weight, factor, b, bias, addend } = operands;
  const down = activatedNarrowProduct({ ...left, w: factor }, { transposeW: false, scale: 1, dropout: update.dropout });
  const [value] = lowRankProductOutputs(
    { ...left, w: weight, d: down, e: b, bias, addend },
    { transposeW: false, transposeE: false, scale: update.scaling },
  );
  return [value!, down];
}

/**
 * The activation's input gradients and dDown = s·dy·Bᵀ by a dispatch of its own, as lowRankLinear's separate
 * gradients run: SwiGLU's [dGate, dDown, dUp], GELU's [dh, dDown].
 */
function separateGradients(
  dy: Tensor2D,
  gradient: Given<ActivationGradientInputs>,
  { weight, factor, b }: Omit<Operands, 'bias' | 'addend'>,
  update: LowRankUpdate,
): Tensor2D[] {
  const dDown = narrowProduct(dy, b, { transposeW: true, scale: update.scaling });
  const [dFirst, dSecond] = lowRankProductOutputs(
    { x: dy, w: weight, d: dDown, e: factor, ...gradient },
    { transposeW: true, transposeE: true, scale: 1, dropout: update.dropout },
  );
  return dSecond === undefined ? [dFirst!, dDown] : [dFirst!, dDown, dSecond];
}
