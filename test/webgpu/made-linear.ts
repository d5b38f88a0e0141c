/**
 * Frozen linear layers for the webgpu tests of a layer's forward paths: weights from a seeded generator, optionally a
 * bias and a LoRA-like adapter (A, B, scaling 2) whose update the low-rank op runs, optionally scaled per output column
 * as DoRA's is (a magnitude over positive norms).
 */
import type { Rng } from '../../src/engine/rng.js';
import { tf, type Tensor, type Tensor2D } from '../../src/engine/tf.js';
import { Linear, type LinearAdapter } from '../../src/models/layers/linear.js';

export interface MadeLinear {
  readonly linear: Linear;
  /** Its variables and factors, to dispose. */
  readonly tensors: Tensor[];
}

export function madeLinear(
  rng: Rng,
  [inner, outFeatures]: readonly [number, number],
  options: { rank?: number; bias?: boolean; scaled?: boolean } = {},
): MadeLinear {
  const matrix = (r: number, c: number) => tf.tensor2d(rng.normalArray(r * c), [r, c]);
  // A variable shares its initial tensor's data; the tensor itself goes with the tidy scope.
  const frozen = (make: () => Tensor) => tf.tidy(() => tf.variable(make(), false));
  const weight = frozen(() => matrix(inner, outFeatures));
  const bias = options.bias ? frozen(() => tf.tensor1d(rng.normalArray(outFeatures))) : undefined;
  const linear = new Linear('layer', weight, bias);
  const factors = options.rank === undefined ? [] : [matrix(inner, options.rank), matrix(options.rank, outFeatures)];
  const scale = options.scaled
    ? [tf.tensor1d(rng.normalArray(outFeatures)), tf.tensor1d(rng.uniformArray(outFeatures, 0.5, 2))]
    : [];
  if (options.rank !== undefined) {
    const [a, b] = factors as [Tensor2D, Tensor2D];
    const [magnitude, norms] = scale;
    // The norms' clone shares their buffer: no dispatch, so that a test counts the scaling's own.
    const columnScale = magnitude === undefined ? {} : { columnScale: { magnitude, norms: () => tf.clone(norms!) } };
    const adapter: LinearAdapter = {
      forward: () => {
        throw new Error('the generic path is not taken by a low-rank update');
      },
      lowRankUpdate: () => ({ a, b, scaling: 2, ...columnScale }),
    };
    linear.adapter = adapter;
  }
  return { linear, tensors: [weight, ...(bias === undefined ? [] : [bias]), ...factors, ...scale] };
}
