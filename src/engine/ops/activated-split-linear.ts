/**
 * A layer split at its dropout (DoRA's in training: low-rank-linear.ts's splitsAtDropout) that reads an activation of
 * its input — a decoder's down projection SwiGLU's gating, an encoder's output projection GELU — as one op whose
 * kernels read x from the activation's inputs, as activated-low-rank-linear.ts's do for a LoRA layer: the output
 * y = x_r·W + b + residual + c ⊙ (x_d·W + s·(x_d·A′)·B), x_d = m ⊙ x and x_r = (1 − m) ⊙ x, c = magnitude / norms,
 * is one inline product reading x through m and through 1 − m, its rest alongside and its scaling inside (the dropped
 * part written beside it for c's gradient); backward, McevalMagnitudeScaleGrad, then one inline product whose rest
 * alongside reads dy and which writes the activation's input gradients where it would write dx, and the weight
 * gradients reading x from the activation's inputs through m. Apart, the activation and its gradient were two
 * dispatches of their own, and x and dx two [tokens, in] tensors. The same expressions in the same order as the
 * activation's kernels followed by lowRankLinears' split op, so the same bits (test/webgpu/activated-training.test.ts).
 *
 * Only where all of it runs so (splitTakes): the activation read inside (MCEVAL_WEBGPU_ACTIVATIONS), the rests
 * alongside (MCEVAL_WEBGPU_RESTS), a column scale to scale by, vec4 shapes, the weight gradients' kernels, and the
 * device binding each way's buffers (eleven forward for SwiGLU with a residual: gate, up, W, A′, B, t, the output, the
 * dropped part, m, the norms and the residual). Elsewhere the activation is formed first and lowRankLinears splits the
 * layer.
 */
import { tf, type Tensor, type Tensor1D, type Tensor2D } from '../tf.js';
import { hasKernel } from '../kernels/has-kernel.js';
import { activationSetting } from '../activation-setting.js';
import { LOW_RANK_PRODUCT_INLINE } from '../kernels/webgpu/low-rank-product.js';
import { LOW_RANK_WEIGHT_GRADIENTS, splitWeightGradients } from '../kernels/webgpu/weight-gradients.js';
import { inlineLowRankProduct, outputInlineAttrs, restAlongside } from './low-rank-linear.js';
import { magnitudeScaleGradient } from './magnitude-scale.js';
import { activatedLayerOp, bindings, inputCount, type Layer, type Reading } from './activated-op.js';

/** Whether the split layer's op runs as the module comment says, for x of `rows` rows read from the activation. */
function splitTakes({ kind, rows, weight }: Reading, { bias, residual, update }: Layer): boolean {
  if (activationSetting() !== 'inside' || !hasKernel(LOW_RANK_PRODUCT_INLINE)) return false;
  if (!hasKernel(LOW_RANK_WEIGHT_GRADIENTS) || !splitWeightGradients()) return false;
  if (update.dropout === undefined || update.columnScale === undefined || update.columnFactors === true) return false;
  const [inner, columns] = weight.shape;
  const rank = update.a.shape[1];
  if (![inner, columns, rank].every((size) => size % 4 === 0)) return false;
  const dropout = { hash: update.dropout };
  // Forward, beyond x's one binding: the activation's other inputs, the bias, the residual, m and the norms.
  const forwardOthers = inputCount(kind) - 1 + Number(bias !== undefined) + Number(residual !== undefined) + 2;
  // Backward: the activation's inputs, read to write their gradients, and SwiGLU's dUp.
  const backwardOthers = inputCount(kind) + Number(kind === 'swiglu');
  // Inline, each way saves the activation's dispatch (or its gradient's) besides the narrow product's and the rest's,
  // and forward the scaling's.
  return (
    restAlongside(dropout, { rows, inner, columns, rank, others: forwardOthers, dispatchesSaved: 4 }) &&
    restAlongside(dropout, { rows, inner: columns, columns: inner, rank, others: backwardOthers, dispatchesSaved: 3 })
  );
}

/** The split layer's output as one op (module comment); undefined, having run nothing, where splitTakes says not. */
export function splitActivatedLowRankLinear(reading: Reading, layer: Layer): Tensor | undefined {
  if (!splitTakes(reading, layer)) return undefined;
  const { kind, weight } = reading;
  const { bias, update } = layer;
  const hash = update.dropout!;
  const scale = update.columnScale!;
  const flatBias = bias === undefined ? undefined : (tf.reshape(bias, [-1]) as Tensor1D);
  const output = activatedLayerOp(reading, layer, [scale.magnitude], {
    forward: ({ flats, factor, b, addend, more: [magnitude] }) => {
      // The norms formed here, off the tape, as magnitudeScaled forms them.
      const norms = scale.norms();
      const [value, down, dropped] = inlineLowRankProduct(
        { ...bindings(kind, flats).left, w: weight, n: factor, e: b, bias: flatBias, addend, magnitude, norms },
        { ...outputInlineAttrs(update), droppedInput: hash, restAlongside: 'input', magnitudeScaled: true },
      );
      return { value, down, saved: [dropped!, magnitude!, norms] };
    },
    backward: ({ dy, gradient, factor, b, saved: [dropped, magnitude, norms] }) => {
      // The output's gradient is the rest's; the dropped part's, and the magnitude's, are magnitudeScaled's.
      const [dDropped, dMagnitude] = magnitudeScaleGradient(dy, dropped!, magnitude!, norms!, 0);
      const products = inlineLowRankProduct(
        { x: dDropped as Tensor2D, w: weight, n: b, e: factor, restInput: dy, ...gradient },
        {
          transposeW: true,
          transposeN: true,
          transposeE: true,
          narrowScale: update.scaling,
          scale: 1,
          dropout: hash,
          maskedSum: true,
          restAlongside: 'gradient',
        },
      );
      return { products, dy: dDropped as Tensor2D, more: [dMagnitude] };
    },
  });
  flatBias?.dispose();
  return output;
}
