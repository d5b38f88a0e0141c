/**
 * Low-rank layers reading one x, some split at their dropout (low-rank-linear.ts's splitsAtDropout), as one op: their
 * outputs and the gradients of x, each A, B and perturbation, the residual, and (with `magnitude`) each split layer's
 * magnitude, which scales its dropped part as DoRA's does. Without a column scale a split layer's
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
  /** Each split layer's dropped part scaled by a magnitude over fixed norms (DoRA's), its gradient taken too. */
  readonly magnitude?: boolean;
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
  // Positive magnitudes and norms about 1, as DoRA's m / ‖W′‖ is at the start.
  const scaled = widths.map((_, l) => c.magnitude === true && split && c.splits[l]!);
  const positive = (width: number) => tf.tensor1d(rng.normalArray(width).map((value) => 1 + 0.2 * Math.abs(value)));
  const magnitudes = widths.flatMap((width, l) => (scaled[l] ? [positive(width)] : []));
  const norms = widths.map((width, l) => (scaled[l] ? positive(width) : undefined));
  // Each layer's own dropout: every split layer has one (the plain ones too, but the second of three).
  const dropouts = widths.map((_, l) => {
    const key = drawKey(rng.nextUint32());
    return c.splits[l] || l !== 1 ? { key, threshold: keepThreshold(0.75), scale: 1 / 0.75 } : undefined;
  });
  const inputs = [x, ...factors, ...perturbation, ...residual, ...magnitudes];
  const magnitudeAt = (l: number) => inputs.length - magnitudes.length + scaled.slice(0, l).filter(Boolean).length;
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
        ...(scaled[l] ? { columnScale: { magnitude: t[magnitudeAt(l)]!, norms: () => norms[l]! } } : {}),
      },
      ...(c.residual && l === last ? { residual: t[inputs.length - magnitudes.length - 1] } : {}),
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
  tf.dispose(norms.filter((norm) => norm !== undefined));
  assert.equal(tf.memory().numTensors, before, 'a tensor outlived the op');
  const labels = [
    ...widths.map((_, l) => `output ${l}`),
    'dx',
    ...widths.flatMap((_, l) => [`dA ${l}`, `dB ${l}`]),
    ...(c.perturbation ? ['dP'] : []),
    ...(c.residual ? ['dResidual'] : []),
    ...widths.flatMap((_, l) => (scaled[l] ? [`dM ${l}`] : [])),
  ];
  return {
    arrays: arrays.map((array) => Array.from(array as Float32Array)),
    labels,
    kernels: profile.kernels.map((kernel) => kernel.name),
  };
}
