/**
 * A low-rank layer reading SwiGLU's gating x = silu(gate)·up (a decoder's down projection), trained, as one op on
 * the tape: y = residual + x·W + s·((m ⊙ x)·(A + P))·B, with gradients to gate, up, A, B, P and the residual. On webgpu
 * x is never formed. The forward product reads it from gate and up as it loads its tiles (with t = (m ⊙ x)·A′ inside
 * it, McevalLowRankProductInline, or by McevalNarrowProduct, which reads x so too, then McevalLowRankProduct), the
 * input gradient's product writes dGate and dUp where it would write dx (its `gradientGate` and `gradientUp`), and the
 * weight gradients read x from gate and up too (McevalLowRankWeightGradients). McevalSwiGlu and McevalSwiGluGrad, a
 * dispatch each, are left out, and so are the [tokens, intermediate] x kept for the backward pass and its gradient dx.
 * The values are the same expressions as gating first and then lowRankLinear (swiglu.ts's) in the same products, so
 * the same bits (test/webgpu/gated-training.test.ts).
 *
 * Only where every part runs on those kernels (gatedLowRankLinearTrained returns undefined otherwise, before drawing
 * anything, and the caller gates first): no bias, no column scale, not split at its dropout, vec4 shapes, a rank the
 * narrow product takes, and each product's narrow product inside it where lowRankLinear's would be — that inline
 * product then binding one buffer more forward (gate and up for x) and three backward (gate, up and dUp), nine in all,
 * which WebGPU's default eight do not take. MCEVAL_WEBGPU_GATING=apart (gating-setting.ts) forms the gating first
 * everywhere, as before this op.
 */
import { tf, type Tensor, type Tensor2D } from '../tf.js';
import { hasKernel } from '../kernels/has-kernel.js';
import { gatingSetting } from '../gating-setting.js';
import {
  LOW_RANK_PRODUCT,
  LOW_RANK_PRODUCT_INLINE,
  inlinesNarrowProduct,
  type GatedProductInputs,
  type InlineCandidate,
  type InlineProductAttrs,
  type InlineProductInputs,
  type LeftInputs,
  type LowRankProductAttrs,
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
import { outputInlineAttrs, type LowRankUpdate } from './low-rank-linear.js';
import { kernelWeightGradients } from './low-rank-weight-gradients.js';
import { runOnGiven, type Given } from './run-on-given.js';

/** Where each of the layer's products forms its narrow product: inside itself, or by a dispatch of its own. */
interface Plan {
  readonly forwardInline: boolean;
  readonly backwardInline: boolean;
}

/**
 * How the layer's products run on the kernels that read the gating, on this device, for x of `rows` rows; undefined
 * where they do not. Each is inline where lowRankLinear's would be for x formed first (so that the values are the same
 * bits), and then only where the device also binds the gating's buffers.
 */
function planOf(rows: number, weight: Tensor2D, update: LowRankUpdate, residual: boolean): Plan | undefined {
  if (gatingSetting() !== 'inside') return undefined;
  if (!hasKernel(LOW_RANK_PRODUCT) || !hasKernel(LOW_RANK_WEIGHT_GRADIENTS) || !splitWeightGradients())
    return undefined;
  if (update.columnScale !== undefined || update.columnFactors === true || update.splitAtDropout === true)
    return undefined;
  const [inner, columns] = weight.shape;
  const rank = update.a.shape[1];
  // The gating is read as vec4s, and the narrow products run on McevalNarrowProduct where not inline.
  if ([inner, columns, rank].some((size) => size % 4 !== 0) || rank > NARROW_PRODUCT_MAX_COLUMNS) return undefined;
  const backend = tf.backend() as unknown as WebGpuBackendLike;
  const inlined = (shape: InlineCandidate, more: number) =>
    !hasKernel(LOW_RANK_PRODUCT_INLINE) || !inlinesNarrowProduct(backend, shape)
      ? false
      : inlinesNarrowProduct(backend, { ...shape, others: shape.others + more })
        ? true
        : undefined;
  // Forward: gate and up in x's place (one binding more). Backward: gate, up and dUp beside dy's product.
  const forward = { rows, inner, columns, rank, inputMask: update.dropout !== undefined, others: Number(residual) };
  const forwardInline = inlined(forward, 1);
  const backwardInline = inlined({ rows, inner: columns, columns: inner, rank, inputMask: false, others: 0 }, 3);
  if (forwardInline === undefined || backwardInline === undefined) return undefined;
  // Not inline: McevalLowRankProduct binds gate, up, W, t, B, the addend and its output; dy, W, dDown, A′, gate, up,
  // dUp and dGate.
  const bound = storageBuffersPerShader(backend);
  if ((!forwardInline && 6 + Number(residual) > bound) || (!backwardInline && 8 > bound)) return undefined;
  return { forwardInline, backwardInline };
}

/** The inline product's outputs for these inputs, as tensors (runOnGiven leaves out those not given). */
const inline = (inputs: Given<InlineProductInputs>, attrs: InlineProductAttrs) =>
  runOnGiven(LOW_RANK_PRODUCT_INLINE, inputs, attrs) as unknown as Tensor2D[];

/** McevalLowRankProduct's output (and dUp, for the gating's gradient). */
const product = (inputs: Given<GatedProductInputs>, attrs: LowRankProductAttrs) =>
  [runOnGiven(LOW_RANK_PRODUCT, inputs, attrs)].flat() as Tensor2D[];

/** McevalNarrowProduct's scale · (mask ⊙ x)·W′, x given or gated. */
const narrow = (inputs: Given<LeftInputs & { w: unknown }>, attrs: NarrowProductAttrs) =>
  runOnGiven(NARROW_PRODUCT, inputs, attrs) as Tensor2D;

/**
 * residual + silu(gate)·up·W + s·((m ⊙ silu(gate)·up)·(A + P))·B for a frozen W [in, out] without a bias, gate and
 * up [..., in], on the tape; undefined where its kernels do not take the layer (module comment), having drawn nothing.
 */
export function gatedLowRankLinearTrained(
  gate: Tensor,
  up: Tensor,
  weight: Tensor2D,
  update: LowRankUpdate,
  residual?: Tensor,
): Tensor | undefined {
  const inFeatures = weight.shape[0];
  if (gate.shape[gate.shape.length - 1] !== inFeatures || gate.shape.join() !== up.shape.join()) return undefined;
  const plan = planOf(gate.size / inFeatures, weight, update, residual !== undefined);
  if (plan === undefined) return undefined;
  const hash = update.dropout;
  const perturbed = update.perturbation !== undefined;
  const inputs = [
    gate,
    up,
    update.a,
    update.b,
    ...(perturbed ? [update.perturbation!] : []),
    ...(residual === undefined ? [] : [residual]),
  ];
  const [output] = runMultiOutputOp(inputs, {
    forward: ([g, u, a, b, ...rest], save) => {
      const [gs, us] = [flatten(g!), flatten(u!)];
      const perturbation = perturbed ? (rest.shift() as Tensor2D) : undefined;
      const addend = rest.length > 0 ? flatten(rest[0]!) : undefined;
      const factor = perturbation === undefined ? (a as Tensor2D) : (tf.add(a!, perturbation) as Tensor2D);
      const [value, down] = plan.forwardInline
        ? inline(
            { gate: gs, up: us, w: weight, n: factor, e: b, addend },
            { ...outputInlineAttrs(update), inputDropout: hash },
          )
        : separateOutput(gs, us, weight, factor, b as Tensor2D, update, addend);
      save([gs, us, factor, b!, down!]);
      return [restore(value!, g!)];
    },
    backward: ([upstream], saved) => {
      const [gs, us, factor, b, down] = saved as Tensor2D[];
      const dy = flatten(upstream!);
      const [dGate, dDown, dUp] = plan.backwardInline
        ? inline(
            { x: dy, w: weight, n: b, e: factor, gradientGate: gs, gradientUp: us },
            {
              transposeW: true,
              transposeN: true,
              transposeE: true,
              narrowScale: update.scaling,
              scale: 1,
              dropout: hash,
            },
          )
        : separateGradients(dy, weight, factor!, b!, update, gs!, us!);
      const dropout = hash === undefined ? undefined : { hash };
      const [[dA, dB]] = kernelWeightGradients({ gate: gs!, up: us! }, [
        { dropout, dDown: dDown!, down: down!, dy, dyScale: update.scaling },
      ]) as [[Tensor2D, Tensor2D]];
      // A perturbation added to A receives A's gradient, as a clone (multi-output.ts), and the residual the output's.
      return [
        restore(dGate!, gate),
        restore(dUp!, up),
        dA!,
        dB!,
        ...(perturbed ? [tf.clone(dA!)] : []),
        ...(residual === undefined ? [] : [tf.reshape(upstream!, residual.shape)]),
      ];
    },
  });
  return output;
}

/**
 * [y, t]: the output and t = (m ⊙ x)·A′ by dispatches of their own, x read from gate and up — lowRankLinear's
 * separate products' order.
 */
function separateOutput(
  gate: Tensor2D,
  up: Tensor2D,
  weight: Tensor2D,
  factor: Tensor2D,
  b: Tensor2D,
  update: LowRankUpdate,
  addend: Tensor2D | undefined,
): Tensor2D[] {
  const down = narrow({ gate, up, w: factor }, { transposeW: false, scale: 1, dropout: update.dropout });
  const [value] = product(
    { gate, up, w: weight, d: down, e: b, addend },
    { transposeW: false, transposeE: false, scale: update.scaling },
  );
  return [value!, down];
}

/** [dGate, dDown, dUp] with dDown = s·dy·Bᵀ by a dispatch of its own, as lowRankLinear's separate gradients run. */
function separateGradients(
  dy: Tensor2D,
  weight: Tensor2D,
  factor: Tensor2D,
  b: Tensor2D,
  update: LowRankUpdate,
  gate: Tensor2D,
  up: Tensor2D,
): Tensor2D[] {
  const dDown = narrow({ x: dy, w: b }, { transposeW: true, scale: update.scaling });
  const [dGate, dUp] = product(
    { x: dy, w: weight, d: dDown, e: factor, gradientGate: gate, gradientUp: up },
    { transposeW: true, transposeE: true, scale: 1, dropout: update.dropout },
  );
  return [dGate!, dDown, dUp!];
}
