/**
 * Low-rank layers whose product is scaled per output column before their bias and residual are added — DoRA outside
 * dropout, c ⊙ (x·W + s·(x·A)·B) + b with c = m / ‖W + s·A·B‖ — run through the ops written for plain updates. On the
 * tape, or where the layers give no factored B: the op computes the product without the bias and residual, then
 * magnitudeScaled scales it (adding the residual where there is no bias between) and the bias and residual follow.
 * Off the tape on webgpu, where every scaled layer gives B with its factors as one more row (made once per call), the
 * op's products scale their columns as they write them, before the bias and residual: a decoding step's DoRA layers
 * take no dispatch more than LoRA's. Layers without a scale pass through as they are.
 */
import { tf, type Tensor, type Tensor2D } from '../tf.js';
import { hasKernel } from '../kernels/has-kernel.js';
import { LOW_RANK_PRODUCT } from '../kernels/webgpu/low-rank-product.js';
import { magnitudeScaled, type MagnitudeScale } from './magnitude-scale.js';
import { tapeRecording } from './tape-recording.js';

/** The part of a layer (LowRankLayer, or a single layer's arguments) that the scaling changes. */
export interface ColumnScaledLayer {
  readonly bias?: Tensor | undefined;
  readonly residual?: Tensor | undefined;
  readonly update: ColumnScaledUpdate;
}

/** The part of a low-rank update that the scaling changes. */
export interface ColumnScaledUpdate {
  readonly b: Tensor2D;
  readonly columnScale?: MagnitudeScale | undefined;
  /**
   * B [r, out] with one more row, columnScale's m / n per output column, made once per call (where the call shares
   * constants) — for a pass off the tape, whose products scale their columns as they write them.
   */
  readonly factoredB?: (() => Tensor2D) | undefined;
  /** `b` is such a factored B (one more row than the rank): the op's products apply the factors (ColumnFactorsAttrs). */
  readonly columnFactors?: boolean | undefined;
  /**
   * The layer is split at its dropout (low-rank-linear.ts's splitsAtDropout: DoRA under dropout), the scale
   * multiplying its dropped part alone: lowRankLinears applies it, not withColumnScales.
   */
  readonly splitAtDropout?: boolean | undefined;
}

/**
 * The outputs `run` gives for `layers`, those with a column scale given to it with their factored B where it takes
 * the factors, else without their scale, bias and residual, and these applied to its output; undefined where `run`
 * declines.
 */
export function withColumnScales<L extends ColumnScaledLayer>(
  layers: readonly L[],
  run: (layers: readonly L[]) => Tensor[] | undefined,
): Tensor[] | undefined {
  if (layers.some((layer) => layer.update.splitAtDropout === true))
    throw new Error('withColumnScales: a layer split at its dropout is scaled by lowRankLinears');
  const scaled = layers.filter((layer) => layer.update.columnScale !== undefined);
  if (scaled.length === 0) return run(layers);
  if (!tapeRecording() && hasKernel(LOW_RANK_PRODUCT) && scaled.every((layer) => layer.update.factoredB !== undefined))
    return run(layers.map((layer) => factored(layer)));
  const plain = layers.map((layer) =>
    layer.update.columnScale === undefined
      ? layer
      : { ...layer, bias: undefined, residual: undefined, update: { ...layer.update, columnScale: undefined } },
  );
  const outputs = run(plain);
  return outputs?.map((output, l) => {
    const { bias, residual, update } = layers[l]!;
    if (update.columnScale === undefined) return output;
    // residual + c ⊙ z is Linear.forward's tf.add(residual, output) where there is no bias.
    if (bias === undefined) return magnitudeScaled(output, update.columnScale, 0, residual);
    const biased = tf.add(magnitudeScaled(output, update.columnScale, 0), bias);
    return residual === undefined ? biased : tf.add(residual, biased);
  });
}

/** The layer with its factored B in place of B, where it has a column scale. */
function factored<L extends ColumnScaledLayer>(layer: L): L {
  const { update } = layer;
  if (update.columnScale === undefined) return layer;
  const b = update.factoredB!();
  return { ...layer, update: { ...update, b, columnScale: undefined, factoredB: undefined, columnFactors: true } };
}
