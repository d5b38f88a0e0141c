/**
 * A low-rank layer reading an activation of its input: a decoder's down projection reading SwiGLU's gating x =
 * silu(gate)·up, or an encoder's output projection reading x = GELU(h). y = residual + x·W + b + s·((m ⊙ x)·(A +
 * P))·B. On webgpu x is never formed. The forward product reads it from the activation's inputs as it loads its tiles
 * (with t = (m ⊙ x)·A′ inside it, McevalLowRankProductInline — on the few-rows shader for few rows — or by
 * McevalNarrowProduct, which reads x so too, then McevalLowRankProduct): off the tape (generation, scoring) that is
 * all, the activation's kernel (McevalSwiGlu, McevalGelu) left out, a dispatch and the [tokens, intermediate] x. On
 * the tape (one op, gradients to the activation's inputs, A, B, P and the residual; W and b frozen), the input
 * gradient's product writes the activation's input gradients where it would write dx (its `gradientGate` and
 * `gradientUp`, or `gradientInput`), and the weight gradients read x from the activation's inputs too
 * (McevalLowRankWeightGradients): the activation's gradient kernel (McevalSwiGluGrad, McevalGeluGrad) is left out
 * too, and so are x, kept for the backward pass, and its gradient dx. The values are the same expressions as the
 * activation's kernels' (swiglu.ts's, gelu.ts's) in the same products as lowRankLinear's, so the same bits
 * (test/webgpu/activated-training.test.ts, test/webgpu/activated-input.test.ts, test/webgpu/gated-input.test.ts).
 *
 * Only where every part runs on those kernels (activatedLowRankLinear returns undefined otherwise, before drawing
 * anything, and the caller forms the activation first): no column scale (off the tape, DoRA's as factors of B), not
 * split at its dropout (DoRA's under dropout: activated-split-linear.ts's op, where its kernels take it), vec4 shapes,
 * a rank the narrow product takes, and each product's narrow product inside it where lowRankLinear's would be — that
 * inline product then binding one buffer more forward for SwiGLU (gate and up for x) and backward the activation's
 * inputs (and SwiGLU's dUp): nine for SwiGLU, which WebGPU's default eight do not take. MCEVAL_WEBGPU_ACTIVATIONS=apart
 * (activation-setting.ts) forms every activation first.
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
import { flatten, restore } from './linear.js';
import {
  inlineLowRankProduct,
  lowRankProductOutputs,
  outputInlineAttrs,
  type LowRankUpdate,
} from './low-rank-linear.js';
import { narrowProduct } from './narrow-product.js';
import { runOnGiven, type Given } from './run-on-given.js';
import { withColumnScales } from './column-scales.js';
import { tapeRecording } from './tape-recording.js';
import {
  activatedLayerOp,
  activationInputs,
  bindings,
  inputCount,
  rowsOf,
  type Activated,
  type Layer,
  type Reading,
} from './activated-op.js';
import { splitActivatedLowRankLinear } from './activated-split-linear.js';

export type { Activated } from './activated-op.js';

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
 * Whether the kernels that read the activation take the layer at all: the setting, the fused product, no column scale
 * (DoRA's on the tape; off it, withColumnScales has made it factors of B), vec4 shapes and a rank McevalNarrowProduct
 * takes. (A layer split at its dropout goes to activated-split-linear.ts before: activatedLowRankLinear.)
 */
function takesLayer({ weight, update }: Candidate): boolean {
  if (activationSetting() !== 'inside' || !hasKernel(LOW_RANK_PRODUCT)) return false;
  if (update.columnScale !== undefined) return false;
  const [inner, columns] = weight.shape;
  const rank = update.a.shape[1];
  return [inner, columns, rank].every((size) => size % 4 === 0) && rank <= NARROW_PRODUCT_MAX_COLUMNS;
}

/**
 * Where a product of `shape` that reads the activation forms its narrow product — inside it (true) where
 * lowRankLinear's product of x formed would, or by a dispatch of its own (false) — or undefined where the device would
 * not bind it so: `more` buffers beyond the inline product's own, or `separate` in all for the product apart.
 */
function placement(shape: InlineCandidate, more: number, separate: number): boolean | undefined {
  const backend = tf.backend() as unknown as WebGpuBackendLike;
  if (hasKernel(LOW_RANK_PRODUCT_INLINE) && inlinesNarrowProduct(backend, shape))
    return inlinesNarrowProduct(backend, { ...shape, others: shape.others + more }) ? true : undefined;
  return separate <= storageBuffersPerShader(backend) ? false : undefined;
}

/**
 * Where the layer's output, for x of `rows` rows, forms its narrow product reading the activation (placement);
 * undefined where the kernels do not take it. Not inline, McevalLowRankProduct binds the activation's inputs, W, t,
 * B, the bias, the addend and its output.
 */
function forwardPlacement(kind: Activated['kind'], rows: number, candidate: Candidate): boolean | undefined {
  if (!takesLayer(candidate)) return undefined;
  const { weight, update, bias, residual } = candidate;
  const [inner, columns] = weight.shape;
  const others = Number(bias) + Number(residual);
  const shape = { rows, inner, columns, rank: update.a.shape[1], inputMask: update.dropout !== undefined, others };
  return placement(shape, inputCount(kind) - 1, inputCount(kind) + 4 + others);
}

/**
 * How the layer's products run on the kernels that read the activation, trained, for x of `rows` rows; undefined
 * where they do not. Backward, the input gradient's product binds the activation's inputs (and SwiGLU's dUp) beyond
 * its own — not inline dy, W, dDown, A′ and the output besides — and the weight gradients' kernel reads them too.
 */
function planOf(kind: Activated['kind'], rows: number, candidate: Candidate): Plan | undefined {
  if (candidate.update.columnFactors === true) return undefined;
  if (!hasKernel(LOW_RANK_WEIGHT_GRADIENTS) || !splitWeightGradients()) return undefined;
  const forwardInline = forwardPlacement(kind, rows, candidate);
  if (forwardInline === undefined) return undefined;
  const [inner, columns] = candidate.weight.shape;
  const more = inputCount(kind) + Number(kind === 'swiglu');
  const backward = { rows, inner: columns, columns: inner, rank: candidate.update.a.shape[1], inputMask: false };
  const backwardInline = placement({ ...backward, others: 0 }, more, 5 + more);
  return backwardInline === undefined ? undefined : { forwardInline, backwardInline };
}

/** McevalNarrowProduct's (m ⊙ x)·A′ with x read as an activation of its inputs (narrow-product.ts's op takes x). */
const activatedNarrowProduct = (inputs: Given<LeftInputs & { w: unknown }>, attrs: NarrowProductAttrs) =>
  runOnGiven(NARROW_PRODUCT, inputs, attrs) as Tensor2D;

/** What the placements weigh of a layer. */
const candidateOf = (weight: Tensor2D, { bias, residual, update }: Layer): Candidate => ({
  weight,
  update,
  bias: bias !== undefined,
  residual: residual !== undefined,
});

/**
 * residual + x·W + b + s·((m ⊙ x)·(A + P))·B for x the activation of `activated` ([..., in] each) and a frozen W [in,
 * out] and b; undefined where its kernels do not take the layer (module comment), having drawn nothing. On the tape,
 * one op with its gradients; off the tape (generation, scoring), the forward product alone, a DoRA layer's column
 * scale applied as factors of B where withColumnScales gives them (lowRankLinear's own way off the tape).
 */
export function activatedLowRankLinear(
  activated: Activated,
  weight: Tensor2D,
  bias: Tensor | undefined,
  update: LowRankUpdate,
  residual?: Tensor,
): Tensor | undefined {
  const like = activationInputs(activated);
  const rows = rowsOf(like, weight);
  if (rows === undefined) return undefined;
  const reading = { kind: activated.kind, like, rows, weight };
  // A layer split at its dropout (DoRA's in training) runs as one op of its own where its kernels take it, else it is
  // lowRankLinears' to split and scale.
  if (update.splitAtDropout === true)
    return tapeRecording() ? splitActivatedLowRankLinear(reading, { bias, residual, update }) : undefined;
  if (tapeRecording()) return trainedLowRankLinear(reading, { bias, residual, update });
  return withColumnScales([{ bias, residual, update }], ([layer]) => {
    const output = forwardLowRankLinear(reading, layer!);
    return output === undefined ? undefined : [output];
  })?.[0];
}

/** activatedLowRankLinear off the tape, for an update without a column scale (its factors in B, or none). */
function forwardLowRankLinear({ kind, like, rows, weight }: Reading, layer: Layer): Tensor | undefined {
  const inline = forwardPlacement(kind, rows, candidateOf(weight, layer));
  if (inline === undefined) return undefined;
  const { bias, residual, update } = layer;
  return tf.tidy(() => {
    const { a, b, perturbation } = update;
    const operands = {
      weight,
      factor: perturbation === undefined ? a : (tf.add(a, perturbation) as Tensor2D),
      b,
      bias: bias === undefined ? undefined : (tf.reshape(bias, [-1]) as Tensor1D),
      addend: residual === undefined ? undefined : flatten(residual),
    };
    const [value] = activatedOutput(kind, like.map(flatten), operands, update, inline);
    return restore(value, like[0]!);
  });
}

/** activatedLowRankLinear on the tape: one op (activatedLayerOp). */
function trainedLowRankLinear(reading: Reading, layer: Layer): Tensor | undefined {
  const { kind, rows, weight } = reading;
  const plan = planOf(kind, rows, candidateOf(weight, layer));
  if (plan === undefined) return undefined;
  const { bias, update } = layer;
  const flatBias = bias === undefined ? undefined : (tf.reshape(bias, [-1]) as Tensor1D);
  const output = activatedLayerOp(reading, layer, [], {
    forward: ({ flats, factor, b, addend }) => {
      const operands = { weight, factor, b, bias: flatBias, addend };
      const [value, down] = activatedOutput(kind, flats, operands, update, plan.forwardInline);
      return { value, down };
    },
    backward: ({ dy, gradient, factor, b }) => ({
      products: plan.backwardInline
        ? inlineLowRankProduct(
            { x: dy, w: weight, n: b, e: factor, ...gradient },
            {
              transposeW: true,
              transposeN: true,
              transposeE: true,
              narrowScale: update.scaling,
              scale: 1,
              dropout: update.dropout,
            },
          )
        : separateGradients(dy, gradient, { weight, factor, b }, update),
      dy,
    }),
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
 * [y, t]: the output and t = (m ⊙ x)·A′, x read from the activation's inputs (`flats`, flattened) — in one dispatch
 * (`inline`), or by dispatches of their own in lowRankLinear's separate products' order.
 */
function activatedOutput(
  kind: Activated['kind'],
  flats: readonly Tensor2D[],
  operands: Operands,
  update: LowRankUpdate,
  inline: boolean,
): [Tensor2D, Tensor2D] {
  const { weight, factor, b, bias, addend } = operands;
  const { left } = bindings(kind, flats);
  if (inline) {
    const [value, down] = inlineLowRankProduct(
      { ...left, w: weight, n: factor, e: b, bias, addend },
      { ...outputInlineAttrs(update), inputDropout: update.dropout },
    );
    return [value, down];
  }
  const down = activatedNarrowProduct({ ...left, w: factor }, { transposeW: false, scale: 1, dropout: update.dropout });
  const [value] = lowRankProductOutputs(
    { ...left, w: weight, d: down, e: b, bias, addend },
    { transposeW: false, transposeE: false, scale: update.scaling, columnFactors: update.columnFactors === true },
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
