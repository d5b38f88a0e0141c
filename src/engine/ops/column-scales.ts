/**
 * Low-rank layers whose product is scaled per output column before their bias and residual are added — DoRA outside
 * dropout, c ⊙ (x·W + s·(x·A)·B) + b with c = m / ‖W + s·A·B‖ — run through the ops written for plain updates: the op
 * computes the product without the bias and residual, then magnitudeScaled scales it (adding the residual where there
 * is no bias between) and the bias and residual follow. Layers without a scale pass through as they are.
 */
import { tf, type Tensor } from '../tf.js';
import { magnitudeScaled, type MagnitudeScale } from './magnitude-scale.js';

/** The part of a layer (LowRankLayer, or a single layer's arguments) that the scaling changes. */
export interface ColumnScaledLayer {
  readonly bias?: Tensor | undefined;
  readonly residual?: Tensor | undefined;
  readonly update: { readonly columnScale?: MagnitudeScale | undefined };
}

/**
 * The outputs `run` gives for `layers`, those with a column scale given to it without their scale, bias and residual
 * and these applied to its output; undefined where `run` declines.
 */
export function withColumnScales<L extends ColumnScaledLayer>(
  layers: readonly L[],
  run: (layers: readonly L[]) => Tensor[] | undefined,
): Tensor[] | undefined {
  if (layers.every((layer) => layer.update.columnScale === undefined)) return run(layers);
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
