/**
 * Low-rank layers reading one x, some split at their dropout (low-rank-linear.ts's splitsAtDropout), as one op: their
 * outputs and the gradients of x, each A, B and perturbation, and the residual. Without a column scale a split layer's
 * output, rest + dropped, is the unsplit layer's x·W + b + s·((m ⊙ x)·A′)·B (+ residual) summed another way, so the
 * same case with `split` off is its reference. Shared by split-dropout.test.ts (wasm, cpu) and
 * webgpu/split-dropout.test.ts (webgpu against wasm).
 */
import assert from 'node:assert/strict';
import { Rng } from '../src/engine/rng.js';
import { tf, type Tensor, type Tensor2D } from '../src/engine/tf.js';
import { lowRankLinears, type LowRankLayer } from '../src/engine/ops/low-rank-linear.js';
import { keepThreshold } from '../src/engine/dropout-bits.js';
import { drawKey } from '../src/engine/counter-hash.js';

export interface SplitCase {
  readonly tokens: number;
  readonly inFeatures: number;
  /** Each layer's output width. */
  readonly widths: readonly number[];
  readonly rank: number;
  /** Per layer: split at its dropout (else a plain LoRA layer, with a dropout of its own where `dropouts` says). */
  readonly splits: readonly boolean[];
  /** The first layer has a bias, the last a residual, the second (or only) a perturbation of A. */
  readonly bias: boolean;
  readonly residual: boolean;
  readonly perturbation: boolean;
}

/** What a run gives: the outputs, then x's gradient, each layer's A's and B's (and P's), then the residual's. */
export interface SplitOutcome {
  readonly arrays: number[][];
  readonly labels: string[];
  /** The kernels the forward and backward passes ran (tf.profile's names). */
  readonly kernels: string[];
}

/** The case's layers as one op (with `split` false, none split) on the current backend; leaves no tensor behind. */
export async function runSplitCase(c: SplitCase, split = true): Promise<SplitOutcome> {
  const before = tf.memory().numTensors;
  const rng = new Rng(12);
  const matrix = (rows: number, columns: number) =>
    tf.tensor2d(rng.normalArray(rows * columns), [rows, columns]) as Tensor2D;
  const widths = c.widths;
  const last = widths.length - 1;
  const perturbed = Math.min(1, last);
  const x = tf.tensor3d(rng.normalArray(2 * c.tokens * c.inFeatures), [2, c.tokens, c.inFeatures]);
  const weights = widths.map((width) => matrix(c.inFeatures, width));
  const bias = c.bias ? tf.tensor1d(rng.normalArray(widths[0]!)) : undefined;
  const factors = widths.flatMap((width) => [matrix(c.inFeatures, c.rank), matrix(c.rank, width)]);
  const perturbation = c.perturbation ? [matrix(c.inFeatures, c.rank)] : [];
  const residual = c.residual
    ? [tf.tensor3d(rng.normalArray(2 * c.tokens * widths[last]!), [2, c.tokens, widths[last]!])]
    : [];
  const upstreams = widths.map((width) => tf.tensor3d(rng.normalArray(2 * c.tokens * width), [2, c.tokens, width]));
  // Each layer's own dropout: every split layer has one (the plain ones too, but the second of three).
  const dropouts = widths.map((_, l) => {
    const key = drawKey(rng.nextUint32());
    return c.splits[l] || l !== 1 ? { key, threshold: keepThreshold(0.75), scale: 1 / 0.75 } : undefined;
  });
  const inputs = [x, ...factors, ...perturbation, ...residual];
  const layers = (t: readonly Tensor[]): LowRankLayer[] =>
    widths.map((_, l) => ({
      weight: weights[l]!,
      bias: l === 0 ? bias : undefined,
      update: {
        a: t[1 + 2 * l] as Tensor2D,
        b: t[2 + 2 * l] as Tensor2D,
        scaling: 1.5 + l,
        ...(dropouts[l] === undefined ? {} : { dropout: dropouts[l] }),
        ...(c.perturbation && l === perturbed ? { perturbation: t[1 + 2 * widths.length] as Tensor2D } : {}),
        ...(split && c.splits[l] ? { splitAtDropout: true } : {}),
      },
      ...(c.residual && l === last ? { residual: t[t.length - 1] } : {}),
    }));
  const loss = (...t: Tensor[]) =>
    tf.addN(lowRankLinears(t[0]!, layers(t)).map((output, l) => tf.sum(tf.mul(output, upstreams[l]!))));
  let step: { value: Tensor; grads: Tensor[] } | undefined;
  const profile = await tf.profile(() => {
    step = tf.valueAndGrads(loss)(inputs);
  });
  const { value, grads } = step!;
  const outputs = tf.tidy(() => lowRankLinears(x, layers(inputs)));
  const arrays = await Promise.all([...outputs, ...grads].map((t) => t.data()));
  tf.dispose([...inputs, ...weights, ...upstreams, value, ...outputs, ...grads, ...(bias ? [bias] : [])]);
  assert.equal(tf.memory().numTensors, before, 'a tensor outlived the op');
  const labels = [
    ...widths.map((_, l) => `output ${l}`),
    'dx',
    ...widths.flatMap((_, l) => [`dA ${l}`, `dB ${l}`]),
    ...(c.perturbation ? ['dP'] : []),
    ...(c.residual ? ['dResidual'] : []),
  ];
  return {
    arrays: arrays.map((array) => Array.from(array as Float32Array)),
    labels,
    kernels: profile.kernels.map((kernel) => kernel.name),
  };
}
