/**
 * MonteCLoRA's draw and regulariser as one op on webgpu (peft/monteclora/fused-draw.ts) against the same maths apart:
 * Σ, ε√Σ and the logistic-normal weights (draw-scales.ts) and the regulariser's terms and weighted mean on them —
 * the float64 host terms on wasm (within 2e-5 of each output's largest value, as regularizer.test.ts), and webgpu's own
 * kernels apart (the same bits: each value is the same sum in the same order) — with the gradients in s and p of a loss
 * that reads all five outputs. Σ under its 1e-3 clamp, a concentration under its 1e-6 clamp, one and several outer
 * samples, the paper's and the published code's Dirichlet sign, a random prior tensor. One dispatch each way.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine } from '../../src/engine/backends.js';
import { Rng } from '../../src/engine/rng.js';
import { tf, type Tensor } from '../../src/engine/tf.js';
import { fusedDraw, hasFusedDraw } from '../../src/peft/monteclora/fused-draw.js';
import { groupMixtureWeights, sampleCovariance } from '../../src/peft/monteclora/draw-scales.js';
import { kernelRegularizer } from '../../src/peft/monteclora/kernel-regularizer.js';
import { concentration } from '../../src/peft/monteclora/mixture-weights.js';
import { hostRegularizerTerms } from '../../src/peft/monteclora/host-regularizer.js';
import { FUSED_DRAW, FUSED_DRAW_GRAD } from '../../src/engine/kernels/webgpu/fused-draw.js';
import { assertAgree } from './agreement.js';
import { dispatchesOf } from './dispatches.js';

interface Case {
  readonly L: number;
  readonly M: number;
  readonly N: number;
  readonly r: number;
  readonly referenceSign: boolean;
  readonly randomPrior: boolean;
}

const TERM_WEIGHTS = [0.2, 0.2, 0.2, 1] as const;
const SCALE = 0.3;

type Mode = 'fused' | 'apart';

/** The five outputs and the gradients in s and p, by the op or apart, on the current backend. */
async function evaluate(c: Case, mode: Mode): Promise<{ values: number[][]; dispatches: number }> {
  const { L, M, N, r } = c;
  const before = tf.memory().numTensors;
  const rng = new Rng(44);
  const chiSquare = rng.uniformArray(L * M * r, 0.2, 12);
  chiSquare[1] = 1e-4; // e^{2s}·c under 1e-3: Σ clamped, no gradient through it
  const p = rng.uniformArray(L * N, -2, 2);
  p[N] = -16; // e^p < 1e-6: α clamped, no gradient through it
  const s = tf.tensor2d(rng.uniformArray(L * r, -1, 1), [L, r]);
  const pTensor = tf.tensor2d(p, [L, N]);
  const chi = tf.tensor3d(chiSquare, [L, M, r]);
  const noise = tf.tensor3d(rng.normalArray(L * M * N), [L, M, N]);
  const prior = c.randomPrior ? tf.tensor2d(rng.uniformArray(L * N, 0.5, 2), [L, N]) : 0.7;
  const upstream = [r, r, N].map((width, i) => tf.tensor3d(new Rng(50 + i).normalArray(L * M * width), [L, M, width]));
  const termUpstream = tf.tensor1d([0.3, -1.1, 0.7, 2.0]);
  const shape = { components: N, outerSamples: M, referenceSign: c.referenceSign };
  const outputs = (sIn: Tensor, pIn: Tensor): Tensor[] => {
    if (mode === 'fused') {
      const attrs = { scale: SCALE, referenceSign: c.referenceSign, termWeights: TERM_WEIGHTS };
      const drawn = fusedDraw(sIn, pIn, { chiSquare: chi, noise }, prior, attrs);
      return [drawn.covariance, drawn.columnScale, drawn.weights, drawn.terms, drawn.total];
    }
    const { covariance, columnScale } = sampleCovariance(sIn, chi, SCALE);
    const weights = groupMixtureWeights(pIn, noise);
    const inputs = {
      covariance: tf.reshape(covariance, [L * M, r]),
      weights: tf.reshape(weights, [L * M, N]),
      s: sIn,
      p: pIn,
    };
    if (tf.getBackend() === 'webgpu') {
      const { terms, total } = kernelRegularizer(inputs, prior, shape, TERM_WEIGHTS);
      return [covariance, columnScale, weights, terms, total];
    }
    const terms = hostRegularizerTerms(inputs.covariance, inputs.weights, sIn, concentration(pIn), prior, shape);
    return [covariance, columnScale, weights, terms, tf.div(tf.sum(tf.mul(terms, tf.tensor1d([...TERM_WEIGHTS]))), L)];
  };
  const loss = (sIn: Tensor, pIn: Tensor) => {
    const [covariance, columnScale, weights, terms, total] = outputs(sIn, pIn);
    const drawn = [covariance!, columnScale!, weights!].map((t, i) => tf.sum(tf.mul(t, upstream[i]!)));
    return tf.addN([...drawn, tf.sum(tf.mul(terms!, termUpstream)), tf.mul(total!, 1.7)]);
  };
  let step: { value: Tensor; grads: Tensor[] } | undefined;
  const run = () => (step = tf.valueAndGrads(loss)([s, pTensor]));
  const dispatches = tf.getBackend() === 'webgpu' ? dispatchesOf('McevalFusedDraw', run) : (run(), 0);
  const forward = tf.tidy(() => outputs(s, pTensor).map((t) => tf.reshape(t, [-1])));
  const arrays = await Promise.all([...forward, ...step!.grads].map((t) => t.data()));
  tf.dispose([s, pTensor, chi, noise, termUpstream, ...upstream, step!.value, ...forward, ...step!.grads]);
  if (typeof prior !== 'number') prior.dispose();
  assert.equal(tf.memory().numTensors, before, `${mode}: a tensor outlived the draw`);
  return { values: arrays.map((array) => Array.from(array as Float32Array)), dispatches };
}

const LABELS = ['Σ', 'ε√Σ', 'w', 'terms', 'mean', 'd s', 'd p'];

for (const c of [
  { L: 5, M: 2, N: 3, r: 4, referenceSign: false, randomPrior: false },
  { L: 7, M: 1, N: 4, r: 8, referenceSign: true, randomPrior: false },
  { L: 3, M: 3, N: 2, r: 2, referenceSign: false, randomPrior: true },
  { L: 300, M: 1, N: 4, r: 16, referenceSign: true, randomPrior: true },
])
  test(`webgpu's fused draw equals the draw and regulariser apart (L ${c.L}, M ${c.M}, N ${c.N}, r ${c.r}, reference sign ${c.referenceSign}, random prior ${c.randomPrior})`, async (t) => {
    await initEngine('webgpu');
    if (!hasFusedDraw()) {
      t.skip('the device binds fewer than 13 storage buffers: the group sampler draws apart');
      return;
    }
    await initEngine('wasm');
    const reference = await evaluate(c, 'apart');
    await initEngine('webgpu');
    const fused = await evaluate(c, 'fused');
    assert.equal(fused.dispatches, 2, `${FUSED_DRAW} and ${FUSED_DRAW_GRAD}, once each`);
    LABELS.forEach((label, i) => assertAgree(label, fused.values[i]!, reference.values[i]!, 2e-5));
    assert.equal(fused.values[0]![1], Math.fround(1e-3), 'Σ at its floor');
    assert.equal(fused.values[6]![c.N], 0, 'no gradient in p below the clamp');
    const apart = await evaluate(c, 'apart');
    LABELS.forEach((label, i) => assert.deepEqual(fused.values[i], apart.values[i], `${label}: the same bits apart`));
  });
