/**
 * MonteCLoRA's regulariser by the webgpu kernels (peft/monteclora/kernel-regularizer.ts: the terms and their weighted
 * mean over the layers, from p through α = max(e^p, 1e-6)) against the float64 host op (host-regularizer.ts, itself
 * tested against kl.ts's ops) on wasm, composed with tfjs's concentration and weighted mean, from the same values: the
 * four terms, the mean, and the gradients of a loss that reads both (a weighted sum of the terms plus a multiple of the
 * mean) in the covariance, weights, s and p — with a covariance below the 1e-6 clamp, concentrations from just above
 * α's 1e-6 clamp (2e-6) and far below it (e^-20) to 20, the paper's and the published code's Dirichlet sign, and a
 * random prior tensor; float32 against float64, within 2e-5 of each output's largest value. Then the logged values
 * (McevalRegularizerLog: terms per layer and ‖P‖ / ‖A‖ from sums of squares in parts) against the same sums on
 * the host, within 1e-6.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine } from '../../src/engine/backends.js';
import { Rng } from '../../src/engine/rng.js';
import { tf, type Tensor } from '../../src/engine/tf.js';
import { concentration } from '../../src/peft/monteclora/mixture-weights.js';
import { hostRegularizerTerms, type RegularizerShape } from '../../src/peft/monteclora/host-regularizer.js';
import { assertAgree } from './agreement.js';
import {
  hasRegularizerKernel,
  kernelRegularizer,
  kernelRegularizerLog,
} from '../../src/peft/monteclora/kernel-regularizer.js';

const [L, M, N, R] = [5, 2, 3, 4];
const TERM_WEIGHTS = [0.2, 0.2, 0.2, 1] as const;

type Regularizer = (
  inputs: { covariance: Tensor; weights: Tensor; s: Tensor; p: Tensor },
  prior: number | Tensor,
  shape: RegularizerShape,
) => { terms: Tensor; total: Tensor };

/** The host op on α = concentration(p), and the weighted mean as meanRegularizer composes it. */
const onHost: Regularizer = ({ covariance, weights, s, p }, prior, shape) => {
  const terms = hostRegularizerTerms(covariance, weights, s, concentration(p), prior, shape);
  return { terms, total: tf.div(tf.sum(tf.mul(terms, tf.tensor1d([...TERM_WEIGHTS]))), L) };
};

const byKernel: Regularizer = (inputs, prior, shape) => kernelRegularizer(inputs, prior, shape, TERM_WEIGHTS);

async function evaluate(
  backend: 'wasm' | 'webgpu',
  regularizer: Regularizer,
  referenceSign: boolean,
  randomPrior: boolean,
) {
  await initEngine(backend);
  const before = tf.memory().numTensors;
  const rng = new Rng(21);
  const covariance = rng.uniformArray(L * M * R, 0.05, 3);
  covariance[3] = 5e-7;
  const p = Float32Array.from(rng.uniformArray(L * N, 0.2, 20), Math.log);
  p[0] = Math.log(2e-6); // α just above the clamp
  p[1] = -20; // e^p below the clamp: α = 1e-6, no gradient in p
  const inputs = [
    tf.tensor2d(covariance, [L * M, R]),
    tf.tensor2d(rng.uniformArray(L * M * N), [L * M, N]),
    tf.tensor2d(rng.uniformArray(L * R, -1, 1), [L, R]),
    tf.tensor2d(p, [L, N]),
  ];
  const prior = randomPrior ? tf.tensor2d(rng.uniformArray(L * N, 0.5, 2), [L, N]) : 0.7;
  const upstream = tf.tensor1d([0.3, -1.1, 0.7, 2.0]);
  const shape = { components: N, outerSamples: M, referenceSign };
  const named = (x: Tensor[]) => ({ covariance: x[0]!, weights: x[1]!, s: x[2]!, p: x[3]! });
  const { value, grads } = tf.valueAndGrads((...x: Tensor[]) => {
    const { terms, total } = regularizer(named(x), prior, shape);
    return tf.add(tf.sum(tf.mul(terms, upstream)), tf.mul(total, 1.7));
  })(inputs);
  const { terms, total } = tf.tidy(() => {
    const { terms, total } = regularizer(named(inputs), prior, shape);
    return { terms: tf.keep(terms), total: tf.keep(tf.reshape(total, [1])) };
  });
  const arrays = await Promise.all([terms, total, ...grads].map((t) => t.data()));
  tf.dispose([...inputs, upstream, value, terms, total, ...grads, ...(typeof prior === 'number' ? [] : [prior])]);
  assert.equal(tf.memory().numTensors, before, `${backend}: a tensor outlived the terms`);
  return arrays.map((array) => Array.from(array as Float32Array));
}

for (const referenceSign of [false, true]) {
  for (const randomPrior of [false, true]) {
    test(`webgpu regulariser kernels agree with the float64 host terms (reference sign ${referenceSign}, random prior ${randomPrior})`, async () => {
      const reference = await evaluate('wasm', onHost, referenceSign, randomPrior);
      await initEngine('webgpu');
      assert.ok(hasRegularizerKernel(), 'the webgpu kernels are registered');
      const candidate = await evaluate('webgpu', byKernel, referenceSign, randomPrior);
      ['terms', 'mean', 'd covariance', 'd weights', 'd s', 'd p'].forEach((label, i) =>
        assertAgree(label, candidate[i]!, reference[i]!, 2e-5),
      );
      assert.equal(candidate[5]![1], 0, 'no gradient in p below the clamp');
    });
  }
}

test('the webgpu regulariser log takes the terms per layer and ‖P‖ / ‖A‖ from sums of squares in parts', async () => {
  await initEngine('webgpu');
  const before = tf.memory().numTensors;
  const rng = new Rng(22);
  // More parts than the kernel's workgroup has invocations: each adds several.
  const parts = 700;
  const squares = Float32Array.from({ length: 2 * parts }, (_, i) => (i % 2 === 0 ? 1e-4 : 0.1) * rng.uniform());
  const terms = [1.5, -0.25, 7, 0.125];
  const sum = (start: number) => squares.reduce((t, v, i) => (i % 2 === start ? t + v : t), 0);
  const expected = [...terms.map((t) => t / 5), Math.sqrt(sum(0) / sum(1))];
  const logged = tf.tidy(() => kernelRegularizerLog(tf.tensor1d(terms), 5, tf.tensor2d(squares, [parts, 2])))!;
  const values = Array.from(await logged.data());
  logged.dispose();
  assert.equal(tf.memory().numTensors, before);
  assertAgree('logged values', values, expected, 1e-6);
});
